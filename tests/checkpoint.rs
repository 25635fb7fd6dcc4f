//! Checkpoint loading and saving: exact round trips, reduction, HF naming variants, and clear
//! errors for corrupt, truncated and mismatched files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use undivided::Checkpoint;
use undivided::checkpoint::{bert_to_safetensors, classifier_to_safetensors, load_bert, load_classifier, write_checkpoint};
use undivided::error::CheckpointError;
use undivided::model::{BertConfig, FfnPlan, ForwardConfig};

use common::{expected, floats, tiny_input};

fn tiny() -> Checkpoint {
    let dir = common::tiny_checkpoint_dir();
    Checkpoint::open(dir.path()).unwrap()
}

/// Rewrites a safetensors file through `edit`, which may rename, drop, add or reshape tensors.
fn rewrite(bytes: &[u8], edit: impl Fn(&str, Vec<usize>, Vec<u8>) -> Vec<(String, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        out.extend(edit(&name, view.shape().to_vec(), view.data().to_vec()));
    }
    let views: Vec<(String, TensorView)> = out.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()
}

fn load(bytes: &[u8], config: &BertConfig, plan: &str) -> Result<undivided::BertModel, CheckpointError> {
    let device = Device::flex();
    let plan = FfnPlan::parse(plan, config.num_hidden_layers).unwrap();
    load_bert(bytes, Path::new("ckpt/model.safetensors"), config, &plan, &device).map(|(m, _)| m)
}

#[test]
fn save_load_round_trip_is_bit_exact() {
    let device = Device::flex();
    let checkpoint = tiny();
    let (model, _) = checkpoint.load_bert(None, &device).unwrap();
    let saved = pollster::block_on(bert_to_safetensors(&model)).unwrap();
    // Every tensor of the original file (but the int position_ids buffer) comes back byte for byte.
    let original = SafeTensors::deserialize(&checkpoint.weights).unwrap();
    let again = SafeTensors::deserialize(&saved).unwrap();
    let mut compared = 0;
    for (name, view) in original.tensors() {
        if name.ends_with("position_ids") {
            continue;
        }
        let other = again.tensor(&name).unwrap_or_else(|_| panic!("{name} not saved"));
        assert_eq!(other.shape(), view.shape(), "{name}");
        assert_eq!(other.data(), view.data(), "{name} not bit-exact");
        compared += 1;
    }
    assert_eq!(compared, again.len());
    // And loading the saved file then saving again gives the identical file.
    let reloaded = load(&saved, &checkpoint.config, "all").unwrap();
    assert_eq!(pollster::block_on(bert_to_safetensors(&reloaded)).unwrap(), saved);
}

/// Writes `model`, cut from `checkpoint` with `plan`, as a checkpoint folder; returns the folder,
/// the weights written and its `config.json`.
fn write_reduced(checkpoint: &Checkpoint, model: &undivided::BertModel, plan: &FfnPlan) -> (common::TempDir, Vec<u8>, Value) {
    let out_dir = common::tempdir();
    let weights = pollster::block_on(bert_to_safetensors(model)).unwrap();
    write_checkpoint(out_dir.path(), &checkpoint.config_with_plan(plan), &weights, &checkpoint.tokenizer_files).unwrap();
    let config = serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("config.json")).unwrap()).unwrap();
    (out_dir, weights, config)
}

/// Reopens a folder written by [`write_reduced`] and checks its plan, and its output against
/// PyTorch's for that plan.
fn assert_reopens_as(dir: &Path, plan: &FfnPlan, num_params: usize) {
    let device = Device::flex();
    let back = Checkpoint::open(dir).unwrap();
    assert_eq!(back.plan(), *plan);
    let (model, _) = back.load_bert(None, &device).unwrap();
    assert_eq!(model.plan(), *plan);
    assert_eq!(model.num_params(), num_params);
    let a = common::to_vec(model.forward(tiny_input(&device), ForwardConfig::default()).last_hidden_state);
    let b = floats(&expected()["plans"][plan.to_string()]["last_hidden_state"]);
    assert!(common::max_abs_diff(&a, &b) < 1e-4);
}

