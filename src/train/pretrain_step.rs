//! Pre-training's step: task-agnostic training of a reduced encoder (student) on general text,
//! with the full encoder (teacher) — the route of the Undivided Attention paper, whose reduced
//! architectures are pre-trained rather than only fine-tuned.
//!
//! The loss is the healing losses ([`super::heal_step::heal_losses`]: every layer's hidden state and
//! attention distributions against the teacher) and, where the checkpoint carries BERT's
//! masked-LM head, the masked-LM loss (BERT's recipe: 15% of the tokens, 80% of them `[MASK]`,
//! 10% a random token, 10% unchanged), each weighted; either may be 0.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::distill::{LayerLosses, LayerTrace, layer_losses};
use super::finetune_step::CLI_FLAGS;
use super::optim::ParamTable;
use super::step::{OptimConfig, Optimization, Share, batch_parts, gradients};
use crate::checkpoint::{bert_param_ids, mlm_param_ids};
use crate::data::corpus::SpecialIds;
use crate::error::SettingsError;
use crate::model::{BertModel, BertOnlyMLMHead, ForwardConfig, IGNORE_INDEX};
use crate::text::Batch;

/// Weights of the losses, the masking and the optimiser settings of one pre-training step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PretrainConfig {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    /// Weight of the per-layer hidden-state MSE to the teacher.
    pub hidden_weight: f64,
    /// Weight of the per-layer attention KL to the teacher.
    pub attention_weight: f64,
    /// Weight of the masked-LM loss (needs the checkpoint's `cls.predictions` head).
    pub mlm_weight: f64,
    /// Fraction of the tokens the masked-LM loss predicts (BERT: 0.15).
    pub mask_prob: f64,
    pub seed: u64,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            warmup_ratio: 0.01,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            hidden_weight: 1.0,
            attention_weight: 1.0,
            mlm_weight: 0.0,
            mask_prob: 0.15,
            seed: 42,
        }
    }
}

impl PretrainConfig {
    /// Checks every setting's range before any work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        self.optim().validate(&CLI_FLAGS, true)?;
        SettingsError::check(
            [self.hidden_weight, self.attention_weight, self.mlm_weight].into_iter().all(non_negative)
                && self.hidden_weight + self.attention_weight + self.mlm_weight > 0.0,
            "--hidden-weight / --attention-weight / --mlm-weight",
            "non-negative weights, not all 0",
        )?;
        SettingsError::check(self.mask_prob > 0.0 && self.mask_prob < 1.0, "--mask-prob", "a fraction in (0, 1)")
    }

    pub fn optim(&self) -> OptimConfig {
        OptimConfig { lr: self.lr, warmup_ratio: self.warmup_ratio, weight_decay: self.weight_decay, max_grad_norm: self.max_grad_norm, seed: self.seed }
    }

    /// Whether the step needs the teacher at all.
    pub fn distils(&self) -> bool {
        self.hidden_weight + self.attention_weight > 0.0
    }
}

/// The student: the reduced encoder and, for masked-LM training, its head.
#[derive(Module, Debug)]
pub struct Student {
    pub bert: BertModel,
    pub mlm: Option<BertOnlyMLMHead>,
}

impl Student {
    /// The optimizer's parameter table (no decay on biases and LayerNorm, as fine-tuning).
    pub fn params(&self) -> ParamTable {
        let mut ids = bert_param_ids(&self.bert);
        if let Some(head) = &self.mlm {
            ids.extend(mlm_param_ids(head));
        }
        ParamTable(ids)
    }
}

/// A batch with BERT's masking applied: the input to both models and the labels.
pub struct Masked {
    pub batch: Batch,
    /// Row-major `[batch, seq]`, [`IGNORE_INDEX`] where nothing is predicted.
    pub labels: Vec<i64>,
    /// Positions predicted.
    pub predicted: usize,
}

