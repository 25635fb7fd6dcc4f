//! `BertForSequenceClassification`: pooler output → dropout → `classifier` linear layer.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{BertConfig, BertInput, BertModel, FfnPlan, ForwardOptions};

/// HF `BertForSequenceClassification`: `bert.*` + `classifier.{weight,bias}`.
/// With one label the head is a regression (STS-B), otherwise a softmax classifier.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

impl BertConfig {
    /// A randomly initialised classifier with `num_labels()` outputs and the given plan.
    pub fn init_classifier(&self, plan: &FfnPlan, device: &Device) -> BertForSequenceClassification {
        BertForSequenceClassification {
            bert: self.init_with_plan(plan, device),
            dropout: DropoutConfig::new(self.classifier_dropout_prob()).init(),
            classifier: LinearConfig::new(self.hidden_size, self.num_labels()).init(device),
        }
    }
}

impl BertForSequenceClassification {
    /// Logits `[batch, num_labels]`.
    pub fn forward(&self, input: BertInput) -> Tensor<2> {
        let pooled = self.bert.forward(input, ForwardOptions::default()).pooler_output;
        self.classifier.forward(self.dropout.forward(pooled))
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}
