//! The browser front end (wasm32): bindings the page calls, on WebGPU through burn-wgpu.
//!
//! Everything is async: in the browser tensors are only ever read with `into_data_async`.

mod fetch;

use burn::tensor::{Device, Tensor};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_time::Instant;

use crate::checkpoint::Checkpoint;
use crate::device::{Backend, init_device};
use crate::model::{BertModel, FfnPlan, ForwardOptions, ModelStats};
use crate::text::TextInput;

pub use fetch::fetch_bytes;

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Reads a float tensor back from the device without blocking the browser's thread.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = t.into_data_async().await.map_err(|e| format!("reading a tensor from the GPU failed: {e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}

/// Downloads a checkpoint folder served at `base_url` (`config.json`, `model.safetensors`, `tokenizer.json`).
pub async fn fetch_checkpoint(base_url: &str) -> Result<Checkpoint, String> {
    let base = base_url.trim_end_matches('/');
    let mut files = Vec::new();
    for (name, required) in [("config.json", true), ("tokenizer.json", false), ("vocab.txt", false), ("model.safetensors", true)] {
        if name == "vocab.txt" && files.iter().any(|(n, _)| n == "tokenizer.json") {
            continue; // tokenizer.json wins; vocab.txt is only the fallback
        }
        match fetch_bytes(&format!("{base}/{name}")).await? {
            Some(bytes) => files.push((name.to_string(), bytes)),
            None if !required => {}
            None => return Err(format!("{base}/{name}: not found (HTTP 404)")),
        }
    }
    Checkpoint::from_files(base, files).map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct EncodeResult {
    plan: String,
    tokens: usize,
    ms: f64,
    pooler_output: Vec<f32>,
    cls: Vec<f32>,
}

/// A loaded checkpoint in the page: the full model, and a reduced one on demand.
#[wasm_bindgen]
pub struct WebModel {
    device: Device,
    checkpoint: Checkpoint,
    full: BertModel,
    reduced: Option<(FfnPlan, BertModel)>,
}

#[wasm_bindgen]
impl WebModel {
    /// Loads the checkpoint at `base_url` on WebGPU (or the CPU backend when `cpu` is true).
    pub async fn load(base_url: String, cpu: bool) -> Result<WebModel, JsValue> {
        console_error_panic_hook::set_once();
        let device = init_device(if cpu { Backend::Flex } else { Backend::Wgpu }).await.map_err(js_err)?;
        let checkpoint = fetch_checkpoint(&base_url).await.map_err(js_err)?;
        let (full, _) = checkpoint.load_bert(None, &device).map_err(js_err)?;
        Ok(WebModel { device, checkpoint, full, reduced: None })
    }

    #[wasm_bindgen(getter)]
    pub fn num_layers(&self) -> usize {
        self.checkpoint.config.num_hidden_layers
    }

    #[wasm_bindgen(getter)]
    pub fn device_name(&self) -> String {
        format!("{:?}", self.device)
    }

    /// Parameters and FLOPs of a plan (`all`, `none`, `0,2,5`), as JSON.
    pub fn stats(&self, plan: &str, seq_len: usize) -> Result<JsValue, JsValue> {
        let plan = FfnPlan::parse(plan, self.num_layers()).map_err(js_err)?;
        serde_wasm_bindgen::to_value(&ModelStats::new(&self.checkpoint.config, &plan, seq_len)).map_err(js_err)
    }

    /// Encodes a sentence (or pair) with the model of `plan` and returns pooled output and latency.
    pub async fn encode(&mut self, plan: String, text: String, text_b: Option<String>) -> Result<JsValue, JsValue> {
        let plan = FfnPlan::parse(&plan, self.num_layers()).map_err(js_err)?;
        let text_b = text_b.filter(|t| !t.trim().is_empty());
        let batch = self.checkpoint.tokenizer.encode(&TextInput::new(text, text_b)).map_err(js_err)?;
        if !plan.is_full() && self.reduced.as_ref().is_none_or(|(p, _)| p != &plan) {
            // The reduced model is built from the same weights: the full checkpoint minus the removed blocks.
            let (model, _) = self.checkpoint.load_bert(Some(&plan), &self.device).map_err(js_err)?;
            self.reduced = Some((plan.clone(), model));
        }
        let model = if plan.is_full() { &self.full } else { &self.reduced.as_ref().expect("built above").1 };
        let start = Instant::now();
        let out = model.forward(batch.to_input(&self.device), ForwardOptions::default());
        let hidden = self.checkpoint.config.hidden_size;
        let pooler_output = read_f32(out.pooler_output).await.map_err(js_err)?;
        let last = read_f32(out.last_hidden_state).await.map_err(js_err)?;
        let result = EncodeResult {
            plan: plan.to_string(),
            tokens: batch.seq_len,
            ms: start.elapsed().as_secs_f64() * 1e3,
            pooler_output,
            cls: last[..hidden].to_vec(),
        };
        serde_wasm_bindgen::to_value(&result).map_err(js_err)
    }
}
