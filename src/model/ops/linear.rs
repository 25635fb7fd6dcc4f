//! Dense layers over every token of a batch at once.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// Applies `linear` to every token of `x` (`[batch, seq, d_in]` → `[batch, seq, d_out]`) as one
/// `[batch·seq, d_in] × [d_in, d_out]` product.
///
/// Why not `linear.forward(x)` on the 3-D tensor: burn keeps a batched matmul whenever `seq` is a
/// multiple of 32 (its tiling heuristic), and on the CPU that runs one small product per sequence,
/// each re-packing the whole weight matrix, and its backward does the same. Folding the tokens
/// into rows (a free reshape of a contiguous tensor) gives the BLAS one large product instead,
/// forward and backward, on every backend.
pub fn per_token(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let y = linear.forward(x.reshape([batch * seq, d_in]));
    let [_, d_out] = y.dims();
    y.reshape([batch, seq, d_out])
}
