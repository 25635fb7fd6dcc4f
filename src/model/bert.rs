//! `BertModel`: embeddings → encoder → pooler, as HF's `BertModel`.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use super::precision::{to_dtype, to_f32};
use super::{BertEmbeddings, BertEncoder, BertPooler, EncoderOutput, FfnPlan, ForwardConfig};

/// A token batch on a device: ids, token types and the padding mask, each `[batch, seq]`.
#[derive(Debug, Clone)]
pub struct BertInput {
    pub input_ids: Tensor<2, Int>,
    pub token_type_ids: Tensor<2, Int>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
}

/// The output of [`BertModel::forward`], named as HF names it.
pub struct BertOutput {
    /// `[batch, seq, hidden]`.
    pub last_hidden_state: Tensor<3>,
    /// `[batch, hidden]`.
    pub pooler_output: Tensor<2>,
    pub hidden_states: Option<Vec<Tensor<3>>>,
    pub attentions: Option<Vec<Tensor<4>>>,
}

/// A BERT encoder with a per-layer plan of intermediate blocks.
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub encoder: BertEncoder,
    pub pooler: BertPooler,
}

impl BertModel {
    pub fn forward(&self, input: BertInput, options: ForwardConfig) -> BertOutput {
        let BertInput { input_ids, token_type_ids, attention_mask } = input;
        let embeddings = self.embeddings.forward(input_ids, token_type_ids);
        // In the model's precision (f16: the padding bias becomes −∞, which softmax takes).
        let mask_bias = to_dtype(mask_bias(attention_mask), embeddings.dtype());
        let EncoderOutput { last_hidden_state, hidden_states, attentions } = self.encoder.forward(embeddings, mask_bias, options);
        let pooler_output = self.pooler.forward(last_hidden_state.clone());
        // Callers read f32 whatever the model computes in (see `precision`).
        let (last_hidden_state, pooler_output) = (to_f32(last_hidden_state), to_f32(pooler_output));
        let hidden_states = hidden_states.map(|h| h.into_iter().map(to_f32).collect());
        let attentions = attentions.map(|a| a.into_iter().map(to_f32).collect());
        BertOutput { last_hidden_state, pooler_output, hidden_states, attentions }
    }

    pub fn plan(&self) -> FfnPlan {
        self.encoder.plan()
    }

    pub fn device(&self) -> Device {
        self.pooler.dense.weight.device()
    }
}

/// `[batch, seq]` mask of 1/0 → `[batch, 1, seq, seq]` additive bias: 0 where attended, a large
/// negative number on padded keys (as HF's extended attention mask; finite, so a fully padded
/// row cannot produce NaN). Materialised per query row, once per batch, because fused attention
/// kernels read a whole `[seq, seq]` tile per head.
pub fn mask_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    let keep = attention_mask.float();
    (keep.neg() + 1.0).mul_scalar(-1.0e9).reshape([batch, 1, 1, seq]).expand([batch, 1, seq, seq])
}
