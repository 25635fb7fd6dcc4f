//! `undivided compare`: the Undivided Attention claim made testable — several plans fine-tuned
//! with identical settings and seeds, summarised relative to the full model.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::finetune::{DataArgs, TrainArgs, run_one};
use super::{DeviceArgs, thousands};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::model::{FfnPlan, ModelStats};
use crate::train::finetune::RunResults;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    pub model: String,
    /// Plans to compare: `all;none;0,5` (`;` between plans), or comma-separated single tokens
    /// when no `;` is given (`all,none,0,5` = all, none, only layer 0, only layer 5).
    #[arg(long, default_value = "all;0,5;none")]
    pub plans: String,
    /// Number of seeds per plan (seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one run per plan and seed, plus compare.md and compare.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// One row of the table: a plan over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub plan: String,
    pub metric: String,
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation over seeds (0 with one seed).
    pub std: f64,
    pub params: usize,
    pub params_ratio: f64,
    pub flops_ratio: f64,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    pub speedup: f64,
    pub delta_vs_full: Option<f64>,
}

pub fn parse_plans(spec: &str, layers: usize) -> anyhow::Result<Vec<FfnPlan>> {
    let parts: Vec<&str> = if spec.contains(';') { spec.split(';').collect() } else { spec.split(',').collect() };
    parts.iter().map(|p| Ok(FfnPlan::parse(p, layers)?)).collect()
}

pub fn summarise(runs: &[(FfnPlan, Vec<RunResults>)], config: &crate::model::BertConfig, seq_len: usize) -> Vec<PlanSummary> {
    let full = ModelStats::new(config, &FfnPlan::all(config.num_hidden_layers), seq_len);
    let mut rows: Vec<PlanSummary> = runs
        .iter()
        .map(|(plan, results)| {
            let values: Vec<f64> = results.iter().map(|r| r.best_value).collect();
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
            let stats = ModelStats::new(config, plan, seq_len);
            PlanSummary {
                plan: plan.to_string(),
                metric: results[0].main_metric.clone(),
                values,
                mean,
                std,
                params: results[0].params,
                params_ratio: stats.total_params as f64 / full.total_params as f64,
                flops_ratio: stats.flops_per_token as f64 / full.flops_per_token as f64,
                train_seconds: results.iter().map(|r| r.train_seconds).sum::<f64>() / n,
                examples_per_second: results.iter().map(|r| r.examples_per_second).sum::<f64>() / n,
                speedup: 1.0,
                delta_vs_full: None,
            }
        })
        .collect();
    if let Some(full_row) = rows.iter().find(|r| r.plan == "all").cloned() {
        for r in &mut rows {
            r.speedup = r.examples_per_second / full_row.examples_per_second;
            r.delta_vs_full = Some(r.mean - full_row.mean);
        }
    }
    rows
}

pub fn markdown(rows: &[PlanSummary], title: &str) -> String {
    let mut md = format!("## {title}\n\n| plan (layers keeping their intermediate block) | {} (mean ± sd) | Δ vs full | parameters | params vs full | FLOPs vs full | train time | examples/s | speed-up |\n|---|---|---|---|---|---|---|---|---|\n", rows.first().map(|r| r.metric.as_str()).unwrap_or("metric"));
    for r in rows {
        md.push_str(&format!(
            "| `{}` | {:.2} ± {:.2} | {} | {} | {:.0}% | {:.0}% | {:.0} s | {:.1} | {:.2}× |\n",
            r.plan,
            100.0 * r.mean,
            100.0 * r.std,
            r.delta_vs_full.map(|d| format!("{:+.2}", 100.0 * d)).unwrap_or_else(|| "–".into()),
            thousands(r.params),
            100.0 * r.params_ratio,
            100.0 * r.flops_ratio,
            r.train_seconds,
            r.examples_per_second,
            r.speedup
        ));
    }
    md
}

pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let plans = parse_plans(&args.plans, checkpoint.config.num_hidden_layers)?;
    anyhow::ensure!(args.seeds > 0, "--seeds: expected at least 1");
    let device = args.device.init()?;
    let mut runs = Vec::new();
    for plan in &plans {
        let mut results = Vec::new();
        for s in 0..args.seeds {
            let mut train = args.train.clone();
            train.seed = args.train.seed + s;
            let dir = args.out.join(format!("plan-{}", plan.to_string().replace(',', "_"))).join(format!("seed-{}", train.seed));
            let label = format!("`{plan}` seed {}", train.seed);
            let r = run_one(&checkpoint, plan, &args.data, &train, &device, &dir, false, &label)
                .with_context(|| format!("plan `{plan}`, seed {}", train.seed))?;
            println!("{label}: {} {:.4}, {:.1} examples/s", r.main_metric, r.best_value, r.examples_per_second);
            results.push(r);
        }
        runs.push((plan.clone(), results));
    }
    let rows = summarise(&runs, &checkpoint.config, args.train.max_len);
    let title = format!("{} on {} — {} seed(s), {} epoch(s), batch {}, lr {}", checkpoint.name(), args.data.task, args.seeds, args.train.epochs, args.train.batch_size, args.train.lr);
    let md = markdown(&rows, &title);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("compare.md"), &md)?;
    std::fs::write(args.out.join("compare.json"), serde_json::to_vec_pretty(&serde_json::json!({"title": title, "rows": rows}))?)?;
    println!("{md}");
    Ok(())
}
