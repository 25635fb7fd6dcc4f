//! A study's `pretrained` route — the price of a block: one pre-training per reduced plan
//! (student cut from the checkpoint, the full checkpoint as teacher, on a text corpus), shared by
//! every task as `healed-once` shares its healing; then every task fine-tuned from each
//! milestone checkpoint, beside the full model fine-tuned with the same recipe and seeds.
//!
//! The table shows the pre-training's cost on its own and divided over the tasks it serves (it
//! is paid once; fine-tuning per task); the figure plots Δ vs the full model against
//! pre-training tokens, per task and plan.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::data::DataSpec;
use super::runs::Runner;
use super::study_table::{Route, StudyRow, StudyTask, answer};
use super::{ExperimentError, io};
use crate::chart::{Series, png};
use crate::checkpoint::Checkpoint;
use crate::data::Task;
use crate::model::{FfnPlan, ModelStats};
use crate::train::finetune_run::{FinetuneOptions, RunResults};
use crate::train::pretrain_run::{PretrainOptions, PretrainResults, parse_tokens, tokens_label};
use crate::train::pretrain_step::PretrainConfig;

/// The `pretrain` section of a study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    /// A folder of text shards (`*.txt`, one paragraph a line).
    pub corpus: PathBuf,
    /// Held-out text (default: `valid.txt` in the corpus folder).
    #[serde(default)]
    pub valid: Option<PathBuf>,
    /// Budgets, e.g. `["1M", "2M", "4M"]`: one pre-training per plan to the largest, with a
    /// milestone checkpoint at each.
    pub tokens: Vec<String>,
    #[serde(default = "thirty_two")]
    pub batch_size: usize,
    #[serde(default = "one_twenty_eight")]
    pub max_len: usize,
    #[serde(default = "pretrain_lr")]
    pub lr: f64,
    #[serde(default = "warmup")]
    pub warmup_ratio: f64,
    #[serde(default = "one")]
    pub hidden_weight: f64,
    #[serde(default = "one")]
    pub attention_weight: f64,
    #[serde(default)]
    pub mlm_weight: f64,
    /// Seeds of the fine-tunings from the smaller budgets (the largest gets the study's
    /// `seeds`).
    #[serde(default = "one_u64")]
    pub seeds_below_largest: u64,
}

fn thirty_two() -> usize {
    32
}
fn one_twenty_eight() -> usize {
    128
}
fn pretrain_lr() -> f64 {
    1e-4
}
fn warmup() -> f64 {
    0.01
}
fn one() -> f64 {
    1.0
}
fn one_u64() -> u64 {
    1
}

impl PretrainSpec {
    /// The budgets, parsed and ascending; a bad one is refused by value.
    pub fn budgets(&self) -> Result<Vec<u64>, ExperimentError> {
        let mut budgets: Vec<u64> =
            self.tokens.iter().map(|t| parse_tokens(t).map_err(|e| ExperimentError::Spec(format!("pretrain.tokens: {e}")))).collect::<Result<_, _>>()?;
        if budgets.is_empty() {
            return Err(ExperimentError::Spec("pretrain.tokens: expected at least one budget, e.g. [\"1M\", \"2M\"]".into()));
        }
        budgets.sort_unstable();
        budgets.dedup();
        Ok(budgets)
    }

    /// One pre-training's options: to the largest budget, a milestone at each.
    pub fn options(&self, seed: u64) -> Result<PretrainOptions, ExperimentError> {
        let budgets = self.budgets()?;
        let options = PretrainOptions {
            config: PretrainConfig {
                lr: self.lr,
                warmup_ratio: self.warmup_ratio,
                hidden_weight: self.hidden_weight,
                attention_weight: self.attention_weight,
                mlm_weight: self.mlm_weight,
                seed,
                ..PretrainConfig::default()
            },
            corpus: self.corpus.clone(),
            valid: self.valid.clone().unwrap_or_else(|| self.corpus.join("valid.txt")),
            held_out: 64,
            batch_size: self.batch_size,
            max_len: self.max_len,
            tokens: *budgets.last().expect("at least one"),
            milestones: budgets,
            save_every: 50,
            made_from: None,
        };
        options.validate().map_err(|e| ExperimentError::Spec(format!("pretrain: {e}")))?;
        if self.seeds_below_largest == 0 || self.seeds_below_largest > 100 {
            return Err(ExperimentError::Spec("pretrain.seeds_below_largest: expected 1 to 100".into()));
        }
        Ok(options)
    }
}

