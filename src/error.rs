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
    #[error("{path}: not a fine-tuned classifier (config.json has no id2label); fine-tune it first")]
    NotClassifier { path: PathBuf },
    /// Masked-LM training was asked of a checkpoint without BERT's pre-training head.
    #[error(
        "{path}: no masked-LM head (missing {missing}); this checkpoint cannot train with --mlm-weight > 0 — it was saved without BERT's pre-training head (as sentence-embedding models such as all-MiniLM-L6-v2 are); pre-train it by distillation alone (--mlm-weight 0)"
    )]
    NoMlmHead { path: PathBuf, missing: String },
    /// The files of one checkpoint disagree (a tokenizer from another model, ...).
    #[error("{path}: {reason}")]
    Inconsistent { path: PathBuf, reason: String },
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
    #[error("this model reads single sentences only (its config.json has type_vocab_size {type_vocab_size}), not a sentence pair")]
    NoPairs { type_vocab_size: usize },
}

/// A training or healing setting outside its range, named as the command line names it (the page
/// labels its fields the same way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: expected {expected}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub expected: &'static str,
}

impl SettingsError {
    /// `Ok` when `ok`, else the error for `setting`.
    pub fn check(ok: bool, setting: &'static str, expected: &'static str) -> Result<(), SettingsError> {
        if ok { Ok(()) } else { Err(SettingsError { setting, expected }) }
    }
}

/// Reading a tensor back from the device failed (a lost GPU, a failed mapping).
#[derive(Debug, Clone, thiserror::Error)]
#[error("reading {what} from the device failed: {reason}")]
pub struct ReadbackError {
    pub what: &'static str,
    pub reason: String,
}

impl ReadbackError {
    /// Maps a burn read failure (or a conversion of what was read) to a `ReadbackError`.
    pub fn of<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> ReadbackError {
        move |e| ReadbackError { what, reason: format!("{e:?}") }
    }
}

/// Failure of an analysis: CKA between representations, linear probes.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error("CKA needs at least {min} examples, got {n}")]
    TooFewExamples { min: usize, n: usize },
    #[error("CKA compares the same examples with one estimator: {a} vs {b} examples")]
    Mismatch { a: usize, b: usize },
    #[error("a probe needs training and dev examples")]
    NoExamples,
    #[error("linear probes are for classification tasks; {task} is a regression task")]
    Regression { task: String },
}

/// A run folder is being written by another run (its `OUT/.lock` is held: `RunLock`, in checkpoint/lock.rs),
/// or its lock cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{dir}: another run is writing this folder — {holder}; wait for it to finish, or choose another folder")]
    Busy { dir: PathBuf, holder: String },
    #[error("{path}: cannot take the run folder's lock: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    #[error("the training loss became {value} at step {step}; stopped. {kept} Try a lower --lr or a larger --warmup-ratio.")]
    NonFinite { step: usize, value: f32, kept: String },
    #[error("cannot resume from {path}: {reason}")]
    Resume { path: PathBuf, reason: String },
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Config(String),
    /// Another run is writing the folder (or its lock cannot be taken).
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Maps an I/O failure on `path` to a `TrainError` naming it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
