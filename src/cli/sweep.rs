//! `undivided sweep`: which intermediate blocks matter? Removes one layer's block at a time and
//! fine-tunes briefly, then removes blocks cumulatively in best-first order (least harmful single
//! removal first), reporting the task metric and the CKA of every layer to the fine-tuned full
//! model. The answer it prints: how many blocks can go before the metric drops by more than
//! `--tolerance` points.
//!
//! Every fine-tuning run is a `compare`-style run folder keyed by its plan, so a cumulative step
//! that equals a single removal is not trained twice, and an interrupted sweep continues where it
//! stopped when run again with the same arguments.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Device, Tensor};
use clap::Args;
use serde::Serialize;

use super::compare::run_or_reuse;
use super::finetune::{DataArgs, TrainArgs, install_stop_handler};
use super::DeviceArgs;
use crate::analysis::{CkaKind, Pooling, cka, layer_representations};
use crate::chart::{Series, png};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::model::FfnPlan;
use crate::train::Prepared;
use crate::train::finetune::RunResults;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id (its own plan is the starting point).
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Fine-tuning of every step (brief: for example `--steps 300`).
    #[command(flatten)]
    pub train: TrainArgs,
    /// Only the single removals, not the cumulative best-first order.
    #[arg(long)]
    pub no_cumulative: bool,
    /// How many metric points below the full model still count as "no loss".
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f64,
    /// CKA-to-full on at most this many dev sentences (the first ones).
    #[arg(long, default_value_t = 1000)]
    pub cka_sentences: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one run per plan, sweep.md, sweep.json and PNG charts.
    #[arg(long)]
    pub out: PathBuf,
}

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
    fn cka_to(&self, run_dir: &Path, device: &Device) -> anyhow::Result<Vec<f64>> {
        let checkpoint = Checkpoint::open(run_dir)?;
        let (model, _) = checkpoint.load_bert(None, device)?;
        let states = layer_representations(&model, &self.rows, self.pad_id, 64, Pooling::Mean, device);
        self.states
            .iter()
            .zip(states)
            .map(|(a, b)| pollster::block_on(cka(a.clone(), b, CkaKind::Linear)).map_err(anyhow::Error::msg))
            .collect()
    }
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let full_plan = checkpoint.plan();
    let layers: Vec<usize> = full_plan.kept().collect();
    anyhow::ensure!(!layers.is_empty(), "{}: no layer has an intermediate block left to remove", checkpoint.source.display());
    anyhow::ensure!(
        args.train.teacher.is_none() && !args.train.layer_to_layer(),
        "--teacher / --distill-*: a sweep measures plain removal; use finetune --teacher for distillation"
    );
    anyhow::ensure!(args.tolerance >= 0.0 && args.tolerance.is_finite(), "--tolerance: expected points ≥ 0");
    let device = args.device.init()?;
    install_stop_handler();
    let run_dir = |plan: &FfnPlan| args.out.join(format!("plan-{}", plan.file_stem()));
    let seed_dir = |plan: &FfnPlan| run_dir(plan).join(format!("seed-{}", args.train.seed));
    let train = |plan: &FfnPlan, label: &str| -> anyhow::Result<RunResults> {
        let r = run_or_reuse(&checkpoint, plan, &args.data, &args.train, &device, &seed_dir(plan), &[], label)?;
        anyhow::ensure!(r.completed, "{label}: stopped at step {}; run the same sweep again to continue", r.steps);
        Ok(r)
    };

    let full = train(&full_plan, &format!("`{full_plan}` (full)"))?;
    let reference = {
        let (_, dev_sets) = args.data.load()?;
        let (_, mut dev) = dev_sets.into_iter().next().context("no dev set")?;
        dev.examples.truncate(args.cka_sentences.max(1));
        let mut tokenizer = checkpoint.tokenizer.clone();
        tokenizer.set_max_len(args.train.max_len, checkpoint.config.max_position_embeddings)?;
        let rows = Prepared::new(&tokenizer, &dev)?;
        let (model, _) = Checkpoint::open(seed_dir(&full_plan))?.load_bert(None, &device)?;
        let states = layer_representations(&model, &rows, tokenizer.pad_id(), 64, Pooling::Mean, &device);
        Reference { rows, pad_id: tokenizer.pad_id(), states }
    };
    // `train` only returns finished runs, and a finished run has evaluated.
    let best = |r: &RunResults| r.best_value.with_context(|| format!("plan `{}`: finished without a dev evaluation", r.plan));
    let full_value = best(&full)?;
    let step = |removed: Vec<usize>, r: &RunResults, plan: &FfnPlan| -> anyhow::Result<SweepStep> {
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
        println!("without layer {layer}'s block: {} {:.4} ({:+.2} points), last-layer CKA to full {:.3}", full.main_metric, s.value, 100.0 * s.delta, s.cka_to_full.last().unwrap_or(&f64::NAN));
        single.push(s);
    }
    let order = best_first(&single);
    let mut cumulative = Vec::new();
    if !args.no_cumulative {
        for k in 1..=order.len() {
            let removed = order[..k].to_vec();
            let plan = full_plan.without(&removed);
            let r = train(&plan, &format!("{k} block(s) removed (`{plan}`)"))?;
            let s = step(removed, &r, &plan)?;
            println!("{k} block(s) removed (`{plan}`): {} {:.4} ({:+.2} points)", full.main_metric, s.value, 100.0 * s.delta);
            cumulative.push(s);
        }
    }
    let tolerance = args.tolerance / 100.0;
    let report = SweepReport {
        model: checkpoint.name(),
        task: args.data.task.to_string(),
        metric: full.main_metric.clone(),
        full: full_step,
        removable: (!args.no_cumulative).then(|| removable(&cumulative, tolerance)),
        single,
        cumulative,
        order,
        tolerance_points: args.tolerance,
        cka_sentences: reference.rows.len(),
    };
    let md = markdown(&report, &args.train);
    std::fs::create_dir_all(&args.out)?;
    crate::checkpoint::write_atomic(&args.out.join("sweep.md"), md.as_bytes())?;
    crate::checkpoint::write_atomic(&args.out.join("sweep.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("{md}");
    charts(&report, &args.out)?;
    println!("sweep.md, sweep.json and charts (sweep-single.png, sweep-cumulative.png, sweep-cka.png) in {}", args.out.display());
    Ok(())
}

fn markdown(report: &SweepReport, train: &TrainArgs) -> String {
    let length = train.steps.map(|s| format!("{s} steps")).unwrap_or_else(|| format!("{} epoch(s)", train.epochs));
    let pct = |v: f64| format!("{:.2}", 100.0 * v);
    let row = |label: String, s: &SweepStep| {
        format!(
            "| {label} | `{}` | {} | {:+.2} | {} | {:.3} | {:.3} |\n",
            s.plan,
            pct(s.value),
            100.0 * s.delta,
            super::thousands(s.params),
            s.cka_to_full.last().copied().unwrap_or(f64::NAN),
            mean(&s.cka_to_full[1..]),
        )
    };
    let header = format!("| removed | plan | {} | Δ vs full (points) | parameters | CKA to full, last layer | CKA to full, mean over layers |\n|---|---|---|---|---|---|---|\n", report.metric);
    let mut md = format!(
        "## Intermediate-block importance: {} on {} — {length}, batch {}, lr {}, seed {}\n\nFull model (`{}`): {} {}.\n\n### One block removed at a time\n\n{header}",
        report.model, report.task, train.batch_size, train.lr, train.seed, report.full.plan, report.metric, pct(report.full.value)
    );
    for s in &report.single {
        md.push_str(&row(format!("layer {}", s.removed[0]), s));
    }
    if !report.cumulative.is_empty() {
        md.push_str(&format!(
            "\n### Removed cumulatively, least harmful first (order {:?})\n\n{header}",
            report.order
        ));
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

fn charts(report: &SweepReport, out: &Path) -> anyhow::Result<()> {
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
        let points = std::iter::once((0.0, 100.0 * report.full.value))
            .chain(report.cumulative.iter().map(|s| (s.removed.len() as f64, 100.0 * s.value)))
            .collect();
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
