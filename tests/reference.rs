//! all-MiniLM-L6-v2 against PyTorch `transformers` (fixture from scripts/make_reference.py):
//! token ids identical, `last_hidden_state` and `pooler_output` within 1e-4, for the full model
//! and with the intermediate blocks of layers 1, 3 and 5 removed.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::Device;
use serde_json::Value;
use undivided::model::{FfnPlan, ForwardConfig};
use undivided::{Checkpoint, TextInput};

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(common::fixtures().join("minilm_reference.json")).unwrap()).unwrap()
}

fn input_of(case: &Value) -> TextInput {
    TextInput::new(case["text"].as_str().unwrap(), case["text_b"].as_str().map(String::from))
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

#[test]
fn tokenizer_ids_match_hf() {
    let checkpoint = Checkpoint::open(common::minilm_dir()).unwrap();
    for case in reference()["cases"].as_array().unwrap() {
        let batch = checkpoint.tokenizer.encode(&input_of(case)).unwrap();
        let name = case["name"].as_str().unwrap();
        assert_eq!(batch.input_ids, ids(&case["input_ids"]), "{name}: input_ids");
        assert_eq!(batch.token_type_ids, ids(&case["token_type_ids"]), "{name}: token_type_ids");
        assert_eq!(batch.attention_mask, ids(&case["attention_mask"]), "{name}: attention_mask");
    }
}

#[test]
fn vocab_txt_fallback_gives_the_same_ids() {
    let dir = common::minilm_dir();
    let vocab = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
    let from_vocab = undivided::BertTokenizer::from_vocab_txt(&vocab, true, "vocab.txt").unwrap();
    let checkpoint = Checkpoint::open(&dir).unwrap();
    for case in reference()["cases"].as_array().unwrap() {
        let input = input_of(case);
        assert_eq!(from_vocab.encode(&input).unwrap().input_ids, checkpoint.tokenizer.encode(&input).unwrap().input_ids, "{}", case["name"]);
    }
}

fn check_plan(plan_name: &str) {
    let device = Device::flex();
    let checkpoint = Checkpoint::open(common::minilm_dir()).unwrap();
    let reference = reference();
    assert_eq!(reference["model_safetensors_sha256"], "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", "fixture made from another model");
    let plan = FfnPlan::parse(plan_name, 6).unwrap();
    let (model, report) = checkpoint.load_bert(Some(&plan), &device).unwrap();
    assert_eq!(report.dropped.len(), 6 * (6 - plan.num_kept()), "weight+bias of 2 dense + LayerNorm per removed block");
    let fixture = common::fixtures().join("minilm_reference.safetensors");
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let batch = checkpoint.tokenizer.encode(&input_of(case)).unwrap();
        let out = model.forward(batch.to_input(&device), ForwardConfig::default());
        let last = common::to_vec(out.last_hidden_state);
        let pooled = common::to_vec(out.pooler_output);
        let want_last = common::read_f32(&fixture, &format!("{name}.{plan_name}.last_hidden_state"));
        let want_pooled = common::read_f32(&fixture, &format!("{name}.{plan_name}.pooler_output"));
        let (d1, d2) = (common::max_abs_diff(&last, &want_last), common::max_abs_diff(&pooled, &want_pooled));
        assert!(d1 < TOLERANCE, "{name} plan {plan_name}: last_hidden_state differs by {d1}");
        assert!(d2 < TOLERANCE, "{name} plan {plan_name}: pooler_output differs by {d2}");
    }
}

#[test]
fn full_model_matches_pytorch() {
    check_plan("all");
}

#[test]
fn reduced_model_matches_pytorch() {
    check_plan("0,2,4");
}

#[test]
fn batched_padded_forward_equals_one_at_a_time() {
    // Padding must not leak into real tokens: a padded batch gives each row's unpadded result.
    let device = Device::flex();
    let checkpoint = Checkpoint::open(common::minilm_dir()).unwrap();
    let (model, _) = checkpoint.load_bert(None, &device).unwrap();
    let inputs: Vec<TextInput> = reference()["cases"].as_array().unwrap().iter().map(input_of).collect();
    let batch = checkpoint.tokenizer.encode_batch(&inputs).unwrap();
    assert_eq!(batch.seq_len, 128, "padded to the longest (the truncated long case)");
    let pooled = common::to_vec(model.forward(batch.to_input(&device), ForwardConfig::default()).pooler_output);
    for (i, input) in inputs.iter().enumerate() {
        let one = checkpoint.tokenizer.encode(input).unwrap();
        let alone = common::to_vec(model.forward(one.to_input(&device), ForwardConfig::default()).pooler_output);
        let d = common::max_abs_diff(&pooled[i * 384..(i + 1) * 384], &alone);
        assert!(d < TOLERANCE, "row {i} differs by {d} when batched");
    }
}
