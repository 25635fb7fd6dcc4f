//! `BertAttention`: multi-head self-attention with a padding mask, then the residual LayerNorm.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

use super::{BertConfig, dropout, per_token};

/// HF `attention.self.{query,key,value}` + `attention.output.{dense,LayerNorm}`.
///
/// Output: `LayerNorm(x + Dropout(Dense(MultiHead(x))))`, the attention block's output that the
/// intermediate block (when present) refines and that is the layer output when it is removed.
#[derive(Module, Debug)]
pub struct BertAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output_dense: Linear,
    pub output_layer_norm: LayerNorm,
    pub attention_dropout: Dropout,
    pub hidden_dropout: Dropout,
    pub num_heads: usize,
    pub head_dim: usize,
}

/// What a forward pass returns: the block output and, when asked for, the attention probabilities.
pub struct AttentionOutput {
    /// `[batch, seq, hidden]`.
    pub hidden: Tensor<3>,
    /// `[batch, heads, seq, seq]`, the softmax over keys (before attention dropout).
    pub probs: Option<Tensor<4>>,
}

impl BertAttention {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        let linear = || LinearConfig::new(h, h).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output_dense: linear(),
            output_layer_norm: config.layer_norm(device),
            attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            hidden_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
        }
    }

    /// `x`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, seq, seq]`, 0 for real keys and a
    /// large negative number for padded keys, added to the attention scores.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, keep_probs: bool) -> AttentionOutput {
        let [batch, seq, hidden] = x.dims();
        let heads = |t: Tensor<3>| t.reshape([batch, seq, self.num_heads, self.head_dim]).swap_dims(1, 2);
        let q = heads(per_token(&self.query, x.clone()));
        let k = heads(per_token(&self.key, x.clone()));
        let v = heads(per_token(&self.value, x.clone()));

        let scale = (self.head_dim as f64).sqrt().recip();
        // Inference without attention maps: the backend's fused attention (on the CPU, burn-flex
        // computes softmax(QKᵀ·scale + bias)·V per head without a round trip through memory).
        // Training (attention dropout, gradients) and callers asking for the probabilities take
        // the explicit path, which gives the same result.
        let explicit = keep_probs || x.device().is_autodiff();
        let (context, probs) = if explicit {
            // Scaling the queries rather than the scores: [seq, head_dim] per head instead of
            // [seq, seq], forward and backward.
            let scores = q.mul_scalar(scale).matmul(k.swap_dims(2, 3)) + mask_bias;
            let probs = softmax(scores, 3);
            let context = dropout(&self.attention_dropout, probs.clone()).matmul(v);
            (context, keep_probs.then_some(probs))
        } else {
            let options = AttentionModuleOptions { scale: Some(scale), softcap: None, is_causal: false };
            (attention(q, k, v, None, Some(mask_bias), options), None)
        };
        let context = context.swap_dims(1, 2).reshape([batch, seq, hidden]);

        let out = dropout(&self.hidden_dropout, per_token(&self.output_dense, context));
        AttentionOutput {
            hidden: self.output_layer_norm.forward(out + x),
            probs,
        }
    }
}
