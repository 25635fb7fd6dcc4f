//! Why removal works, as experiments: the layer-by-layer CKA between two models (or two plans of
//! one) on the same sentences, and linear probes of every layer for several plans, each with its
//! JSON and PNG files.

use std::path::Path;

use serde::Serialize;
use web_time::Instant;

use super::{ExperimentError, io};
use crate::analysis::{CkaKind, Pooling, ProbeConfig, cka_matrix, layer_representations, probe_layers};
use crate::chart::{Series, png};
use crate::checkpoint::Checkpoint;
use crate::data::{Dataset, Prepared};
use crate::model::FfnPlan;

/// One side of a CKA comparison: a checkpoint with a plan.
pub struct Side<'a> {
    pub checkpoint: &'a Checkpoint,
    pub plan: FfnPlan,
}

impl Side<'_> {
    /// `name `plan``, as tables and charts label it.
    pub fn label(&self) -> String {
        format!("{} `{}`", self.checkpoint.name(), self.plan)
    }
}

/// The CKA matrix of two models on the same sentences, and what it took.
#[derive(Debug, Clone, Serialize)]
pub struct CkaReport {
    pub a: String,
    pub b: String,
    pub kind: CkaKind,
    pub pooling: Pooling,
    pub sentences: usize,
    /// `[hidden state of a][hidden state of b]`, the embeddings output first.
    pub matrix: Vec<Vec<f64>>,
    pub diagonal: Vec<f64>,
    pub encode_seconds: f64,
    pub cka_seconds: f64,
}

/// CKA between every hidden state of `a` and of `b` on `sentences` (tokenized by `a`'s tokenizer
/// at `max_len`); both must share a vocabulary.
pub fn cka(
    a: &Side<'_>,
    b: &Side<'_>,
    sentences: &Dataset,
    max_len: usize,
    pooling: Pooling,
    kind: CkaKind,
    device: &burn::tensor::Device,
) -> Result<CkaReport, ExperimentError> {
    let (ca, cb) = (a.checkpoint, b.checkpoint);
    if ca.config.vocab_size != cb.config.vocab_size {
        return Err(ExperimentError::Spec(format!(
            "{} and {} have different vocabularies ({} vs {} tokens): CKA needs the same sentences tokenized the same way",
            ca.source.display(),
            cb.source.display(),
            ca.config.vocab_size,
            cb.config.vocab_size
        )));
    }
    let mut tokenizer = ca.tokenizer.clone();
    tokenizer.set_max_len(max_len, ca.config.max_position_embeddings.min(cb.config.max_position_embeddings))?;
    let rows = Prepared::new(&tokenizer, sentences)?;
    let started = Instant::now();
    let (model_a, _) = ca.load_bert(Some(&a.plan), device)?;
    let reps_a = layer_representations(&model_a, &rows, tokenizer.pad_id(), 64, pooling, device);
    drop(model_a);
    let (model_b, _) = cb.load_bert(Some(&b.plan), device)?;
    let reps_b = layer_representations(&model_b, &rows, tokenizer.pad_id(), 64, pooling, device);
    let encode_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let matrix = pollster::block_on(cka_matrix(reps_a, reps_b, kind))?;
    let cka_seconds = started.elapsed().as_secs_f64();
    let cols = matrix.first().map_or(0, Vec::len);
    let diagonal = (0..matrix.len().min(cols)).map(|i| matrix[i][i]).collect();
    Ok(CkaReport { a: a.label(), b: b.label(), kind, pooling, sentences: rows.len(), matrix, diagonal, encode_seconds, cka_seconds })
}

/// Writes `report` as JSON to `out` and its heat map beside it (same name, `.png`).
pub fn write_cka(report: &CkaReport, out: &Path) -> Result<(), ExperimentError> {
    crate::checkpoint::write_atomic(out, serde_json::to_string_pretty(report).expect("a report serialises").as_bytes())?;
    let chart = out.with_extension("png");
    let title = format!("{:?} CKA, {} sentences", report.kind, report.sentences);
    png::heatmap(&chart, &title, &report.a, &report.b, &report.matrix).map_err(|e| ExperimentError::Chart { path: chart.clone(), reason: e.to_string() })
}

/// Probe accuracies per layer for several plans of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub model: String,
    pub task: String,
    pub pooling: Pooling,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub probe: ProbeConfig,
    pub plans: Vec<PlanProbes>,
}

/// One plan's probe accuracy per hidden state (embeddings output first).
#[derive(Debug, Clone, Serialize)]
pub struct PlanProbes {
    pub plan: String,
    pub accuracy: Vec<f64>,
    #[serde(skip)]
    pub seconds: f64,
}

/// A linear probe per layer of `checkpoint` with each of `plans`, trained on `train`, scored on
/// `dev` (tokenized at `max_len`).
#[allow(clippy::too_many_arguments)]
pub fn probes(
    checkpoint: &Checkpoint,
    plans: &[FfnPlan],
    train: &Dataset,
    dev: &Dataset,
    max_len: usize,
    pooling: Pooling,
    config: &ProbeConfig,
    device: &burn::tensor::Device,
) -> Result<ProbeReport, ExperimentError> {
    let mut tokenizer = checkpoint.tokenizer.clone();
    tokenizer.set_max_len(max_len, checkpoint.config.max_position_embeddings)?;
    let (train_rows, dev_rows) = (Prepared::new(&tokenizer, train)?, Prepared::new(&tokenizer, dev)?);
    let mut out = Vec::new();
    for plan in plans {
        let started = Instant::now();
        let (model, _) = checkpoint.load_bert(Some(plan), device)?;
        let accuracy = pollster::block_on(probe_layers(&model, &train_rows, &dev_rows, tokenizer.pad_id(), pooling, config, device))?;
        out.push(PlanProbes { plan: plan.to_string(), accuracy, seconds: started.elapsed().as_secs_f64() });
    }
    Ok(ProbeReport {
        model: checkpoint.name(),
        task: train.task.to_string(),
        pooling,
        train_examples: train_rows.len(),
        dev_examples: dev_rows.len(),
        probe: config.clone(),
        plans: out,
    })
}

/// Writes `report` as JSON to `out` and its line chart beside it (same name, `.png`).
pub fn write_probes(report: &ProbeReport, out: &Path) -> Result<(), ExperimentError> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    crate::checkpoint::write_atomic(out, serde_json::to_string_pretty(report).expect("a report serialises").as_bytes())?;
    let chart = out.with_extension("png");
    let series: Vec<Series> = report
        .plans
        .iter()
        .map(|p| Series { name: format!("`{}`", p.plan), points: p.accuracy.iter().enumerate().map(|(i, &v)| (i as f64, 100.0 * v)).collect() })
        .collect();
    let title = format!("Linear probes of {} on {} (dev)", report.model, report.task);
    png::lines(&chart, &title, "hidden state (0 = embeddings)", "probe accuracy (%)", &series)
        .map_err(|e| ExperimentError::Chart { path: chart.clone(), reason: e.to_string() })
}
