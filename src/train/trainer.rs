//! One optimisation step of a sequence classifier, shared by the CLI and the page.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::distill::{LayerLosses, LayerTrace, layer_losses, soft_target_loss};
use super::optim::{ParamTable, adamw, add_gradients, clip_global_norm};
use super::schedule::LinearSchedule;
use crate::data::{Label, Task};
use crate::device::is_flex;
use crate::model::{BertConfig, BertForSequenceClassification, FfnPlan, ForwardOptions, with_mask_seed};
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

/// A classifier, its optimizer and schedule, on an autodiff device.
pub struct Trainer {
    pub model: BertForSequenceClassification,
    pub optim: ModuleOptimizer,
    pub params: ParamTable,
    pub schedule: LinearSchedule,
    pub config: TrainConfig,
    pub task: Task,
    pub device: Device,
    /// Steps taken so far.
    pub step: usize,
    /// The fine-tuned teacher of task distillation, without autodiff (never updated).
    pub teacher: Option<BertForSequenceClassification>,
}

impl Trainer {
    /// `model` must live on `device.autodiff()`.
    pub fn new(model: BertForSequenceClassification, task: Task, config: TrainConfig, total_steps: usize, device: &Device) -> Self {
        let model = model.train();
        let params = ParamTable::of(&model);
        Self {
            optim: adamw(config.weight_decay, &params),
            params,
            schedule: LinearSchedule::new(config.lr, total_steps, config.warmup_ratio),
            model,
            config,
            task,
            device: device.clone().autodiff(),
            step: 0,
            teacher: None,
        }
    }

    /// Adds the teacher of task distillation (`config.distill` says how it weighs); it is moved
    /// off autodiff and into inference mode, so it is never updated.
    pub fn with_teacher(mut self, teacher: BertForSequenceClassification) -> Self {
        self.teacher = Some(teacher.valid());
        self
    }

    /// The training loss of `batch` (dropout on), without updating anything.
    pub fn loss(&self, batch: &Batch, labels: &[Label]) -> Tensor<1> {
        self.objective().loss(&self.model, batch, labels, Share::WHOLE)
    }

    fn objective(&self) -> Objective<'_> {
        Objective { task: self.task, teacher: self.teacher.as_ref().zip(self.config.distill.as_ref()), device: &self.device }
    }

    /// The loss of `batch` and the gradients of every parameter, from `parts` slices of the batch
    /// whose losses are weighted to sum to the whole batch's (`parts` 1: one pass). On the CPU
    /// the slices run on parallel threads (see [`Trainer::step`]); each slice's dropout masks come
    /// from its own generator seeded with `seed` and the slice's index, so the result does not
    /// depend on which thread runs which slice.
    pub fn gradients(&self, batch: &Batch, labels: &[Label], parts: usize, seed: u64) -> (Tensor<1>, GradientsParams) {
        let parts = parts.clamp(1, batch.batch_size.max(1));
        if parts == 1 {
            let loss = self.loss(batch, labels);
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            return (loss, grads);
        }
        let objective = self.objective();
        let (n, tokens) = (batch.batch_size, batch.real_tokens());
        let slices: Vec<(Batch, &[Label])> = (0..parts)
            .map(|i| {
                let rows = i * n / parts..(i + 1) * n / parts;
                (batch.rows(rows.clone()), &labels[rows])
            })
            .collect();
        let run = |i: usize| {
            let (slice, labels) = &slices[i];
            let share = Share { examples: slice.batch_size as f64 / n as f64, tokens: slice.real_tokens() as f64 / tokens.max(1) as f64 };
            // A fresh autodiff leaf per slice: slices that shared the model's own nodes would
            // share one autodiff graph, and one lock.
            let model = self.model.clone().fork(&self.device);
            with_mask_seed(seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)), || {
                let loss = objective.loss(&model, slice, labels, share);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                (loss.detach(), grads)
            })
        };
        let mut results = run_parts(parts, &run).into_iter();
        let (mut loss, mut grads) = results.next().expect("at least one part");
        for (l, g) in results {
            loss = loss + l;
            add_gradients(&mut grads, g, &self.params);
        }
        (loss, grads)
    }

    /// One AdamW step on `batch`. Dropout masks depend only on `(seed, step)`, so a resumed run
    /// draws the same masks as an uninterrupted one.
    ///
    /// On burn-flex (the CPU) the batch is trained as two halves on two threads and their
    /// gradients summed: most of burn-flex's element-wise kernels run on one thread, so one
    /// pass leaves the other cores idle outside the matrix products, and the halves keep them
    /// busy (about 1.5× on a 2-core machine, see docs/benchmarks.md). The sum is the whole batch's
    /// gradient; the number of halves is fixed, not taken from the machine, so a seed gives the
    /// same run on any CPU.
    pub fn step(&mut self, batch: &Batch, labels: &[Label]) -> StepOutput {
        let seed = self.config.seed.wrapping_mul(0x9E37_79B9).wrapping_add(self.step as u64);
        self.device.seed(seed);
        let parts = if cfg!(not(target_arch = "wasm32")) && is_flex(&self.device) { CPU_PARTS } else { 1 };
        let (loss, mut grads) = self.gradients(batch, labels, parts, seed);
        let grad_norm = clip_global_norm(&mut grads, &self.params, self.config.max_grad_norm);
        let lr = self.schedule.lr(self.step);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        StepOutput { loss: loss.detach(), grad_norm, lr }
    }
}

/// Slices of a batch trained on parallel threads on the CPU ([`Trainer::step`]).
const CPU_PARTS: usize = 2;

/// Runs `run(0..parts)`, in parallel where threads exist, and returns the results in order.
#[cfg(not(target_arch = "wasm32"))]
fn run_parts<R: Send>(parts: usize, run: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
    use rayon::prelude::*;
    (0..parts).into_par_iter().map(run).collect()
}

#[cfg(target_arch = "wasm32")]
fn run_parts<R>(parts: usize, run: &dyn Fn(usize) -> R) -> Vec<R> {
    (0..parts).map(run).collect()
}

/// What part of a batch's loss one slice carries: its share of the examples (per-example means:
/// the task loss, soft targets) and of the real tokens (per-token means: layer-to-layer
/// distillation). Weighted by them, the slices' losses and gradients sum to the whole batch's.
#[derive(Debug, Clone, Copy)]
struct Share {
    examples: f64,
    tokens: f64,
}

impl Share {
    const WHOLE: Share = Share { examples: 1.0, tokens: 1.0 };
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
        let options = ForwardOptions { hidden_states: layers, attentions: layers };
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
        let LayerLosses { hidden, attention } = layer_losses(LayerTrace::new(s.hidden_states, s.attentions), LayerTrace::new(t.hidden_states, t.attentions), mask);
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

/// The classifier config written with the checkpoint: plan, labels, HF architecture name.
pub fn classifier_config(base: &BertConfig, plan: &FfnPlan, task: Task) -> BertConfig {
    let mut config = base.with_plan(plan);
    if task.is_regression() {
        config.set_labels(&["score".to_string()]);
        config.extra.insert("problem_type".into(), serde_json::json!("regression"));
    } else {
        config.set_labels(&task.labels().iter().map(|s| s.to_string()).collect::<Vec<_>>());
        config.extra.insert("problem_type".into(), serde_json::json!("single_label_classification"));
    }
    config.extra.insert("architectures".into(), serde_json::json!(["BertForSequenceClassification"]));
    config.extra.insert("finetuning_task".into(), serde_json::json!(task.name()));
    config
}