#[test]
fn reduced_checkpoint_written_and_reloaded_gives_the_same_outputs() {
    let device = Device::flex();
    let checkpoint = tiny();
    let plan = FfnPlan::parse("1", 3).unwrap();
    let (reduced, report) = checkpoint.load_bert(Some(&plan), &device).unwrap();
    assert_eq!(report.dropped.len(), 12, "6 tensors per removed block, 2 blocks");
    assert!(report.dropped.iter().all(|n| n.starts_with("encoder.layer.0.") || n.starts_with("encoder.layer.2.")));
    let (out_dir, _, config) = write_reduced(&checkpoint, &reduced, &plan);
    assert_eq!(config["ffn_layers"], serde_json::json!([1]));
    assert_eq!(config["model_type"], "bert", "HF fields are kept");
    assert!(out_dir.path().join("vocab.txt").is_file(), "tokenizer files travel with the checkpoint");
    assert_reopens_as(out_dir.path(), &plan, reduced.num_params());
}

#[test]
fn bert_prefix_and_gamma_beta_names_load() {
    let checkpoint = tiny();
    let renamed = rewrite(&checkpoint.weights, |name, shape, data| {
        let name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
        let mut out = vec![(format!("bert.{name}"), shape, data)];
        if name == "pooler.dense.bias" {
            // pre-training heads that a BertModel ignores
            out.push(("cls.predictions.bias".into(), vec![1000], vec![0; 4000]));
        }
        out
    });
    let a = load(&renamed, &checkpoint.config, "all").unwrap();
    let b = load(&checkpoint.weights, &checkpoint.config, "all").unwrap();
    let device = Device::flex();
    let pa = common::to_vec(a.forward(tiny_input(&device), ForwardConfig::default()).pooler_output);
    let pb = common::to_vec(b.forward(tiny_input(&device), ForwardConfig::default()).pooler_output);
    assert_eq!(pa, pb);
}

#[test]
fn truncated_and_garbage_files_are_clear_errors() {
    let checkpoint = tiny();
    let w = &checkpoint.weights;
    for (what, bytes) in [
        ("truncated", w[..w.len() - 1000].to_vec()),
        ("header only", w[..100].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"this is not a safetensors file at all".to_vec()),
    ] {
        let err = load(&bytes, &checkpoint.config, "all").unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{what}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("ckpt/model.safetensors") && msg.contains("truncated or corrupt"), "{what}: {msg}");
    }
}

