//! Browser tests (`cargo test --target wasm32-unknown-unknown` with `CHROMEDRIVER` set, as
//! scripts/test.sh runs them): the same model code on WebGPU in
//! headless Chromium. Forward passes must equal the PyTorch reference (which the native tests
//! match within 1e-4) within 1e-3, and tokenizer ids must equal HF's (and so the native ones).
#![cfg(target_arch = "wasm32")]

use std::path::Path;

use serde_json::Value;
use undivided::checkpoint::load_bert;
use undivided::device::{Backend, init_device};
use undivided::model::{BertConfig, BertInput, FfnPlan, ForwardConfig};
use undivided::web::read_f32;
use undivided::{BertTokenizer, TextInput};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TINY_CONFIG: &str = include_str!("fixtures/tiny/config.json");
const TINY_WEIGHTS: &[u8] = include_bytes!("fixtures/tiny/model.safetensors");
const TINY_EXPECTED: &str = include_str!("fixtures/tiny/expected.json");
const MINILM_REFERENCE: &str = include_str!("fixtures/minilm_reference.json");
// Placed by `scripts/setup.sh model`, which the test command runs first.
const MINILM_TOKENIZER: &[u8] = include_bytes!("../models/all-MiniLM-L6-v2/tokenizer.json");

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| match r.as_array() {
            Some(row) => row.iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>(),
            None => vec![r.as_i64().unwrap()],
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

async fn check_tiny_forward(backend: Backend) {
    console_error_panic_hook::set_once();
    let device = init_device(backend).await.expect("device");
    let config = BertConfig::from_json(TINY_CONFIG).unwrap();
    let expected: Value = serde_json::from_str(TINY_EXPECTED).unwrap();
    let t = |k: &str| burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(ints(&expected[k]), [2, 10]), &device);
    for (plan_name, want) in expected["plans"].as_object().unwrap() {
        let plan = FfnPlan::parse(plan_name, 3).unwrap();
        let (model, _) = load_bert(TINY_WEIGHTS, Path::new("tiny"), &config, &plan, &device).unwrap();
        let input = BertInput { input_ids: t("input_ids"), token_type_ids: t("token_type_ids"), attention_mask: t("attention_mask") };
        let out = model.forward(input, ForwardConfig::default());
        let last = read_f32(out.last_hidden_state).await.unwrap();
        let pooled = read_f32(out.pooler_output).await.unwrap();
        let d1 = max_abs_diff(&last, &floats(&want["last_hidden_state"]));
        let d2 = max_abs_diff(&pooled, &floats(&want["pooler_output"]));
        web_sys::console::log_1(&format!("{backend} plan {plan_name}: max diff {d1:e} / {d2:e}").into());
        assert!(d1 < 1e-3 && d2 < 1e-3, "{backend} plan {plan_name}: {d1} {d2}");
    }
}

#[wasm_bindgen_test]
async fn forward_on_webgpu_matches_reference() {
    check_tiny_forward(Backend::Wgpu).await;
}

#[wasm_bindgen_test]
async fn forward_on_wasm_cpu_backend_matches_reference() {
    check_tiny_forward(Backend::Flex).await;
}

#[wasm_bindgen_test]
fn tokenizer_ids_match_hf_in_the_browser() {
    let tokenizer = BertTokenizer::from_json_bytes(MINILM_TOKENIZER, "tokenizer.json").unwrap();
    let reference: Value = serde_json::from_str(MINILM_REFERENCE).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let input = TextInput::new(case["text"].as_str().unwrap(), case["text_b"].as_str().map(String::from));
        let batch = tokenizer.encode(&input).unwrap();
        assert_eq!(batch.input_ids, ints(&case["input_ids"]), "{}", case["name"]);
        assert_eq!(batch.token_type_ids, ints(&case["token_type_ids"]), "{}", case["name"]);
    }
}

/// The tiny random BERT as an in-memory checkpoint with a small vocab.txt (no fetch needed).
fn tiny_checkpoint() -> undivided::Checkpoint {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    vocab.extend(["the", "a", "movie", "good", "bad", "is", "was", "not", "very", "film"].iter().map(|s| s.to_string()));
    while vocab.len() < 1000 {
        vocab.push(format!("tok{}", vocab.len()));
    }
    let files = vec![
        ("config.json".to_string(), TINY_CONFIG.as_bytes().to_vec()),
        ("model.safetensors".to_string(), TINY_WEIGHTS.to_vec()),
        ("vocab.txt".to_string(), vocab.join("\n").into_bytes()),
    ];
    undivided::Checkpoint::from_files("tiny", files).unwrap()
}

fn toy_tsv() -> String {
    let mut tsv = String::from("sentence\tlabel\n");
    for adj in ["good", "bad"] {
        for subject in ["the movie", "a film", "the film", "a movie"] {
            for verb in ["is", "was", "is very", "was very"] {
                tsv.push_str(&format!("{subject} {verb} {adj}\t{}\n", u8::from(adj == "good")));
            }
        }
    }
    tsv
}

