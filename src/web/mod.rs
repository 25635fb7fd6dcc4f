//! The browser front end (wasm32): what the page calls, on WebGPU through burn-wgpu (or burn's
//! CPU backend compiled to wasm, when the browser has no WebGPU).
//!
//! - [`worker`]: the Web Worker the page sends every piece of model work to (typed requests);
//! - [`model`]: loading a checkpoint (cached, with progress), stats, inference and the benchmark;
//! - [`train`]: quick fine-tuning and healing, one awaited step at a time;
//! - [`data`]: the page's labelled data (built-in sample, a dropped TSV, rows from the hub);
//! - [`findings`]: the studies this project committed, shown on first visit;
//! - [`results`]: the native runs' `compare.json` / `results.json`, shown beside the page's own;
//! - [`chart`]: loss curves and bars on a canvas (plotters);
//! - [`fetch`]: streamed, cached downloads;
//! - [`share`]: several CPU workers sharing one sentence's pass, heads and columns (`SharedArrayBuffer`).
//!
//! Everything is async: in the browser tensors are only ever read with `into_data_async`.

pub mod chart;
pub mod data;
mod error;
mod fetch;
pub mod findings;
pub mod model;
pub mod results;
pub mod share;
pub mod train;
pub mod worker;

use burn::tensor::Tensor;
use wasm_bindgen::prelude::*;

use crate::checkpoint::Checkpoint;
use crate::error::ReadbackError;
use crate::text::TextInput;

pub use error::WebError;
pub use fetch::{CACHE_NAME, describe, fetch_bytes, fetch_cached};
pub use model::WebModel;

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// A Rust value as a plain JS object (maps become objects, not `Map`s, so the page can index them).
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

/// Reads a float tensor back from the device without blocking the browser's thread.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ReadbackError> {
    let data = t.into_data_async().await.map_err(ReadbackError::of("a tensor"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(ReadbackError::of("a tensor"))
}

/// Where a model comes from: `hf:org/name` (or a `huggingface.co/org/name` address) becomes the
/// hub's `resolve/main` folder; anything else is a URL relative to the page or absolute.
pub fn resolve_source(source: &str) -> String {
    let s = source.trim().trim_end_matches('/');
    let repo = s.strip_prefix("hf:").or_else(|| s.strip_prefix("https://huggingface.co/")).filter(|r| !r.contains("/resolve/"));
    match repo {
        Some(repo) => format!("https://huggingface.co/{repo}/resolve/main"),
        None => s.to_string(),
    }
}

/// Downloads a checkpoint folder served at `base_url` (`config.json`, `model.safetensors`,
/// `tokenizer.json` or `vocab.txt`), from the Cache API when it was downloaded before.
/// `progress(file, bytes, total)` follows the downloads.
pub async fn fetch_checkpoint(base_url: &str, progress: &dyn Fn(&str, f64, f64)) -> Result<(Checkpoint, bool), WebError> {
    let base = base_url.trim_end_matches('/');
    let mut files = Vec::new();
    let mut all_cached = true;
    for (name, required) in [("config.json", true), ("tokenizer.json", false), ("vocab.txt", false), ("model.safetensors", true)] {
        if name == "vocab.txt" && files.iter().any(|(n, _)| n == "tokenizer.json") {
            continue; // tokenizer.json wins; vocab.txt is only the fallback
        }
        match fetch_cached(&format!("{base}/{name}"), true, &|done, total| progress(name, done, total)).await? {
            Some((bytes, cached)) => {
                all_cached &= cached;
                files.push((name.to_string(), bytes));
            }
            None if !required => {}
            None => return Err(WebError::NotFound { url: format!("{base}/{name}") }),
        }
    }
    if !files.iter().any(|(n, _)| n == "tokenizer.json" || n == "vocab.txt") {
        return Err(WebError::NoTokenizer { base: base.to_string() });
    }
    let checkpoint = Checkpoint::from_files(base, files)?;
    Ok((checkpoint, all_cached))
}

/// The page's input check: a clear error for an empty sentence, and a cap on pasted text.
pub fn text_input(text: String, text_b: Option<String>) -> Result<TextInput, JsValue> {
    /// Longer pastes are refused before tokenizing (the model sees at most 512 tokens anyway).
    const MAX_CHARS: usize = 5_000;
    let text_b = text_b.filter(|t| !t.trim().is_empty());
    if text.trim().is_empty() {
        return Err(JsValue::from_str("the sentence is empty: type a sentence first"));
    }
    for t in std::iter::once(&text).chain(text_b.as_ref()) {
        let n = t.chars().count();
        if n > MAX_CHARS {
            return Err(JsValue::from_str(&format!(
                "the text is {n} characters long; at most {MAX_CHARS} are accepted (the model reads only its first 512 tokens)"
            )));
        }
    }
    Ok(TextInput::new(text, text_b))
}
