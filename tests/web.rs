//! Browser tests (`wasm-pack test --headless --chrome`): the same model code on WebGPU in
//! headless Chromium. Forward passes must equal the PyTorch reference (which the native tests
//! match within 1e-4) within 1e-3, and tokenizer ids must equal HF's (and so the native ones).
#![cfg(target_arch = "wasm32")]

use std::path::Path;

use serde_json::Value;
use undivided::checkpoint::load_bert;
use undivided::device::{Backend, init_device};
use undivided::model::{BertConfig, BertInput, FfnPlan, ForwardOptions};
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
    v.as_array().unwrap().iter().flat_map(|r| match r.as_array() {
        Some(row) => row.iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>(),
        None => vec![r.as_i64().unwrap()],
    }).collect()
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
    let t = |k: &str| {
        burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(ints(&expected[k]), [2, 10]),
            &device,
        )
    };
    for (plan_name, want) in expected["plans"].as_object().unwrap() {
        let plan = FfnPlan::parse(plan_name, 3).unwrap();
        let (model, _) = load_bert(TINY_WEIGHTS, Path::new("tiny"), &config, &plan, &device).unwrap();
        let input = BertInput { input_ids: t("input_ids"), token_type_ids: t("token_type_ids"), attention_mask: t("attention_mask") };
        let out = model.forward(input, ForwardOptions::default());
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
