//! AdamW in one pass over each parameter on the CPU.
//!
//! burn's [`AdamW`] composes the update from about fifteen element-wise tensor operations
//! (moments, bias corrections, square root, decay, step), each one a pass over the parameter;
//! burn-flex runs element-wise operations on one thread. For MiniLM's 22.7 M parameters (half
//! of them the word embeddings) that was 14% of a full-model training step on a 2-core machine
//! (docs/benchmarks.md). [`FusedAdamW`] computes the same update in one loop per parameter
//! (`undivided_kernels::adamw`), split across threads, on burn-flex's buffers in place; on cubecl
//! devices (wgpu natively, WebGPU in the browser) in one kernel launch per parameter
//! ([`super::adamw_cube`]) instead of fifteen; anywhere else it is burn's [`AdamW`], unchanged.
//!
//! Its state is burn's [`AdamWState`], so an optimizer record saved by either is read by the
//! other, and runs resume across the change.
//!
//! Gradient clipping's factor reaches it through a [`GradScale`] rather than being multiplied
//! into every gradient beforehand: on cubecl devices the kernel applies it as it reads the
//! gradient, which saves a launch per parameter.

use std::sync::{Arc, Mutex};

use burn::optim::{AdamW, AdamWConfig, AdamWState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};
use undivided_kernels::adamw::AdamWStep;
#[cfg(not(target_arch = "wasm32"))]
use undivided_kernels::adamw::adamw_update;

/// The factor the gradients of the coming step are multiplied by before the update (gradient
/// clipping's `min(1, max_norm / norm)`, `[1]`, on the device), set by the caller for one step.
/// Clones share it: the optimizer of every parameter group sees the one factor.
#[derive(Clone, Default)]
pub struct GradScale(Arc<Mutex<Option<Tensor<1>>>>);

impl GradScale {
    /// The factor for the next step; `None`: the gradients as they are.
    pub fn set(&self, factor: Option<Tensor<1>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = factor;
    }

    fn get(&self) -> Option<Tensor<1>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `grad · factor` (the factor broadcast), or `grad` without one.
fn scaled<const D: usize>(grad: Tensor<D>, factor: Option<&Tensor<1>>) -> Tensor<D> {
    match factor {
        Some(f) => grad * f.clone().reshape([1; D]),
        None => grad,
    }
}

/// AdamW (Loshchilov & Hutter) with decoupled weight decay, as burn's [`AdamW`] without AMSGrad
/// and without cautious decay: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p(1 − lr·λ) − lr·m̂/(√v̂ + ε)` with the bias-corrected `m̂`, `v̂`.
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// The same optimizer composed from tensor operations, for tensors neither loop takes.
    tensor_ops: AdamW,
    grad_scale: GradScale,
}

