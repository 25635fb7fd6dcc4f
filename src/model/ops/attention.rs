//! Scaled dot-product attention over heads, with the kernel chosen for the pass.

use burn::nn::Dropout;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::dropout;

/// `softmax(q·kᵀ·scale + mask_bias) · v` per head (`q`, `k`, `v`: `[batch, heads, seq, head_dim]`;
/// `mask_bias`: `[batch, 1, seq, seq]`), with attention dropout while training. Returns the
/// context `[batch, heads, seq, head_dim]` and, when `keep_probs`, the probabilities (before
/// dropout).
///
/// Inference without attention maps takes the backend's fused attention (on the CPU burn-flex
/// computes it per head without a round trip through memory). Training (attention dropout,
/// gradients) and callers asking for the probabilities take the explicit path, which gives the
/// same result; it scales the queries rather than the scores, `[seq, head_dim]` per head instead
/// of `[seq, seq]`, forward and backward.
pub fn scaled_dot_product(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask_bias: Tensor<4>, scale: f64, attention_dropout: &Dropout, keep_probs: bool) -> (Tensor<4>, Option<Tensor<4>>) {
    if keep_probs || q.device().is_autodiff() {
        let scores = q.mul_scalar(scale).matmul(k.swap_dims(2, 3)) + mask_bias;
        let probs = softmax(scores, 3);
        let context = dropout(attention_dropout, probs.clone()).matmul(v);
        (context, keep_probs.then_some(probs))
    } else {
        let options = AttentionModuleOptions { scale: Some(scale), softcap: None, is_causal: false };
        (attention(q, k, v, None, Some(mask_bias), options), None)
    }
}