/// One pre-training of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainingRow {
    pub plan: String,
    pub params: usize,
    pub tokens: u64,
    pub train_seconds: f64,
    pub tokens_per_second: f64,
    pub packing_efficiency: f64,
    /// `(tokens, seconds to reach them, held-out hidden-state MSE)` per milestone.
    pub milestones: Vec<(u64, f64, f64)>,
}

/// A task's full-model reference (same recipe and seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullRow {
    pub task: String,
    pub metric: String,
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    pub train_seconds: f64,
    /// The peak learning rate of these runs (with a grid: the one their best dev mean chose).
    #[serde(default)]
    pub lr: Option<f64>,
}

/// A task, plan and budget: fine-tuned from the milestone checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainedRow {
    pub task: String,
    pub plan: String,
    pub tokens: u64,
    /// Best dev value per seed.
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    pub delta_points: f64,
    /// Mean fine-tuning seconds.
    pub finetune_seconds: f64,
    /// Pre-training seconds up to this milestone, and their share per task.
    pub pretrain_seconds: f64,
    pub pretrain_share: f64,
    /// (fine-tuning + share) ÷ the full model's fine-tuning.
    pub cost_ratio: f64,
    /// The peak learning rate of these runs (with a grid: the one their best dev mean chose).
    #[serde(default)]
    pub lr: Option<f64>,
}

/// The route's table: pre-trainings, references and rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainedTable {
    pub title: String,
    pub tasks_sharing: usize,
    pub pretraining: Vec<PretrainingRow>,
    pub full: Vec<FullRow>,
    pub rows: Vec<PretrainedRow>,
}

/// A row's rate for the table (`–` in tables written before rates were recorded).
fn rate(lr: Option<f64>) -> String {
    lr.map_or_else(|| "–".into(), |lr| lr.to_string())
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

impl PretrainedTable {
    pub fn markdown(&self) -> String {
        let mut md = format!("# The price of a block: pre-trained reduced models\n\n{}\n\n", self.title);
        md.push_str("## Pre-training (paid once, shared by the tasks)\n\n| plan | parameters | tokens | seconds | tokens/s (teacher + student) | packing | held-out hidden MSE by milestone |\n|---|---|---|---|---|---|---|\n");
        for p in &self.pretraining {
            let ms: Vec<String> = p.milestones.iter().map(|(t, _, mse)| format!("{}: {mse:.4}", tokens_label(*t))).collect();
            md.push_str(&format!(
                "| `{}` | {} | {} | {:.0} | {:.0} | {:.4} | {} |\n",
                p.plan,
                p.params,
                tokens_label(p.tokens),
                p.train_seconds,
                p.tokens_per_second,
                p.packing_efficiency,
                ms.join(", ")
            ));
        }
        md.push_str(&format!(
            "\n## Fine-tuned from each milestone\n\nΔ: best dev value, mean over seeds, minus the full model's (points). Cost: the fine-tuning plus the pre-training to that milestone divided over the {} task(s) it serves, against the full model's fine-tuning.\n\n| task | plan | pre-training tokens | lr | best (mean ± sd, seeds) | Δ points | fine-tune s | pre-train s (÷ tasks) | cost ratio |\n|---|---|---|---|---|---|---|---|---|\n",
            self.tasks_sharing
        ));
        for f in &self.full {
            md.push_str(&format!(
                "| {} | full | – | {} | {:.2} ± {:.2} ({}) | – | {:.0} | – | 1.00× |\n",
                f.task,
                rate(f.lr),
                100.0 * f.mean,
                100.0 * f.std,
                f.values.len(),
                f.train_seconds
            ));
            for r in self.rows.iter().filter(|r| r.task == f.task) {
                md.push_str(&format!(
                    "| {} | `{}` | {} | {} | {:.2} ± {:.2} ({}) | {:+.2} | {:.0} | {:.0} ({:.0}) | {:.2}× |\n",
                    r.task,
                    r.plan,
                    tokens_label(r.tokens),
                    rate(r.lr),
                    100.0 * r.mean,
                    100.0 * r.std,
                    r.values.len(),
                    r.delta_points,
                    r.finetune_seconds,
                    r.pretrain_seconds,
                    r.pretrain_share,
                    r.cost_ratio
                ));
            }
        }
        md
    }

    /// Δ against pre-training tokens (millions, from 0: the axis starts where no pre-training
    /// is), one line per task and plan.
    pub fn series(&self) -> (Vec<Series>, &'static str) {
        let largest = self.rows.iter().map(|r| r.tokens).max().unwrap_or(0);
        let (scale, unit) = match largest {
            t if t >= 1_000_000 => (1e6, "pre-training tokens (millions)"),
            t if t >= 1_000 => (1e3, "pre-training tokens (thousands)"),
            _ => (1.0, "pre-training tokens"),
        };
        let mut series: Vec<Series> = Vec::new();
        for r in &self.rows {
            let name = format!("{} `{}`", r.task, r.plan);
            let point = (r.tokens as f64 / scale, r.delta_points);
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(point),
                None => series.push(Series { name, points: vec![point] }),
            }
        }
        (series, unit)
    }
}

