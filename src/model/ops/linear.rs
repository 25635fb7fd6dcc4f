//! Dense layers over every token of a batch at once.

use burn::nn::Linear;
use burn::tensor::Tensor;

use super::{cpu, gpu};

/// Applies `linear` to every token of `x` (`[batch, seq, d_in]` → `[batch, seq, d_out]`) as one
/// `[batch·seq, d_in] × [d_in, d_out]` product; at inference on a GPU, with its bias, in one
/// kernel launch ([`gpu::dense`]); at inference on the page's CPU path (wasm32, or natively
/// wherever a pass is shared over workers as on the page, [`super::share`]), up to
/// [`cpu::MAX_DENSE_ROWS`] rows, by [`cpu::dense`].
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
    if (cfg!(target_arch = "wasm32") || super::share::is_active()) && cpu::applies(linear, &x, cpu::MAX_DENSE_ROWS) {
        return over_tokens(x, |rows| cpu::dense(linear, rows));
    }
    over_tokens(x, |rows| linear.forward(rows))
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
