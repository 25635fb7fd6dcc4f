//! Quick fine-tuning and healing in the page's worker, one awaited step at a time: the page
//! draws its curves between steps, and its Stop button simply stops asking for the next one.
//! Every read from the GPU is asynchronous.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::WebError;
use crate::checkpoint::{Checkpoint, bert_to_safetensors};
use crate::data::Dataset;
use crate::data::Prepared;
use crate::error::SettingsError;
use crate::model::FfnPlan;
use crate::text::TextInput;
use crate::train::cursor::{Cursor, EpochOrder};
use crate::train::heal_step::{HealConfig, Healer};
use crate::train::{EvalResult, TrainConfig, Trainer, evaluate_async, predict_logits_async, start_classifier};

/// Settings of a quick fine-tune or heal, as the page sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageOptions {
    pub steps: usize,
    pub batch_size: usize,
    pub max_len: usize,
    pub lr: f64,
    pub seed: u64,
    /// Global gradient-norm clipping (0: none).
    pub max_grad_norm: f64,
}

impl Default for PageOptions {
    fn default() -> Self {
        Self { steps: 30, batch_size: 16, max_len: 64, lr: 5e-5, seed: 42, max_grad_norm: 1.0 }
    }
}

impl PageOptions {
    /// The fine-tuning settings these make (the rest at [`TrainConfig`]'s defaults).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            batch_size: self.batch_size,
            max_len: self.max_len,
            lr: self.lr,
            seed: self.seed,
            max_grad_norm: self.max_grad_norm,
            ..TrainConfig::default()
        }
    }

    /// The healing settings these make (the rest at [`HealConfig`]'s defaults).
    pub fn heal_config(&self) -> HealConfig {
        HealConfig { lr: self.lr, seed: self.seed, max_grad_norm: self.max_grad_norm, ..HealConfig::default() }
    }

    /// The same checks as the command line's ([`TrainConfig::validate`]), and the page's limits.
    fn check(&self) -> Result<(), SettingsError> {
        SettingsError::check(self.steps > 0, "steps", "at least 1")?;
        SettingsError::check(self.max_len <= 512, "--max-len", "at most 512 tokens")?;
        self.train_config().validate()
    }
}

/// Scalar value of a one-element tensor, read without blocking.
async fn scalar(t: Tensor<1>) -> Result<f32, WebError> {
    Ok(super::read_f32(t).await?.first().copied().unwrap_or(f32::NAN))
}

/// A classifier being fine-tuned in the page.
pub struct PageFinetune {
    pub trainer: Trainer,
    pub plan: FfnPlan,
    pub label_names: Vec<String>,
    train: Prepared,
    dev: Prepared,
    tokenizer: crate::text::BertTokenizer,
    order: EpochOrder,
    /// The run's position, the same cursor as native runs'.
    pub cursor: Cursor,
    /// Set when the checkpoint was fine-tuned for other labels and got a new head.
    pub head_notice: Option<String>,
    pub losses: Vec<f32>,
    pub step_ms: Vec<f64>,
}

impl PageFinetune {
    /// `encoder_weights` replaces the checkpoint's encoder (a model healed in the page).
    pub fn new(
        checkpoint: &Checkpoint,
        encoder_weights: Option<&[u8]>,
        plan: &FfnPlan,
        train: &Dataset,
        dev: &Dataset,
        settings: &PageOptions,
        device: &Device,
    ) -> Result<Self, WebError> {
        settings.check()?;
        let task = train.task;
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(settings.max_len, checkpoint.config.max_position_embeddings)?;
        let train_rows = Prepared::new(&tokenizer, train)?;
        let dev_rows = Prepared::new(&tokenizer, dev)?;
        let ad = device.clone().autodiff();
        // Same seed, same new head for the full and the reduced model.
        let (model, head, _) = start_classifier(checkpoint, encoder_weights, plan, task, settings.seed, &ad)?;
        let config = settings.train_config();
        Ok(Self {
            trainer: Trainer::new(model, task, config, settings.steps, &ad),
            plan: plan.clone(),
            label_names: if task.is_regression() { vec!["score".into()] } else { task.labels().iter().map(|s| s.to_string()).collect() },
            order: EpochOrder::new(train_rows.lengths(), settings.batch_size, settings.seed),
            cursor: Cursor::new(settings.steps),
            train: train_rows,
            dev: dev_rows,
            tokenizer,
            head_notice: head.notice(&checkpoint.source, task),
            losses: Vec::new(),
            step_ms: Vec::new(),
        })
    }

