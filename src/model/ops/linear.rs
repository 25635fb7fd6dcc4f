//! Dense layers over every token of a batch at once.

use burn::nn::Linear;
use burn::tensor::Tensor;

use super::gpu;

/// Applies `linear` to every token of `x` (`[batch, seq, d_in]` → `[batch, seq, d_out]`) as one
/// `[batch·seq, d_in] × [d_in, d_out]` product; at inference on a GPU, with its bias, in one
/// kernel launch ([`gpu::dense`]); at inference on the page's CPU path (wasm32, or natively
/// wherever a pass is shared over workers as on the page, [`super::share`]), up to 128 rows, by
/// [`dense_on_cpu`].
///
/// Why not `linear.forward(x)` on the 3-D tensor: burn keeps a batched matmul whenever `seq` is a
/// multiple of 32 (its tiling heuristic), and on the CPU that runs one small product per sequence,
/// each re-packing the whole weight matrix, and its backward does the same. Folding the tokens
/// into rows (a free reshape of a contiguous tensor) gives the BLAS one large product instead,
/// forward and backward, on every backend.
pub fn per_token(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    if let Some(bias) = fused_bias(linear, &x) {
        return over_tokens(x, |rows| gpu::dense(rows, linear.weight.val(), bias, false));
    }
    if (cfg!(target_arch = "wasm32") || super::share::is_active()) && few_rows_on_cpu(linear, &x) {
        return over_tokens(x, |rows| dense_on_cpu(linear, rows));
    }
    over_tokens(x, |rows| linear.forward(rows))
}

/// Rows up to which [`dense_on_cpu`] runs the page's dense layers (above, gemm's packed tiles
/// are as fast: 15.9 against 15.1 GFLOP/s at 512 rows, in V8).
pub const MAX_CPU_DENSE_ROWS: usize = 128;

/// Whether `x` goes through `linear` by [`dense_on_cpu`]: inference on burn-flex, `f32`, with a
/// bias, a few rows.
pub(super) fn few_rows_on_cpu(linear: &Linear, x: &Tensor<3>) -> bool {
    let [batch, seq, _] = x.dims();
    use burn::tensor::DType::F32;
    batch * seq <= MAX_CPU_DENSE_ROWS
        && !x.device().is_autodiff()
        && crate::device::is_flex(&x.device())
        && x.dtype() == F32
        && linear.weight.val().dtype() == F32
        && linear.bias.as_ref().is_some_and(|b| b.val().dtype() == F32)
}

/// `linear` over `rows` by `undivided_kernels::dense` (a sentence's few rows on wasm SIMD; see
/// there for what it measured), reading the weights and bias where burn-flex keeps them.
fn dense_on_cpu(linear: &Linear, rows: Tensor<2>) -> Tensor<2> {
    use crate::device::{f32_buffer, flex_f32, from_f32_buffer};
    use undivided_kernels::dense::{DenseShape, dense};
    let [n, d_in] = rows.dims();
    let [_, d_out] = linear.weight.dims();
    let device = rows.device();
    let (weight, bias) = (flex_f32(linear.weight.val()), flex_f32(linear.bias.as_ref().expect("checked by few_rows_on_cpu").val()));
    let x = f32_buffer(rows);
    let (x, weight, bias) = (bytemuck::cast_slice(&x), weight.as_slice().expect("contiguous"), bias.as_slice().expect("contiguous"));
    let mut out = vec![0f32; n * d_out];
    dense(x, weight, bias, DenseShape { rows: n, d_in, d_out }, &mut out);
    from_f32_buffer(burn::tensor::Bytes::from_elems(out), [n, d_out].into(), &device)
}

/// [`per_token`], then the exact GELU: at inference on a GPU one kernel for both
/// ([`gpu::dense`]); elsewhere `None`, and the caller activates with its own function.
pub fn per_token_gelu(linear: &Linear, x: Tensor<3>) -> Option<Tensor<3>> {
    let bias = fused_bias(linear, &x)?;
    Some(over_tokens(x, |rows| gpu::dense(rows, linear.weight.val(), bias, true)))
}

/// The bias of `linear` when [`gpu::dense`] takes `x` through it.
fn fused_bias(linear: &Linear, x: &Tensor<3>) -> Option<Tensor<1>> {
    let bias = linear.bias.as_ref()?.val();
    let [batch, seq, _] = x.dims();
    let fits = batch * seq <= gpu::MAX_DENSE_ROWS;
    let dtype = x.dtype();
    (fits && gpu::applies(x, dtype) && gpu::applies(&linear.weight.val(), dtype) && gpu::applies(&bias, dtype)).then_some(bias)
}

/// `dense` over the tokens of `x` folded into rows.
fn over_tokens(x: Tensor<3>, dense: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let y = dense(x.reshape([batch * seq, d_in]));
    let [_, d_out] = y.dims();
    y.reshape([batch, seq, d_out])
}
