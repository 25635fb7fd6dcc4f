//! Experiments: many runs described once, run, reused and summarised — the layer between the
//! training loops ([`crate::train`]) and the command line, which only parses arguments and
//! prints.
//!
//! - [`data`]: where a task's data and healing text come from, tokenized once per process;
//! - [`runs`]: the [`runs::Runner`], which fine-tunes and heals, reusing finished runs whose
//!   lineage is unchanged and resuming interrupted ones;
//! - [`table`]: the summary table (`compare.json`), one type for the writer and every reader;
//! - [`results`]: what the page shows of published runs and tables, and `index.json`;
//! - [`compare`]: plans × variants × seeds against the full model;
//! - [`sweep`]: which blocks matter, one removal at a time, then best-first;
//! - [`study`]: the paper's table — tasks × plans × routes × seeds, with the answer per task;
//! - [`pretrained`]: the study's pre-trained route, the price of a block in pre-training tokens;
//!   its table type ([`study_table`]) is shared with the page;
//! - [`publish`]: runs and tables copied beside the page, with their `index.json`;
//! - [`analyze`]: CKA between models and linear probes per layer, with their files;
//! - [`bench`]: inference and training throughput per plan, on [`timing`]'s input and loop,
//!   which the page's benchmark shares.

pub mod results;
pub mod study_table;
pub mod table;
pub mod timing;

#[cfg(not(target_arch = "wasm32"))]
pub mod analyze;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod compare;
#[cfg(not(target_arch = "wasm32"))]
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod pretrained;
#[cfg(not(target_arch = "wasm32"))]
pub mod publish;
#[cfg(not(target_arch = "wasm32"))]
pub mod runs;
#[cfg(not(target_arch = "wasm32"))]
pub mod study;
#[cfg(not(target_arch = "wasm32"))]
pub mod sweep;

pub use table::{CompareTable, PlanSummary, Variant};

use crate::error::{CheckpointError, ConfigError, SettingsError, TextError, TrainError};

/// Failure of an experiment: a spec that cannot run, or a run that failed (whatever finished
/// before stays reusable).
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The experiment's description does not hold together (names the option at fault).
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error(transparent)]
    Results(#[from] results::ResultsError),
    #[error(transparent)]
    Readback(#[from] crate::error::ReadbackError),
    #[error(transparent)]
    Precision(#[from] crate::model::precision::PrecisionError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] crate::error::LockError),
    #[error("{path}: cannot draw the chart: {reason}")]
    Chart { path: std::path::PathBuf, reason: String },
    /// A run stopped before its end (Ctrl-C): running the same experiment again continues it.
    #[error("{label}: stopped at step {step}; run the same command again to continue")]
    Stopped { label: String, step: usize },
    /// What was being done when `source` failed.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<ExperimentError>,
    },
}

impl ExperimentError {
    /// This error, with what was being done.
    pub fn context(self, context: impl Into<String>) -> Self {
        ExperimentError::Context { context: context.into(), source: Box::new(self) }
    }
}

/// Maps an I/O failure on `path` to an `ExperimentError` naming it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ExperimentError + '_ {
    move |source| ExperimentError::Io { path: path.to_path_buf(), source }
}
