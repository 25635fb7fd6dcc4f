//! `BertPooler`: `tanh(Dense(h[CLS]))`, the sentence vector BERT's classification head reads.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::BertConfig;

/// HF `pooler.dense`.
#[derive(Module, Debug)]
pub struct BertPooler {
    pub dense: Linear,
}

impl BertPooler {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self { dense: LinearConfig::new(config.hidden_size, config.hidden_size).init(device) }
    }

    /// `[batch, seq, hidden]` → `[batch, hidden]`, from the first ([CLS]) token.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, h] = hidden.dims();
        let cls = hidden.narrow(1, 0, 1).reshape([batch, h]);
        self.dense.forward(cls).tanh()
    }
}
