//! AdamW as BERT is fine-tuned: no weight decay on biases and LayerNorm, gradients clipped by
//! their global norm (the factor applied by the optimizer as it reads each gradient).

use burn::module::{ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::adamw::{FusedAdamW, GradScale};
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
/// embeddings, none on biases and LayerNorm parameters; one pass per parameter on the CPU, one
/// kernel per parameter on cubecl devices ([`FusedAdamW`]); each gradient multiplied by the
/// factor `scale` holds for the step.
pub fn adamw(weight_decay: f64, params: &ParamTable, scale: &GradScale) -> ModuleOptimizer {
    let adamw = |wd: f64| FusedAdamW::new(0.9, 0.999, 1e-8, wd as f32).with_grad_scale(scale.clone());
    let no_decay: Vec<ParamId> = params.0.iter().filter(|(_, _, decay)| !decay).map(|(id, _, _)| *id).collect();
    ModuleOptimizer::from(adamw(weight_decay)).with_group(ParamGroup::from_ids(no_decay), adamw(0.0), None)
}

fn sum_squares<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    grads.get::<D>(id).map(|g| g.square().sum())
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

/// The gradients as cubecl buffers, when every one of them is a plain `f32` tensor on a cubecl
/// device (wgpu, WebGPU); `None` elsewhere.
fn cube_gradients(grads: &GradientsParams, params: &ParamTable) -> Option<(Vec<burn::backend::wgpu::CubeTensor>, burn::tensor::Device)> {
    use crate::device::{cube_tensor, is_cube_f32};
    let mut cube = Vec::with_capacity(params.0.len());
    let mut device = None;
    for &(id, rank, _) in &params.0 {
        let g = match rank {
            1 => grads.get::<1>(id).map(|g| (g.device(), is_cube_f32(&g).then(|| cube_tensor(g)))),
            _ => grads.get::<2>(id).map(|g| (g.device(), is_cube_f32(&g).then(|| cube_tensor(g)))),
        };
        if let Some((d, g)) = g {
            cube.push(g?);
            device.get_or_insert(d);
        }
    }
    Some((cube, device?))
}

/// The global L2 norm of the gradients, `[1]`, on their device, without reading anything back;
/// on cubecl devices one kernel launch per parameter ([`super::grad_norm_cube`]).
pub fn global_norm(grads: &GradientsParams, params: &ParamTable) -> Option<Tensor<1>> {
    if let Some((cube, device)) = cube_gradients(grads, params) {
        return Some(super::grad_norm_cube::global_norm(cube, &device));
    }
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
    Some(total?.sqrt())
}

/// The factor that brings gradients of global norm `norm` to at most `max_norm`, as PyTorch's
/// `clip_grad_norm_`: `min(1, max_norm / (norm + 1e-6))`, `[1]`, on the device.
pub fn clip_factor(norm: &Tensor<1>, max_norm: f64) -> Tensor<1> {
    (norm.clone() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0)
}