    /// One AdamW step; the loss is read back asynchronously.
    /// The native driver's turn ([`Cursor::begin`] / [`Cursor::end`]) around an awaited step.
    pub async fn step(&mut self) -> Result<f32, WebError> {
        let (indices, turn) = self.cursor.begin(&mut self.order)?;
        let batch = self.train.batch(&indices, self.tokenizer.pad_id());
        let labels: Vec<_> = indices.iter().map(|&i| self.train.labels[i]).collect();
        let out = self.trainer.step(&batch, &labels);
        let loss = scalar(out.loss).await?;
        let seconds = self.cursor.end(turn, loss).map_err(|e| WebError::NonFinite { what: "training", value: e.value, step: e.step })?;
        self.losses.push(loss);
        self.step_ms.push(seconds * 1e3);
        Ok(loss)
    }

    pub fn done(&self) -> bool {
        self.cursor.done()
    }

    /// Mean milliseconds per step, leaving out the first (shader compilation, autotune).
    pub fn ms_per_step(&self) -> f64 {
        let ms = &self.step_ms;
        let rest = if ms.len() > 1 { &ms[1..] } else { &ms[..] };
        rest.iter().sum::<f64>() / rest.len().max(1) as f64
    }

    /// The loss on the training rows with dropout off: what training lowers.
    pub async fn train_loss(&self) -> Result<f32, WebError> {
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
    pub async fn evaluate(&self) -> Result<EvalResult, WebError> {
        Ok(evaluate_async(&self.trainer.model, &self.dev, self.tokenizer.pad_id(), 32, &self.trainer.device).await?)
    }

    /// Label probabilities (or the score, for a regression task) of one input.
    pub async fn classify(&self, input: &TextInput) -> Result<Vec<f32>, WebError> {
        let rows = Prepared::single(&self.tokenizer, self.train.task, input)?;
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
pub struct PageHeal {
    pub healer: Healer,
    pub plan: FfnPlan,
    texts: Prepared,
    pad_id: u32,
    order: EpochOrder,
    pub cursor: Cursor,
    pub points: Vec<HealPoint>,
}

impl PageHeal {
    pub fn new(checkpoint: &Checkpoint, plan: &FfnPlan, texts: &Dataset, settings: &PageOptions, device: &Device) -> Result<Self, WebError> {
        settings.check()?;
        settings.heal_config().validate()?;
        if texts.examples.is_empty() {
            return Err(WebError::Refused("no sentences to heal on".into()));
        }
        if plan.is_full() || plan == &checkpoint.plan() {
            return Err(WebError::Refused("the reduced model keeps every intermediate block: switch some off to heal it".into()));
        }
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(settings.max_len, checkpoint.config.max_position_embeddings)?;
        let rows = Prepared::new(&tokenizer, texts)?;
        let ad = device.clone().autodiff();
        let inner = device.clone().without_autodiff();
        let (teacher, _) = checkpoint.load_bert(None, &inner)?;
        let (student, _) = checkpoint.load_bert(Some(plan), &ad)?;
        let config = settings.heal_config();
        Ok(Self {
            healer: Healer::new(student, teacher, config, settings.steps, &ad),
            plan: plan.clone(),
            order: EpochOrder::new(rows.lengths(), settings.batch_size, settings.seed),
            cursor: Cursor::new(settings.steps),
            texts: rows,
            pad_id: checkpoint.tokenizer.pad_id(),
            points: Vec::new(),
        })
    }

    /// The native driver's turn ([`Cursor::begin`] / [`Cursor::end`]) around an awaited step.
    pub async fn step(&mut self) -> Result<HealPoint, WebError> {
        let (indices, turn) = self.cursor.begin(&mut self.order)?;
        let out = self.healer.step(&self.texts.batch(&indices, self.pad_id));
        let (loss, hidden_mse, attention_kl) = (scalar(out.loss).await?, scalar(out.hidden).await?, scalar(out.attention).await?);
        let seconds = self.cursor.end(turn, loss).map_err(|e| WebError::NonFinite { what: "healing", value: e.value, step: e.step })?;
        let point = HealPoint { step: self.cursor.step, loss, hidden_mse, attention_kl, ms: seconds * 1e3 };
        self.points.push(point);
        Ok(point)
    }

    pub fn done(&self) -> bool {
        self.cursor.done()
    }

    /// The healed encoder as safetensors bytes (HF names), for fine-tuning it next.
    pub async fn weights(&self) -> Result<Vec<u8>, WebError> {
        use burn::module::Module;
        Ok(bert_to_safetensors(&self.healer.student.valid()).await?)
    }
}
