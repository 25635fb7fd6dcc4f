//! A sweep: which intermediate blocks matter? Removes one layer's block at a time and fine-tunes
//! briefly, then removes blocks cumulatively in best-first order (least harmful single removal
//! first), reporting the task metric and the CKA of every layer to the fine-tuned full model. The
//! answer: how many blocks can go before the metric drops by more than the tolerance.
//!
//! Every fine-tuning is a run folder keyed by its plan, so a cumulative step that equals a single
//! removal is not trained twice, and an interrupted sweep continues where it stopped.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use super::data::DataSpec;
use super::runs::Runner;
use super::table::thousands;
use super::{ExperimentError, io};
use crate::analysis::{CkaKind, Pooling, cka, layer_representations};
use crate::chart::{Series, png};
use crate::checkpoint::Checkpoint;
use crate::data::Prepared;
use crate::model::FfnPlan;
use crate::train::finetune_run::{FinetuneOptions, RunResults};

/// One fine-tuned plan of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepStep {
    /// Layers whose blocks this step removed (on top of those the checkpoint lacks already).
    pub removed: Vec<usize>,
    pub plan: String,
    pub value: f64,
    /// Metric minus the full model's, in the metric's units (0.01 = one point).
    pub delta: f64,
    pub params: usize,
    /// Linear CKA of each hidden state (embeddings, layer 1, ...) to the fine-tuned full model's.
    pub cka_to_full: Vec<f64>,
    pub train_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct SweepReport {
    pub model: String,
    pub task: String,
    pub metric: String,
    pub full: SweepStep,
    /// One block removed at a time, in layer order.
    pub single: Vec<SweepStep>,
    /// Blocks removed cumulatively in best-first order; step k has k blocks removed.
    pub cumulative: Vec<SweepStep>,
    pub order: Vec<usize>,
    pub tolerance_points: f64,
    /// Blocks that can go (in `order`) before the metric drops by more than the tolerance.
    pub removable: Option<usize>,
    pub cka_sentences: usize,
}

/// Best-first order: the removal that costs least first; ties go to the lower layer.
pub fn best_first(single: &[SweepStep]) -> Vec<usize> {
    let mut steps: Vec<&SweepStep> = single.iter().collect();
    steps.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.removed.cmp(&b.removed)));
    steps.iter().map(|s| s.removed[0]).collect()
}

/// How many blocks of the cumulative order can go while every step so far stays within
/// `tolerance` (in metric units) of the full model.
pub fn removable(cumulative: &[SweepStep], tolerance: f64) -> usize {
    cumulative.iter().take_while(|s| s.delta >= -tolerance - 1e-12).count()
}

/// The fine-tuned full model's hidden states, against which every step is compared.
struct Reference {
    rows: Prepared,
    pad_id: u32,
    states: Vec<Tensor<2>>,
}

impl Reference {
    fn cka_to(&self, run_dir: &Path, device: &Device) -> Result<Vec<f64>, ExperimentError> {
        let checkpoint = Checkpoint::open(run_dir)?;
        let (model, _) = checkpoint.load_bert(None, device)?;
        let states = layer_representations(&model, &self.rows, self.pad_id, 64, Pooling::Mean, device);
        self.states.iter().zip(states).map(|(a, b)| Ok(pollster::block_on(cka(a.clone(), b, CkaKind::Linear))?)).collect()
    }
}

/// What to sweep and how each step is fine-tuned.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub data: DataSpec,
    /// The fine-tuning of every step (brief: for example 300 steps).
    pub options: FinetuneOptions,
    /// Also remove blocks cumulatively in best-first order (not only one at a time).
    pub cumulative: bool,
    /// How many metric points below the full model still count as "no loss".
    pub tolerance: f64,
    /// CKA-to-full on at most this many dev sentences (the first ones).
    pub cka_sentences: usize,
    /// One run per plan, and the report's files.
    pub out: PathBuf,
}

