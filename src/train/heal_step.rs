//! Healing: training a reduced encoder (student) to reproduce the full one (teacher) layer by
//! layer — hidden states (MSE) and self-attention distributions (KL) — on unlabelled text.
//!
//! The teacher runs without autodiff, so it cannot be updated; its outputs enter the student's
//! loss as constants.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::distill::{LayerLosses, LayerTrace, layer_losses};
use super::optim::ParamTable;
use super::step::{OptimConfig, OptimFlags, Optimization, Share, batch_parts, gradients};
use crate::checkpoint::bert_param_ids;
use crate::error::SettingsError;
use crate::model::{BertModel, ForwardConfig};
use crate::text::Batch;

/// Weights of the two healing losses and the optimiser settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealConfig {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    pub hidden_weight: f64,
    pub attention_weight: f64,
    pub seed: u64,
}

impl Default for HealConfig {
    fn default() -> Self {
        Self { lr: 1e-4, warmup_ratio: 0.1, weight_decay: 0.01, max_grad_norm: 1.0, hidden_weight: 1.0, attention_weight: 1.0, seed: 42 }
    }
}

impl HealConfig {
    /// Checks every setting's range; the CLI and the page both call it before any work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        let flags = OptimFlags {
            lr: "--heal-lr",
            warmup_ratio: "healing warm-up ratio",
            weight_decay: "healing weight decay",
            max_grad_norm: "healing max gradient norm",
        };
        self.optim().validate(&flags, true)?;
        SettingsError::check(
            non_negative(self.hidden_weight) && non_negative(self.attention_weight) && self.hidden_weight + self.attention_weight > 0.0,
            "--hidden-weight / --attention-weight",
            "non-negative weights, not both 0",
        )
    }

    /// The optimiser's share of the settings.
    pub fn optim(&self) -> OptimConfig {
        OptimConfig { lr: self.lr, warmup_ratio: self.warmup_ratio, weight_decay: self.weight_decay, max_grad_norm: self.max_grad_norm, seed: self.seed }
    }
}

/// One healing step's losses, still on the device.
pub struct HealStep {
    pub loss: Tensor<1>,
    pub hidden: Tensor<1>,
    pub attention: Tensor<1>,
    /// The learning rate the step used (0 for an evaluation).
    pub lr: f64,
}

/// A student encoder learning from a frozen teacher with the same number of layers.
pub struct Healer {
    pub student: BertModel,
    pub teacher: BertModel,
    /// AdamW, schedule, step count and step seeds ([`Optimization`], shared with fine-tuning).
    pub opt: Optimization,
    pub config: HealConfig,
    pub device: Device,
}

impl Healer {
    /// `student` lives on `device.autodiff()`; `teacher` is moved off autodiff.
    pub fn new(student: BertModel, teacher: BertModel, config: HealConfig, total_steps: usize, device: &Device) -> Self {
        assert_eq!(student.encoder.layers.len(), teacher.encoder.layers.len(), "student and teacher must have the same depth");
        let student = student.train();
        let opt = Optimization::new(ParamTable(bert_param_ids(&student)), config.optim(), total_steps);
        Self { opt, student, teacher: teacher.valid(), config, device: device.clone().autodiff() }
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.opt.step
    }

    /// The healing losses of `batch` in training mode (dropout on), without updating the student.
    pub fn losses(&self, batch: &Batch) -> HealStep {
        heal_losses(&self.student, &self.teacher, batch, &self.device, &self.config, Share::WHOLE)
    }

    /// The healing losses of `batch` with dropout off and no autodiff: what held-out evaluation
    /// reports.
    pub fn eval_losses(&self, batch: &Batch) -> HealStep {
        let inner = self.device.clone().without_autodiff();
        heal_losses(&self.student.valid(), &self.teacher, batch, &inner, &self.config, Share::WHOLE)
    }

    /// One AdamW step on the student, in [`batch_parts`] slices (two threads on the CPU, as
    /// fine-tuning).
    pub fn step(&mut self, batch: &Batch) -> HealStep {
        let seed = self.opt.step_seed();
        self.device.seed(seed);
        let loss = |student: &BertModel, slice: &Batch, _rows: std::ops::Range<usize>, share: Share| {
            let s = heal_losses(student, &self.teacher, slice, &self.device, &self.config, share);
            vec![s.loss, s.hidden, s.attention]
        };
        let (losses, grads) = gradients(&self.student, &self.device, &self.opt.params, batch, batch_parts(&self.device), seed, &loss);
        let (_, lr) = self.opt.apply(&mut self.student, grads);
        let [loss, hidden, attention]: [Tensor<1>; 3] = losses.try_into().unwrap_or_else(|_| unreachable!("three losses per slice"));
        HealStep { loss, hidden, attention, lr }
    }
}

/// The healing losses of `batch` (see [`layer_losses`]), weighted by `config` and by the batch's
/// `share` of the real tokens (both losses are per-token means); `device` is the student's
/// (autodiff when training), the teacher runs on its inner device.
pub fn heal_losses(student: &BertModel, teacher: &BertModel, batch: &Batch, device: &Device, config: &HealConfig, share: Share) -> HealStep {
    let options = ForwardConfig { hidden_states: true, attentions: true };
    let inner = device.clone().without_autodiff();
    let t = teacher.forward(batch.to_input(&inner), options);
    let input = batch.to_input(device);
    let mask = input.attention_mask.clone();
    let s = student.forward(input, options);
    let LayerLosses { hidden, attention } = layer_losses(LayerTrace::new(s.hidden_states, s.attentions), LayerTrace::new(t.hidden_states, t.attentions), mask);
    let (hidden, attention) = (hidden.mul_scalar(share.tokens), attention.mul_scalar(share.tokens));
    let loss = hidden.clone().mul_scalar(config.hidden_weight) + attention.clone().mul_scalar(config.attention_weight);
    HealStep { loss, hidden, attention, lr: 0.0 }
}