impl FusedAdamW {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let config = AdamWConfig::new().with_beta_1(beta_1).with_beta_2(beta_2).with_epsilon(epsilon).with_weight_decay(weight_decay);
        Self { beta_1, beta_2, epsilon, weight_decay, tensor_ops: config.build(), grad_scale: GradScale::default() }
    }

    /// The same optimizer, multiplying each gradient by the factor `scale` holds at each step.
    pub fn with_grad_scale(self, scale: GradScale) -> Self {
        Self { grad_scale: scale, ..self }
    }

    /// Whether [`FusedAdamW::step_in_place`] can update this parameter: plain `f32` buffers of
    /// one shape, and no AMSGrad state (which this optimizer never makes, but a record might hold).
    #[cfg(not(target_arch = "wasm32"))]
    fn fits<const D: usize>(tensor: &Tensor<D>, grad: &Tensor<D>, state: Option<&AdamWState<D>>) -> bool {
        let fits = |t: &Tensor<D>| t.dtype() == burn::tensor::DType::F32 && t.shape() == tensor.shape();
        fits(tensor) && fits(grad) && state.is_none_or(|s| fits(&s.momentum.moment_1) && fits(&s.momentum.moment_2) && s.momentum.max_moment_2.is_none())
    }

    /// The update of one parameter on burn-flex, in place: burn-flex hands a buffer over without
    /// a copy when nothing else holds it (it copies it otherwise).
    #[cfg(not(target_arch = "wasm32"))]
    fn step_in_place<const D: usize>(&self, lr: LearningRate, tensor: Tensor<D>, grad: Tensor<D>, state: Option<AdamWState<D>>) -> (Tensor<D>, AdamWState<D>) {
        use crate::device::{f32_buffer, from_f32_buffer};
        let (device, shape) = (tensor.device(), tensor.shape());
        let (mut param, grad) = (f32_buffer(tensor), f32_buffer(grad));
        let (mut m, mut v, time) = match state {
            Some(AdamWState { momentum }) => (f32_buffer(momentum.moment_1), f32_buffer(momentum.moment_2), momentum.time + 1),
            None => {
                let zeros = || burn::tensor::Bytes::from_elems(vec![0f32; shape.num_elements()]);
                (zeros(), zeros(), 1)
            }
        };
        apply(
            &adamw_step(self, lr, time),
            bytemuck::cast_slice_mut(&mut param),
            bytemuck::cast_slice(&grad),
            bytemuck::cast_slice_mut(&mut m),
            bytemuck::cast_slice_mut(&mut v),
        );
        let tensor = |bytes| from_f32_buffer(bytes, shape.clone(), &device);
        let momentum = burn::optim::AdaptiveMomentumState::new(time, tensor(m), tensor(v));
        (tensor(param), AdamWState::new(momentum))
    }

    /// Whether [`FusedAdamW::step_on_cube`] can update this parameter: the parameter, its
    /// gradient, its moments and the clipping factor plain `f32` tensors on a cubecl device, of
    /// one shape, and no AMSGrad state.
    fn fits_cube<const D: usize>(tensor: &Tensor<D>, grad: &Tensor<D>, state: Option<&AdamWState<D>>, factor: Option<&Tensor<1>>) -> bool {
        use crate::device::is_cube_f32;
        let fits = |t: &Tensor<D>| t.shape() == tensor.shape() && is_cube_f32(t);
        fits(tensor)
            && fits(grad)
            && factor.is_none_or(is_cube_f32)
            && state.is_none_or(|s| fits(&s.momentum.moment_1) && fits(&s.momentum.moment_2) && s.momentum.max_moment_2.is_none())
    }

    /// The update of one parameter on a cubecl device, in one kernel launch.
    fn step_on_cube<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
        factor: Option<Tensor<1>>,
    ) -> (Tensor<D>, AdamWState<D>) {
        use burn::optim::AdaptiveMomentumState;
        let (moments, time) = match state {
            Some(AdamWState { momentum }) => ((momentum.moment_1, momentum.moment_2), momentum.time + 1),
            None => ((tensor.zeros_like(), tensor.zeros_like()), 1),
        };
        let (tensor, m, v) = super::adamw_cube::step(&adamw_step(self, lr, time), tensor, grad, moments, factor);
        (tensor, AdamWState::new(AdaptiveMomentumState::new(time, m, v)))
    }
}

/// The scalars of one update, as burn's AdamW computes them.
fn adamw_step(optim: &FusedAdamW, lr: LearningRate, time: usize) -> AdamWStep {
    let t = time as i32;
    AdamWStep {
        beta_1: optim.beta_1,
        beta_2: optim.beta_2,
        epsilon: optim.epsilon,
        keep: (1.0 - lr * optim.weight_decay as f64) as f32,
        lr: lr as f32,
        correction_1: 1.0 - optim.beta_1.powi(t),
        correction_2: 1.0 - optim.beta_2.powi(t),
    }
}

/// Applies `step` to `p`, `m` and `v` in place: in chunks on rayon's threads for large
/// parameters (the word embeddings are 11.7 M values), in one call for small ones.
#[cfg(not(target_arch = "wasm32"))]
fn apply(step: &AdamWStep, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    if p.len() <= CHUNK {
        return adamw_update(step, p, g, m, v);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| adamw_update(step, p, g, m, v));
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(&self, lr: LearningRate, tensor: Tensor<D>, grad: Tensor<D>, state: Option<Self::State<D>>) -> (Tensor<D>, Option<Self::State<D>>) {
        let factor = self.grad_scale.get();
        #[cfg(not(target_arch = "wasm32"))]
        if crate::device::is_flex(&tensor.device()) && Self::fits(&tensor, &grad, state.as_ref()) {
            let (tensor, state) = self.step_in_place(lr, tensor, scaled(grad, factor.as_ref()), state);
            return (tensor, Some(state));
        }
        if Self::fits_cube(&tensor, &grad, state.as_ref(), factor.as_ref()) {
            let (tensor, state) = self.step_on_cube(lr, tensor, grad, state, factor);
            return (tensor, Some(state));
        }
        self.tensor_ops.step(lr, tensor, scaled(grad, factor.as_ref()), state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}
