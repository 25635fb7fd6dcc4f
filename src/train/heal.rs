//! Healing: training a reduced encoder (student) to reproduce the full one (teacher) layer by
//! layer — hidden states (MSE) and self-attention distributions (KL) — on unlabelled text.
//!
//! The teacher runs without autodiff, so it cannot be updated; its outputs enter the student's
//! loss as constants.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::distill::{LayerLosses, LayerTrace, layer_losses};
use super::optim::{ParamTable, adamw, clip_global_norm};
use super::schedule::LinearSchedule;
use crate::checkpoint::bert_param_ids;
use crate::model::{BertModel, ForwardOptions};
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

/// One healing step's losses, still on the device.
pub struct HealStep {
    pub loss: Tensor<1>,
    pub hidden: Tensor<1>,
    pub attention: Tensor<1>,
}

/// A student encoder learning from a frozen teacher with the same number of layers.
pub struct Healer {
    pub student: BertModel,
    pub teacher: BertModel,
    pub optim: ModuleOptimizer,
    params: ParamTable,
    pub schedule: LinearSchedule,
    pub config: HealConfig,
    pub device: Device,
    pub step: usize,
}

impl Healer {
    /// `student` lives on `device.autodiff()`; `teacher` is moved off autodiff.
    pub fn new(student: BertModel, teacher: BertModel, config: HealConfig, total_steps: usize, device: &Device) -> Self {
        assert_eq!(student.encoder.layers.len(), teacher.encoder.layers.len(), "student and teacher must have the same depth");
        let student = student.train();
        let params = ParamTable(bert_param_ids(&student));
        Self {
            optim: adamw(config.weight_decay, &params),
            params,
            schedule: LinearSchedule::new(config.lr, total_steps, config.warmup_ratio),
            student,
            teacher: teacher.valid(),
            config,
            device: device.clone().autodiff(),
            step: 0,
        }
    }

    /// The healing losses of `batch` in training mode (dropout on), without updating the student.
    pub fn losses(&self, batch: &Batch) -> HealStep {
        heal_losses(&self.student, &self.teacher, batch, &self.device, &self.config)
    }

    /// The healing losses of `batch` with dropout off and no autodiff: what held-out evaluation
    /// reports.
    pub fn eval_losses(&self, batch: &Batch) -> HealStep {
        let inner = self.device.clone().without_autodiff();
        heal_losses(&self.student.valid(), &self.teacher, batch, &inner, &self.config)
    }

    /// One AdamW step on the student.
    pub fn step(&mut self, batch: &Batch) -> HealStep {
        self.device.seed(self.config.seed.wrapping_mul(0x9E37_79B9).wrapping_add(self.step as u64));
        let out = self.losses(batch);
        let mut grads = GradientsParams::from_grads(out.loss.backward(), &self.student);
        clip_global_norm(&mut grads, &self.params, self.config.max_grad_norm);
        let lr = self.schedule.lr(self.step);
        self.student = self.optim.step(lr, self.student.clone(), grads);
        self.step += 1;
        HealStep { loss: out.loss.detach(), hidden: out.hidden.detach(), attention: out.attention.detach() }
    }
}

/// The healing losses of `batch` (see [`layer_losses`]), weighted by `config`; `device` is the
/// student's (autodiff when training), the teacher runs on its inner device.
pub fn heal_losses(student: &BertModel, teacher: &BertModel, batch: &Batch, device: &Device, config: &HealConfig) -> HealStep {
    let options = ForwardOptions { hidden_states: true, attentions: true };
    let inner = device.clone().without_autodiff();
    let t = teacher.forward(batch.to_input(&inner), options);
    let input = batch.to_input(device);
    let mask = input.attention_mask.clone();
    let s = student.forward(input, options);
    let LayerLosses { hidden, attention } = layer_losses(LayerTrace::new(s.hidden_states, s.attentions), LayerTrace::new(t.hidden_states, t.attentions), mask);
    let loss = hidden.clone().mul_scalar(config.hidden_weight) + attention.clone().mul_scalar(config.attention_weight);
    HealStep { loss, hidden, attention }
}