/// Writes `pretrained.md`, `pretrained.json` and `pretrained.png` into `out`.
pub fn write_pretrained(table: &PretrainedTable, out: &Path) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    crate::checkpoint::write_atomic(&out.join("pretrained.md"), table.markdown().as_bytes())?;
    crate::checkpoint::write_atomic(&out.join("pretrained.json"), serde_json::to_string_pretty(table).expect("a table serialises").as_bytes())?;
    let (series, unit) = table.series();
    if series.is_empty() {
        return Ok(());
    }
    let path = out.join("pretrained.png");
    png::lines(&path, "The price of a block: Δ vs the full model after pre-training", unit, "Δ points (best dev, mean over seeds)", &series)
        .map_err(|e| ExperimentError::Chart { path: path.clone(), reason: e.to_string() })
}

/// What the route runs: the recipe, the reduced plans, and each task's fine-tuning (its
/// options, and the reduced plans' learning rate where it has its own).
pub struct PretrainedRoute<'a> {
    pub recipe: &'a PretrainSpec,
    pub plans: Vec<FfnPlan>,
    pub glue: PathBuf,
    pub tasks: Vec<(Task, FinetuneOptions, Option<f64>)>,
    /// The first seed and how many.
    pub seed: u64,
    pub seeds: u64,
    /// The study's tasks (all of them, also when a part runs now): the pre-training's share
    /// is divided over them.
    pub tasks_sharing: usize,
    /// Fair rates: when not empty, the full model and every plan and budget are fine-tuned at
    /// each of these rates (runs under `<task>/lr-<rate>/`), and each row keeps the rate whose
    /// best dev mean is highest; the tasks' own rates are then unused.
    pub lr_grid: Vec<f64>,
}