/// BERT's masking of `batch`: each real, non-special token is predicted with probability
/// `prob`; a predicted token becomes `[MASK]` (80%), a random id of the vocabulary (10%) or
/// stays (10%). Deterministic in `seed`.
pub fn mask_tokens(batch: &Batch, special: SpecialIds, vocab_size: usize, prob: f64, seed: u64) -> Masked {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut out = batch.clone();
    let mut labels = vec![IGNORE_INDEX; batch.input_ids.len()];
    let mut predicted = 0;
    for (i, id) in out.input_ids.iter_mut().enumerate() {
        let token = *id as u32;
        if batch.attention_mask[i] == 0 || token == special.cls || token == special.sep || token == special.pad {
            continue;
        }
        if uniform() >= prob {
            continue;
        }
        labels[i] = *id;
        predicted += 1;
        let r = uniform();
        if r < 0.8 {
            *id = special.mask as i64;
        } else if r < 0.9 {
            *id = ((uniform() * vocab_size as f64) as usize).min(vocab_size - 1) as i64;
        }
    }
    Masked { batch: out, labels, predicted }
}

/// One pre-training step's losses, still on the device (0 for a loss not used).
pub struct PretrainStep {
    pub loss: Tensor<1>,
    pub hidden: Tensor<1>,
    pub attention: Tensor<1>,
    pub mlm: Tensor<1>,
    pub lr: f64,
}

/// A reduced student learning from the frozen full teacher on packed text.
pub struct Pretrainer {
    pub student: Student,
    pub teacher: Option<BertModel>,
    pub opt: Optimization,
    pub config: PretrainConfig,
    pub special: SpecialIds,
    pub vocab_size: usize,
    pub device: Device,
}

impl Pretrainer {
    /// `student` lives on `device.autodiff()`; the teacher (needed only when distilling) is
    /// moved off autodiff.
    pub fn new(
        student: Student,
        teacher: Option<BertModel>,
        config: PretrainConfig,
        special: SpecialIds,
        vocab_size: usize,
        total_steps: usize,
        device: &Device,
    ) -> Self {
        let student = student.train();
        let opt = Optimization::new(student.params(), config.optim(), total_steps);
        Self { student, teacher: teacher.map(|t| t.valid()), opt, config, special, vocab_size, device: device.clone().autodiff() }
    }

    /// The masking of step `step` (from the run's seed and the step alone, so a resumed run
    /// masks as an uninterrupted one).
    pub fn mask(&self, batch: &Batch, step: usize) -> Option<Masked> {
        (self.config.mlm_weight > 0.0).then(|| {
            mask_tokens(batch, self.special, self.vocab_size, self.config.mask_prob, crate::data::corpus::mix(self.config.seed, &[0x4d41_534b, step as u64]))
        })
    }

    /// One AdamW step on `batch` (two threads on the CPU, as fine-tuning and healing).
    pub fn step(&mut self, batch: &Batch) -> PretrainStep {
        let masked = self.mask(batch, self.opt.step);
        let input = masked.as_ref().map(|m| &m.batch).unwrap_or(batch);
        let seed = self.opt.step_seed();
        self.device.seed(seed);
        let loss = |student: &Student, slice: &Batch, rows: std::ops::Range<usize>, share: Share| {
            let labels = masked.as_ref().map(|m| (&m.labels[rows.start * slice.seq_len..rows.end * slice.seq_len], m.predicted));
            let s = pretrain_losses(student, self.teacher.as_ref(), slice, labels, &self.device, &self.config, share);
            vec![s.loss, s.hidden, s.attention, s.mlm]
        };
        let (losses, grads) = gradients(&self.student, &self.device, &self.opt.params, input, batch_parts(&self.device), seed, &loss);
        let (_, lr) = self.opt.apply(&mut self.student, grads);
        let [loss, hidden, attention, mlm]: [Tensor<1>; 4] = losses.try_into().unwrap_or_else(|_| unreachable!("four losses per slice"));
        PretrainStep { loss, hidden, attention, mlm, lr }
    }

    /// The losses of `batch` with dropout off and no autodiff (held-out evaluation); the
    /// masking of held-out batches is fixed by `index`.
    pub fn eval_losses(&self, batch: &Batch, index: usize) -> PretrainStep {
        let inner = self.device.clone().without_autodiff();
        let masked = (self.config.mlm_weight > 0.0).then(|| {
            mask_tokens(batch, self.special, self.vocab_size, self.config.mask_prob, crate::data::corpus::mix(self.config.seed, &[0x4556_414c, index as u64]))
        });
        let input = masked.as_ref().map(|m| &m.batch).unwrap_or(batch);
        let labels = masked.as_ref().map(|m| (&m.labels[..], m.predicted));
        pretrain_losses(&self.student.valid(), self.teacher.as_ref(), input, labels, &inner, &self.config, Share::WHOLE)
    }
}

