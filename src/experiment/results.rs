//! Reading back what runs wrote — the `compare.json` table or a run's `results.json` — as rows
//! the page shows beside its own numbers (shared, so native tests check what `compare` writes).

use serde::{Deserialize, Serialize};

use super::table::CompareTable;

/// One row of native results: a plan (and how it was prepared), its metric and costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub plan: String,
    pub variant: String,
    pub metric: String,
    /// Mean over seeds.
    pub value: f64,
    pub std: f64,
    pub seeds: usize,
    pub params: usize,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    pub heal_seconds: Option<f64>,
}

/// A results file as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeResults {
    pub title: String,
    pub rows: Vec<ResultRow>,
}

/// A results file the page cannot show, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultsError {
    #[error("{name}: not JSON ({reason})")]
    NotJson { name: String, reason: String },
    #[error("{name}: {what}; expected the compare.json or results.json that `undivided compare` / `finetune` writes")]
    Shape { name: String, what: String },
    #[error("{name}: the run stopped before its first evaluation (`best_value` is null): resume it or pick a finished run")]
    Unfinished { name: String },
    #[error("{name}: not an index of native runs as `undivided publish` writes it ({reason})")]
    Index { name: String, reason: String },
    #[error("{name}: {what}; expected the study.json that `undivided study` writes")]
    Study { name: String, what: String },
    #[error(
        "{name}, line {line}: {reason}; expected the JSON lines `scripts/glue_pytorch.py --json` writes, {{\"task\", \"seed\", \"metric\", \"best\", \"final\", \"train_seconds\"}}"
    )]
    Reference { name: String, line: usize, reason: String },
    #[error("{name}: not a findings index like docs/results/index.json, {{\"studies\": [{{\"path\": ..., \"note\": ...}}]}} ({reason})")]
    Findings { name: String, reason: String },
}

/// What the page reads of a run's `results.json` (the whole type, `RunResults`, is native).
#[derive(Debug, Clone, Deserialize)]
struct RunSummary {
    task: String,
    plan: String,
    main_metric: String,
    best_value: Option<f64>,
    params: usize,
    train_seconds: f64,
    examples_per_second: f64,
    steps: usize,
    seed: u64,
    #[serde(default)]
    options: RunSummaryOptions,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RunSummaryOptions {
    #[serde(default)]
    teacher: Option<String>,
}

/// Parses `compare.json` ([`CompareTable`]) or a single run's `results.json`; `name` only names
/// the file in errors.
pub fn parse_results(name: &str, text: &str) -> Result<NativeResults, ResultsError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ResultsError::NotJson { name: name.into(), reason: e.to_string() })?;
    let shape = |what: String| ResultsError::Shape { name: name.into(), what };
    if value.get("rows").is_some() {
        let table: CompareTable = serde_json::from_value(value).map_err(|e| shape(format!("a table row does not read ({e})")))?;
        if table.rows.is_empty() {
            return Err(shape("no rows".into()));
        }
        let rows = table
            .rows
            .into_iter()
            .map(|r| ResultRow {
                seeds: r.values.len().max(1),
                plan: r.plan,
                variant: serde_json::to_value(r.variant).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                metric: r.metric,
                value: r.mean,
                std: r.std,
                params: r.params,
                train_seconds: r.train_seconds,
                examples_per_second: r.examples_per_second,
                heal_seconds: r.heal_seconds,
            })
            .collect();
        return Ok(NativeResults { title: table.title, rows });
    }
    if value.get("best_value").is_none() {
        return Err(shape("neither `rows` nor `best_value` found".into()));
    }
    let run: RunSummary = serde_json::from_value(value).map_err(|e| shape(format!("a run's results do not read ({e})")))?;
    let Some(best) = run.best_value else { return Err(ResultsError::Unfinished { name: name.into() }) };
    let row = ResultRow {
        plan: run.plan,
        variant: if run.options.teacher.is_some() { "distilled".into() } else { "fine-tuned".into() },
        metric: run.main_metric,
        value: best,
        std: 0.0,
        seeds: 1,
        params: run.params,
        train_seconds: run.train_seconds,
        examples_per_second: run.examples_per_second,
        heal_seconds: None,
    };
    Ok(NativeResults { title: format!("{} — {} steps, seed {}", run.task, run.steps, run.seed), rows: vec![row] })
}

/// `index.json` of published native runs (`undivided publish`): the checkpoints and result
/// tables served beside the page, with paths relative to the index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunIndex {
    pub checkpoints: Vec<IndexedCheckpoint>,
    pub results: Vec<IndexedResults>,
}

/// A checkpoint folder the page can load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedCheckpoint {
    /// Folder, relative to `index.json`.
    pub path: String,
    /// `fine-tuned`, `healed` or `model`.
    pub kind: String,
    pub plan: String,
    pub params: usize,
    pub task: Option<String>,
    pub metric: Option<String>,
    pub value: Option<f64>,
    /// Class names of a fine-tuned classifier.
    pub labels: Vec<String>,
}

/// A `compare.json` or `results.json` the page can show in its native results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedResults {
    /// File, relative to `index.json`.
    pub path: String,
    pub title: String,
}

/// Parses an `index.json`; `name` only names the file in errors.
pub fn parse_index(name: &str, text: &str) -> Result<RunIndex, ResultsError> {
    serde_json::from_str(text).map_err(|e| ResultsError::Index { name: name.into(), reason: e.to_string() })
}

/// `docs/results/index.json`, served beside the page as `results/index.json`: the studies this
/// project ran and committed, the first one shown when the page opens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsIndex {
    pub studies: Vec<IndexedStudy>,
}

/// One committed study: its `study.json`, and what a visitor should know before reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedStudy {
    /// `study.json`, relative to `index.json` (a plain relative path: no `..`, no scheme).
    pub path: String,
    /// One sentence on how far the study got (seeds, routes, tasks still to run).
    pub note: String,
}

/// Parses the findings index; `name` only names the file in errors.
pub fn parse_findings_index(name: &str, text: &str) -> Result<FindingsIndex, ResultsError> {
    let index: FindingsIndex = serde_json::from_str(text).map_err(|e| ResultsError::Findings { name: name.into(), reason: e.to_string() })?;
    for s in &index.studies {
        let p = &s.path;
        if p.is_empty() || p.starts_with('/') || p.contains("..") || p.contains(':') || !p.ends_with(".json") {
            return Err(ResultsError::Findings {
                name: name.into(),
                reason: format!("study path {p:?}: expected a relative path to a .json file beside the index"),
            });
        }
    }
    Ok(index)
}