#[wasm_bindgen_test]
async fn quick_fine_tuning_on_webgpu_lowers_the_loss() {
    use undivided::data::split_user_tsv as user_tsv;
    use undivided::web::train::{PageFinetune, PageOptions};
    console_error_panic_hook::set_once();
    let device = init_device(Backend::Wgpu).await.unwrap();
    let checkpoint = tiny_checkpoint();
    let (train, dev) = user_tsv(undivided::data::Task::Sst2, "toy.tsv", &toy_tsv()).unwrap();
    // SwiftShader runs WebGPU on the CPU: a handful of steps of the whole batch.
    let settings = PageOptions { steps: 8, batch_size: 26, max_len: 16, lr: 6e-3, seed: 3, max_grad_norm: 1.0 };
    let plan = FfnPlan::parse("1", 3).unwrap();
    let mut run = PageFinetune::new(&checkpoint, None, &plan, &train, &dev, &settings, &device).unwrap();
    let before = run.train_loss().await.unwrap();
    let mut losses = Vec::new();
    let launches = undivided::device::LaunchCounter::start();
    while !run.done() {
        losses.push(run.step().await.unwrap());
    }
    let launches = launches.finish();
    let after = run.train_loss().await.unwrap();
    // AdamW is one WGSL kernel per parameter in the browser too: as many launches each step.
    let adamw = launches.by_kernel.get("AdamwUpdate").copied().unwrap_or(0);
    assert!(adamw > 0 && adamw % 8 == 0, "AdamW kernel launches over 8 steps: {adamw} ({launches:?})");
    web_sys::console::log_1(&format!("quick fine-tune on WebGPU: training-set loss {before} -> {after}; step losses {losses:?}").into());
    assert!(after < before - 0.01, "training-set loss {before} -> {after}: {losses:?}");
    let eval = run.evaluate().await.unwrap();
    assert_eq!(eval.examples, 6);
    let probs = run.classify(&TextInput::Single("the movie is good".into())).await.unwrap();
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
}

#[wasm_bindgen_test]
async fn healing_on_webgpu_lowers_the_hidden_loss_then_fine_tunes() {
    use undivided::data::split_user_tsv as user_tsv;
    use undivided::web::train::{PageFinetune, PageHeal, PageOptions};
    let device = init_device(Backend::Wgpu).await.unwrap();
    let checkpoint = tiny_checkpoint();
    let (train, dev) = user_tsv(undivided::data::Task::Sst2, "toy.tsv", &toy_tsv()).unwrap();
    let settings = PageOptions { steps: 8, batch_size: 26, max_len: 16, lr: 6e-3, seed: 3, max_grad_norm: 1.0 };
    let plan = FfnPlan::parse("1", 3).unwrap();
    let mut heal = PageHeal::new(&checkpoint, &plan, &train, &settings, &device).unwrap();
    while !heal.done() {
        heal.step().await.unwrap();
    }
    let h: Vec<f32> = heal.points.iter().map(|p| p.hidden_mse).collect();
    let (first, last) = (h[..2].iter().sum::<f32>() / 2.0, h[6..].iter().sum::<f32>() / 2.0);
    web_sys::console::log_1(&format!("healing on WebGPU: hidden-state loss {first} -> {last}: {h:?}").into());
    assert!(last < first * 0.9, "hidden-state loss {first} -> {last}");
    // The healed encoder is what quick fine-tuning then starts from.
    let weights = heal.weights().await.unwrap();
    let mut run = PageFinetune::new(&checkpoint, Some(&weights), &plan, &train, &dev, &PageOptions { steps: 2, ..settings }, &device).unwrap();
    assert!(run.step().await.unwrap().is_finite());
    // Healing a plan that removes nothing is refused.
    assert!(PageHeal::new(&checkpoint, &FfnPlan::all(3), &train, &settings, &device).is_err());
}

/// Regression test for the NaN that training MiniLM in the page hit at step 2: burn's GELU
/// backward goes through WGSL `tanh`, which overflows to NaN on SwiftShader for pre-activations
/// like MiniLM's. The block's training GELU must give finite, exact gradients there.
#[wasm_bindgen_test]
async fn gelu_gradients_stay_finite_for_large_pre_activations_on_webgpu() {
    use burn::tensor::{Distribution, Tensor, TensorData};
    use undivided::model::BertIntermediate;
    let device = init_device(Backend::Wgpu).await.unwrap().autodiff();
    let block = BertIntermediate::new(&BertConfig::from_json(TINY_CONFIG).unwrap(), &device);
    let mut xs = vec![-60.0f32, -20.0, -12.0, -3.0, -0.5, 0.0, 0.5, 3.0, 12.0, 20.0, 60.0];
    // And a spread like MiniLM's pre-activations.
    xs.extend(read_f32(Tensor::<1>::random([117], Distribution::Normal(0.0, 15.0), &device)).await.unwrap());
    let n = xs.len();
    let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [1, 1, n]), &device).require_grad();
    let grads = block.activate(x.clone()).sum().backward();
    let g = read_f32(x.grad(&grads).expect("a gradient for x")).await.unwrap();
    // d/dx x·Φ(x) = Φ(x) + x·φ(x).
    let exact = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2)) + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    for (x, g) in xs.iter().zip(&g) {
        assert!(g.is_finite(), "GELU gradient at x = {x} is {g} on WebGPU");
        assert!((*g as f64 - exact(*x as f64)).abs() < 1e-3, "GELU gradient at x = {x}: {g}, expected {}", exact(*x as f64));
    }
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for the 1e-3 check above.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

