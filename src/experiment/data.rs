//! The data of an experiment, read and tokenized once per process: a study or comparison trains
//! many runs on the same task with the same tokenizer and length, and each would otherwise read
//! and tokenize the same files again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ExperimentError;
use crate::checkpoint::Checkpoint;
use crate::data::text::read_texts;
use crate::data::{self, Dataset, Prepared, Task, split_held_out};

/// Where a task's labelled data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataSpec {
    pub task: Task,
    /// Folder with the task's `train.tsv` / `dev.tsv` (or a `glue_data` folder holding the
    /// task's folder); `None`: the built-in SST-2 sample.
    pub dir: Option<PathBuf>,
    /// Skip malformed rows (counted and reported) instead of stopping at the first one.
    pub skip_bad_rows: bool,
}

/// A task's training set, its named dev set(s) (MNLI has two) and a warning line for each set
/// that skipped rows.
pub type LoadedTask = (Dataset, Vec<(String, Dataset)>, Vec<String>);

impl DataSpec {
    /// The training set and the dev set(s), with a warning line for each set that skipped rows.
    pub fn load(&self) -> Result<LoadedTask, ExperimentError> {
        let Some(dir) = &self.dir else {
            if self.task != Task::Sst2 {
                return Err(ExperimentError::Spec(format!("--data is required for {} (only SST-2 has a built-in sample)", self.task)));
            }
            return Ok((data::sample("train"), vec![("sample-dev".into(), data::sample("dev"))], Vec::new()));
        };
        let train = data::glue::read_split(self.task, dir, "train.tsv", self.skip_bad_rows)?;
        let dev = self
            .task
            .dev_files()
            .iter()
            .map(|f| Ok((f.trim_end_matches(".tsv").to_string(), data::glue::read_split(self.task, dir, f, self.skip_bad_rows)?)))
            .collect::<Result<Vec<_>, ExperimentError>>()?;
        let warnings = std::iter::once(&train)
            .chain(dev.iter().map(|(_, d)| d))
            .filter_map(|set| set.skipped.first().map(|first| format!("skipped {} malformed rows (first: {first})", set.skipped.len())))
            .collect();
        Ok((train, dev, warnings))
    }
}

/// Unlabelled sentences to heal on: a text file (one per line), a GLUE `.tsv` file or a GLUE
/// task folder (its `train.tsv`; labels ignored).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TextSpec {
    pub path: PathBuf,
    /// The GLUE layout when the folder name does not say.
    pub task: Option<Task>,
}

/// A task's training rows and dev sets, tokenized.
pub struct TaskData {
    pub train: Prepared,
    pub dev: Vec<(String, Prepared)>,
}

/// Healing sentences, tokenized: training rows and the held-out 2% (at most 512).
pub struct TextData {
    pub train: Prepared,
    pub held_out: Prepared,
}

/// Tokenized data by what it was read from, the tokenizer and the length: each is read once.
#[derive(Default)]
pub struct DataCache {
    tasks: HashMap<(DataSpec, usize, u64), Arc<TaskData>>,
    texts: HashMap<(TextSpec, usize, u64), Arc<TextData>>,
    /// Lines to show the user (skipped rows), taken by [`DataCache::take_warnings`].
    warnings: Vec<String>,
}

/// Identifies a checkpoint's tokenizer by its files' bytes.
fn tokenizer_key(checkpoint: &Checkpoint) -> u64 {
    let mut h = DefaultHasher::new();
    checkpoint.tokenizer_files.hash(&mut h);
    h.finish()
}

impl DataCache {
    /// The task's data tokenized by `checkpoint`'s tokenizer at `max_len` tokens.
    pub fn task(&mut self, spec: &DataSpec, checkpoint: &Checkpoint, max_len: usize) -> Result<Arc<TaskData>, ExperimentError> {
        let key = (spec.clone(), max_len, tokenizer_key(checkpoint));
        if let Some(data) = self.tasks.get(&key) {
            return Ok(data.clone());
        }
        let (train, dev, warnings) = spec.load()?;
        self.warnings.extend(warnings);
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(max_len, checkpoint.config.max_position_embeddings)?;
        let data = Arc::new(TaskData {
            train: Prepared::new(&tokenizer, &train)?,
            dev: dev.iter().map(|(n, d)| Ok((n.clone(), Prepared::new(&tokenizer, d)?))).collect::<Result<_, ExperimentError>>()?,
        });
        self.tasks.insert(key, data.clone());
        Ok(data)
    }

    /// The healing sentences tokenized by `checkpoint`'s tokenizer at `max_len` tokens.
    pub fn texts(&mut self, spec: &TextSpec, checkpoint: &Checkpoint, max_len: usize) -> Result<Arc<TextData>, ExperimentError> {
        let key = (spec.clone(), max_len, tokenizer_key(checkpoint));
        if let Some(data) = self.texts.get(&key) {
            return Ok(data.clone());
        }
        let set = read_texts(&spec.path, spec.task, false)?;
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(max_len, checkpoint.config.max_position_embeddings)?;
        let all = Prepared::new(&tokenizer, &set).map_err(|e| ExperimentError::Spec(format!("tokenizing {}: {e}", spec.path.display())))?;
        let (train, held_out) = split_held_out(&all, 512);
        let data = Arc::new(TextData { train, held_out });
        self.texts.insert(key, data.clone());
        Ok(data)
    }

    /// Warnings gathered while reading (skipped rows), once each.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