/// Runs (or reuses) the route's pre-trainings and fine-tunings, writing the table into `out`
/// after each task; `on_task` gets each task's rows in the study's shape (the full model, then
/// every plan and budget), so that `study.json` and the page hold them, and the stale runs
/// replaced on the way (the table's notes).
pub fn pretrained(
    checkpoint: &Checkpoint,
    route: &PretrainedRoute<'_>,
    out: &Path,
    runner: &mut Runner<'_>,
    on_task: &mut dyn FnMut(StudyTask, Vec<String>) -> Result<(), ExperimentError>,
) -> Result<PretrainedTable, ExperimentError> {
    let recipe = route.recipe;
    let options = recipe.options(route.seed)?;
    let budgets = recipe.budgets()?;
    let largest = *budgets.last().expect("at least one");
    let full = checkpoint.plan();
    let plans: Vec<FfnPlan> = route.plans.iter().filter(|p| **p != full).cloned().collect();
    let mut table = PretrainedTable {
        title: format!(
            "{} — pre-trained on {} ({} × {} tokens a step, lr {}), budgets {}",
            checkpoint.name(),
            recipe.corpus.display(),
            recipe.batch_size,
            recipe.max_len,
            recipe.lr,
            budgets.iter().map(|b| tokens_label(*b)).collect::<Vec<_>>().join(", ")
        ),
        tasks_sharing: route.tasks_sharing,
        pretraining: Vec::new(),
        full: Vec::new(),
        rows: Vec::new(),
    };
    let mut pretrainings: Vec<(FfnPlan, PathBuf, PretrainResults)> = Vec::new();
    for plan in &plans {
        let dir = out.join("pretrain").join(format!("plan-{}", plan.file_stem()));
        let r = runner.pretrain_or_reuse(checkpoint, plan, &options, &dir)?;
        if !r.completed {
            return Err(ExperimentError::Stopped { label: format!("pretrain `{plan}`"), step: r.steps });
        }
        table.pretraining.push(PretrainingRow {
            plan: plan.to_string(),
            params: r.params,
            tokens: r.tokens_seen,
            train_seconds: r.train_seconds,
            tokens_per_second: r.tokens_per_second,
            packing_efficiency: r.packing_efficiency,
            milestones: r.milestones.iter().map(|m| (m.budget, m.train_seconds, m.held_out.hidden_mse)).collect(),
        });
        pretrainings.push((plan.clone(), dir, r));
    }
    // Without a grid one pass at the tasks' rates, its runs where the earlier studies have them;
    // with one a pass per rate, under `<task>/lr-<rate>/` as the other routes keep theirs.
    let rates: Vec<Option<f64>> = if route.lr_grid.is_empty() { vec![None] } else { route.lr_grid.iter().copied().map(Some).collect() };
    if !route.lr_grid.is_empty() {
        let grid: Vec<String> = route.lr_grid.iter().map(|lr| lr.to_string()).collect();
        table.title.push_str(&format!(
            "; every row (the full model's too) at the peak rate its best dev mean chose from {{{}}}, the other rates' runs (under <task>/lr-*/) not in the costs",
            grid.join(", ")
        ));
    }
    for (task, base, recipe_lr) in &route.tasks {
        let (task, recipe_lr) = (*task, *recipe_lr);
        let data = DataSpec { task, dir: Some(route.glue.clone()), skip_bad_rows: false };
        let task_runs = TaskRuns { data: &data, base, out: out.join(task.name()), rates: &rates, first_seed: route.seed };
        let full_name = format!("plan-{}", full.file_stem());
        let (full_lr, full_runs) = task_runs.at_best_rate(runner, checkpoint, &full, &full_name, route.seeds, None, &[], &format!("{task} full"))?;
        let values: Vec<f64> = full_runs.iter().filter_map(|r| r.best_value).collect();
        let (mean, std) = mean_std(&values);
        let full_seconds = full_runs.iter().map(|r| r.train_seconds).sum::<f64>() / full_runs.len().max(1) as f64;
        let metric = full_runs[0].main_metric.clone();
        table.full.push(FullRow {
            task: task.name().into(),
            metric: metric.clone(),
            values: values.clone(),
            mean,
            std,
            train_seconds: full_seconds,
            lr: Some(full_lr),
        });
        let full_stats = ModelStats::new(&checkpoint.config, &full, base.train.max_len);
        let finals = |runs: &[RunResults]| {
            let f: Vec<f64> = runs.iter().filter_map(|r| r.final_value).collect();
            (f.len() == runs.len()).then(|| mean_std(&f))
        };
        let full_final = finals(&full_runs);
        let full_row = StudyRow {
            plan: full.to_string(),
            route: Route::Deleted,
            metric: metric.clone(),
            best: values,
            best_mean: mean,
            best_std: std,
            final_mean: full_final.map(|f| f.0),
            final_std: full_final.map(|f| f.1),
            delta_points: 0.0,
            final_delta_points: full_final.map(|_| 0.0),
            params: full_stats.total_params,
            params_ratio: 1.0,
            flops_ratio: 1.0,
            train_seconds: full_seconds,
            cost_seconds: full_seconds,
            cost_ratio: 1.0,
            pretrain_tokens: None,
            lr: Some(full_lr),
        };
        let mut study_rows = Vec::new();
        for (plan, dir, pre) in &pretrainings {
            for milestone in &pre.milestones {
                let model_dir = dir.join(&milestone.dir);
                let start = Checkpoint::open(&model_dir)?;
                let n = if milestone.budget == largest { route.seeds } else { recipe.seeds_below_largest.min(route.seeds) };
                let name = format!("plan-{}-pretrained-{}", plan.file_stem(), tokens_label(milestone.budget));
                let label = format!("{task} `{plan}` pre-trained {}", tokens_label(milestone.budget));
                let (lr, runs) = task_runs.at_best_rate(runner, &start, plan, &name, n, recipe_lr, &[model_dir.join("config.json")], &label)?;
                let values: Vec<f64> = runs.iter().filter_map(|r| r.best_value).collect();
                let (m, s) = mean_std(&values);
                let finetune_seconds = runs.iter().map(|r| r.train_seconds).sum::<f64>() / runs.len().max(1) as f64;
                let share = milestone.train_seconds / route.tasks_sharing.max(1) as f64;
                let stats = ModelStats::new(&checkpoint.config, plan, base.train.max_len);
                let fin = finals(&runs);
                study_rows.push(StudyRow {
                    plan: plan.to_string(),
                    route: Route::Pretrained,
                    metric: metric.clone(),
                    best: values.clone(),
                    best_mean: m,
                    best_std: s,
                    final_mean: fin.map(|f| f.0),
                    final_std: fin.map(|f| f.1),
                    delta_points: 100.0 * (m - mean),
                    final_delta_points: fin.zip(full_final).map(|(a, b)| 100.0 * (a.0 - b.0)),
                    params: stats.total_params,
                    params_ratio: stats.total_params as f64 / full_stats.total_params as f64,
                    flops_ratio: stats.flops_per_token as f64 / full_stats.flops_per_token as f64,
                    train_seconds: finetune_seconds,
                    cost_seconds: finetune_seconds + share,
                    cost_ratio: (finetune_seconds + share) / full_seconds.max(1e-9),
                    pretrain_tokens: Some(milestone.budget),
                    lr: Some(lr),
                });
                table.rows.push(PretrainedRow {
                    task: task.name().into(),
                    plan: plan.to_string(),
                    tokens: milestone.budget,
                    values,
                    mean: m,
                    std: s,
                    delta_points: 100.0 * (m - mean),
                    finetune_seconds,
                    pretrain_seconds: milestone.train_seconds,
                    pretrain_share: share,
                    cost_ratio: (finetune_seconds + share) / full_seconds.max(1e-9),
                    lr: Some(lr),
                });
            }
        }
        write_pretrained(&table, out)?;
        let answer = answer(task, &full_row, &study_rows, full.kept().count());
        on_task(StudyTask { task: task.name().into(), metric, full: full_row, rows: study_rows, answer, reference: None }, runner.take_replaced())?;
    }
    Ok(table)
}