#[test]
fn missing_tensor_names_tensor_and_shape() {
    let checkpoint = tiny();
    let bytes = rewrite(
        &checkpoint.weights,
        |name, shape, data| {
            if name == "encoder.layer.1.attention.self.key.weight" { vec![] } else { vec![(name.into(), shape, data)] }
        },
    );
    let msg = load(&bytes, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(msg.contains("`encoder.layer.1.attention.self.key.weight` is missing"), "{msg}");
    assert!(msg.contains("[32, 32]"), "{msg}");
}

#[test]
fn misshaped_tensor_names_both_shapes() {
    let checkpoint = tiny();
    let bytes = rewrite(&checkpoint.weights, |name, shape, data| {
        if name == "encoder.layer.2.intermediate.dense.weight" {
            vec![(name.into(), vec![32, 64], data)] // transposed: [in, out] instead of HF's [out, in]
        } else {
            vec![(name.into(), shape, data)]
        }
    });
    let msg = load(&bytes, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(msg.contains("encoder.layer.2.intermediate.dense.weight"), "{msg}");
    assert!(msg.contains("shape [32, 64], expected [64, 32]"), "{msg}");
    // With that block removed by the plan, the bad tensor is dropped and loading succeeds.
    assert!(load(&bytes, &checkpoint.config, "0,1").is_ok());
}

#[test]
fn unexpected_tensor_is_an_error() {
    let checkpoint = tiny();
    let bytes = rewrite(&checkpoint.weights, |name, shape, data| {
        let mut out = vec![(name.to_string(), shape, data)];
        if name == "pooler.dense.bias" {
            out.push(("encoder.layer.3.attention.self.query.bias".into(), vec![32], vec![0; 128]));
        }
        out
    });
    let msg = load(&bytes, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(msg.contains("unexpected tensor `encoder.layer.3.attention.self.query.bias`"), "{msg}");
    assert!(msg.contains("the model has 3 layers"), "{msg}");
}

#[test]
fn nan_weights_are_rejected() {
    let checkpoint = tiny();
    let bytes = rewrite(&checkpoint.weights, |name, shape, mut data| {
        if name == "pooler.dense.weight" {
            data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        }
        vec![(name.into(), shape, data)]
    });
    let msg = load(&bytes, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(msg.contains("`pooler.dense.weight` contains NaN"), "{msg}");
}

#[test]
fn norm_plan_keeps_the_removed_layer_norms_through_save_and_load() {
    let device = Device::flex();
    let checkpoint = tiny();
    let plan = FfnPlan::parse("1+norm", 3).unwrap();
    let (reduced, report) = checkpoint.load_bert(Some(&plan), &device).unwrap();
    assert_eq!(report.dropped.len(), 8, "4 dense tensors per removed block, 2 blocks; their LayerNorms stay");
    assert!(report.dropped.iter().all(|n| !n.contains("LayerNorm")), "{:?}", report.dropped);
    let plain = checkpoint.load_bert(Some(&FfnPlan::parse("1", 3).unwrap()), &device).unwrap().0;
    assert_eq!(reduced.num_params(), plain.num_params() + 2 * 2 * 32);

    let (out_dir, weights, json) = write_reduced(&checkpoint, &reduced, &plan);
    assert_eq!(json["ffn_layers"], serde_json::json!([1]));
    assert_eq!(json["ffn_keep_layer_norm"], true);
    assert_reopens_as(out_dir.path(), &plan, reduced.num_params());
    let config = checkpoint.config_with_plan(&plan);
    // The norms can be dropped later, not added back to a checkpoint that lost them.
    assert!(load(&weights, &config, "1").is_ok());
    let plain_bytes = pollster::block_on(bert_to_safetensors(&plain)).unwrap();
    let msg = load(&plain_bytes, &checkpoint.config_with_plan(&FfnPlan::parse("1", 3).unwrap()), "1+norm").unwrap_err().to_string();
    assert!(msg.contains("encoder.layer.0.output.LayerNorm.weight` is missing") && msg.contains("+norm"), "{msg}");
}

#[test]
fn a_reduced_checkpoint_cannot_grow_blocks_back() {
    let device = Device::flex();
    let checkpoint = tiny();
    let plan = FfnPlan::parse("1", 3).unwrap();
    let (reduced, _) = checkpoint.load_bert(Some(&plan), &device).unwrap();
    let bytes = pollster::block_on(bert_to_safetensors(&reduced)).unwrap();
    let config = checkpoint.config_with_plan(&plan);
    let msg = load(&bytes, &config, "all").unwrap_err().to_string();
    assert!(msg.contains("encoder.layer.0.intermediate.dense.weight` is missing"), "{msg}");
    assert!(msg.contains("keeps them in layers `1`"), "{msg}");
    // Removing more is fine.
    assert!(load(&bytes, &config, "none").is_ok());
}

#[test]
fn classifier_round_trip_and_new_head() {
    let device = Device::flex();
    let checkpoint = tiny();
    let mut config = checkpoint.config.clone();
    config.set_labels(&["negative".into(), "positive".into()]);
    let plan = FfnPlan::all(3);
    let path = Path::new("m.safetensors");
    let (clf, report) = load_classifier(&checkpoint.weights, path, &config, &plan, &device).unwrap();
    assert!(report.new_head, "a base checkpoint has no classifier: a new head is made");
    let bytes = pollster::block_on(classifier_to_safetensors(&clf)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.tensor("bert.pooler.dense.weight").is_ok() && st.tensor("classifier.weight").is_ok());
    assert_eq!(st.tensor("classifier.weight").unwrap().shape(), &[2, 32]);
    let (back, report) = load_classifier(&bytes, path, &config, &plan, &device).unwrap();
    assert!(!report.new_head);
    let a = common::to_vec(clf.forward(tiny_input(&device)));
    let b = common::to_vec(back.forward(tiny_input(&device)));
    assert_eq!(a, b);
    // A classifier checkpoint still loads as a bare encoder (the head is ignored).
    assert!(load(&bytes, &config, "all").is_ok());
}

#[test]
fn missing_files_and_bad_config_are_clear_errors() {
    let dir = common::tiny_checkpoint_dir();
    std::fs::remove_file(dir.path().join("vocab.txt")).unwrap();
    let msg = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("tokenizer.json (or vocab.txt)"), "{msg}");

    let dir = common::tiny_checkpoint_dir();
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), config.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5")).unwrap();
    let msg = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("config.json") && msg.contains("num_attention_heads"), "{msg}");

    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let msg = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("config.json is not a valid BERT config"), "{msg}");
}

