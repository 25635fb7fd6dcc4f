//! One optimisation step of a sequence classifier, shared by the CLI and the page.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::distill::{LayerLosses, LayerTrace, layer_losses, soft_target_loss};
use super::optim::ParamTable;
use super::step::{OptimConfig, OptimFlags, Optimization, Share, batch_parts, gradients};
use crate::data::{Label, Task};
use crate::error::SettingsError;
use crate::model::{BertForSequenceClassification, ForwardConfig};
use crate::text::Batch;

/// Hyper-parameters of fine-tuning; defaults are BERT's usual GLUE settings, scaled for a CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub max_len: usize,
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    /// Task distillation from a fine-tuned teacher, when one is given.
    #[serde(default)]
    pub distill: Option<DistillConfig>,
}

/// The flags fine-tuning and pre-training set the optimiser with.
pub const CLI_FLAGS: OptimFlags = OptimFlags { lr: "--lr", warmup_ratio: "--warmup-ratio", weight_decay: "--weight-decay", max_grad_norm: "--max-grad-norm" };

impl TrainConfig {
    /// Checks every setting's range; the CLI and the page both call it before any work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        SettingsError::check((1..=4096).contains(&self.batch_size), "--batch-size", "1 to 4096 examples")?;
        SettingsError::check((3..=4096).contains(&self.max_len), "--max-len", "3 to 4096 tokens ([CLS], one token, [SEP]; at most the model's positions)")?;
        self.optim().validate(&CLI_FLAGS, false)?;
        if let Some(d) = &self.distill {
            SettingsError::check(positive(d.temperature), "--temperature", "a positive number")?;
            SettingsError::check((0.0..=1.0).contains(&d.alpha), "--alpha", "a weight in [0, 1]")?;
            SettingsError::check(non_negative(d.hidden_weight), "--distill-hidden", "a non-negative weight")?;
            SettingsError::check(non_negative(d.attention_weight), "--distill-attention", "a non-negative weight")?;
        }
        Ok(())
    }

    /// The optimiser's share of the settings.
    pub fn optim(&self) -> OptimConfig {
        OptimConfig { lr: self.lr, warmup_ratio: self.warmup_ratio, weight_decay: self.weight_decay, max_grad_norm: self.max_grad_norm, seed: self.seed }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { batch_size: 32, max_len: 128, lr: 5e-5, warmup_ratio: 0.1, weight_decay: 0.01, max_grad_norm: 1.0, seed: 42, distill: None }
    }
}

/// Task distillation (Hinton et al. 2015): the loss is `(1 − alpha) · hard + alpha · soft`,
/// where `soft` is the temperature-softened KL to the teacher's predictions (or, for a
/// regression task, the squared error to the teacher's score). With `hidden_weight` or
/// `attention_weight` above zero, the student also learns the fine-tuned teacher's hidden
/// states and attention distributions layer by layer (TinyBERT's task-specific distillation,
/// Jiao et al. 2020): the task-specific counterpart of healing, for what the deleted blocks
/// did on this task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    pub temperature: f64,
    pub alpha: f64,
    #[serde(default)]
    pub hidden_weight: f64,
    #[serde(default)]
    pub attention_weight: f64,
}

impl DistillConfig {
    /// Whether the student learns the teacher's hidden states or attentions, not only its logits.
    pub fn layer_to_layer(&self) -> bool {
        self.hidden_weight > 0.0 || self.attention_weight > 0.0
    }
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self { temperature: 2.0, alpha: 0.5, hidden_weight: 0.0, attention_weight: 0.0 }
    }
}

/// What one step did, still on the device: nothing is read back here, so the browser can read
/// it with `into_scalar_async` and the CLI with `into_scalar`.
pub struct StepOutput {
    pub loss: Tensor<1>,
    pub grad_norm: Option<Tensor<1>>,
    pub lr: f64,
}

/// A classifier, its optimisation and objective, on an autodiff device.
pub struct Trainer {
    pub model: BertForSequenceClassification,
    /// AdamW, schedule, step count and step seeds ([`Optimization`], shared with healing).
    pub opt: Optimization,
    pub config: TrainConfig,
    pub task: Task,
    pub device: Device,
    /// The fine-tuned teacher of task distillation, without autodiff (never updated).
    pub teacher: Option<BertForSequenceClassification>,
}

impl Trainer {
    /// `model` must live on `device.autodiff()`.
    pub fn new(model: BertForSequenceClassification, task: Task, config: TrainConfig, total_steps: usize, device: &Device) -> Self {
        let model = model.train();
        let opt = Optimization::new(ParamTable::of(&model), config.optim(), total_steps);
        Self { opt, model, config, task, device: device.clone().autodiff(), teacher: None }
    }

