//! `BertAttention`: multi-head self-attention with a padding mask, then the residual LayerNorm.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::ops::{add_norm, dropout, multi_head, per_token, share};
use super::{BertConfig, ForwardConfig};

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
    /// The LayerNorm's epsilon (HF `layer_norm_eps`), for the fused residual + norm.
    #[module(skip)]
    pub layer_norm_eps: f64,
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
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `x`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, seq, seq]`, 0 for real keys and a
    /// large negative number for padded keys, added to the attention scores. The probabilities
    /// are returned when `options.attentions` asks for them.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, options: ForwardConfig) -> AttentionOutput {
        let keep_probs = options.attentions;
        // One sentence over the page's CPU workers: each takes its share of the heads.
        let shared = (!keep_probs).then(|| share::attention(&self.query, &self.key, &self.value, &self.output_dense, &x, &mask_bias, self.num_heads));
        let (projected, probs) = match shared.flatten() {
            Some(projected) => (projected, None),
            None => {
                let q = per_token(&self.query, x.clone());
                let k = per_token(&self.key, x.clone());
                let v = per_token(&self.value, x.clone());
                let (context, probs) = multi_head(q, k, v, mask_bias, self.num_heads, &self.attention_dropout, keep_probs);
                (per_token(&self.output_dense, context), probs)
            }
        };
        let out = dropout(&self.hidden_dropout, projected);
        AttentionOutput { hidden: add_norm(&self.output_layer_norm, out, Some(x), self.layer_norm_eps), probs }
    }
}
