//! # Undivided
//!
//! Does BERT need its intermediate (feed-forward) layers? This crate loads any HuggingFace
//! BERT-family checkpoint into a burn model whose layers may each drop their intermediate block
//! ([`model::FfnPlan`]), and runs it natively (CLI, fine-tuning) or in the browser on WebGPU.
//!
//! - [`model`]: the BERT components, `BertConfig` → `init(&device)` → `forward`.
//! - [`checkpoint`]: strict HF safetensors loading and saving, hub downloads.
//! - [`text`]: the tokenizer and padded batches.
//! - [`data`]: GLUE readers and metrics, tokenized datasets and their splits.
//! - [`train`]: the training step, the run driver, fine-tuning and healing runs.
//! - [`experiment`]: comparisons and sweeps over many runs, their reuse and summary tables.
//! - [`analysis`]: CKA and linear probes.
//! - [`device`]: backend choice (Flex CPU, wgpu).
//! - `cli` (native) and `web` (wasm32): the two front ends.

pub mod analysis;
pub mod chart;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod experiment;
pub mod model;
pub mod text;
pub mod train;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use checkpoint::Checkpoint;
pub use device::{Backend, init_device};
pub use model::{BertConfig, BertForSequenceClassification, BertModel, FfnPlan, ModelStats};
pub use text::{Batch, BertTokenizer, TextInput};
