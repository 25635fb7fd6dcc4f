//! The BERT model with removable intermediate blocks.
//!
//! One file per component, named as HF's `modeling_bert.py` names them: [`BertEmbeddings`],
//! [`BertAttention`], [`BertIntermediate`] (the removable feed-forward block), [`BertLayer`],
//! [`BertEncoder`], [`BertPooler`], [`BertModel`], [`BertForSequenceClassification`] and the
//! masked-LM head of pre-training, [`BertOnlyMLMHead`].
//! The files of the components read as HF's equations; how an operation is made fast on a
//! backend (the training GELU on the CPU, the attention kernel, per-thread dropout masks, dense
//! layers over all tokens at once) lives in [`ops`], each with its measured reason.
//! [`FfnPlan`] says which layers keep their intermediate block; [`ModelStats`] counts
//! parameters and FLOPs from a config alone.

mod attention;
mod bert;
mod classifier;
mod config;
mod embeddings;
mod encoder;
mod intermediate;
mod layer;
mod mlm;
pub mod ops;
mod plan;
mod pooler;
pub mod precision;
mod stats;

pub use attention::{AttentionOutput, BertAttention};
pub use bert::{BertInput, BertModel, BertOutput, mask_bias};
pub use classifier::{BertForSequenceClassification, SequenceClassifierOutput};
pub use config::{BertConfig, HiddenAct};
pub use embeddings::BertEmbeddings;
pub use encoder::{BertEncoder, EncoderOutput, ForwardConfig};
pub use intermediate::BertIntermediate;
pub use layer::{BertLayer, LayerBlock, LayerOutput};
pub use mlm::{BertOnlyMLMHead, IGNORE_INDEX};
pub use ops::{dropout, with_mask_seed};
pub use plan::FfnPlan;
pub use pooler::BertPooler;
pub use precision::Precision;
pub use stats::{LayerStats, ModelStats};
