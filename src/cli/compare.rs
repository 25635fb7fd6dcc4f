//! `undivided compare`: the Undivided Attention claim made testable — several plans fine-tuned
//! with identical settings and seeds, summarised relative to the full model. With `--distill`,
//! every reduced plan is also fine-tuned with task distillation from the fine-tuned full model.
//! With `--text`, every reduced plan also appears healed (and, with `--distill`, healed + task
//! distillation), next to what healing cost. With `--from-finetuned`, each
//! reduced plan is also cut from the fine-tuned full model itself, healed against it and
//! fine-tuned with distillation from it: the student keeps what fine-tuning taught the full
//! model's attention, instead of relearning it from the pre-trained checkpoint.
//!
//! Finished runs in `--out` are reused and interrupted ones resumed, so an interrupted compare
//! continues where it stopped when run again with the same arguments.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::finetune::{DataArgs, TrainArgs, install_stop_handler, run_one};
use super::heal::{HealSettings, run_heal};
use super::{DeviceArgs, thousands};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::model::{FfnPlan, ModelStats};
use crate::train::finetune::RunResults;
use crate::train::heal_run::HealResults;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    pub model: String,
    /// Plans to compare: `all;none;0,5` (`;` between plans), or a comma list in which `all` and
    /// `none` stand alone and the layers between them form one plan (`all,none,0,5` = all, none
    /// and layers {0, 5}; `0;5` for two single-layer plans). `+norm` ends a plan whose removed
    /// blocks keep their LayerNorm (`all,0,5+norm,0,5`).
    #[arg(long, default_value = "all;0,5;none")]
    pub plans: String,
    /// Number of seeds per plan (seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Healing of each reduced plan (used when --text is given).
    #[command(flatten)]
    pub heal: HealSettings,
    /// Also fine-tune each reduced plan with task distillation from the full plan's fine-tuned
    /// model of the same seed: as deleted, and as healed with --text (needs `all` among the
    /// plans). --distill-hidden / --distill-attention add the layer-to-layer losses.
    #[arg(long)]
    pub distill: bool,
    /// Also cut each reduced plan from the full plan's fine-tuned model of the same seed, heal it
    /// against that model on --text, then fine-tune it with distillation from it (needs --text
    /// and `all` among the plans; --distill-hidden / --distill-attention weigh its layer losses).
    #[arg(long)]
    pub from_finetuned: bool,
    /// Peak learning rate of the `--from-finetuned` rows (default: --lr). A student cut from a
    /// fine-tuned model is past the stage where the task is learnt: 3e-5 served better than 5e-5.
    #[arg(long)]
    pub pruned_lr: Option<f64>,
    /// Peak learning rate of the reduced plans' runs (default: --lr; `--pruned-lr` rows keep
    /// theirs). A model missing intermediate blocks has more to relearn with fewer weights: over
    /// an epoch of SST-2, `0,5+norm` gained most from 2e-4, the full model from 5e-5.
    #[arg(long)]
    pub reduced_lr: Option<f64>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one run per plan, variant and seed, healing runs, compare.md and compare.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// How a reduced model was prepared before fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Blocks deleted from the pre-trained checkpoint, then fine-tuned.
    Deleted,
    /// Deleted, then fine-tuned with distillation from the fine-tuned full model.
    DeletedDistill,
    /// Deleted, healed against the full model, then fine-tuned.
    Healed,
    /// Healed, then fine-tuned with soft targets from the fine-tuned full model.
    HealedDistill,
    /// Deleted from the fine-tuned full model, healed against it, then fine-tuned with
    /// distillation from it.
    PrunedDistill,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Variant::Deleted => "",
            Variant::DeletedDistill => "-distill",
            Variant::Healed => "-healed",
            Variant::HealedDistill => "-healed-distill",
            Variant::PrunedDistill => "-pruned-distill",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Deleted => "deleted",
            Variant::DeletedDistill => "deleted + distill",
            Variant::Healed => "healed",
            Variant::HealedDistill => "healed + distill",
            Variant::PrunedDistill => "pruned from fine-tuned + healed + distill",
        }
    }
}

