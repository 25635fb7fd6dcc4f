//! Error types. Every error names the file, field or tensor at fault and what was expected.

use std::path::PathBuf;

/// A `config.json` or a layer plan that cannot describe a model this crate builds.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not a valid BERT config: {0}")]
    Json(String),
    #[error("config.json field `{field}`: expected {expected}")]
    Field { field: &'static str, expected: String },
    #[error("layer plan `{spec}`: expected {expected}")]
    Plan { spec: String, expected: String },
}

/// Failure to read, check or write a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("{path}: not a valid safetensors file ({reason}); the file may be truncated or corrupt")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: tensor `{name}` is missing (expected shape {expected:?}){hint}")]
    Missing { path: PathBuf, name: String, expected: Vec<usize>, hint: String },
    #[error("{path}: unexpected tensor `{name}` (shape {found:?}) that this model has no place for{hint}")]
    Unexpected { path: PathBuf, name: String, found: Vec<usize>, hint: String },
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{path}: tensor `{name}` has dtype {dtype}, expected a float tensor (F32, F16 or BF16)")]
    Dtype { path: PathBuf, name: String, dtype: String },
    #[error("{path}: tensor `{name}` contains {what} values")]
    NonFinite { path: PathBuf, name: String, what: &'static str },
    #[error("reading tensor data from the device failed: {0}")]
    Readback(String),
    #[error("{path}: cannot write the checkpoint: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{0}")]
    Tokenizer(#[from] TextError),
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("{what}: no such checkpoint folder or HuggingFace repo id ({reason})")]
    NotFound { what: String, reason: String },
}

/// Failure to tokenize.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{path}: cannot load the tokenizer: {reason}")]
    Load { path: String, reason: String },
    #[error("the input sentence is empty")]
    Empty,
    #[error("tokenizing {text:?} failed: {reason}")]
    Encode { text: String, reason: String },
    #[error("max length {max_len} is out of range: expected 3..={limit} (the model's max_position_embeddings)")]
    MaxLen { max_len: usize, limit: usize },
}

/// Failure of a run. Whatever was saved before it stays valid.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the training loss became {value} at step {step}; stopped. {kept} Try a lower --lr or a larger --warmup-ratio."
    )]
    NonFinite { step: usize, value: f32, kept: String },
    #[error("cannot resume from {path}: {reason}")]
    Resume { path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
}

/// Maps an I/O failure on `path` to a `TrainError` naming it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
