//! Quick fine-tuning and healing in the page, one awaited step at a time: the page draws its
//! curves and stays responsive between steps, and a Stop button simply stops calling `step`.
//! Every read from the GPU is asynchronous.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use web_time::Instant;

use super::{js_err, to_js};
use crate::checkpoint::{Checkpoint, bert_to_safetensors, load_classifier};
use crate::data::{Dataset, Task, parse_tsv};
use crate::model::FfnPlan;
use crate::text::TextInput;
use crate::train::batches::epoch_batches;
use crate::train::heal::{HealConfig, Healer};
use crate::train::{EvalResult, Prepared, TrainConfig, Trainer, classifier_config, evaluate_async, predict_logits_async};

/// Settings of a quick fine-tune or heal, as the page sends them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct QuickSettings {
    pub steps: usize,
    pub batch_size: usize,
    pub max_len: usize,
    pub lr: f64,
    pub seed: u64,
    /// Global gradient-norm clipping (0: none).
    pub max_grad_norm: f64,
}

impl Default for QuickSettings {
    fn default() -> Self {
        Self { steps: 30, batch_size: 16, max_len: 64, lr: 5e-5, seed: 42, max_grad_norm: 1.0 }
    }
}

impl QuickSettings {
    fn check(&self) -> Result<(), String> {
        if self.steps == 0 || self.batch_size == 0 {
            return Err("steps and batch size must be at least 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("learning rate {}: expected a positive number", self.lr));
        }
        if !(3..=512).contains(&self.max_len) {
            return Err(format!("max length {}: expected 3 to 512 tokens", self.max_len));
        }
        Ok(())
    }
}

/// Reads a GLUE TSV the user dropped into the page (`name` is the file name for errors) and
/// splits it 80/20 into training and dev rows (every fifth row is dev), so the page can report
/// dev accuracy on the user's own data.
pub fn user_tsv(task: Task, name: &str, text: &str) -> Result<(Dataset, Dataset), String> {
    let set = parse_tsv(task, text, std::path::Path::new(name), false).map_err(|e| e.to_string())?;
    if set.examples.len() < 5 {
        return Err(format!("{name}: {} rows; expected at least 5 (one in five is held out for dev accuracy)", set.examples.len()));
    }
    let (mut train, mut dev) = (set.clone(), set.clone());
    train.examples.clear();
    dev.examples.clear();
    for (i, e) in set.examples.into_iter().enumerate() {
        if i % 5 == 4 { dev.examples.push(e) } else { train.examples.push(e) }
    }
    Ok((train, dev))
}

/// Scalar value of a one-element tensor, read without blocking.
async fn scalar(t: Tensor<1>) -> Result<f32, String> {
    Ok(super::read_f32(t).await?.first().copied().unwrap_or(f32::NAN))
}

/// Batches over as many epochs as the steps need, deterministic in the seed.
struct Order {
    lengths: Vec<usize>,
    batch_size: usize,
    seed: u64,
    epoch: usize,
    batches: Vec<Vec<usize>>,
    next: usize,
}

impl Order {
    fn new(lengths: Vec<usize>, batch_size: usize, seed: u64) -> Self {
        let batches = epoch_batches(&lengths, batch_size, seed, 0);
        Self { lengths, batch_size, seed, epoch: 0, batches, next: 0 }
    }

