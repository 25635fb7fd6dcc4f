//! AdamW as one GPU kernel per parameter, on cubecl devices (wgpu natively, WebGPU in the page).
//!
//! Why: burn's [`AdamW`](burn::optim::AdamW) composes the update from about fifteen element-wise
//! tensor operations, and burn is built without `fusion`, so on a GPU each is its own kernel
//! launch: for MiniLM's ~100 parameter tensors that was 1,500 of the 3,293 launches of a training
//! step (docs/benchmarks.md), where a step on a real GPU is bound by launches, not arithmetic.
//! This kernel reads the parameter, its gradient and both moments once and writes all three back,
//! the same arithmetic in the same order as burn's operations (and as the CPU's
//! `undivided_kernels::adamw`), so the weights agree within rounding.

use burn::backend::Cube;
use burn::backend::TensorMetadata;
use burn::backend::wgpu::CubeTensor;
use burn::tensor::Tensor;

use crate::device::cube_tensor;
use cubecl::prelude::*;

use undivided_kernels::adamw::AdamWStep;

/// One thread per value: `g ← g·scale` (when `scaled`), `m ← β₁m + (1−β₁)g`,
/// `v ← β₂v + (1−β₂)g²`, `p ← p·keep − lr·(m/c₁)/(√(v/c₂) + ε)`, in place.
#[cube(launch)]
fn adamw_update(
    len: usize,
    param: &mut [f32],
    grad: &[f32],
    scale: &[f32],
    #[comptime] scaled: bool,
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    beta_1: f32,
    beta_2: f32,
    one_minus_beta_1: f32,
    one_minus_beta_2: f32,
    epsilon: f32,
    keep: f32,
    lr: f32,
    correction_1: f32,
    correction_2: f32,
) {
    let i = ABSOLUTE_POS;
    if i >= len {
        terminate!();
    }
    let mut g = grad[i];
    if scaled {
        g *= scale[0];
    }
    let m = moment_1[i] * beta_1 + g * one_minus_beta_1;
    let v = moment_2[i] * beta_2 + g * g * one_minus_beta_2;
    moment_1[i] = m;
    moment_2[i] = v;
    let delta = (m / correction_1) / (f32::sqrt(v / correction_2) + epsilon);
    param[i] = param[i] * keep - delta * lr;
}

/// A buffer this update may overwrite: the tensor itself when nothing else holds it (a model
/// copy kept for the best checkpoint would), else a copy.
fn owned(tensor: CubeTensor) -> CubeTensor {
    if tensor.can_mut() { tensor } else { tensor.copy() }
}

/// Applies one AdamW step to the parameter `p` with gradient `g` (times `factor`, `[1]`, where
/// given) and moments `m`, `v` — all [`is_cube_f32`](crate::device::is_cube_f32), of one shape — in one kernel launch;
/// returns the new parameter and moments.
pub fn step<const D: usize>(
    s: &AdamWStep,
    p: Tensor<D>,
    g: Tensor<D>,
    (m, v): (Tensor<D>, Tensor<D>),
    factor: Option<Tensor<1>>,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (p, g, m, v) = (owned(cube_tensor(p)), cube_tensor(g), owned(cube_tensor(m)), owned(cube_tensor(v)));
    let factor = factor.map(cube_tensor);
    let client = p.client.clone();
    let n = p.shape().num_elements();
    let cube_dim = CubeDim::new_1d(256);
    let cube_count = cubecl::calculate_cube_count_elemwise(&client, n, cube_dim);
    adamw_update::launch(
        &client,
        cube_count,
        cube_dim,
        n,
        p.clone().into_buffer_arg(),
        g.clone().into_buffer_arg(),
        // Without a factor the gradient stands in: bound, never read.
        factor.as_ref().unwrap_or(&g).clone().into_buffer_arg(),
        factor.is_some(),
        m.clone().into_buffer_arg(),
        v.clone().into_buffer_arg(),
        s.beta_1,
        s.beta_2,
        1.0 - s.beta_1,
        1.0 - s.beta_2,
        s.epsilon,
        s.keep,
        s.lr,
        s.correction_1,
        s.correction_2,
    );
    let back = |t: CubeTensor| Tensor::<D>::from_primitive::<Cube>(t);
    (back(p), back(m), back(v))
}