/// Runs (or reuses) every fine-tuning of the sweep and returns its report.
pub fn sweep(checkpoint: &Checkpoint, spec: &SweepSpec, runner: &mut Runner<'_>) -> Result<SweepReport, ExperimentError> {
    let full_plan = checkpoint.plan();
    let layers: Vec<usize> = full_plan.kept().collect();
    let bad = |m: String| Err(ExperimentError::Spec(m));
    if layers.is_empty() {
        return bad(format!("{}: no layer has an intermediate block left to remove", checkpoint.source.display()));
    }
    if spec.options.teacher.is_some() || spec.options.train.distill.is_some() {
        return bad("--teacher / --distill-*: a sweep measures plain removal; use finetune --teacher for distillation".into());
    }
    if !(spec.tolerance >= 0.0 && spec.tolerance.is_finite()) {
        return bad("--tolerance: expected points ≥ 0".into());
    }
    spec.options.validate()?;
    let device = runner.device.clone();
    let say = runner.sayer();
    let seed_dir = |plan: &FfnPlan| spec.out.join(format!("plan-{}", plan.file_stem())).join(format!("seed-{}", spec.options.train.seed));
    let mut train = |plan: &FfnPlan, label: &str| -> Result<RunResults, ExperimentError> {
        let r = runner.finetune_or_reuse(checkpoint, plan, &spec.data, &spec.options, &seed_dir(plan), &[], label)?;
        if !r.completed {
            return Err(ExperimentError::Stopped { label: label.to_string(), step: r.steps });
        }
        Ok(r)
    };

    let full = train(&full_plan, &format!("`{full_plan}` (full)"))?;
    let reference = {
        let (_, dev_sets, _) = spec.data.load()?;
        let (_, mut dev) = dev_sets.into_iter().next().ok_or_else(|| ExperimentError::Spec("no dev set".into()))?;
        dev.examples.truncate(spec.cka_sentences.max(1));
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(spec.options.train.max_len, checkpoint.config.max_position_embeddings)?;
        let rows = Prepared::new(&tokenizer, &dev)?;
        let (model, _) = Checkpoint::open(seed_dir(&full_plan))?.load_bert(None, &device)?;
        let states = layer_representations(&model, &rows, tokenizer.pad_id(), 64, Pooling::Mean, &device);
        Reference { rows, pad_id: tokenizer.pad_id(), states }
    };
    // `train` only returns finished runs, and a finished run has evaluated.
    let best = |r: &RunResults| r.best_value.ok_or_else(|| ExperimentError::Spec(format!("plan `{}`: finished without a dev evaluation", r.plan)));
    let full_value = best(&full)?;
    let step = |removed: Vec<usize>, r: &RunResults, plan: &FfnPlan| -> Result<SweepStep, ExperimentError> {
        let value = best(r)?;
        Ok(SweepStep {
            removed,
            plan: plan.to_string(),
            value,
            delta: value - full_value,
            params: r.params,
            cka_to_full: reference.cka_to(&seed_dir(plan), &device)?,
            train_seconds: r.train_seconds,
        })
    };
    let full_step = step(Vec::new(), &full, &full_plan)?;
    let mut single = Vec::new();
    for &layer in &layers {
        let plan = full_plan.without(&[layer]);
        let r = train(&plan, &format!("without layer {layer}'s block (`{plan}`)"))?;
        let s = step(vec![layer], &r, &plan)?;
        say(&format!(
            "without layer {layer}'s block: {} {:.4} ({:+.2} points), last-layer CKA to full {:.3}",
            full.main_metric,
            s.value,
            100.0 * s.delta,
            s.cka_to_full.last().unwrap_or(&f64::NAN)
        ));
        single.push(s);
    }
    let order = best_first(&single);
    let mut cumulative = Vec::new();
    if spec.cumulative {
        for k in 1..=order.len() {
            let removed = order[..k].to_vec();
            let plan = full_plan.without(&removed);
            let r = train(&plan, &format!("{k} block(s) removed (`{plan}`)"))?;
            let s = step(removed, &r, &plan)?;
            say(&format!("{k} block(s) removed (`{plan}`): {} {:.4} ({:+.2} points)", full.main_metric, s.value, 100.0 * s.delta));
            cumulative.push(s);
        }
    }
    let tolerance = spec.tolerance / 100.0;
    Ok(SweepReport {
        model: checkpoint.name(),
        task: spec.data.task.to_string(),
        metric: full.main_metric.clone(),
        full: full_step,
        removable: spec.cumulative.then(|| removable(&cumulative, tolerance)),
        single,
        cumulative,
        order,
        tolerance_points: spec.tolerance,
        cka_sentences: reference.rows.len(),
    })
}

/// Writes `sweep.md`, `sweep.json` and the charts into `out`.
pub fn write_report(report: &SweepReport, options: &FinetuneOptions, out: &Path) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    crate::checkpoint::write_atomic(&out.join("sweep.md"), markdown(report, options).as_bytes())?;
    crate::checkpoint::write_atomic(&out.join("sweep.json"), serde_json::to_string_pretty(report).expect("a report serialises").as_bytes())?;
    charts(report, out).map_err(|e| ExperimentError::Chart { path: out.to_path_buf(), reason: e.to_string() })
}