    fn next(&mut self) -> Vec<usize> {
        if self.next == self.batches.len() {
            self.epoch += 1;
            self.batches = epoch_batches(&self.lengths, self.batch_size, self.seed, self.epoch);
            self.next = 0;
        }
        self.next += 1;
        self.batches[self.next - 1].clone()
    }
}

/// A classifier being fine-tuned in the page.
pub struct QuickRun {
    pub trainer: Trainer,
    pub plan: FfnPlan,
    pub label_names: Vec<String>,
    train: Prepared,
    dev: Prepared,
    tokenizer: crate::text::BertTokenizer,
    order: Order,
    pub total_steps: usize,
    pub losses: Vec<f32>,
    pub step_ms: Vec<f64>,
}

impl QuickRun {
    /// `encoder_weights` replaces the checkpoint's encoder (a model healed in the page).
    pub fn new(
        checkpoint: &Checkpoint,
        encoder_weights: Option<&[u8]>,
        plan: &FfnPlan,
        train: &Dataset,
        dev: &Dataset,
        settings: &QuickSettings,
        device: &Device,
    ) -> Result<Self, String> {
        settings.check()?;
        let task = train.task;
        if checkpoint.config.id2label.is_some() && checkpoint.config.num_labels() != task.num_labels() {
            return Err(format!(
                "{}: fine-tuned for {} labels, but {task} has {}; load a base model (or one fine-tuned on {task})",
                checkpoint.source.display(),
                checkpoint.config.num_labels(),
                task.num_labels()
            ));
        }
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(settings.max_len, checkpoint.config.max_position_embeddings).map_err(|e| e.to_string())?;
        let train_rows = Prepared::new(&tokenizer, train).map_err(|e| e.to_string())?;
        let dev_rows = Prepared::new(&tokenizer, dev).map_err(|e| e.to_string())?;
        let ad = device.clone().autodiff();
        // Same seed, same new head for the full and the reduced model.
        ad.seed(settings.seed);
        let (weights, config) = match encoder_weights {
            Some(w) => (w, classifier_config(&checkpoint.config.with_plan(plan), plan, task)),
            None => (checkpoint.weights.as_slice(), classifier_config(&checkpoint.config, plan, task)),
        };
        let (model, _) = load_classifier(weights, &checkpoint.source.join("model.safetensors"), &config, plan, &ad).map_err(|e| e.to_string())?;
        let config = TrainConfig {
            batch_size: settings.batch_size,
            max_len: settings.max_len,
            lr: settings.lr,
            seed: settings.seed,
            max_grad_norm: settings.max_grad_norm,
            ..TrainConfig::default()
        };
        Ok(Self {
            trainer: Trainer::new(model, task, config, settings.steps, &ad),
            plan: plan.clone(),
            label_names: if task.is_regression() { vec!["score".into()] } else { task.labels().iter().map(|s| s.to_string()).collect() },
            order: Order::new(train_rows.lengths(), settings.batch_size, settings.seed),
            train: train_rows,
            dev: dev_rows,
            tokenizer,
            total_steps: settings.steps,
            losses: Vec::new(),
            step_ms: Vec::new(),
        })
    }

    /// One AdamW step; the loss is read back asynchronously.
    pub async fn step(&mut self) -> Result<f32, String> {
        let started = Instant::now();
        let indices = self.order.next();
        let batch = self.train.batch(&indices, self.tokenizer.pad_id());
        let labels: Vec<_> = indices.iter().map(|&i| self.train.labels[i]).collect();
        let out = self.trainer.step(&batch, &labels);
        let loss = scalar(out.loss).await?;
        if !loss.is_finite() {
            return Err(format!("the training loss became {loss} at step {}; try a lower learning rate", self.trainer.step));
        }
        self.losses.push(loss);
        self.step_ms.push(started.elapsed().as_secs_f64() * 1e3);
        Ok(loss)
    }

    pub fn done(&self) -> bool {
        self.trainer.step >= self.total_steps
    }

    /// The loss on the training rows with dropout off: what training lowers.
    pub async fn train_loss(&self) -> Result<f32, String> {
        use burn::module::Module;
        let model = self.trainer.model.valid();
        let device = self.trainer.device.clone().without_autodiff();
        let (mut total, mut n) = (0.0f32, 0usize);
        for indices in crate::train::batches::eval_batches(&self.train.lengths(), 64) {
            let batch = self.train.batch(&indices, self.tokenizer.pad_id());
            let labels: Vec<_> = indices.iter().map(|&i| self.train.labels[i]).collect();
            let loss = crate::train::task_loss(self.train.task, model.forward(batch.to_input(&device)), &labels, &device);
            total += scalar(loss).await? * indices.len() as f32;
            n += indices.len();
        }
        Ok(total / n.max(1) as f32)
    }

    /// The task's metrics on the dev rows.
    pub async fn evaluate(&self) -> Result<EvalResult, String> {
        evaluate_async(&self.trainer.model, &self.dev, self.tokenizer.pad_id(), 32, &self.trainer.device).await
    }

    /// Label probabilities (or the score, for a regression task) of one input.
    pub async fn classify(&self, input: &TextInput) -> Result<Vec<f32>, String> {
        let set = Dataset {
            task: self.train.task,
            examples: vec![crate::data::Example {
                text_a: match input { TextInput::Single(a) | TextInput::Pair(a, _) => a.clone() },
                text_b: match input { TextInput::Pair(_, b) => Some(b.clone()), TextInput::Single(_) => None },
                label: crate::data::Label::Class(0),
            }],
            skipped: vec![],
        };
        let rows = Prepared::new(&self.tokenizer, &set).map_err(|e| e.to_string())?;
        let logits = predict_logits_async(&self.trainer.model, &rows, self.tokenizer.pad_id(), 1, &self.trainer.device).await?.remove(0);
        Ok(crate::train::eval::probabilities(&logits))
    }
}

/// One healing step's losses, read back.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HealPoint {
    pub step: usize,
    pub loss: f32,
    pub hidden_mse: f32,
    pub attention_kl: f32,
    pub ms: f64,
}

/// The reduced model being healed against the loaded full model in the page.
pub struct HealRun {
    pub healer: Healer,
    pub plan: FfnPlan,
    texts: Prepared,
    pad_id: u32,
    order: Order,
    pub total_steps: usize,
    pub points: Vec<HealPoint>,
}

