//! AdamW as BERT is fine-tuned: no weight decay on biases and LayerNorm, gradients clipped by
//! their global norm.

use burn::module::{ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::adamw::FusedAdamW;
use crate::checkpoint::classifier_param_ids;
use crate::model::BertForSequenceClassification;

/// The parameters the optimizer sees: id, rank, and whether weight decay applies.
#[derive(Debug, Clone)]
pub struct ParamTable(pub Vec<(ParamId, usize, bool)>);

impl ParamTable {
    pub fn of(model: &BertForSequenceClassification) -> Self {
        Self(classifier_param_ids(model))
    }
}

/// AdamW (β = 0.9, 0.999, ε = 1e-8 as HF) with `weight_decay` on weight matrices and
/// embeddings, none on biases and LayerNorm parameters; one pass per parameter on the CPU
/// ([`FusedAdamW`]).
pub fn adamw(weight_decay: f64, params: &ParamTable) -> ModuleOptimizer {
    let adamw = |wd: f64| FusedAdamW::new(0.9, 0.999, 1e-8, wd as f32);
    let no_decay: Vec<ParamId> = params.0.iter().filter(|(_, _, decay)| !decay).map(|(id, _, _)| *id).collect();
    ModuleOptimizer::from(adamw(weight_decay)).with_group(ParamGroup::from_ids(no_decay), adamw(0.0), None)
}

fn sum_squares<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    grads.get::<D>(id).map(|g| g.square().sum())
}

fn scale<const D: usize>(grads: &mut GradientsParams, id: ParamId, factor: &Tensor<1>) {
    if let Some(g) = grads.remove::<D>(id) {
        let f = factor.clone().reshape([1; D]);
        grads.register::<D>(id, g * f);
    }
}

fn add<const D: usize>(into: &mut GradientsParams, other: &mut GradientsParams, id: ParamId) {
    let sum = match (into.remove::<D>(id), other.remove::<D>(id)) {
        (Some(a), Some(b)) => a + b,
        (Some(g), None) | (None, Some(g)) => g,
        (None, None) => return,
    };
    into.register::<D>(id, sum);
}

/// Adds the gradients of `other` to those of `into`, parameter by parameter (gradients of the
/// slices of one batch, see `Trainer::gradients`).
pub fn add_gradients(into: &mut GradientsParams, mut other: GradientsParams, params: &ParamTable) {
    for &(id, rank, _) in &params.0 {
        match rank {
            1 => add::<1>(into, &mut other, id),
            _ => add::<2>(into, &mut other, id),
        }
    }
}

/// Scales all gradients so that their global L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`), on the device, without reading anything back. Returns the norm before
/// clipping, `[1]`, for logging.
pub fn clip_global_norm(grads: &mut GradientsParams, params: &ParamTable, max_norm: f64) -> Option<Tensor<1>> {
    let mut total: Option<Tensor<1>> = None;
    for &(id, rank, _) in &params.0 {
        let sq = match rank {
            1 => sum_squares::<1>(grads, id),
            _ => sum_squares::<2>(grads, id),
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let norm = total?.sqrt();
    if max_norm > 0.0 {
        // factor = min(1, max_norm / (norm + 1e-6))
        let factor = (norm.clone() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
        for &(id, rank, _) in &params.0 {
            match rank {
                1 => scale::<1>(grads, id, &factor),
                _ => scale::<2>(grads, id, &factor),
            }
        }
    }
    Some(norm)
}
