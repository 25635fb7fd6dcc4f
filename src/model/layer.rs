//! `BertLayer`: one encoder layer, self-attention followed by an optional intermediate block.

use burn::module::Module;
use burn::nn::LayerNorm;
use burn::tensor::{Device, Tensor};

use super::ops::add_norm;
use super::{AttentionOutput, BertAttention, BertConfig, BertIntermediate, ForwardConfig};

/// What one layer keeps of its intermediate block ([`super::FfnPlan::layer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerBlock {
    /// The whole block: dense → act → dense, residual, `output.LayerNorm`.
    Kept,
    /// No block; with `keep_norm` (a `+norm` plan) its `output.LayerNorm` stays.
    Removed { keep_norm: bool },
}

/// One encoder layer (HF `encoder.layer.{i}`).
///
/// **Removing the intermediate block.** When the plan drops this layer's intermediate block,
/// `intermediate` is `None`: the layer then has no `intermediate.dense`, `output.dense` or
/// `output.LayerNorm` parameters at all (they are not zeroed, they do not exist), and the layer's
/// output is the attention block's output, `LayerNorm₁(x + Attention(x))`. The attention block
/// keeps its own residual connection and LayerNorm, so the hidden states stay normalised and the
/// next layer sees inputs on the scale it was trained on.
///
/// A `+norm` plan keeps the removed block's `output.LayerNorm` (`output_layer_norm`), and the
/// layer outputs `LayerNorm₂(LayerNorm₁(x + Attention(x)))`: the next layer then reads features
/// with the scale and shift the full model gave them.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: Option<BertIntermediate>,
    /// `output.LayerNorm` of a removed block kept by a `+norm` plan; `None` otherwise.
    pub output_layer_norm: Option<LayerNorm>,
    /// The LayerNorm's epsilon (HF `layer_norm_eps`), for the fused norm.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// A layer's output and, when asked for, its attention probabilities `[batch, heads, seq, seq]`.
pub struct LayerOutput {
    pub hidden: Tensor<3>,
    pub attention_probs: Option<Tensor<4>>,
}

impl BertLayer {
    /// A layer with what `block` says of its intermediate block.
    pub fn new(config: &BertConfig, block: LayerBlock, device: &Device) -> Self {
        Self {
            attention: BertAttention::new(config, device),
            intermediate: (block == LayerBlock::Kept).then(|| BertIntermediate::new(config, device)),
            output_layer_norm: (block == LayerBlock::Removed { keep_norm: true }).then(|| config.layer_norm(device)),
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `x` `[batch, seq, hidden]` → the layer's output, with its attention probabilities when
    /// `options.attentions` asks for them.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, options: ForwardConfig) -> LayerOutput {
        let AttentionOutput { hidden, probs } = self.attention.forward(x, mask_bias, options);
        let hidden = match &self.intermediate {
            Some(block) => block.forward(hidden),
            None => match &self.output_layer_norm {
                Some(norm) => add_norm(norm, hidden, None, self.layer_norm_eps),
                None => hidden,
            },
        };
        LayerOutput { hidden, attention_probs: probs }
    }
}
