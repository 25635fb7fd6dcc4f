//! Reading back what runs wrote — the `compare.json` table or a run's `results.json` — as rows
//! the page shows beside its own numbers (shared, so native tests check what `compare` writes).

use serde::{Deserialize, Serialize};

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

/// Parses `compare.json` (`{title, rows: [...]}`) or a single run's `results.json`; `name` only
/// names the file in errors.
pub fn parse_results(name: &str, text: &str) -> Result<NativeResults, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{name}: not JSON ({e})"))?;
    let bad = |what: &str| format!("{name}: {what}; expected the compare.json or results.json that `undivided compare` / `finetune` writes");
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().ok_or_else(|| bad(&format!("field `{k}` missing or not a number")));
    if let Some(rows) = v["rows"].as_array() {
        let rows = rows
            .iter()
            .map(|r| {
                Ok(ResultRow {
                    plan: r["plan"].as_str().ok_or_else(|| bad("a row without `plan`"))?.to_string(),
                    variant: r["variant"].as_str().unwrap_or("deleted").to_string(),
                    metric: r["metric"].as_str().unwrap_or("metric").to_string(),
                    value: num(r, "mean")?,
                    std: r["std"].as_f64().unwrap_or(0.0),
                    seeds: r["values"].as_array().map_or(1, Vec::len),
                    params: num(r, "params")? as usize,
                    train_seconds: num(r, "train_seconds")?,
                    examples_per_second: num(r, "examples_per_second")?,
                    heal_seconds: r["heal_seconds"].as_f64(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if rows.is_empty() {
            return Err(bad("no rows"));
        }
        return Ok(NativeResults { title: v["title"].as_str().unwrap_or(name).to_string(), rows });
    }
    if v.get("best_value").is_some_and(|b| b.is_null()) {
        return Err(bad("the run stopped before its first evaluation (`best_value` is null): resume it or pick a finished run"));
    }
    if v.get("best_value").is_some() {
        let row = ResultRow {
            plan: v["plan"].as_str().ok_or_else(|| bad("no `plan`"))?.to_string(),
            variant: if v["options"]["teacher"].is_string() { "distilled".into() } else { "fine-tuned".into() },
            metric: v["main_metric"].as_str().unwrap_or("metric").to_string(),
            value: num(&v, "best_value")?,
            std: 0.0,
            seeds: 1,
            params: num(&v, "params")? as usize,
            train_seconds: num(&v, "train_seconds")?,
            examples_per_second: num(&v, "examples_per_second")?,
            heal_seconds: None,
        };
        let title = format!("{} — {} steps, seed {}", v["task"].as_str().unwrap_or("task"), v["steps"], v["seed"]);
        return Ok(NativeResults { title, rows: vec![row] });
    }
    Err(bad("neither `rows` nor `best_value` found"))
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
pub fn parse_index(name: &str, text: &str) -> Result<RunIndex, String> {
    serde_json::from_str(text).map_err(|e| format!("{name}: not an index of native runs as `undivided publish` writes it ({e})"))
}