#[wasm_bindgen_test]
fn page_input_errors_are_specific() {
    use undivided::data::split_user_tsv as user_tsv;
    let err = user_tsv(undivided::data::Task::Sst2, "mine.tsv", "sentence\tlabel\nfine\t1\nbroken row\n").unwrap_err().to_string();
    assert!(err.contains("mine.tsv:3"), "{err}");
    assert_eq!(undivided::web::resolve_source("hf:bert-base-uncased"), "https://huggingface.co/bert-base-uncased/resolve/main");
    assert_eq!(undivided::web::resolve_source("models/all-MiniLM-L6-v2/"), "models/all-MiniLM-L6-v2");
    assert!(undivided::web::text_input("   ".into(), None).is_err(), "an empty sentence is refused");
    assert!(undivided::web::text_input("word ".repeat(2_000), None).is_err(), "a 10,000-character paste is refused");
    assert!(undivided::web::text_input("fine".into(), Some(" ".into())).is_ok(), "a blank second sentence is no pair");
}

#[wasm_bindgen_test]
fn native_results_files_are_read_or_refused_clearly() {
    use undivided::web::results::parse_results;
    let compare = r#"{"title": "t", "rows": [
        {"plan": "all", "variant": "deleted", "metric": "accuracy", "values": [0.9, 0.8], "mean": 0.85, "std": 0.07,
         "params": 100, "train_seconds": 10.0, "examples_per_second": 3.0, "heal_seconds": null},
        {"plan": "0,5", "variant": "healed", "metric": "accuracy", "values": [0.8], "mean": 0.8, "std": 0.0,
         "params": 80, "train_seconds": 8.0, "examples_per_second": 4.0, "heal_seconds": 5.0}]}"#;
    let r = parse_results("compare.json", compare).unwrap();
    assert_eq!(r.rows.len(), 2);
    assert_eq!((r.rows[0].seeds, r.rows[1].heal_seconds), (2, Some(5.0)));
    let run = r#"{"task": "sst2", "plan": "0,5", "main_metric": "accuracy", "best_value": 0.81, "params": 80,
        "train_seconds": 9.0, "examples_per_second": 2.0, "steps": 600, "seed": 42, "options": {"teacher": null}}"#;
    assert_eq!(parse_results("results.json", run).unwrap().rows[0].value, 0.81);
    let err = parse_results("other.json", r#"{"hello": 1}"#).unwrap_err().to_string();
    assert!(err.contains("other.json") && err.contains("compare.json"), "{err}");
    assert!(parse_results("broken.json", "{").unwrap_err().to_string().contains("not JSON"));
}

/// `--precision f16` in the browser: where the WebGPU adapter has `shader-f16` the tiny model
/// computes in half precision within 1e-2 of the reference (its outputs handed back as f32);
/// where it has none — SwiftShader, which the tests run on — casting is refused with the named
/// error rather than failing in a shader.
#[wasm_bindgen_test]
async fn f16_forward_on_webgpu_where_the_adapter_has_shader_f16() {
    use undivided::model::precision::{self, Precision, PrecisionError};
    console_error_panic_hook::set_once();
    let device = init_device(Backend::Wgpu).await.expect("device");
    let config = BertConfig::from_json(TINY_CONFIG).unwrap();
    let expected: Value = serde_json::from_str(TINY_EXPECTED).unwrap();
    let want = &expected["plans"]["all"];
    let (model, _) = load_bert(TINY_WEIGHTS, Path::new("tiny"), &config, &FfnPlan::parse("all", 3).unwrap(), &device).unwrap();
    let supported = device.supports_dtype(burn::tensor::DType::F16);
    web_sys::console::log_1(&format!("WebGPU adapter shader-f16: {supported}").into());
    match precision::cast(model, Precision::F16, &device) {
        Ok(half) => {
            assert!(supported);
            let t = |k: &str| burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(ints(&expected[k]), [2, 10]), &device);
            let input = BertInput { input_ids: t("input_ids"), token_type_ids: t("token_type_ids"), attention_mask: t("attention_mask") };
            let out = half.forward(input, ForwardConfig::default());
            let d = max_abs_diff(&read_f32(out.last_hidden_state).await.unwrap(), &floats(&want["last_hidden_state"]));
            web_sys::console::log_1(&format!("f16 on WebGPU: max diff {d:e} from the f32 reference").into());
            assert!(d < 1e-2 && d > 0.0, "f16 vs the f32 reference: {d}");
        }
        Err(PrecisionError::Unsupported) => assert!(!supported),
        Err(e) => panic!("{e}"),
    }
}
