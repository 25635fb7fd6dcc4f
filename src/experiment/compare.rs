//! A comparison: several plans fine-tuned with identical settings and seeds, summarised relative
//! to the full model — the Undivided Attention claim made testable. Each reduced plan can also
//! appear distilled from the fine-tuned full model, healed (and healed + distilled), and cut from
//! the fine-tuned full model itself ([`Variant`]).
//!
//! Finished runs under `out` are reused and interrupted ones resumed ([`Runner`]), so an
//! interrupted comparison continues where it stopped when run again with the same spec.

use std::path::{Path, PathBuf};

use super::data::{DataSpec, TextSpec};
use super::runs::Runner;
use super::table::{CompareTable, PlanSummary, Variant};
use super::{ExperimentError, io};
use crate::checkpoint::Checkpoint;
use crate::model::{BertConfig, FfnPlan, ModelStats};
use crate::train::DistillConfig;
use crate::train::finetune_run::{FinetuneOptions, RunResults};
use crate::train::heal_run::{HealOptions, HealResults};

/// Healing of each reduced plan, for the healed variants.
#[derive(Debug, Clone, PartialEq)]
pub struct HealSpec {
    pub text: TextSpec,
    pub options: HealOptions,
}

/// What to compare and how.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareSpec {
    pub plans: Vec<FfnPlan>,
    /// Seeds per plan: `options.train.seed`, +1, ...
    pub seeds: u64,
    pub data: DataSpec,
    /// The settings of every run (no teacher: the comparison picks it).
    pub options: FinetuneOptions,
    /// The distillation of the distilled variants (`--distill`, `--from-finetuned`).
    pub distill: DistillConfig,
    /// Also fine-tune each reduced plan with distillation from the full plan's run.
    pub distilled: bool,
    /// Heal each reduced plan (the healed variants).
    pub heal: Option<HealSpec>,
    /// Also cut each reduced plan from the full plan's fine-tuned run (needs `heal`).
    pub from_finetuned: bool,
    /// Peak learning rate of the reduced plans' runs (default: `options.train.lr`).
    pub reduced_lr: Option<f64>,
    /// Peak learning rate of the `from_finetuned` rows (default: `options.train.lr`).
    pub pruned_lr: Option<f64>,
    /// Only these variants (of those the flags ask for); `None`: all of them. The full plan is
    /// always trained (it is every row's reference and the teacher).
    pub variants: Option<Vec<Variant>>,
    /// Where the task-agnostic healings (the `healed` variants) live, to share them between
    /// comparisons (a study's tasks); `None`: inside `out`.
    pub heal_dir: Option<PathBuf>,
    /// One folder per plan, variant and seed, the healings, and the table's files.
    pub out: PathBuf,
}

/// Finished runs of one plan and variant (one per seed), and the healing they started from:
/// none, one shared by every seed, or one per seed (cut from the fine-tuned model).
pub struct PlanRuns {
    pub plan: FfnPlan,
    pub variant: Variant,
    pub results: Vec<RunResults>,
    pub heals: Vec<HealResults>,
}

impl CompareSpec {
    /// Checks that the spec holds together for a checkpoint whose own plan is `full`.
    pub fn validate(&self, full: &FfnPlan) -> Result<(), ExperimentError> {
        let bad = |m: String| Err(ExperimentError::Spec(m));
        self.options.validate()?;
        crate::train::TrainConfig { distill: Some(self.distill.clone()), ..self.options.train.clone() }.validate()?;
        if self.plans.is_empty() {
            return bad("--plans: expected at least one plan".into());
        }
        if self.seeds == 0 || self.seeds > MAX_SEEDS {
            return bad(format!("--seeds {}: expected 1 to {MAX_SEEDS}", self.seeds));
        }
        if self.options.train.seed.checked_add(self.seeds).is_none() {
            return bad(format!(
                "--seed {} with --seeds {}: the last seed would pass 2^64 − 1; expected a seed below {}",
                self.options.train.seed,
                self.seeds,
                u64::MAX - self.seeds + 1
            ));
        }
        if self.options.teacher.is_some() {
            return bad("--teacher: compare picks the teacher itself (the full plan's run); use --distill".into());
        }
        if self.from_finetuned && self.heal.is_none() {
            return bad("--from-finetuned: needs --text (the pruned model is healed on it)".into());
        }
        if !self.from_finetuned && self.pruned_lr.is_some() {
            return bad("--pruned-lr: needs --from-finetuned".into());
        }
        for (flag, lr) in [("--reduced-lr", self.reduced_lr), ("--pruned-lr", self.pruned_lr)] {
            if lr.is_some_and(|lr| !(lr > 0.0 && lr.is_finite())) {
                return bad(format!("{flag}: expected a positive number"));
            }
        }
        if !self.distilled && !self.from_finetuned && self.distill.layer_to_layer() {
            return bad("--distill-hidden / --distill-attention: need --distill or --from-finetuned".into());
        }
        for (on, flag) in [(self.distilled, "--distill"), (self.from_finetuned, "--from-finetuned")] {
            if on && !self.plans.contains(full) {
                return bad(format!("{flag}: the plans must include `{full}` (the teacher)"));
            }
        }
        if let Some(heal) = &self.heal {
            heal.options.validate()?;
        }
        Ok(())
    }