/// A task's fine-tunings on the route: its data and recipe, where its runs go, and the rates
/// they take (`None`: the task's own).
struct TaskRuns<'a> {
    data: &'a DataSpec,
    base: &'a FinetuneOptions,
    /// `OUT/<task>`: runs at the task's own rates right under it, a grid's under `lr-<rate>/`.
    out: PathBuf,
    rates: &'a [Option<f64>],
    first_seed: u64,
}

impl TaskRuns<'_> {
    /// `plan` fine-tuned from `start` with `seeds` seeds at every rate, each run in
    /// `<task>/[lr-<rate>/]<name>/seed-<seed>` (run again: reused); the rate whose runs' best
    /// dev mean is highest (ties: the first), with those runs. `reduced_lr` is the task's rate
    /// for reduced plans, used where no grid is.
    #[allow(clippy::too_many_arguments)]
    fn at_best_rate(
        &self,
        runner: &mut Runner<'_>,
        start: &Checkpoint,
        plan: &FfnPlan,
        name: &str,
        seeds: u64,
        reduced_lr: Option<f64>,
        watch: &[PathBuf],
        label: &str,
    ) -> Result<(f64, Vec<RunResults>), ExperimentError> {
        let mut best: Option<(f64, f64, Vec<RunResults>)> = None;
        for &rate in self.rates {
            let lr = rate.or(reduced_lr).unwrap_or(self.base.train.lr);
            let dir = rate.map_or_else(|| self.out.clone(), |lr| self.out.join(format!("lr-{lr}"))).join(name);
            let mut runs = Vec::new();
            for seed in (0..seeds).map(|i| self.first_seed + i) {
                let mut o = self.base.clone();
                (o.train.seed, o.train.lr) = (seed, lr);
                let at = rate.map_or_else(String::new, |lr| format!(" lr {lr}"));
                let run =
                    runner.finetune_or_reuse(start, plan, self.data, &o, &dir.join(format!("seed-{seed}")), watch, &format!("{label} seed {seed}{at}"))?;
                runs.push(finished(run)?);
            }
            let score = mean_std(&runs.iter().filter_map(|r| r.best_value).collect::<Vec<_>>()).0;
            if best.as_ref().is_none_or(|(_, kept, _)| score > *kept) {
                best = Some((lr, score, runs));
            }
        }
        let (lr, _, runs) = best.expect("at least one rate");
        Ok((lr, runs))
    }
}

fn finished(r: RunResults) -> Result<RunResults, ExperimentError> {
    if r.completed { Ok(r) } else { Err(ExperimentError::Stopped { label: format!("{} `{}` seed {}", r.task, r.plan, r.seed), step: r.steps }) }
}