pub fn markdown(report: &SweepReport, options: &FinetuneOptions) -> String {
    let train = &options.train;
    let length = options.max_steps.map(|s| format!("{s} steps")).unwrap_or_else(|| format!("{} epoch(s)", options.epochs));
    let pct = |v: f64| format!("{:.2}", 100.0 * v);
    let row = |label: String, s: &SweepStep| {
        format!(
            "| {label} | `{}` | {} | {:+.2} | {} | {:.3} | {:.3} |\n",
            s.plan,
            pct(s.value),
            100.0 * s.delta,
            thousands(s.params),
            s.cka_to_full.last().copied().unwrap_or(f64::NAN),
            mean(&s.cka_to_full[1..]),
        )
    };
    let header = format!(
        "| removed | plan | {} | Δ vs full (points) | parameters | CKA to full, last layer | CKA to full, mean over layers |\n|---|---|---|---|---|---|---|\n",
        report.metric
    );
    let mut md = format!(
        "## Intermediate-block importance: {} on {} — {length}, batch {}, lr {}, seed {}\n\nFull model (`{}`): {} {}.\n\n### One block removed at a time\n\n{header}",
        report.model,
        report.task,
        train.batch_size,
        train.lr,
        train.seed,
        report.full.plan,
        report.metric,
        pct(report.full.value)
    );
    for s in &report.single {
        md.push_str(&row(format!("layer {}", s.removed[0]), s));
    }
    if !report.cumulative.is_empty() {
        md.push_str(&format!("\n### Removed cumulatively, least harmful first (order {:?})\n\n{header}", report.order));
        for s in &report.cumulative {
            md.push_str(&row(format!("{} ({:?})", s.removed.len(), s.removed), s));
        }
        if let Some(k) = report.removable {
            md.push_str(&format!(
                "\n**{k} of {} intermediate blocks can be removed (in this order) before {} drops by more than {} point(s).**\n",
                report.order.len(),
                report.metric,
                report.tolerance_points
            ));
        }
    }
    md
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// `sweep-single.png`, `sweep-cumulative.png` and `sweep-cka.png` in `out`.
pub fn charts(report: &SweepReport, out: &Path) -> Result<(), crate::chart::ChartError> {
    let labels: Vec<String> = report.single.iter().map(|s| format!("no L{}", s.removed[0])).collect();
    let values: Vec<f64> = report.single.iter().map(|s| 100.0 * s.value).collect();
    png::bars(
        &out.join("sweep-single.png"),
        &format!("{} on {}: one intermediate block removed", report.model, report.task),
        &format!("{} (%)", report.metric),
        &labels,
        &values,
        Some(("full model", 100.0 * report.full.value)),
    )?;
    if !report.cumulative.is_empty() {
        let points =
            std::iter::once((0.0, 100.0 * report.full.value)).chain(report.cumulative.iter().map(|s| (s.removed.len() as f64, 100.0 * s.value))).collect();
        let n = report.cumulative.len() as f64;
        let threshold = 100.0 * report.full.value - report.tolerance_points;
        png::lines(
            &out.join("sweep-cumulative.png"),
            &format!("{} on {}: blocks removed best-first", report.model, report.task),
            "intermediate blocks removed",
            &format!("{} (%)", report.metric),
            &[
                Series { name: report.metric.clone(), points },
                Series { name: format!("full − {} point(s)", report.tolerance_points), points: vec![(0.0, threshold), (n, threshold)] },
            ],
        )?;
    }
    let series: Vec<Series> = report
        .single
        .iter()
        .map(|s| Series { name: format!("without L{}", s.removed[0]), points: s.cka_to_full.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect() })
        .collect();
    png::lines(&out.join("sweep-cka.png"), "CKA of each hidden state to the fine-tuned full model", "hidden state (0 = embeddings)", "linear CKA", &series)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(removed: Vec<usize>, value: f64) -> SweepStep {
        SweepStep { removed, plan: String::new(), value, delta: value - 0.90, params: 0, cka_to_full: vec![], train_seconds: 0.0 }
    }

    #[test]
    fn best_first_puts_the_cheapest_removal_first_and_breaks_ties_by_layer() {
        let single = vec![s(vec![0], 0.80), s(vec![1], 0.89), s(vec![2], 0.89), s(vec![3], 0.85)];
        assert_eq!(best_first(&single), vec![1, 2, 3, 0]);
    }

    #[test]
    fn removable_stops_at_the_first_step_beyond_the_tolerance() {
        let steps = vec![s(vec![1], 0.895), s(vec![1, 2], 0.89), s(vec![1, 2, 3], 0.885), s(vec![1, 2, 3, 0], 0.891)];
        // One point = 0.01: 0.885 is 1.5 points below 0.90, so two blocks can go, not four.
        assert_eq!(removable(&steps, 0.01), 2);
        assert_eq!(removable(&steps, 0.02), 4);
        assert_eq!(removable(&[], 0.01), 0);
    }
}
