//! What can go wrong in the page, as one type: every message names the address, file or setting
//! at fault and what was expected; the page shows it as it is.

use crate::error::{AnalysisError, CheckpointError, ReadbackError, SettingsError, TextError, TrainError};

/// Failure of something the page asked for.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A download failed (network, CORS, an HTTP error), or the browser lacks what it needs.
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url}: not found (HTTP 404); is this a checkpoint folder?")]
    NotFound { url: String },
    #[error("{base}: neither tokenizer.json nor vocab.txt found")]
    NoTokenizer { base: String },
    /// The browser's own APIs (window, Cache API) failed.
    #[error("{0}")]
    Browser(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// The shared training loop's own errors (the batch source; [`crate::train::cursor`]).
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("the {what} loss became {value} at step {step}; try a lower learning rate")]
    NonFinite { what: &'static str, value: f32, step: usize },
    /// A request the current state cannot serve (says what to do instead).
    #[error("{0}")]
    Refused(String),
}