    fn plan_dir(&self, plan: &FfnPlan, variant: Variant) -> PathBuf {
        self.out.join(format!("plan-{}{}", plan.file_stem(), variant.suffix()))
    }

    /// The variants each plan is trained as.
    fn variants(&self, reduced: bool) -> Vec<Variant> {
        let all = self.all_variants(reduced);
        match &self.variants {
            Some(wanted) if reduced => all.into_iter().filter(|v| wanted.contains(v)).collect(),
            _ => all,
        }
    }

    fn all_variants(&self, reduced: bool) -> Vec<Variant> {
        let mut variants = vec![Variant::Deleted];
        if reduced && self.distilled {
            variants.push(Variant::DeletedDistill);
        }
        if reduced && self.heal.is_some() {
            variants.push(Variant::Healed);
            if self.distilled {
                variants.push(Variant::HealedDistill);
            }
            if self.from_finetuned {
                variants.push(Variant::PrunedDistill);
            }
        }
        variants
    }

    /// The table's title: model, task, seeds, length, batch, rates and distillation.
    fn title(&self, model: &str) -> String {
        let o = &self.options;
        let length = o.max_steps.map(|s| format!("{s} steps")).unwrap_or_else(|| format!("{} epoch(s)", o.epochs));
        let mut title = format!("{model} on {} — {} seed(s), {length}, batch {}, lr {}", self.data.task, self.seeds, o.train.batch_size, o.train.lr);
        if let Some(lr) = self.reduced_lr {
            title.push_str(&format!(" (reduced plans {lr})"));
        }
        if self.distilled || self.from_finetuned {
            let d = &self.distill;
            title.push_str(&format!("; distillation T {}, α {}", d.temperature, d.alpha));
            if d.layer_to_layer() {
                title.push_str(&format!(", hidden-state weight {}, attention weight {}", d.hidden_weight, d.attention_weight));
            }
            if let Some(lr) = self.pruned_lr {
                title.push_str(&format!("; students cut from the fine-tuned model at lr {lr}"));
            }
        }
        title
    }
}

