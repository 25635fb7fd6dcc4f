//! A checkpoint loaded in the page: the full model, the reduced one built from the same weights,
//! side-by-side inference and the benchmark.

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_time::Instant;

use super::WebError;
use super::data::WebData;
use super::train::{PageFinetune, PageHeal, PageOptions};
use super::{fetch_checkpoint, js_err, read_f32, resolve_source, text_input, to_js};
use crate::analysis::{CkaKind, Pooling, ProbeConfig, cka_matrix, cosine, layer_representations, pool, probe_layers};
use crate::checkpoint::Checkpoint;
use crate::device::{Backend, Launches, init_device, is_flex};
use crate::experiment::timing::{BenchInput, time_passes};
use crate::model::{BertForSequenceClassification, BertModel, FfnPlan, ForwardConfig, ModelStats};

#[derive(Serialize)]
pub struct EncodeResult {
    plan: String,
    tokens: usize,
    ms: f64,
    pooler_output: Vec<f32>,
    /// The last layer's [CLS] state.
    pub cls: Vec<f32>,
}

#[derive(Serialize)]
pub struct Similarity {
    plan: String,
    /// Cosine similarity of the two inputs' mean-pooled embeddings (sentence-transformers style).
    cosine: f32,
    ms: f64,
}

#[derive(Serialize)]
pub struct Classification {
    plan: String,
    labels: Vec<String>,
    probabilities: Vec<f32>,
    ms: f64,
}

#[derive(Serialize)]
struct ProbeResult {
    plan: String,
    train_examples: usize,
    dev_examples: usize,
    /// Dev accuracy per hidden state (embeddings output first), full and reduced model.
    full: Vec<f64>,
    reduced: Vec<f64>,
    ms: f64,
}

#[derive(Serialize)]
struct CkaResult {
    plan: String,
    kind: CkaKind,
    sentences: usize,
    /// `[full layer][reduced layer]`, embeddings output first.
    matrix: Vec<Vec<f64>>,
    diagonal: Vec<f64>,
    ms: f64,
}

#[derive(Serialize)]
pub struct BenchResult {
    plan: String,
    batch_size: usize,
    seq_len: usize,
    /// The first batch: WGSL shader compilation and autotuning, reported apart.
    first_ms: f64,
    ms_per_batch: f64,
    sentences_per_s: f64,
    ms_per_sentence: f64,
    /// GPU kernel launches of one forward pass after the warm-up (none on the CPU backend).
    launches: Option<Launches>,
}

/// What the page shows of a loaded model (the worker's reply to `load`).
#[derive(Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub num_layers: usize,
    pub device_name: String,
    pub download_bytes: usize,
    pub own_plan: String,
    pub is_classifier: bool,
    pub from_cache: bool,
    pub load_ms: f64,
    pub healed_plan: Option<String>,
    /// The model's width: what a buffer for workers sharing a pass holds per row
    /// (`share_buffer`).
    pub hidden_size: usize,
}

/// A loaded checkpoint in the page's worker: the full model, and a reduced one on demand.
pub struct WebModel {
    device: Device,
    checkpoint: Checkpoint,
    full: BertModel,
    reduced: Option<(FfnPlan, BertModel)>,
    classifiers: Vec<(FfnPlan, BertForSequenceClassification)>,
    healed: Option<(FfnPlan, Vec<u8>)>,
    from_cache: bool,
    load_ms: f64,
}

impl WebModel {
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    fn plan(&self, spec: &str) -> Result<FfnPlan, JsValue> {
        FfnPlan::parse(spec, self.checkpoint.config.num_hidden_layers).map_err(js_err)
    }

    /// The encoder of `plan`, built from the same weights on first use.
    fn encoder(&mut self, plan: &FfnPlan) -> Result<&BertModel, JsValue> {
        if plan == &self.checkpoint.plan() {
            return Ok(&self.full);
        }
        if self.reduced.as_ref().is_none_or(|(p, _)| p != plan) {
            let (model, _) = self.checkpoint.load_bert(Some(plan), &self.device).map_err(js_err)?;
            self.reduced = Some((plan.clone(), model));
        }
        Ok(&self.reduced.as_ref().expect("built above").1)
    }

