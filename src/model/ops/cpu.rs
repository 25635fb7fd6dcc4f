//! The page's CPU path for a sentence: dense layers over a few rows by
//! `undivided_kernels::dense`, on wasm32 and wherever a pass is shared over workers
//! ([`super::share`]). Its own file, as [`super::gpu`] is, because both `linear` and `share` ask
//! whether it applies.

use burn::nn::Linear;
use burn::tensor::{DType, Tensor};

/// Rows up to which [`dense`] runs the page's dense layers (above, gemm's packed tiles are as
/// fast: 15.9 against 15.1 GFLOP/s at 512 rows, in V8).
pub const MAX_DENSE_ROWS: usize = 128;

/// Whether `x` goes through `linear` by [`dense`]: inference on burn-flex, `f32`, with a bias, a
/// few rows.
pub fn applies(linear: &Linear, x: &Tensor<3>) -> bool {
    let [batch, seq, _] = x.dims();
    batch * seq <= MAX_DENSE_ROWS
        && !x.device().is_autodiff()
        && crate::device::is_flex(&x.device())
        && x.dtype() == DType::F32
        && linear.weight.val().dtype() == DType::F32
        && linear.bias.as_ref().is_some_and(|b| b.val().dtype() == DType::F32)
}

/// `linear` over `rows` by `undivided_kernels::dense` (a sentence's few rows on wasm SIMD; see
/// there for what it measured), reading the weights and bias where burn-flex keeps them.
pub fn dense(linear: &Linear, rows: Tensor<2>) -> Tensor<2> {
    use crate::device::{f32_buffer, flex_f32, from_f32_buffer};
    use undivided_kernels::dense::{DenseShape, dense};
    let [n, d_in] = rows.dims();
    let [_, d_out] = linear.weight.dims();
    let device = rows.device();
    let (weight, bias) = (flex_f32(linear.weight.val()), flex_f32(linear.bias.as_ref().expect("checked by applies").val()));
    let x = f32_buffer(rows);
    let (x, weight, bias) = (bytemuck::cast_slice(&x), weight.as_slice().expect("contiguous"), bias.as_slice().expect("contiguous"));
    let mut out = vec![0f32; n * d_out];
    dense(x, weight, bias, DenseShape { rows: n, d_in, d_out }, &mut out);
    from_f32_buffer(burn::tensor::Bytes::from_elems(out), [n, d_out].into(), &device)
}