/// Runs (or reuses) every run of `spec` from `checkpoint` and returns the table.
pub fn compare(checkpoint: &Checkpoint, spec: &CompareSpec, runner: &mut Runner<'_>) -> Result<CompareTable, ExperimentError> {
    let full_plan = checkpoint.plan();
    spec.validate(&full_plan)?;
    // One comparison per folder at a time; its runs lock their own folders too.
    let _lock = crate::checkpoint::RunLock::acquire(&spec.out, "compare")?;
    // The full plan first: it is the reference of every row and the teacher of distillation.
    let mut ordered = spec.plans.clone();
    ordered.sort_by_key(|p| *p != full_plan);
    let mut runs: Vec<PlanRuns> = Vec::new();
    for plan in &ordered {
        let reduced = *plan != full_plan;
        let variants = spec.variants(reduced);
        let healed = match (&spec.heal, reduced && variants.iter().any(|v| matches!(v, Variant::Healed | Variant::HealedDistill))) {
            (Some(heal), true) => {
                let dir = spec.heal_dir.as_ref().unwrap_or(&spec.out).join(format!("heal-{}", plan.file_stem()));
                let r = runner.heal_or_reuse(checkpoint, plan, &heal.text, &heal.options, &dir, &[])?;
                runner.say(&format!(
                    "heal `{plan}`: held-out hidden MSE {:.4} -> {:.4}, attention KL {:.4} -> {:.4}, {:.0} s",
                    r.before.hidden_mse, r.after.hidden_mse, r.before.attention_kl, r.after.attention_kl, r.train_seconds
                ));
                Some((dir, r))
            }
            _ => None,
        };
        for variant in variants {
            let (mut results, mut heals) = (Vec::new(), Vec::new());
            for s in 0..spec.seeds {
                let mut options = spec.options.clone();
                options.train.seed = spec.options.train.seed + s;
                options.train.lr = match variant {
                    Variant::PrunedDistill => spec.pruned_lr,
                    _ if reduced => spec.reduced_lr,
                    _ => None,
                }
                .unwrap_or(spec.options.train.lr);
                let teacher = spec.plan_dir(&full_plan, Variant::Deleted).join(format!("seed-{}", options.train.seed));
                // What this run starts from or learns from: it is redone when any of them was.
                let mut inputs = Vec::new();
                if variant.distilled() {
                    options.teacher = Some(teacher.clone());
                    options.train.distill = Some(spec.distill.clone());
                    inputs.push(teacher.join("results.json"));
                }
                let heal_dir = match variant {
                    Variant::Deleted | Variant::DeletedDistill => None,
                    Variant::Healed | Variant::HealedDistill => healed.as_ref().map(|(dir, _)| dir.clone()),
                    Variant::PrunedDistill => {
                        let heal = spec.heal.as_ref().expect("validated: the pruned variant needs healing");
                        let dir = spec.out.join(format!("heal-{}-pruned", plan.file_stem())).join(format!("seed-{}", options.train.seed));
                        heals.push(runner.heal_or_reuse(&Checkpoint::open(&teacher)?, plan, &heal.text, &heal.options, &dir, &inputs)?);
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
                    None => checkpoint,
                };
                let dir = spec.plan_dir(plan, variant).join(format!("seed-{}", options.train.seed));
                let label = format!("`{plan}` {} seed {}", variant.label(), options.train.seed);
                let r = runner.finetune_or_reuse(model, plan, &spec.data, &options, &dir, &inputs, &label)?;
                if !r.completed {
                    return Err(ExperimentError::Stopped { label, step: r.steps });
                }
                let best = r.best_value.ok_or_else(|| ExperimentError::Spec(format!("{label}: finished without a dev evaluation")))?;
                runner.say(&format!("{label}: {} {best:.4}, {:.1} examples/s", r.main_metric, r.examples_per_second));
                results.push(r);
            }
            if matches!(variant, Variant::Healed | Variant::HealedDistill) {
                heals.extend(healed.as_ref().map(|(_, h)| h.clone()));
            }
            runs.push(PlanRuns { plan: plan.clone(), variant, results, heals });
        }
    }
    let mut table = CompareTable {
        title: spec.title(&checkpoint.name()),
        rows: summarise(&runs, &checkpoint.config, spec.options.train.max_len),
        notes: runner.take_replaced(),
    };
    table.relate_to(&full_plan.to_string());
    Ok(table)
}

/// The most seeds a comparison or study runs per plan (each is a whole fine-tuning).
pub const MAX_SEEDS: u64 = 1000;

/// One row per plan and variant: the mean and spread over seeds, sizes and costs relative to
/// the full model of `config`.
pub fn summarise(runs: &[PlanRuns], config: &BertConfig, seq_len: usize) -> Vec<PlanSummary> {
    let full = ModelStats::new(config, &FfnPlan::all(config.num_hidden_layers), seq_len);
    runs.iter()
        .map(|run| {
            let results = &run.results;
            // Runs reach the table only once finished, and a finished run has evaluated.
            let values: Vec<f64> = results.iter().filter_map(|r| r.best_value).collect();
            let (mean, std) = PlanSummary::mean_std(&values);
            let final_values: Vec<f64> = results.iter().filter_map(|r| r.final_value).collect();
            let (final_mean, final_std) = if final_values.len() == results.len() {
                let (m, s) = PlanSummary::mean_std(&final_values);
                (Some(m), Some(s))
            } else {
                (None, None)
            };
            let n = results.len() as f64;
            let stats = ModelStats::new(config, &run.plan, seq_len);
            PlanSummary {
                plan: run.plan.to_string(),
                variant: run.variant,
                lr: results[0].options.train.lr,
                metric: results[0].main_metric.clone(),
                values,
                mean,
                std,
                final_values,
                final_mean,
                final_std,
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
        .collect()
}

/// Writes `compare.md`, `compare.json` and the bar chart `compare.png` into `out`.
pub fn write_table(table: &CompareTable, out: &Path) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let md_path = out.join("compare.md");
    std::fs::write(&md_path, table.markdown()).map_err(io(&md_path))?;
    let json_path = out.join("compare.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(table).expect("a table serialises")).map_err(io(&json_path))?;
    let labels: Vec<String> = table.rows.iter().map(PlanSummary::name).collect();
    let values: Vec<f64> = table.rows.iter().map(|r| 100.0 * r.mean).collect();
    let png = out.join("compare.png");
    let metric = table.rows.first().map(|r| r.metric.as_str()).unwrap_or("metric");
    crate::chart::png::bars(&png, &table.title, &format!("dev {metric} (%)"), &labels, &values, None)
        .map_err(|e| ExperimentError::Chart { path: png.clone(), reason: e.to_string() })
}
