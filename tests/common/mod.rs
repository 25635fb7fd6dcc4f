//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use safetensors::SafeTensors;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// The embedded default model; setup places it (the README's test command runs setup first).
pub fn minilm_dir() -> PathBuf {
    let dir = root().join("models/all-MiniLM-L6-v2");
    assert!(dir.join("model.safetensors").is_file(), "{} is missing: run `scripts/setup.sh model` (the test command does)", dir.display());
    dir
}

/// One f32 tensor of a safetensors file, flattened.
pub fn read_f32(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap_or_else(|_| panic!("{name} not in {}", path.display()));
    view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Largest absolute difference; panics if the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The tiny random BERT fixture made by scripts/make_reference.py.
pub fn tiny_dir() -> PathBuf {
    fixtures().join("tiny")
}

/// A BERT vocab.txt with `n` tokens (specials first), so the tiny model has a tokenizer.
pub fn tiny_vocab(n: usize) -> String {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    let words = ["the", "a", "movie", "good", "bad", "is", "was", "not", "very", "film", "##s", "##ing"];
    v.extend(words.iter().map(|s| s.to_string()));
    let mut i = 0;
    while v.len() < n {
        v.push(format!("tok{i}"));
        i += 1;
    }
    v.join("\n")
}

/// A temporary directory removed on drop. (Not the `tempfile` crate: as a dev-dependency it
/// turns on `bitflags/std`, and burn's whole tree would be compiled twice, for lib and tests.)
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "undivided-test-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A copy of the tiny model with a vocab.txt, in a fresh temp dir: a complete checkpoint.
pub fn tiny_checkpoint_dir() -> TempDir {
    let dir = tempdir();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny_dir().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("vocab.txt"), tiny_vocab(1000)).unwrap();
    dir
}

/// Asserts that `path` is one of our PNG charts (900 × 560) with something drawn on it: bars,
/// lines or cells in colour and dark text, not a blank or single-colour image.
#[cfg(not(target_arch = "wasm32"))]
pub fn assert_png_chart(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (900, 560), "{}", path.display());
    let channels = info.line_size / info.width as usize;
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let dark = pixels.iter().filter(|p| p[..3].iter().all(|&c| c < 80)).count();
    let coloured = pixels.iter().filter(|p| p[..3].iter().max().unwrap() - p[..3].iter().min().unwrap() > 60).count();
    assert!(dark > 500, "{}: no text or axes drawn ({dark} dark pixels)", path.display());
    assert!(coloured > 500, "{}: no coloured data drawn ({coloured} pixels)", path.display());
}

/// Stops a run after `n` steps, as Ctrl-C does: resume tests interrupt with it.
pub struct StopAt(pub usize);
impl undivided::train::finetune_run::Observer for StopAt {
    fn should_stop(&mut self) -> bool {
        self.0 -= 1;
        self.0 == 0
    }
}

/// The tiny model's PyTorch outputs (`expected.json`, scripts/make_reference.py).
pub fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(tiny_dir().join("expected.json")).unwrap()).unwrap()
}

/// The padded two-row batch of `expected.json` as model input.
pub fn tiny_input(device: &burn::tensor::Device) -> undivided::model::BertInput {
    let e = expected();
    let rows = |k: &str| -> Vec<i64> { e[k].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap())).collect() };
    let t = |k: &str| burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(rows(k), [2, 10]), device);
    undivided::model::BertInput { input_ids: t("input_ids"), token_type_ids: t("token_type_ids"), attention_mask: t("attention_mask") }
}

/// A JSON array of numbers as f32.
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// A short fine-tuning on the tiny model: batch 8, length 16, no warm-up, seed 3, `steps` steps
/// at `lr`, evaluated only at the end (the runs' tests change what they test from here).
#[allow(dead_code)]
pub fn finetune_options(steps: usize, lr: f64) -> undivided::train::finetune_run::FinetuneOptions {
    undivided::train::finetune_run::FinetuneOptions {
        train: undivided::train::TrainConfig { batch_size: 8, max_len: 16, lr, warmup_ratio: 0.0, seed: 3, ..Default::default() },
        epochs: 1,
        max_steps: Some(steps),
        eval_every: 0,
        save_every: 0,
        eval_batch_size: 16,
        teacher: None,
        dropout: None,
        made_from: None,
    }
}