/// The weighted losses of `batch` (already masked where `labels` is given, with the number of
/// predicted positions in the whole batch): distillation per real token, weighted by the
/// slice's `share`; the masked-LM loss per predicted position of the whole batch.
pub fn pretrain_losses(
    student: &Student,
    teacher: Option<&BertModel>,
    batch: &Batch,
    labels: Option<(&[i64], usize)>,
    device: &Device,
    config: &PretrainConfig,
    share: Share,
) -> PretrainStep {
    let options = ForwardConfig { hidden_states: config.distils(), attentions: config.distils() };
    let input = batch.to_input(device);
    let mask = input.attention_mask.clone();
    let s = student.bert.forward(input, options);
    let zero = || Tensor::<1>::zeros([1], device);
    let (hidden, attention) = match teacher.filter(|_| config.distils()) {
        Some(teacher) => {
            let t = teacher.forward(batch.to_input(&device.clone().without_autodiff()), options);
            let LayerLosses { hidden, attention } =
                layer_losses(LayerTrace::new(s.hidden_states, s.attentions), LayerTrace::new(t.hidden_states, t.attentions), mask);
            (hidden.mul_scalar(share.tokens), attention.mul_scalar(share.tokens))
        }
        None => (zero(), zero()),
    };
    let mlm = match (&student.mlm, labels) {
        (Some(head), Some((labels, predicted))) if config.mlm_weight > 0.0 => head.loss(&student.bert, s.last_hidden_state, labels, predicted),
        _ => zero(),
    };
    let loss =
        hidden.clone().mul_scalar(config.hidden_weight) + attention.clone().mul_scalar(config.attention_weight) + mlm.clone().mul_scalar(config.mlm_weight);
    PretrainStep { loss, hidden, attention, mlm, lr: 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BERT's recipe, counted over many tokens: 15% predicted, of which 80 / 10 / 10; special
    /// tokens and padding never.
    #[test]
    fn masking_follows_berts_proportions_and_spares_special_tokens() {
        let special = SpecialIds { cls: 101, sep: 102, pad: 0, mask: 103 };
        let (rows, len) = (200, 128);
        let mut ids = Vec::new();
        let mut attention = Vec::new();
        for r in 0..rows {
            let real = if r % 10 == 0 { 100 } else { len };
            for p in 0..len {
                let id = if p == 0 {
                    101
                } else if p == real - 1 {
                    102
                } else if p >= real {
                    0
                } else {
                    1000 + (p as i64 * 7 + r as i64) % 20000
                };
                ids.push(id);
                attention.push(i64::from(p < real));
            }
        }
        let batch = Batch { token_type_ids: vec![0; ids.len()], input_ids: ids, attention_mask: attention, batch_size: rows, seq_len: len, truncated: 0 };
        let m = mask_tokens(&batch, special, 30522, 0.15, 9);
        let candidates = batch.input_ids.iter().zip(&batch.attention_mask).filter(|(id, a)| **a == 1 && **id != 101 && **id != 102).count();
        let rate = m.predicted as f64 / candidates as f64;
        assert!((rate - 0.15).abs() < 0.01, "predicted {rate}");
        let (mut masked, mut kept, mut random) = (0, 0, 0);
        for i in 0..batch.input_ids.len() {
            if m.labels[i] == IGNORE_INDEX {
                assert_eq!(m.batch.input_ids[i], batch.input_ids[i]);
                continue;
            }
            assert!(batch.attention_mask[i] == 1 && ![101, 102, 0].contains(&batch.input_ids[i]));
            assert_eq!(m.labels[i], batch.input_ids[i]);
            match m.batch.input_ids[i] {
                103 => masked += 1,
                x if x == batch.input_ids[i] => kept += 1,
                _ => random += 1,
            }
        }
        let n = m.predicted as f64;
        assert!((masked as f64 / n - 0.8).abs() < 0.02, "{masked}");
        assert!((kept as f64 / n - 0.1).abs() < 0.02, "{kept}");
        assert!((random as f64 / n - 0.1).abs() < 0.02, "{random}");
        // The same seed masks the same way.
        assert_eq!(mask_tokens(&batch, special, 30522, 0.15, 9).labels, m.labels);
    }
}
