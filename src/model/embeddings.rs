//! `BertEmbeddings`: word + position + token-type embeddings, then LayerNorm and dropout.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm};
use burn::tensor::{Device, Int, Tensor};

use super::ops::add_norm;
use super::{BertConfig, dropout};

/// HF `embeddings.*`: `word_embeddings`, `position_embeddings`, `token_type_embeddings`, `LayerNorm`.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
    /// The LayerNorm's epsilon (HF `layer_norm_eps`), for the fused sum + norm.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl BertEmbeddings {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            word_embeddings: EmbeddingConfig::new(config.vocab_size, h).init(device),
            position_embeddings: EmbeddingConfig::new(config.max_position_embeddings, h).init(device),
            token_type_embeddings: EmbeddingConfig::new(config.type_vocab_size, h).init(device),
            layer_norm: config.layer_norm(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `input_ids`, `token_type_ids`: `[batch, seq]` → `[batch, seq, hidden]`.
    /// Positions are `0..seq` (absolute position embeddings, as in BERT).
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]).repeat_dim(0, batch);
        let words = self.word_embeddings.forward(input_ids) + self.position_embeddings.forward(positions);
        let x = add_norm(&self.layer_norm, words, Some(self.token_type_embeddings.forward(token_type_ids)), self.layer_norm_eps);
        dropout(&self.dropout, x)
    }
}