/// Issue 20, class 4: a checkpoint is checked against itself — every tokenizer id has an
/// embedding row, a one-type model takes no pairs, `id2label` is exactly 0..n, one tensor per
/// parameter, no weight large enough to overflow every output.
#[test]
fn a_checkpoint_that_disagrees_with_itself_is_refused_by_name() {
    let dir = common::tiny_checkpoint_dir();
    // A vocab.txt with 1200 tokens for a model of 1000 embeddings.
    std::fs::write(dir.path().join("vocab.txt"), common::tiny_vocab(1200)).unwrap();
    let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("vocab.txt") && err.contains("id 1199") && err.contains("vocab_size is 1000"), "{err}");

    // type_vocab_size 1: single sentences work, a pair is refused before the model sees it.
    let dir = common::tiny_checkpoint_dir();
    let edit_config = |dir: &Path, edit: &dyn Fn(&mut Value)| {
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    };
    edit_config(dir.path(), &|c| c["type_vocab_size"] = 1.into());
    let one_type = Checkpoint::open(dir.path()).unwrap();
    let tokenizer = &one_type.tokenizer;
    assert!(tokenizer.encode(&undivided::TextInput::Single("the movie".into())).is_ok());
    let pair = undivided::TextInput::Pair("the movie".into(), "a film".into());
    assert!(tokenizer.encode_each(std::slice::from_ref(&pair)).is_err());
    let err = tokenizer.encode(&pair).unwrap_err().to_string();
    assert!(err.contains("single sentences only") && err.contains("type_vocab_size 1"), "{err}");

    // id2label: empty, with a gap, or with keys that are not 0..n.
    for (labels, expected) in [
        (serde_json::json!({}), "1 to 10000 labels, found 0"),
        (serde_json::json!({"0": "neg", "2": "pos"}), "found \"2\""),
        (serde_json::json!({"0": "neg", "01": "pos"}), "found \"01\""),
    ] {
        let dir = common::tiny_checkpoint_dir();
        edit_config(dir.path(), &|c| c["id2label"] = labels.clone());
        let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("id2label") && err.contains(expected), "{labels}: {err}");
    }

    // The same parameter twice, under two names: refused, naming both.
    let checkpoint = tiny();
    let doubled = rewrite(&checkpoint.weights, |name, shape, data| {
        let mut out = vec![(name.to_string(), shape.clone(), data.clone())];
        if name == "embeddings.LayerNorm.weight" {
            out.push(("embeddings.LayerNorm.gamma".into(), shape.clone(), data.iter().map(|_| 0u8).collect()));
        }
        if name == "pooler.dense.bias" {
            out.push(("bert.pooler.dense.bias".into(), shape, data));
        }
        out
    });
    let err = load(&doubled, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(err.contains("are the same parameter") && err.contains("one tensor per parameter"), "{err}");

    // Finite but absurd weights (3e38): refused, not loaded to give all-NaN outputs.
    let huge = rewrite(&checkpoint.weights, |name, shape, data| {
        let data = if name == "encoder.layer.0.attention.self.query.weight" { data.chunks(4).flat_map(|_| 3e38f32.to_le_bytes()).collect() } else { data };
        vec![(name.to_string(), shape, data)]
    });
    let err = load(&huge, &checkpoint.config, "all").unwrap_err().to_string();
    assert!(err.contains("encoder.layer.0.attention.self.query.weight") && err.contains("implausibly large"), "{err}");
}

