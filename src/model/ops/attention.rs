//! Scaled dot-product attention over heads, with the kernel chosen for the pass.

use burn::nn::Dropout;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::{dropout, gpu};

/// Multi-head attention over the query, key and value projections (`[batch, seq, hidden]`, head
/// `h` in columns `h·head_dim..`): the context in the same layout, and the probabilities when
/// `keep_probs`. `mask_bias` (`[batch, 1, seq, seq]`) is BERT's padding mask: the same bias for
/// every query of a sequence.
///
/// At inference on the CPU (burn-flex, f32, no attention maps) the heads are computed in place
/// from the projections' rows by `undivided_kernels::attention`: no copies into and out of the
/// per-head layout, and a vectorised softmax; on GPUs likewise, in one kernel launch
/// ([`gpu::attention`]); elsewhere the heads are split for [`scaled_dot_product`].
pub fn multi_head(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask_bias: Tensor<4>,
    heads: usize,
    attention_dropout: &Dropout,
    keep_probs: bool,
) -> (Tensor<3>, Option<Tensor<4>>) {
    let [batch, seq, hidden] = q.dims();
    let head_dim = hidden / heads;
    let scale = (head_dim as f64).sqrt().recip();
    if !keep_probs && !q.device().is_autodiff() && crate::device::is_flex(&q.device()) && q.dtype() == burn::tensor::DType::F32 {
        return (attention_inference_on_cpu(q, k, v, mask_bias, heads, scale as f32), None);
    }
    if !keep_probs && [&q, &k, &v].into_iter().all(|t| gpu::applies(t, q.dtype())) && mask_bias.dtype() == q.dtype() {
        return (gpu::attention(q, k, v, mask_bias, heads, scale as f32), None);
    }
    let split = |t: Tensor<3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2);
    let (context, probs) = scaled_dot_product(split(q), split(k), split(v), mask_bias, scale, attention_dropout, keep_probs);
    (context.swap_dims(1, 2).reshape([batch, seq, hidden]), probs)
}

/// [`multi_head`] at inference on burn-flex, over the tensors' buffers. The padding bias is
/// read once per sequence (`[batch, seq]`, its first query row).
fn attention_inference_on_cpu(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, mask_bias: Tensor<4>, heads: usize, scale: f32) -> Tensor<3> {
    use crate::device::{f32_buffer, from_f32_buffer};
    use undivided_kernels::attention::{AttentionShape, self_attention};
    let [batch, seq, hidden] = q.dims();
    let (shape, device) = (q.shape(), q.device());
    let key_bias = f32_buffer(mask_bias.slice([0..batch, 0..1, 0..1, 0..seq]));
    let (q, k, v) = (f32_buffer(q), f32_buffer(k), f32_buffer(v));
    let mut out = vec![0f32; batch * seq * hidden];
    let cast = bytemuck::cast_slice::<u8, f32>;
    self_attention(cast(&q), cast(&k), cast(&v), cast(&key_bias), AttentionShape { batch, seq, heads, head_dim: hidden / heads }, scale, &mut out);
    from_f32_buffer(burn::tensor::Bytes::from_elems(out), shape, &device)
}

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
pub fn scaled_dot_product(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask_bias: Tensor<4>,
    scale: f64,
    attention_dropout: &Dropout,
    keep_probs: bool,
) -> (Tensor<4>, Option<Tensor<4>>) {
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
