//! The BERT model with removable intermediate blocks.
//!
//! One file per component, named as HF's `modeling_bert.py` names them: [`BertEmbeddings`],
//! [`BertAttention`], [`BertIntermediate`] (the removable feed-forward block), [`BertLayer`],
//! [`BertEncoder`], [`BertPooler`], [`BertModel`] and [`BertForSequenceClassification`].
//! [`dropout`] draws its masks per thread inside [`with_mask_seed`].
//! [`FfnPlan`] says which layers keep their intermediate block; [`ModelStats`] counts
//! parameters and FLOPs from a config alone.

mod attention;
mod bert;
mod classifier;
mod config;
mod dropout;
mod embeddings;
mod encoder;
mod intermediate;
mod layer;
mod plan;
mod pooler;
mod stats;

pub use attention::{AttentionOutput, BertAttention};
pub use bert::{BertInput, BertModel, BertOutput, ForwardOptions, mask_bias};
pub use classifier::{BertForSequenceClassification, SequenceClassifierOutput};
pub use config::{BertConfig, HiddenAct};
pub use dropout::{dropout, with_mask_seed};
pub use embeddings::BertEmbeddings;
pub use encoder::{BertEncoder, EncoderOutput};
pub use intermediate::BertIntermediate;
pub use layer::{BertLayer, LayerOutput};
pub use plan::FfnPlan;
pub use pooler::BertPooler;
pub use stats::{LayerStats, ModelStats};

use burn::nn::Linear;
use burn::tensor::Tensor;

/// Applies `linear` to every token of `x` (`[batch, seq, d_in]` → `[batch, seq, d_out]`) as one
/// `[batch·seq, d_in] × [d_in, d_out]` product.
///
/// Why not `linear.forward(x)` on the 3-D tensor: burn keeps a batched matmul whenever `seq` is a
/// multiple of 32 (its tiling heuristic), and on the CPU that runs one small product per sequence,
/// each re-packing the whole weight matrix, and its backward does the same. Folding the tokens
/// into rows (a free reshape of a contiguous tensor) gives the BLAS one large product instead,
/// forward and backward, on every backend.
pub(crate) fn per_token(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let y = linear.forward(x.reshape([batch * seq, d_in]));
    let [_, d_out] = y.dims();
    y.reshape([batch, seq, d_out])
}
