//! `BertIntermediate`: the feed-forward block that Undivided can remove from a layer.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::{Device, Tensor};

use super::ops::{add_norm, dropout, gelu, per_token, per_token_gelu, share};
use super::{BertConfig, HiddenAct};

/// HF `intermediate.dense` + `output.{dense,LayerNorm}` of one encoder layer:
/// `LayerNorm(h + Dropout(Dense₂(act(Dense₁(h)))))` with `Dense₁: hidden → intermediate_size`
/// and `Dense₂: intermediate_size → hidden`.
///
/// It holds about two thirds of a layer's weights and FLOPs, which is why removing it is worth asking about.
#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub intermediate_dense: Linear,
    pub output_dense: Linear,
    pub output_layer_norm: LayerNorm,
    pub dropout: Dropout,
    #[module(skip)]
    pub act: HiddenAct,
    /// The LayerNorm's epsilon (HF `layer_norm_eps`), for the fused residual + norm.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl BertIntermediate {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            intermediate_dense: LinearConfig::new(config.hidden_size, config.intermediate_size).init(device),
            output_dense: LinearConfig::new(config.intermediate_size, config.hidden_size).init(device),
            output_layer_norm: config.layer_norm(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            act: config.hidden_act,
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `h`: the attention block's output `[batch, seq, hidden]` → the layer output.
    pub fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        // One sentence over the page's CPU workers: each takes its share of the columns.
        if let Some(x) = share::feed_forward(&self.intermediate_dense, &self.output_dense, &h, |x| self.activate(x)) {
            return add_norm(&self.output_layer_norm, dropout(&self.dropout, x), Some(h), self.layer_norm_eps);
        }
        // The exact GELU rides in the dense layer's kernel where one does (inference on a GPU).
        let fused = match self.act {
            HiddenAct::Gelu => per_token_gelu(&self.intermediate_dense, h.clone()),
            _ => None,
        };
        let x = fused.unwrap_or_else(|| self.activate(per_token(&self.intermediate_dense, h.clone())));
        let x = dropout(&self.dropout, per_token(&self.output_dense, x));
        add_norm(&self.output_layer_norm, x, Some(h), self.layer_norm_eps)
    }

    /// The block's activation function (HF `hidden_act`) on the pre-activations `x`.
    pub fn activate(&self, x: Tensor<3>) -> Tensor<3> {
        match self.act {
            HiddenAct::Gelu => gelu(x),
            HiddenAct::GeluNew => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
        }
    }
}
