//! The exact GELU, `x · Φ(x)`, as the model computes it: burn's own kernel at inference (a
//! vectorised loop on the CPU), and under autodiff a form whose gradients stay exact and finite
//! on every backend.

use burn::tensor::Tensor;
use burn::tensor::activation;

/// GELU (HF `hidden_act: "gelu"`, the erf form).
///
/// Why not burn's `gelu` when gradients are tracked: burn's GELU backward differentiates the
/// tanh approximation, and WGSL `tanh` overflows to NaN for large inputs on some WebGPU
/// implementations (SwiftShader). MiniLM's pre-activations reach that range, and the first
/// training step's gradients became NaN in the browser. Under autodiff the exact GELU is written
/// out, so its backward goes through `erf` (exact, and NaN-free); on the CPU it is a line
/// through each point ([`gelu_on_cpu`]), which is the same and cheaper.
pub fn gelu(x: Tensor<3>) -> Tensor<3> {
    if !x.device().is_autodiff() {
        if crate::device::is_flex(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
            return gelu_inference_on_cpu(x);
        }
        return activation::gelu(x);
    }
    if crate::device::is_flex(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
        return gelu_on_cpu(x);
    }
    x.clone() * (x.div_scalar(std::f64::consts::SQRT_2).erf() + 1.0).mul_scalar(0.5)
}

/// The exact GELU at inference on burn-flex, in place over the tensor's buffer
/// (`undivided_kernels::gelu::gelu_in_place`): burn-flex's own GELU calls libm's `erff` per
/// element, a fifth of a full-model forward pass on the CPU.
fn gelu_inference_on_cpu(x: Tensor<3>) -> Tensor<3> {
    use crate::device::{f32_buffer, from_f32_buffer};
    let (shape, device) = (x.shape(), x.device());
    let mut values = f32_buffer(x);
    undivided_kernels::gelu::gelu_in_place(bytemuck::cast_slice_mut(&mut values));
    from_f32_buffer(values, shape, &device)
}

/// The exact GELU under autodiff on burn-flex, as `x · slope + offset` with both constants
/// computed in one pass at each input (`undivided_kernels::gelu`): the same values and the same
/// derivative as the written-out form, in two element-wise operations forward and one backward
/// instead of about fifteen.
fn gelu_on_cpu(x: Tensor<3>) -> Tensor<3> {
    use crate::device::{f32_buffer, from_f32_buffer};
    let (shape, device) = (x.shape(), x.device().inner());
    let mut slope = f32_buffer(x.clone().inner());
    let mut offset = vec![0f32; shape.num_elements()];
    undivided_kernels::gelu::gelu_slope_offset(bytemuck::cast_slice_mut(&mut slope), &mut offset);
    // Tensors without autodiff: constants in the products below.
    let slope = from_f32_buffer(slope, shape.clone(), &device);
    let offset = from_f32_buffer(burn::tensor::Bytes::from_elems(offset), shape, &device);
    x * slope + offset
}
