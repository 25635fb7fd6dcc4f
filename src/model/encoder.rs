//! `BertEncoder`: the stack of encoder layers, built from an [`FfnPlan`].

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::{BertConfig, BertLayer, FfnPlan, LayerOutput};

/// What to return besides the last hidden state (and, from [`super::BertModel`], the pooled
/// output).
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardConfig {
    /// Every layer's hidden state (embeddings output first), for CKA and probes.
    pub hidden_states: bool,
    /// Every layer's attention probabilities, for attention distillation.
    pub attentions: bool,
}

/// HF `encoder.layer.*`.
#[derive(Module, Debug)]
pub struct BertEncoder {
    pub layers: Vec<BertLayer>,
}

/// The encoder's output: the last hidden state, and every layer's when asked for.
pub struct EncoderOutput {
    pub last_hidden_state: Tensor<3>,
    /// `num_layers + 1` tensors, the embeddings output first (HF `hidden_states`), when requested.
    pub hidden_states: Option<Vec<Tensor<3>>>,
    /// One `[batch, heads, seq, seq]` tensor per layer (HF `attentions`), when requested.
    pub attentions: Option<Vec<Tensor<4>>>,
}

impl BertEncoder {
    pub fn new(config: &BertConfig, plan: &FfnPlan, device: &Device) -> Self {
        let layers = (0..config.num_hidden_layers).map(|i| BertLayer::new(config, plan.layer(i), device)).collect();
        Self { layers }
    }

    /// The plan this encoder was built with (read from which layers have an intermediate block).
    pub fn plan(&self) -> FfnPlan {
        let kept = self.layers.iter().enumerate().filter(|(_, l)| l.intermediate.is_some()).map(|(i, _)| i);
        let keep_norm = self.layers.iter().any(|l| l.output_layer_norm.is_some());
        FfnPlan::from_layers(self.layers.len(), kept).expect("indices come from the layer list").with_norm(keep_norm)
    }

    pub fn forward(&self, embeddings: Tensor<3>, mask_bias: Tensor<4>, options: ForwardConfig) -> EncoderOutput {
        let mut hidden_states = options.hidden_states.then(|| vec![embeddings.clone()]);
        let mut attentions = options.attentions.then(Vec::new);
        let mut x = embeddings;
        for layer in &self.layers {
            let LayerOutput { hidden, attention_probs } = layer.forward(x, mask_bias.clone(), options);
            if let (Some(all), Some(p)) = (attentions.as_mut(), attention_probs) {
                all.push(p);
            }
            if let Some(all) = hidden_states.as_mut() {
                all.push(hidden.clone());
            }
            x = hidden;
        }
        EncoderOutput { last_hidden_state: x, hidden_states, attentions }
    }
}
