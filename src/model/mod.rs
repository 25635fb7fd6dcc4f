//! The BERT model with removable intermediate blocks.
//!
//! One file per component, named as HF's `modeling_bert.py` names them: [`BertEmbeddings`],
//! [`BertAttention`], [`BertIntermediate`] (the removable feed-forward block), [`BertLayer`],
//! [`BertEncoder`], [`BertPooler`], [`BertModel`] and [`BertForSequenceClassification`].
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
mod plan;
mod pooler;
mod stats;

pub use attention::{AttentionOutput, BertAttention};
pub use bert::{BertInput, BertModel, BertOutput, ForwardOptions, mask_bias};
pub use classifier::{BertForSequenceClassification, SequenceClassifierOutput};
pub use config::{BertConfig, HiddenAct};
pub use embeddings::BertEmbeddings;
pub use encoder::{BertEncoder, EncoderOutput};
pub use intermediate::BertIntermediate;
pub use layer::{BertLayer, LayerOutput};
pub use plan::FfnPlan;
pub use pooler::BertPooler;
pub use stats::{LayerStats, ModelStats};