    /// Adds the teacher of task distillation (`config.distill` says how it weighs); it is moved
    /// off autodiff and into inference mode, so it is never updated.
    pub fn with_teacher(mut self, teacher: BertForSequenceClassification) -> Self {
        self.teacher = Some(teacher.valid());
        self
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.opt.step
    }

    /// The training loss of `batch` (dropout on), without updating anything.
    pub fn loss(&self, batch: &Batch, labels: &[Label]) -> Tensor<1> {
        self.objective().loss(&self.model, batch, labels, Share::WHOLE)
    }

    fn objective(&self) -> Objective<'_> {
        Objective { task: self.task, teacher: self.teacher.as_ref().zip(self.config.distill.as_ref()), device: &self.device }
    }

    /// The loss of `batch` and the gradients of every parameter, from `parts` slices of the batch
    /// whose losses are weighted to sum to the whole batch's (`parts` 1: one pass; see
    /// [`gradients`]).
    pub fn gradients(&self, batch: &Batch, labels: &[Label], parts: usize, seed: u64) -> (Tensor<1>, GradientsParams) {
        let objective = self.objective();
        let loss = |model: &BertForSequenceClassification, slice: &Batch, rows: std::ops::Range<usize>, share: Share| {
            vec![objective.loss(model, slice, &labels[rows], share)]
        };
        let (mut losses, grads) = gradients(&self.model, &self.device, &self.opt.params, batch, parts, seed, &loss);
        (losses.swap_remove(0), grads)
    }

    /// One AdamW step on `batch`, in [`batch_parts`] slices (two threads on the CPU).
    pub fn step(&mut self, batch: &Batch, labels: &[Label]) -> StepOutput {
        let seed = self.opt.step_seed();
        self.device.seed(seed);
        let (loss, grads) = self.gradients(batch, labels, batch_parts(&self.device), seed);
        let (grad_norm, lr) = self.opt.apply(&mut self.model, grads);
        StepOutput { loss, grad_norm, lr }
    }
}

/// The training objective: the task loss, with distillation from a teacher when there is one.
struct Objective<'a> {
    task: Task,
    teacher: Option<(&'a BertForSequenceClassification, &'a DistillConfig)>,
    device: &'a Device,
}

impl Objective<'_> {
    fn loss(&self, model: &BertForSequenceClassification, batch: &Batch, labels: &[Label], share: Share) -> Tensor<1> {
        let input = batch.to_input(self.device);
        let Some((teacher, distill)) = self.teacher else {
            return task_loss(self.task, model.forward(input), labels, self.device).mul_scalar(share.examples);
        };
        let layers = distill.layer_to_layer();
        let options = ForwardConfig { hidden_states: layers, attentions: layers };
        let mask = input.attention_mask.clone();
        let s = model.forward_with(input, options);
        let t = teacher.forward_with(batch.to_input(&self.device.clone().without_autodiff()), options);
        let hard = task_loss(self.task, s.logits.clone(), labels, self.device);
        let soft = if self.task.is_regression() {
            MseLoss::new().forward(s.logits, t.logits, Reduction::Mean)
        } else {
            soft_target_loss(s.logits, t.logits, distill.temperature)
        };
        let loss = (hard.mul_scalar(1.0 - distill.alpha) + soft.mul_scalar(distill.alpha)).mul_scalar(share.examples);
        if !layers {
            return loss;
        }
        let LayerLosses { hidden, attention } =
            layer_losses(LayerTrace::new(s.hidden_states, s.attentions), LayerTrace::new(t.hidden_states, t.attentions), mask);
        loss + (hidden.mul_scalar(distill.hidden_weight) + attention.mul_scalar(distill.attention_weight)).mul_scalar(share.tokens)
    }
}

/// Cross-entropy for classification, mean squared error for regression (STS-B).
pub fn task_loss(task: Task, logits: Tensor<2>, labels: &[Label], device: &Device) -> Tensor<1> {
    let n = labels.len();
    if task.is_regression() {
        let targets: Vec<f32> = labels.iter().map(|l| if let Label::Score(s) = l { *s } else { 0.0 }).collect();
        let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, 1]), device);
        MseLoss::new().forward(logits, targets, Reduction::Mean)
    } else {
        let targets: Vec<i64> = labels.iter().map(|l| if let Label::Class(c) = l { *c as i64 } else { 0 }).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device);
        CrossEntropyLossConfig::new().init(device).forward(logits, targets)
    }
}