impl HealRun {
    pub fn new(checkpoint: &Checkpoint, plan: &FfnPlan, texts: &Dataset, settings: &QuickSettings, device: &Device) -> Result<Self, String> {
        settings.check()?;
        if plan.is_full() || plan == &checkpoint.plan() {
            return Err("the reduced model keeps every intermediate block: switch some off to heal it".into());
        }
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(settings.max_len, checkpoint.config.max_position_embeddings).map_err(|e| e.to_string())?;
        let rows = Prepared::new(&tokenizer, texts).map_err(|e| e.to_string())?;
        let ad = device.clone().autodiff();
        let inner = device.clone().without_autodiff();
        let (teacher, _) = checkpoint.load_bert(None, &inner).map_err(|e| e.to_string())?;
        let (student, _) = checkpoint.load_bert(Some(plan), &ad).map_err(|e| e.to_string())?;
        let config = HealConfig { lr: settings.lr, seed: settings.seed, max_grad_norm: settings.max_grad_norm, ..HealConfig::default() };
        Ok(Self {
            healer: Healer::new(student, teacher, config, settings.steps, &ad),
            plan: plan.clone(),
            order: Order::new(rows.lengths(), settings.batch_size, settings.seed),
            texts: rows,
            pad_id: checkpoint.tokenizer.pad_id(),
            total_steps: settings.steps,
            points: Vec::new(),
        })
    }

    pub async fn step(&mut self) -> Result<HealPoint, String> {
        let started = Instant::now();
        let indices = self.order.next();
        let out = self.healer.step(&self.texts.batch(&indices, self.pad_id));
        let point = HealPoint {
            step: self.healer.step,
            loss: scalar(out.loss).await?,
            hidden_mse: scalar(out.hidden).await?,
            attention_kl: scalar(out.attention).await?,
            ms: started.elapsed().as_secs_f64() * 1e3,
        };
        if !point.loss.is_finite() {
            return Err(format!("the healing loss became {} at step {}; try a lower learning rate", point.loss, point.step));
        }
        self.points.push(point);
        Ok(point)
    }

    pub fn done(&self) -> bool {
        self.healer.step >= self.total_steps
    }

    /// The healed encoder as safetensors bytes (HF names), for fine-tuning it next.
    pub async fn weights(&self) -> Result<Vec<u8>, String> {
        use burn::module::Module;
        bert_to_safetensors(&self.healer.student.valid()).await.map_err(|e| e.to_string())
    }
}

/// A quick fine-tune of one model, driven by the page.
#[wasm_bindgen]
pub struct QuickTrainer {
    pub(super) run: QuickRun,
}

#[wasm_bindgen]
impl QuickTrainer {
    /// One step; resolves to the training loss.
    pub async fn step(&mut self) -> Result<f32, JsValue> {
        self.run.step().await.map_err(js_err)
    }

    #[wasm_bindgen(getter)]
    pub fn steps_done(&self) -> usize {
        self.run.trainer.step
    }

    #[wasm_bindgen(getter)]
    pub fn total_steps(&self) -> usize {
        self.run.total_steps
    }

    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.run.done()
    }

    #[wasm_bindgen(getter)]
    pub fn plan(&self) -> String {
        self.run.plan.to_string()
    }

    /// Mean milliseconds per step, leaving out the first (shader compilation, autotune).
    #[wasm_bindgen(getter)]
    pub fn ms_per_step(&self) -> f64 {
        let ms = &self.run.step_ms;
        let rest = if ms.len() > 1 { &ms[1..] } else { &ms[..] };
        rest.iter().sum::<f64>() / rest.len().max(1) as f64
    }

    /// Dev metrics `{accuracy: ..., ...}` and the number of dev examples.
    pub async fn evaluate(&self) -> Result<JsValue, JsValue> {
        let r = self.run.evaluate().await.map_err(js_err)?;
        to_js(&r)
    }

    /// `{labels: [...], probabilities: [...]}` for one sentence or pair.
    pub async fn classify(&self, text: String, text_b: Option<String>) -> Result<JsValue, JsValue> {
        let input = super::text_input(text, text_b)?;
        let probabilities = self.run.classify(&input).await.map_err(js_err)?;
        to_js(&serde_json::json!({"labels": self.run.label_names, "probabilities": probabilities}))
    }
}

/// Healing of the reduced model against the full one, driven by the page.
#[wasm_bindgen]
pub struct WebHealer {
    pub(super) run: HealRun,
}

#[wasm_bindgen]
impl WebHealer {
    /// One step; resolves to `{step, loss, hidden_mse, attention_kl, ms}`.
    pub async fn step(&mut self) -> Result<JsValue, JsValue> {
        let p = self.run.step().await.map_err(js_err)?;
        to_js(&p)
    }

    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.run.done()
    }

    #[wasm_bindgen(getter)]
    pub fn plan(&self) -> String {
        self.run.plan.to_string()
    }
}
