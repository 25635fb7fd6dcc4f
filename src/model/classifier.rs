//! `BertForSequenceClassification`: pooler output → dropout → `classifier` linear layer.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::Tensor;

use super::precision::{to_dtype, to_f32};
use super::{BertInput, BertModel, BertOutput, ForwardConfig, dropout};

/// HF `BertForSequenceClassification`: `bert.*` + `classifier.{weight,bias}`.
/// With one label the head is a regression (STS-B), otherwise a softmax classifier.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

/// The output of [`BertForSequenceClassification::forward_with`], named as HF names it.
pub struct SequenceClassifierOutput {
    /// `[batch, num_labels]`.
    pub logits: Tensor<2>,
    pub hidden_states: Option<Vec<Tensor<3>>>,
    pub attentions: Option<Vec<Tensor<4>>>,
}

impl BertForSequenceClassification {
    /// Logits `[batch, num_labels]`.
    pub fn forward(&self, input: BertInput) -> Tensor<2> {
        self.forward_with(input, ForwardConfig::default()).logits
    }

    /// Logits, and the encoder's hidden states and attentions when `options` asks for them
    /// (layer-to-layer distillation during fine-tuning).
    pub fn forward_with(&self, input: BertInput, options: ForwardConfig) -> SequenceClassifierOutput {
        let BertOutput { pooler_output, hidden_states, attentions, .. } = self.bert.forward(input, options);
        // The head computes in the model's precision too; the logits are handed back in f32.
        let pooled = to_dtype(pooler_output, self.classifier.weight.val().dtype());
        let logits = to_f32(self.classifier.forward(dropout(&self.dropout, pooled)));
        SequenceClassifierOutput { logits, hidden_states, attentions }
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}
