//! `BertOnlyMLMHead`: BERT's masked-language-model head (HF `cls.predictions`), for pre-training.
//!
//! `logits = LayerNorm(act(Dense(h))) · Eᵀ + b`, with `E` the word embeddings (tied, as in HF:
//! `cls.predictions.decoder.weight` is the embedding matrix) and `b` = `cls.predictions.bias`.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear, LinearConfig};
use burn::tensor::activation::{gelu_approximate, log_softmax, relu};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::ops::gelu;
use super::{BertConfig, BertModel, HiddenAct};

/// HF `cls.predictions.transform.{dense,LayerNorm}` and `cls.predictions.bias`.
#[derive(Module, Debug)]
pub struct BertOnlyMLMHead {
    pub transform_dense: Linear,
    pub transform_layer_norm: LayerNorm,
    /// `[vocab]`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    pub act: HiddenAct,
}

/// The labels of a masked batch: HF's convention, `-100` where no token is predicted.
pub const IGNORE_INDEX: i64 = -100;

impl BertOnlyMLMHead {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            transform_dense: LinearConfig::new(config.hidden_size, config.hidden_size).init(device),
            transform_layer_norm: config.layer_norm(device),
            bias: Param::from_tensor(Tensor::zeros([config.vocab_size], device)),
            act: config.hidden_act,
        }
    }

    /// Scores over the vocabulary of `hidden` `[n, hidden]` rows, with the tied `embeddings`
    /// `[vocab, hidden]`: `[n, vocab]`.
    pub fn forward(&self, hidden: Tensor<2>, embeddings: Tensor<2>) -> Tensor<2> {
        let x = self.transform_dense.forward(hidden);
        let [n, h] = x.dims();
        let x = match self.act {
            HiddenAct::Gelu => gelu(x.reshape([1, n, h])).reshape([n, h]),
            HiddenAct::GeluNew => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
        };
        let x = self.transform_layer_norm.forward(x);
        x.matmul(embeddings.transpose()) + self.bias.val().unsqueeze_dim(0)
    }

    /// Masked-LM cross-entropy of `model`'s last hidden state `[batch, seq, hidden]` against
    /// `labels` (row-major `[batch, seq]`, [`IGNORE_INDEX`] where nothing is predicted), summed
    /// over the predicted positions and divided by `denominator` (their number in the whole
    /// batch, so that slices of a batch add up to its mean). Only the predicted positions go
    /// through the head: 15% of the tokens, not all of them, meet the vocabulary-sized product.
    pub fn loss(&self, model: &BertModel, last_hidden_state: Tensor<3>, labels: &[i64], denominator: usize) -> Tensor<1> {
        let [batch, seq, hidden] = last_hidden_state.dims();
        let device = last_hidden_state.device();
        let (rows, targets): (Vec<i64>, Vec<i64>) = labels.iter().enumerate().filter(|(_, l)| **l != IGNORE_INDEX).map(|(i, &l)| (i as i64, l)).unzip();
        if rows.is_empty() {
            // Nothing predicted in this slice: a zero that still belongs to the graph.
            return last_hidden_state.sum().mul_scalar(0.0);
        }
        let m = rows.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [m]), &device);
        let picked = last_hidden_state.reshape([batch * seq, hidden]).select(0, index);
        let logits = self.forward(picked, model.embeddings.word_embeddings.weight.val());
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [m, 1]), &device);
        let picked_log_p = log_softmax(logits, 1).gather(1, targets);
        picked_log_p.sum().neg().div_scalar(denominator.max(1) as f64)
    }
}