/// Issue 20, class 5: sizes are capped before anything is allocated, and every probability or
/// epsilon is checked, each error naming the field.
#[test]
fn config_sizes_are_capped_and_ranges_checked() {
    let base: Value = serde_json::from_str(&std::fs::read_to_string(common::tiny_dir().join("config.json")).unwrap()).unwrap();
    for (field, value, expected) in [
        ("num_hidden_layers", serde_json::json!(1_000_000), "1 to 256"),
        ("vocab_size", serde_json::json!(1_000_000_000_000_000_000u64), "1 to 1000000"),
        ("hidden_size", serde_json::json!(1 << 20), "1 to 16384"),
        ("intermediate_size", serde_json::json!(0), "1 to 65536"),
        ("num_labels", serde_json::json!(1_000_000_000_000u64), "1 to 10000 labels"),
        ("classifier_dropout", serde_json::json!(2.0), "a probability in [0, 1)"),
        ("hidden_dropout_prob", serde_json::json!(-0.1), "a probability in [0, 1)"),
        ("layer_norm_eps", serde_json::json!(0.0), "a small positive number"),
        ("layer_norm_eps", serde_json::json!(-1e-12), "a small positive number"),
    ] {
        let mut config = base.clone();
        config[field] = value.clone();
        let err = BertConfig::from_json(&config.to_string()).unwrap_err().to_string();
        assert!(err.contains(field) && err.contains(expected), "{field} = {value}: {err}");
    }
    // A range in a plan is checked before it is expanded.
    let err = FfnPlan::parse("0-1000000000000", 6).unwrap_err().to_string();
    assert!(err.contains("the model has 6"), "{err}");
    assert_eq!(FfnPlan::parse("1-3", 6).unwrap().to_string(), "1,2,3");
}

/// Issue 20, class 5: weights are memory-mapped and read per tensor, so a huge file (8 GiB here,
/// sparse on disk) costs nothing it does not use: opening it and being told what is wrong with
/// it takes no more memory than a small one.
#[cfg(target_os = "linux")]
#[test]
fn a_huge_weights_file_is_not_read_into_memory() {
    let dir = common::tiny_checkpoint_dir();
    let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1073741824,2],"data_offsets":[0,8589934592]}}"#;
    let mut file = std::fs::File::create(dir.path().join("model.safetensors")).unwrap();
    std::io::Write::write_all(&mut file, &(header.len() as u64).to_le_bytes()).unwrap();
    std::io::Write::write_all(&mut file, header).unwrap();
    file.set_len(8 + header.len() as u64 + (8u64 << 30)).unwrap();
    drop(file);
    let resident = || std::fs::read_to_string("/proc/self/statm").unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096;
    let before = resident();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    assert_eq!(checkpoint.weights.len() as u64, 8 + header.len() as u64 + (8u64 << 30));
    let err = checkpoint.load_bert(None, &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("embeddings.word_embeddings.weight") && err.contains("[1073741824, 2]"), "{err}");
    let grown = resident().saturating_sub(before);
    assert!(grown < 256 << 20, "opening an 8 GiB checkpoint took {} MiB of memory", grown >> 20);
}

