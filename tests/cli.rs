//! The `undivided` binary end to end: info, reduce, encode, and its error messages.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn undivided(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_undivided")).args(args).current_dir(common::root()).output().unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = undivided(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fails_with(args: &[&str], needle: &str) {
    let out = undivided(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(needle), "{args:?}: expected `{needle}` in: {err}");
}

#[test]
fn info_from_config_json_alone() {
    // A folder with nothing but config.json: no weights, no tokenizer.
    let dir = common::tempdir();
    std::fs::copy(common::minilm_dir().join("config.json"), dir.path().join("config.json")).unwrap();
    let path = dir.path().to_str().unwrap();
    let full = ok_json(&["info", path, "--json"]);
    let reduced = ok_json(&["info", path, "--keep-ffn", "0,5", "--json", "--seq-len", "64"]);
    let layers = full["stats"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6);
    let block = layers[0]["intermediate_params"].as_u64().unwrap();
    assert_eq!(block, 384 * 1536 + 1536 + 1536 * 384 + 384 + 2 * 384);
    assert_eq!(full["stats"]["total_params"].as_u64().unwrap() - reduced["stats"]["total_params"].as_u64().unwrap(), 4 * block);
    assert_eq!(reduced["stats"]["plan"], "0,5");
    assert_eq!(reduced["stats"]["seq_len"], 64);
    assert!(reduced["flops_ratio"].as_f64().unwrap() < 0.6);

    let table = String::from_utf8(undivided(&["info", path, "--keep-ffn", "none"]).stdout).unwrap();
    assert!(table.contains("layer 3 intermediate") && table.contains("removed"), "{table}");

    // `+norm` keeps the four removed blocks' LayerNorms: 4 × 2 × 384 more, no more FLOPs.
    let norm = ok_json(&["info", path, "--keep-ffn", "0,5+norm", "--json", "--seq-len", "64"]);
    assert_eq!(norm["stats"]["plan"], "0,5+norm");
    assert_eq!(norm["stats"]["total_params"].as_u64().unwrap() - reduced["stats"]["total_params"].as_u64().unwrap(), 4 * 2 * 384);
    assert_eq!(norm["stats"]["flops_per_token"], reduced["stats"]["flops_per_token"]);
    let table = String::from_utf8(undivided(&["info", path, "--keep-ffn", "none+norm"]).stdout).unwrap();
    assert!(table.contains("removed; its LayerNorm kept"), "{table}");
}

#[test]
fn reduce_then_encode_equals_encode_with_plan() {
    let out = common::tempdir();
    let out_path = out.path().to_str().unwrap();
    let status = undivided(&["reduce", "default", "--keep-ffn", "0,5", "--out", out_path]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let config: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["ffn_layers"], serde_json::json!([0, 5]));
    let size = std::fs::metadata(out.path().join("model.safetensors")).unwrap().len();
    let full_size = std::fs::metadata(common::minilm_dir().join("model.safetensors")).unwrap().len();
    assert!(size < full_size * 9 / 10, "{size} vs {full_size}");

    let text = "Removing feed-forward blocks makes BERT smaller.";
    let a = ok_json(&["encode", out_path, "--json", text]);
    let b = ok_json(&["encode", "default", "--keep-ffn", "0,5", "--json", text]);
    assert_eq!(a["pooler_output"], b["pooler_output"]);
    assert_eq!(a["input_ids"], b["input_ids"]);
    let hidden = a["last_hidden_state"][0].as_array().unwrap();
    assert_eq!(hidden.len(), a["input_ids"][0].as_array().unwrap().len());
    assert_eq!(hidden[0].as_array().unwrap().len(), 384);
}

#[test]
fn encode_pair_and_max_len() {
    let v = ok_json(&["encode", "default", "--max-len", "8", "--json", "the first sentence is long enough", "and a second one"]);
    let ids = v["input_ids"][0].as_array().unwrap();
    assert_eq!(ids.len(), 8);
    assert!(v["token_type_ids"][0].as_array().unwrap().contains(&Value::from(1)));
}

#[test]
fn bad_input_is_a_clear_error() {
    fails_with(&["info", "default", "--keep-ffn", "0,9"], "layer indices 0..5");
    fails_with(&["encode", "default", "  "], "empty");
    fails_with(&["encode", "default", "--max-len", "600", "x"], "max length 600 is out of range");
    fails_with(&["encode", "./no/such/dir", "x"], "no such checkpoint folder");
    fails_with(&["reduce", "default", "--out", "/tmp/x"], "--keep-ffn is required");
}