    /// Wraps a checkpoint already in memory (tests, and `load`).
    pub async fn from_checkpoint(checkpoint: Checkpoint, cpu: bool) -> Result<WebModel, WebError> {
        let device = init_device(if cpu { Backend::Flex } else { Backend::Wgpu }).await.map_err(|e| WebError::Browser(e.to_string()))?;
        let started = Instant::now();
        let (full, _) = checkpoint.load_bert(None, &device)?;
        Ok(WebModel {
            device,
            checkpoint,
            full,
            reduced: None,
            classifiers: Vec::new(),
            healed: None,
            from_cache: false,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

impl WebModel {
    /// Loads the checkpoint at `source` (a folder URL, or `hf:org/name` for the HuggingFace hub)
    /// on WebGPU, or on burn's CPU backend when `cpu` is true. `progress(file, bytes, total)`
    /// follows the downloads; files come from the Cache API when downloaded before.
    pub async fn load(source: String, cpu: bool, progress: Option<js_sys::Function>) -> Result<WebModel, JsValue> {
        let started = Instant::now();
        let url = resolve_source(&source);
        if url.is_empty() {
            return Err(js_err("the model address is empty: give a folder URL or hf:org/name"));
        }
        let report = |file: &str, done: f64, total: f64| {
            if let Some(f) = &progress {
                let _ = f.call3(&JsValue::NULL, &file.into(), &done.into(), &total.into());
            }
        };
        let (checkpoint, from_cache) = fetch_checkpoint(&url, &report).await.map_err(js_err)?;
        let mut model = WebModel::from_checkpoint(checkpoint, cpu).await.map_err(js_err)?;
        model.from_cache = from_cache;
        model.load_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(model)
    }

    pub fn num_layers(&self) -> usize {
        self.checkpoint.config.num_hidden_layers
    }

    pub fn device_name(&self) -> String {
        // The backend in plain words (the page adds the adapter's name): not burn's debug string.
        if crate::device::is_flex(&self.device) { "the CPU (burn's wasm backend)".into() } else { "WebGPU".into() }
    }

    /// Bytes of the weights file as it was downloaded: half the f32 size for an f16 checkpoint
    /// (the page's default), which the loader widens to f32.
    pub fn download_bytes(&self) -> usize {
        self.checkpoint.weights.len()
    }

    pub fn name(&self) -> String {
        self.checkpoint.name()
    }

    /// The checkpoint's own plan (`all` for a pre-trained model).
    pub fn own_plan(&self) -> String {
        self.checkpoint.plan().to_string()
    }

    /// True for a fine-tuned classifier (its config names labels).
    pub fn is_classifier(&self) -> bool {
        self.checkpoint.config.id2label.is_some()
    }

    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Milliseconds from the start of `load` to a model on the device.
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// The plan healed in this page, if any.
    pub fn healed_plan(&self) -> Option<String> {
        self.healed.as_ref().map(|(p, _)| p.to_string())
    }

    /// What the page shows of this model.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.name(),
            num_layers: self.num_layers(),
            device_name: self.device_name(),
            download_bytes: self.download_bytes(),
            own_plan: self.own_plan(),
            is_classifier: self.is_classifier(),
            from_cache: self.from_cache,
            load_ms: self.load_ms,
            healed_plan: self.healed_plan(),
            hidden_size: self.checkpoint.config.hidden_size,
        }
    }

    /// Parameters and FLOPs of a plan (`all`, `none`, `0,2,5`).
    pub fn stats_of(&self, plan: &str, seq_len: usize) -> Result<ModelStats, JsValue> {
        let plan = self.plan(plan)?;
        Ok(ModelStats::new(&self.checkpoint.config, &plan, seq_len))
    }

    /// Encodes a sentence (or pair) with the model of `plan`: pooled output, [CLS] and latency.
    pub async fn encode(&mut self, plan: &str, text: String, text_b: Option<String>) -> Result<EncodeResult, JsValue> {
        let plan = self.plan(plan)?;
        let input = text_input(text, text_b)?;
        let batch = self.checkpoint.tokenizer.encode(&input).map_err(js_err)?;
        let hidden = self.checkpoint.config.hidden_size;
        let device = self.device.clone();
        let model = self.encoder(&plan)?;
        let start = Instant::now();
        let out = model.forward(batch.to_input(&device), ForwardConfig::default());
        let pooler_output = read_f32(out.pooler_output).await.map_err(js_err)?;
        let last = read_f32(out.last_hidden_state).await.map_err(js_err)?;
        Ok(EncodeResult { plan: plan.to_string(), tokens: batch.seq_len, ms: start.elapsed().as_secs_f64() * 1e3, pooler_output, cls: last[..hidden].to_vec() })
    }

    /// For a base model: cosine similarity of two sentences' mean-pooled embeddings.
    pub async fn similarity(&mut self, plan: &str, text: String, text_b: String) -> Result<Similarity, JsValue> {
        let plan = self.plan(plan)?;
        let (a, b) = (text_input(text, None)?, text_input(text_b, None)?);
        let batch = self.checkpoint.tokenizer.encode_batch(&[a, b]).map_err(js_err)?;
        let device = self.device.clone();
        let model = self.encoder(&plan)?;
        let start = Instant::now();
        let input = batch.to_input(&device);
        let mask = input.attention_mask.clone().float().unsqueeze_dim::<3>(2); // [2, s, 1]
        let out = model.forward(input, ForwardConfig::default());
        let v = read_f32(pool(out.last_hidden_state, mask, Pooling::Mean)).await.map_err(js_err)?;
        let h = v.len() / 2;
        Ok(Similarity { plan: plan.to_string(), cosine: cosine(&v[..h], &v[h..]), ms: start.elapsed().as_secs_f64() * 1e3 })
    }

    /// For a fine-tuned classifier: label probabilities of the model of `plan` (the reduced one
    /// is the same fine-tuned checkpoint minus the switched-off blocks).
    pub async fn classify(&mut self, plan: &str, text: String, text_b: Option<String>) -> Result<Classification, JsValue> {
        if !self.is_classifier() {
            return Err(js_err(format!("{} is not a fine-tuned classifier (its config.json has no id2label); fine-tune it first", self.checkpoint.name())));
        }
        let plan = self.plan(plan)?;
        let input = text_input(text, text_b)?;
        let batch = self.checkpoint.tokenizer.encode(&input).map_err(js_err)?;
        if !self.classifiers.iter().any(|(p, _)| p == &plan) {
            let (model, _) = self.checkpoint.load_classifier(Some(&plan), &self.device).map_err(js_err)?;
            self.classifiers.retain(|(p, _)| p == &self.checkpoint.plan());
            self.classifiers.push((plan.clone(), model));
        }
        let model = &self.classifiers.iter().find(|(p, _)| p == &plan).expect("loaded above").1;
        let start = Instant::now();
        let logits = read_f32(model.forward(batch.to_input(&self.device))).await.map_err(js_err)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let probabilities = crate::train::eval::probabilities(&logits);
        Ok(Classification { plan: plan.to_string(), labels: self.checkpoint.config.label_names(), probabilities, ms })
    }

    /// Times the model of `plan` as `undivided bench` does, on the same input and loop
    /// ([`crate::experiment::timing`]): one warm-up batch (reported as `first_ms`: kernel
    /// compilation), one counting the GPU kernel launches of a forward pass, then `iters` timed
    /// batches of `batch_size` × `seq_len` real tokens, each read back to the host.
    pub async fn bench(&mut self, plan: &str, batch_size: usize, seq_len: usize, iters: usize) -> Result<BenchResult, JsValue> {
        let plan = self.plan(plan)?;
        let max = self.checkpoint.config.max_position_embeddings;
        if batch_size == 0 || iters == 0 || !(2..=max).contains(&seq_len) {
            return Err(js_err(format!("benchmark: expected batch ≥ 1, iterations ≥ 1 and 2 ≤ length ≤ {max}")));
        }
        let device = self.device.clone();
        let batch = BenchInput::of(&self.checkpoint).batch(batch_size, seq_len);
        let model = self.encoder(&plan)?.clone();
        let pass = || {
            let out = model.forward(batch.to_input(&device), ForwardConfig::default());
            async move { read_f32(out.pooler_output).await.map(|_| ()) }
        };
        let timing = time_passes(1, iters, !is_flex(&device), pass).await.map_err(js_err)?;
        Ok(BenchResult {
            plan: plan.to_string(),
            batch_size,
            seq_len,
            first_ms: timing.first_ms,
            ms_per_batch: timing.ms_per_pass,
            sentences_per_s: batch_size as f64 * 1e3 / timing.ms_per_pass,
            ms_per_sentence: timing.ms_per_pass / batch_size as f64,
            launches: timing.launches,
        })
    }

    /// Layer-by-layer CKA between the full model and the model of `plan` on the first
    /// `max_sentences` of `data` (mean-pooled states; hidden states read back asynchronously).
    pub async fn cka(&mut self, plan: String, data: &WebData, max_sentences: usize, debiased: bool) -> Result<JsValue, JsValue> {
        let plan = self.plan(&plan)?;
        let (rows, pad_id) = self.analysis_rows(&data.train, max_sentences)?;
        let start = Instant::now();
        let device = self.device.clone();
        let full = layer_representations(&self.full, &rows, pad_id, 32, Pooling::Mean, &device);
        let reduced = layer_representations(self.encoder(&plan)?, &rows, pad_id, 32, Pooling::Mean, &device);
        let kind = if debiased { CkaKind::Debiased } else { CkaKind::Linear };
        let matrix = cka_matrix(full, reduced, kind).await.map_err(js_err)?;
        let diagonal = (0..matrix.len()).map(|i| matrix[i][i]).collect();
        to_js(&CkaResult { plan: plan.to_string(), kind, sentences: rows.len(), matrix, diagonal, ms: start.elapsed().as_secs_f64() * 1e3 })
    }

    /// Linear probes of every hidden state of the full model and of the model of `plan`: trained
    /// on (at most `max_train` of) `data`'s training rows, scored on its dev rows, with `steps`
    /// full-batch optimisation steps each.
    pub async fn probe(&mut self, plan: String, data: &WebData, max_train: usize, steps: usize) -> Result<JsValue, JsValue> {
        let plan = self.plan(&plan)?;
        let (train, pad_id) = self.analysis_rows(&data.train, max_train)?;
        let (dev, _) = self.analysis_rows(&data.dev, usize::MAX)?;
        let config = ProbeConfig { steps: steps.max(1), ..Default::default() };
        let start = Instant::now();
        let device = self.device.clone();
        let full = probe_layers(&self.full, &train, &dev, pad_id, Pooling::Mean, &config, &device).await.map_err(js_err)?;
        let reduced = probe_layers(self.encoder(&plan)?, &train, &dev, pad_id, Pooling::Mean, &config, &device).await.map_err(js_err)?;
        to_js(&ProbeResult {
            plan: plan.to_string(),
            train_examples: train.len(),
            dev_examples: dev.len(),
            full,
            reduced,
            ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Starts healing the model of `plan` against the full model on `data`'s sentences (labels
    /// ignored).
    pub fn heal(&self, plan: String, data: &WebData, settings: &PageOptions) -> Result<PageHeal, JsValue> {
        let plan = self.plan(&plan)?;
        PageHeal::new(&self.checkpoint, &plan, &data.train, settings, &self.device).map_err(js_err)
    }

    /// Keeps the healer's student as this page's healed model of its plan.
    pub async fn adopt_healed(&mut self, healer: &PageHeal) -> Result<(), JsValue> {
        let weights = healer.weights().await.map_err(js_err)?;
        self.healed = Some((healer.plan.clone(), weights));
        Ok(())
    }

    /// Starts a quick fine-tune of the model of `plan` on `data`; with `use_healed`, from the
    /// model healed in this page (which must have the same plan).
    pub fn quick_trainer(&self, plan: String, data: &WebData, settings: &PageOptions, use_healed: bool) -> Result<PageFinetune, JsValue> {
        let plan = self.plan(&plan)?;
        let weights = match (&self.healed, use_healed) {
            (Some((p, w)), true) if p == &plan => Some(w.as_slice()),
            (Some((p, _)), true) => return Err(js_err(format!("the healed model has plan `{p}`, not `{plan}`: heal this plan first"))),
            (None, true) => return Err(js_err("no model has been healed yet")),
            _ => None,
        };
        PageFinetune::new(&self.checkpoint, weights, &plan, &data.train, &data.dev, settings, &self.device).map_err(js_err)
    }
}

impl WebModel {
    /// The first `max` rows (at least 4) of `set`, tokenized at most 64 tokens long for the
    /// analyses (CKA, probes), and the padding id.
    fn analysis_rows(&self, set: &crate::data::Dataset, max: usize) -> Result<(crate::data::Prepared, u32), JsValue> {
        let mut set = set.clone();
        set.examples.truncate(max.max(4));
        let mut tokenizer = self.checkpoint.tokenizer.clone();
        tokenizer.set_max_len(64, self.checkpoint.config.max_position_embeddings).map_err(js_err)?;
        Ok((crate::data::Prepared::new(&tokenizer, &set).map_err(js_err)?, tokenizer.pad_id()))
    }
}