/// One row of the table: a plan and variant over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub plan: String,
    pub variant: Variant,
    /// Peak learning rate of the row's runs.
    pub lr: f64,
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
    /// Wall time and sentences of healing (per seed, averaged), for healed variants.
    pub heal_seconds: Option<f64>,
    pub heal_examples: Option<usize>,
}

/// Finished runs of one plan and variant (one per seed), and the healing they started from:
/// none, one shared by every seed, or one per seed (`--from-finetuned`).
pub struct PlanRuns {
    pub plan: FfnPlan,
    pub variant: Variant,
    pub results: Vec<RunResults>,
    pub heals: Vec<HealResults>,
}

pub fn summarise(runs: &[PlanRuns], config: &crate::model::BertConfig, seq_len: usize) -> Vec<PlanSummary> {
    let full = ModelStats::new(config, &FfnPlan::all(config.num_hidden_layers), seq_len);
    let mut rows: Vec<PlanSummary> = runs
        .iter()
        .map(|run| {
            let results = &run.results;
            // Runs reach the table only once finished, and a finished run has evaluated.
            let values: Vec<f64> = results.iter().filter_map(|r| r.best_value).collect();
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
            let stats = ModelStats::new(config, &run.plan, seq_len);
            PlanSummary {
                plan: run.plan.to_string(),
                variant: run.variant,
                lr: results[0].options.train.lr,
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
                heal_seconds: (!run.heals.is_empty()).then(|| run.heals.iter().map(|h| h.train_seconds).sum::<f64>() / run.heals.len() as f64),
                heal_examples: run.heals.first().map(|h| h.examples_seen),
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
    // A variant column once a plan appears in more than one way; a cost column once one healed.
    let variants = rows.iter().any(|r| r.variant != Variant::Deleted);
    let healed = rows.iter().any(|r| r.heal_seconds.is_some());
    // Rows trained at different learning rates (--reduced-lr, --pruned-lr) say which.
    let lrs_differ = rows.iter().any(|r| r.lr != rows[0].lr);
    let mut md = format!(
        "## {title}\n\n| plan (layers keeping their intermediate block) | {}{} (mean ± sd) | Δ vs full | parameters | params vs full | FLOPs vs full | train time | examples/s | speed-up |{}\n|---|{}---|---|---|---|---|---|---|---|{}\n",
        if variants { "variant | " } else { "" },
        rows.first().map(|r| r.metric.as_str()).unwrap_or("metric"),
        if healed { " healing cost |" } else { "" },
        if variants { "---|" } else { "" },
        if healed { "---|" } else { "" },
    );
    for r in rows {
        let variant = if variants { format!(" {} |", if r.plan == "all" { "full" } else { r.variant.label() }) } else { String::new() };
        let cost = match (healed, r.heal_seconds, r.heal_examples) {
            (false, _, _) => String::new(),
            (true, Some(s), Some(n)) => format!(" {s:.0} s, {} sentences |", thousands(n)),
            (true, _, _) => " – |".to_string(),
        };
        let lr = if lrs_differ { format!(" (lr {})", r.lr) } else { String::new() };
        md.push_str(&format!(
            "| `{}`{lr} |{variant} {:.2} ± {:.2} | {} | {} | {:.0}% | {:.0}% | {:.0} s | {:.1} | {:.2}× |{cost}\n",
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

/// Whether `file` was written after every file in `inputs` (the results of the runs it started
/// from). Options alone cannot tell that a teacher or a healing was redone since: the path is
/// the same, the weights are not.
fn newer_than_inputs(file: &Path, inputs: &[PathBuf]) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(written) = modified(file) else { return false };
    inputs.iter().all(|input| modified(input).is_some_and(|t| t <= written))
}

/// A finished run in `dir` with the same options, written after its `inputs`, is reused; an
/// interrupted one is resumed on the same terms.
pub(super) fn run_or_reuse(checkpoint: &Checkpoint, plan: &FfnPlan, data: &DataArgs, train: &TrainArgs, device: &burn::tensor::Device, dir: &Path, inputs: &[PathBuf], label: &str) -> anyhow::Result<RunResults> {
    if let Ok(bytes) = std::fs::read(dir.join("results.json"))
        && let Ok(previous) = serde_json::from_slice::<RunResults>(&bytes)
        && previous.completed
        && previous.options == train.options()?
        && previous.plan == plan.to_string()
        && newer_than_inputs(&dir.join("results.json"), inputs)
    {
        println!("{label}: reusing the finished run in {}", dir.display());
        return Ok(previous);
    }
    let resume = newer_than_inputs(&dir.join("last/state.json"), inputs);
    run_one(checkpoint, plan, data, train, device, dir, resume, label).with_context(|| format!("{label} in {}", dir.display()))
}

/// A finished healing in `dir` with the same options, written after its `inputs`, is reused; an
/// interrupted one is resumed on the same terms.
fn heal_or_reuse(teacher: &Checkpoint, plan: &FfnPlan, settings: &HealSettings, device: &burn::tensor::Device, dir: &Path, inputs: &[PathBuf]) -> anyhow::Result<HealResults> {
    if let Ok(bytes) = std::fs::read(dir.join("heal.json"))
        && let Ok(previous) = serde_json::from_slice::<HealResults>(&bytes)
        && previous.completed
        && previous.options == settings.options()?
        && dir.join("config.json").is_file()
        && newer_than_inputs(&dir.join("heal.json"), inputs)
    {
        println!("heal `{plan}`: reusing the finished healing in {}", dir.display());
        return Ok(previous);
    }
    let resume = newer_than_inputs(&dir.join("last/state.json"), inputs);
    run_heal(teacher, plan, settings, device, dir, resume).with_context(|| format!("healing `{plan}` in {}", dir.display()))
}

pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let plans = FfnPlan::parse_list(&args.plans, checkpoint.config.num_hidden_layers)?;
    anyhow::ensure!(args.seeds > 0, "--seeds: expected at least 1");
    anyhow::ensure!(args.train.teacher.is_none(), "--teacher: compare picks the teacher itself (the full plan's run); use --distill");
    let full_plan = checkpoint.plan();
    let heal = args.heal.text.is_some();
    anyhow::ensure!(!args.from_finetuned || heal, "--from-finetuned: needs --text (the pruned model is healed on it)");
    anyhow::ensure!(args.from_finetuned || args.pruned_lr.is_none(), "--pruned-lr: needs --from-finetuned");
    for (flag, lr) in [("--reduced-lr", args.reduced_lr), ("--pruned-lr", args.pruned_lr)] {
        anyhow::ensure!(lr.is_none_or(|lr| lr > 0.0 && lr.is_finite()), "{flag}: expected a positive number");
    }
    anyhow::ensure!(args.distill || args.from_finetuned || !args.train.layer_to_layer(), "--distill-hidden / --distill-attention: need --distill or --from-finetuned");
    for (on, flag) in [(args.distill, "--distill"), (args.from_finetuned, "--from-finetuned")] {
        anyhow::ensure!(!on || plans.contains(&full_plan), "{flag}: the plans must include `{full_plan}` (the teacher)");
    }
    let device = args.device.init()?;
    install_stop_handler();
    let plan_dir = |plan: &FfnPlan, variant: Variant| args.out.join(format!("plan-{}{}", plan.file_stem(), variant.suffix()));

    // The full plan first: it is the reference of every row and the teacher of distillation.
    let mut ordered = plans.clone();
    ordered.sort_by_key(|p| *p != full_plan);
    let mut runs: Vec<PlanRuns> = Vec::new();
    for plan in &ordered {
        let reduced = *plan != full_plan;
        let healed = if heal && reduced {
            let dir = args.out.join(format!("heal-{}", plan.file_stem()));
            let report = heal_or_reuse(&checkpoint, plan, &args.heal, &device, &dir, &[])?;
            println!(
                "heal `{plan}`: held-out hidden MSE {:.4} -> {:.4}, attention KL {:.4} -> {:.4}, {:.0} s",
                report.before.hidden_mse, report.after.hidden_mse, report.before.attention_kl, report.after.attention_kl, report.train_seconds
            );
            Some((dir, report))
        } else {
            None
        };
        let mut variants = vec![Variant::Deleted];
        if reduced && args.distill {
            variants.push(Variant::DeletedDistill);
        }
        if healed.is_some() {
            variants.push(Variant::Healed);
            if args.distill {
                variants.push(Variant::HealedDistill);
            }
            if args.from_finetuned {
                variants.push(Variant::PrunedDistill);
            }
        }
        for variant in variants {
            let (mut results, mut heals) = (Vec::new(), Vec::new());
            for s in 0..args.seeds {
                let mut train = args.train.clone();
                train.seed = args.train.seed + s;
                train.lr = match variant {
                    Variant::PrunedDistill => args.pruned_lr,
                    _ if reduced => args.reduced_lr,
                    _ => None,
                }
                .unwrap_or(args.train.lr);
                let teacher = plan_dir(&full_plan, Variant::Deleted).join(format!("seed-{}", train.seed));
                // What this run starts from or learns from: it is redone when any of them was.
                let mut inputs = Vec::new();
                if matches!(variant, Variant::DeletedDistill | Variant::HealedDistill | Variant::PrunedDistill) {
                    train.teacher = Some(teacher.clone());
                    inputs.push(teacher.join("results.json"));
                }
                let heal_dir = match variant {
                    Variant::Deleted | Variant::DeletedDistill => None,
                    Variant::Healed | Variant::HealedDistill => healed.as_ref().map(|(dir, _)| dir.clone()),
                    Variant::PrunedDistill => {
                        let dir = args.out.join(format!("heal-{}-pruned", plan.file_stem())).join(format!("seed-{}", train.seed));
                        heals.push(heal_or_reuse(&Checkpoint::open(&teacher)?, plan, &args.heal, &device, &dir, &inputs)?);
                        Some(dir)
                    }
                };
                let student;
                let model = match &heal_dir {
                    Some(dir) => {
                        inputs.push(dir.join("heal.json"));
                        student = Checkpoint::open(dir)?;
                        &student
                    }
                    None => &checkpoint,
                };
                let dir = plan_dir(plan, variant).join(format!("seed-{}", train.seed));
                let label = format!("`{plan}` {} seed {}", variant.label(), train.seed);
                let r = run_or_reuse(model, plan, &args.data, &train, &device, &dir, &inputs, &label)?;
                anyhow::ensure!(r.completed, "{label}: stopped at step {}; run the same compare again to continue", r.steps);
                let best = r.best_value.with_context(|| format!("{label}: finished without a dev evaluation"))?;
                println!("{label}: {} {best:.4}, {:.1} examples/s", r.main_metric, r.examples_per_second);
                results.push(r);
            }
            if matches!(variant, Variant::Healed | Variant::HealedDistill) {
                heals.extend(healed.as_ref().map(|(_, h)| h.clone()));
            }
            runs.push(PlanRuns { plan: plan.clone(), variant, results, heals });
        }
    }
    let rows = summarise(&runs, &checkpoint.config, args.train.max_len);
    let length = args.train.steps.map(|s| format!("{s} steps")).unwrap_or_else(|| format!("{} epoch(s)", args.train.epochs));
    let mut title = format!("{} on {} — {} seed(s), {length}, batch {}, lr {}", checkpoint.name(), args.data.task, args.seeds, args.train.batch_size, args.train.lr);
    if let Some(lr) = args.reduced_lr {
        title.push_str(&format!(" (reduced plans {lr})"));
    }
    if args.distill || args.from_finetuned {
        let t = &args.train;
        title.push_str(&format!("; distillation T {}, α {}", t.temperature, t.alpha));
        if t.layer_to_layer() {
            title.push_str(&format!(", hidden-state weight {}, attention weight {}", t.distill_hidden, t.distill_attention));
        }
        if let Some(lr) = args.pruned_lr {
            title.push_str(&format!("; students cut from the fine-tuned model at lr {lr}"));
        }
    }
    let md = markdown(&rows, &title);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("compare.md"), &md)?;
    std::fs::write(args.out.join("compare.json"), serde_json::to_vec_pretty(&serde_json::json!({"title": title, "rows": rows}))?)?;
    println!("{md}");
    let labels: Vec<String> = rows.iter().map(|r| if r.variant == Variant::Deleted { format!("`{}`", r.plan) } else { format!("`{}` {}", r.plan, r.variant.label()) }).collect();
    let values: Vec<f64> = rows.iter().map(|r| 100.0 * r.mean).collect();
    crate::chart::png::bars(&args.out.join("compare.png"), &title, &format!("dev {} (%)", rows[0].metric), &labels, &values, None)?;
    println!("compare.md, compare.json and compare.png in {}", args.out.display());
    Ok(())
}