/// f16 weights (issue 22): `reduce --dtype f16` and setup's `scripts/to_f16.py` write the same
/// tensors, at half the bytes, and the model computes within a small tolerance of the f32 one.
#[test]
fn f16_copies_are_half_the_size_and_agree_with_f32() {
    let checkpoint = tiny();
    let f16 = undivided::checkpoint::to_f16(&checkpoint.weights, Path::new("x")).unwrap();
    assert!((f16.len() as f64) < 0.52 * checkpoint.weights.len() as f64, "{} vs {} bytes", f16.len(), checkpoint.weights.len());
    let half = SafeTensors::deserialize(&f16).unwrap();
    assert!(half.tensors().iter().all(|(_, v)| v.dtype() == Dtype::F16));
    // The same model, within f16's rounding: the pooled output of both.
    let device = Device::flex();
    let full = load(&checkpoint.weights, &checkpoint.config, "all").unwrap();
    let halved = load(&f16, &checkpoint.config, "all").unwrap();
    let a = common::to_vec(full.forward(tiny_input(&device), ForwardConfig::default()).last_hidden_state);
    let b = common::to_vec(halved.forward(tiny_input(&device), ForwardConfig::default()).last_hidden_state);
    let diff = common::max_abs_diff(&a, &b);
    assert!(diff > 0.0 && diff < 1e-2, "max |diff| of hidden states {diff}");
    // A weight past f16's range is refused by name, not written as infinity.
    let big = rewrite(&checkpoint.weights, |name, shape, data| {
        let data = if name == "pooler.dense.bias" { data.chunks(4).flat_map(|_| 1e5f32.to_le_bytes()).collect() } else { data };
        vec![(name.to_string(), shape, data)]
    });
    let err = undivided::checkpoint::to_f16(&big, Path::new("x")).unwrap_err().to_string();
    assert!(err.contains("pooler.dense.bias") && err.contains("f16's range"), "{err}");

    // The CLI and setup's script agree tensor by tensor.
    let dir = common::tiny_checkpoint_dir();
    let (rust_out, py_out) = (common::tempdir(), common::tempdir());
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_undivided"))
        .args(["reduce", dir.path().to_str().unwrap(), "--dtype", "f16", "--out", rust_out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let p = std::process::Command::new("python3")
        .args([common::root().join("scripts/to_f16.py").to_str().unwrap(), dir.path().to_str().unwrap(), py_out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let (a, b) = (std::fs::read(rust_out.path().join("model.safetensors")).unwrap(), std::fs::read(py_out.path().join("model.safetensors")).unwrap());
    let (a, b) = (SafeTensors::deserialize(&a).unwrap(), SafeTensors::deserialize(&b).unwrap());
    let mut names: Vec<String> = a.names().into_iter().map(str::to_string).collect();
    names.sort();
    let mut other: Vec<String> = b.names().into_iter().map(str::to_string).collect();
    other.sort();
    assert_eq!(names, other);
    for name in &names {
        let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!((x.dtype(), x.shape(), x.data()), (y.dtype(), y.shape(), y.data()), "{name}");
    }
    assert!(Checkpoint::open(py_out.path()).unwrap().load_bert(None, &device).is_ok());
}

/// The page's default download, all-MiniLM-L6-v2 with f16 weights (made by setup), computes
/// within 5e-3 of the f32 model (measured: at most 2.9e-3 on hidden states up to 5.7, 1.5e-4 on
/// the pooled output; docs/benchmarks.md).
#[test]
fn the_f16_default_model_stays_close_to_the_f32_one() {
    let f16_dir = common::root().join("models/all-MiniLM-L6-v2-f16");
    assert!(f16_dir.join("model.safetensors").is_file(), "{} is missing: run `scripts/setup.sh model`", f16_dir.display());
    let (full, half) = (Checkpoint::open(common::minilm_dir()).unwrap(), Checkpoint::open(&f16_dir).unwrap());
    assert!((half.weights.len() as f64) < 0.51 * full.weights.len() as f64);
    let device = Device::flex();
    let (a, _) = full.load_bert(None, &device).unwrap();
    let (b, _) = half.load_bert(None, &device).unwrap();
    for text in ["a gripping, beautifully acted film", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich"] {
        let batch = full.tokenizer.encode(&undivided::TextInput::Single(text.into())).unwrap();
        let out = |m: &undivided::BertModel| m.forward(batch.to_input(&device), ForwardConfig::default());
        let (x, y) = (out(&a), out(&b));
        let hidden = common::max_abs_diff(&common::to_vec(x.last_hidden_state), &common::to_vec(y.last_hidden_state));
        let pooled = common::max_abs_diff(&common::to_vec(x.pooler_output), &common::to_vec(y.pooler_output));
        assert!(hidden < 5e-3 && pooled < 1e-3, "{text}: hidden {hidden}, pooled {pooled}");
    }
}
