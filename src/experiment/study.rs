//! A study: the paper's table, task by task — tasks × plans × routes × seeds, each task a
//! comparison ([`super::compare`]) sharing the task-agnostic healings, summarised with the best
//! and the final dev evaluation, Δ vs the full model, sizes, training time with the healing
//! cost, and one line per task answering the question: how many intermediate blocks can go
//! within one point?
//!
//! A study is described by a JSON file ([`StudySpec`]); unknown fields are refused by name, so
//! a typo never silently changes a study that takes hours. Every run is reused or resumed as in
//! `compare`, so the same command continues an interrupted study.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::compare::{CompareSpec, HealSpec, compare, write_table};
use super::data::{DataSpec, TextSpec};
use super::pretrained::{PretrainSpec, PretrainedRoute, pretrained};
use super::runs::Runner;
pub use super::study_table::{ReferenceRow, Route, StudyRow, StudyTable, StudyTask};
use super::study_table::{answer, parse_reference_runs};
use super::table::{CompareTable, PlanSummary};
use super::{ExperimentError, io};
use crate::chart::png;
use crate::checkpoint::Checkpoint;
use crate::data::Task;
use crate::model::FfnPlan;
use crate::train::finetune_run::FinetuneOptions;
use crate::train::heal_run::HealOptions;
use crate::train::heal_step::HealConfig;
use crate::train::{DistillConfig, TrainConfig};

/// Fine-tuning of one task (HF `run_glue`'s recipe by default: 3 epochs, batch 32, length 128).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    #[serde(default = "three")]
    pub epochs: usize,
    /// Steps instead of epochs (short studies, tests).
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Peak learning rate of the reduced plans (default: `lr`).
    #[serde(default)]
    pub reduced_lr: Option<f64>,
    /// Peak learning rate of the route cut from the fine-tuned model (default: `lr`).
    #[serde(default)]
    pub pruned_lr: Option<f64>,
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Evaluate on dev every N steps (the best is kept); 0: only at the end.
    #[serde(default)]
    pub eval_every: usize,
}

/// Task-agnostic healing (and the healing of the route cut from the fine-tuned model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyHealSpec {
    /// Unlabelled sentences: a text file, a GLUE `.tsv` or a GLUE task folder.
    pub text: PathBuf,
    #[serde(default)]
    pub text_task: Option<Task>,
    #[serde(default = "one")]
    pub epochs: usize,
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default = "thirty_two")]
    pub batch_size: usize,
    #[serde(default = "sixty_four")]
    pub max_len: usize,
    #[serde(default = "heal_lr")]
    pub lr: f64,
}

/// A study, as its JSON file says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    #[serde(default = "default_model")]
    pub model: String,
    /// The GLUE folder holding the tasks' folders (`SST-2`, `CoLA`, ...).
    pub glue: PathBuf,
    /// Tasks by name (`cola`, `sst2`, `mrpc`, `rte`, ...) with their recipes.
    pub tasks: BTreeMap<String, TaskSpec>,
    /// Plans; the checkpoint's own (full) plan is always among them.
    pub plans: Vec<String>,
    pub routes: Vec<Route>,
    #[serde(default = "three_u64")]
    pub seeds: u64,
    #[serde(default = "forty_two")]
    pub seed: u64,
    #[serde(default = "thirty_two")]
    pub batch_size: usize,
    /// Needed by the `healed-once` and `from-finetuned` routes.
    #[serde(default)]
    pub heal: Option<StudyHealSpec>,
    /// Needed by the `pretrained` route: the corpus and the token budgets.
    #[serde(default)]
    pub pretrain: Option<PretrainSpec>,
    /// Distillation of the `from-finetuned` route (layer to layer, from the task's full model).
    #[serde(default = "default_distill")]
    pub distill: DistillConfig,
    /// Fair rates: every plan and route, the full model included, is fine-tuned at each of these
    /// peak learning rates (runs under `<task>/lr-<rate>/`), and each row takes the rate whose
    /// best dev mean is highest — the same choice for all, so that no row's lead is its rate.
    /// The tasks' `lr` / `reduced_lr` / `pruned_lr` are then unused. Empty: the tasks' rates.
    /// On the `pretrained` route every budget's fine-tunings take the grid too; the
    /// pre-trainings are shared by all rates.
    #[serde(default)]
    pub lr_grid: Vec<f64>,
}

/// The most rates a study's `lr_grid` holds (each multiplies every comparison's runs).
pub const MAX_LR_GRID: usize = 8;

fn three() -> usize {
    3
}
fn three_u64() -> u64 {
    3
}
fn one() -> usize {
    1
}
fn thirty_two() -> usize {
    32
}
fn sixty_four() -> usize {
    64
}
fn forty_two() -> u64 {
    42
}
fn default_lr() -> f64 {
    5e-5
}
fn heal_lr() -> f64 {
    1e-4
}
fn default_max_len() -> usize {
    128
}
fn default_model() -> String {
    "default".into()
}
fn default_distill() -> DistillConfig {
    DistillConfig { temperature: 2.0, alpha: 0.5, hidden_weight: 1.0, attention_weight: 1.0 }
}

impl StudySpec {
    /// Reads a study file; a malformed one is refused naming the file and the field.
    pub fn read(path: &Path) -> Result<Self, ExperimentError> {
        let bytes = crate::data::read_capped(path, crate::data::MAX_JSON_BYTES, "study file").map_err(io(path))?;
        let text = String::from_utf8(bytes).map_err(|_| ExperimentError::Spec(format!("{}: not UTF-8 text", path.display())))?;
        serde_json::from_str(&text).map_err(|e| ExperimentError::Spec(format!("{}: {e}", path.display())))
    }

    /// The tasks, parsed, in the spec's order.
    pub fn tasks(&self) -> Result<Vec<(Task, &TaskSpec)>, ExperimentError> {
        if self.tasks.is_empty() {
            return Err(ExperimentError::Spec("tasks: expected at least one task".into()));
        }
        self.tasks.iter().map(|(name, recipe)| Ok((Task::parse(name).map_err(|e| ExperimentError::Spec(format!("tasks: {e}")))?, recipe))).collect()
    }

    /// Checks everything that can be checked before the first run, for a checkpoint of `layers`
    /// layers: names, plans, routes, seeds, and each task's and the healing's settings.
    pub fn validate(&self, layers: usize) -> Result<(), ExperimentError> {
        let bad = |m: String| Err(ExperimentError::Spec(m));
        for (task, _) in self.tasks()? {
            let options = self.options(task)?;
            options.validate().map_err(|e| ExperimentError::Spec(format!("tasks.{}: {e}", task.name())))?;
        }
        if self.plans.is_empty() {
            return bad("plans: expected at least one plan".into());
        }
        for p in &self.plans {
            FfnPlan::parse(p, layers).map_err(|e| ExperimentError::Spec(format!("plans: {e}")))?;
        }
        if self.routes.is_empty() {
            return bad("routes: expected at least one of deleted, healed-once, from-finetuned, pretrained".into());
        }
        match (&self.pretrain, self.routes.contains(&Route::Pretrained)) {
            (None, true) => return bad("pretrain: the pretrained route needs it (corpus, tokens, ...)".into()),
            (Some(p), _) => {
                p.options(self.seed)?;
                if p.seeds_below_largest > self.seeds {
                    return bad(format!("pretrain.seeds_below_largest {}: expected at most the study's seeds ({})", p.seeds_below_largest, self.seeds));
                }
            }
            _ => {}
        }
        if self.seeds == 0 || self.seeds > super::compare::MAX_SEEDS {
            return bad(format!("seeds {}: expected 1 to {}", self.seeds, super::compare::MAX_SEEDS));
        }
        if self.seed.checked_add(self.seeds).is_none() {
            return bad(format!("seed {} with seeds {}: the last seed would pass 2^64 − 1", self.seed, self.seeds));
        }
        if self.lr_grid.len() > MAX_LR_GRID || self.lr_grid.iter().any(|lr| !(*lr > 0.0 && lr.is_finite())) {
            return bad(format!("lr_grid {:?}: expected at most {MAX_LR_GRID} positive, finite learning rates", self.lr_grid));
        }
        let healing = self.routes.iter().any(|r| matches!(r, Route::HealedOnce | Route::FromFinetuned));
        match (&self.heal, healing) {
            (None, true) => return bad("heal: the healed-once and from-finetuned routes need it (text, steps or epochs, ...)".into()),
            (Some(_), _) => self.heal_options()?.validate().map_err(|e| ExperimentError::Spec(format!("heal: {e}")))?,
            _ => {}
        }
        let distill = TrainConfig { distill: Some(self.distill.clone()), ..TrainConfig::default() };
        distill.validate().map_err(|e| ExperimentError::Spec(format!("distill: {e}")))?;
        Ok(())
    }

    fn recipe(&self, task: Task) -> Result<&TaskSpec, ExperimentError> {
        Ok(self.tasks()?.into_iter().find(|(t, _)| *t == task).expect("a task of the spec").1)
    }

    /// The fine-tuning options of `task`.
    pub fn options(&self, task: Task) -> Result<FinetuneOptions, ExperimentError> {
        let r = self.recipe(task)?;
        Ok(FinetuneOptions {
            train: TrainConfig { batch_size: self.batch_size, max_len: r.max_len, lr: r.lr, seed: self.seed, ..TrainConfig::default() },
            epochs: r.epochs,
            max_steps: r.steps,
            eval_every: r.eval_every,
            save_every: 200,
            eval_batch_size: 64,
            teacher: None,
            dropout: None,
            made_from: None,
        })
    }

    fn heal_options(&self) -> Result<HealOptions, ExperimentError> {
        let h = self.heal.as_ref().ok_or_else(|| ExperimentError::Spec("heal: missing".into()))?;
        Ok(HealOptions {
            config: HealConfig { lr: h.lr, seed: self.seed, ..HealConfig::default() },
            batch_size: h.batch_size,
            max_len: h.max_len,
            epochs: h.epochs,
            max_steps: h.steps,
            eval_every: 0,
            save_every: 100,
            made_from: None,
        })
    }
}

/// Part of a study to run now (`--tasks`, `--routes`): the rest is run later, reusing these
/// runs. A task's healing share is still divided over all the spec's tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyPart {
    /// Task names of the spec; empty: all.
    pub tasks: Vec<String>,
    /// Routes of the spec; empty: all.
    pub routes: Vec<Route>,
    /// The first N of the spec's seeds; `None`: all.
    pub seeds: Option<u64>,
    /// Reduced plans of the spec (as written there); empty: all. The full model always runs.
    pub plans: Vec<String>,
}

impl StudyPart {
    /// `spec` narrowed to this part; a task or route the spec does not hold is refused by name.
    pub fn narrow(&self, spec: &StudySpec) -> Result<StudySpec, ExperimentError> {
        let mut part = spec.clone();
        if !self.tasks.is_empty() {
            for name in &self.tasks {
                let task = Task::parse(name).map_err(|e| ExperimentError::Spec(format!("--tasks: {e}")))?;
                if !spec.tasks()?.iter().any(|(t, _)| *t == task) {
                    return Err(ExperimentError::Spec(format!(
                        "--tasks: the study has no task {name} (it has {})",
                        spec.tasks.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            let wanted: Vec<Task> = self.tasks.iter().map(|n| Task::parse(n).expect("checked")).collect();
            part.tasks.retain(|name, _| Task::parse(name).map(|t| wanted.contains(&t)).unwrap_or(false));
        }
        if !self.routes.is_empty() {
            if let Some(r) = self.routes.iter().find(|r| !spec.routes.contains(r)) {
                return Err(ExperimentError::Spec(format!("--routes: the study has no route {}", r.label())));
            }
            part.routes.retain(|r| self.routes.contains(r));
        }
        if !self.plans.is_empty() {
            let wanted: Vec<String> = self.plans.iter().map(|p| p.trim().to_string()).collect();
            if let Some(p) = wanted.iter().find(|p| !spec.plans.contains(p)) {
                return Err(ExperimentError::Spec(format!("--plans: the study has no plan {p:?} (it has {})", spec.plans.join(", "))));
            }
            part.plans.retain(|p| wanted.contains(p));
        }
        if let Some(n) = self.seeds {
            if n == 0 || n > spec.seeds {
                return Err(ExperimentError::Spec(format!("--seeds {n}: the study has {} seed(s); expected 1 to {}", spec.seeds, spec.seeds)));
            }
            part.seeds = n;
        }
        Ok(part)
    }
}

/// Runs (or reuses) every run of `spec` and returns the study's table; each task's comparison
/// table is written under `out/<task>/`, and the study's files so far into `out`, as each task
/// finishes — an interrupted study leaves the finished tasks' table behind.
pub fn study(checkpoint: &Checkpoint, spec: &StudySpec, out: &Path, runner: &mut Runner<'_>) -> Result<StudyTable, ExperimentError> {
    study_part(checkpoint, spec, &StudyPart::default(), out, runner)
}

/// [`study`] of a part of `spec`.
pub fn study_part(checkpoint: &Checkpoint, whole: &StudySpec, part: &StudyPart, out: &Path, runner: &mut Runner<'_>) -> Result<StudyTable, ExperimentError> {
    let layers = checkpoint.config.num_hidden_layers;
    whole.validate(layers)?;
    // One study per folder at a time; its runs lock their own folders too.
    let _lock = crate::checkpoint::RunLock::acquire(out, "study")?;
    let sharing = whole.tasks.len();
    let spec = &part.narrow(whole)?;
    let full = checkpoint.plan();
    let mut plans: Vec<FfnPlan> = vec![full.clone()];
    for p in &spec.plans {
        let plan = FfnPlan::parse(p, layers)?;
        if !plans.contains(&plan) {
            plans.push(plan);
        }
    }
    let tasks = spec.tasks()?;
    let heal = match &spec.heal {
        Some(h) => Some(HealSpec { text: TextSpec { path: h.text.clone(), task: h.text_task }, options: spec.heal_options()? }),
        None => None,
    };
    let title = format!(
        "{} — {} seed(s), batch {}, routes {}",
        checkpoint.name(),
        spec.seeds,
        spec.batch_size,
        spec.routes.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")
    );
    let mut table = StudyTable { title, layers, tasks: Vec::new(), notes: Vec::new() };
    let compared_routes = spec.routes.iter().any(|r| r.variant().is_some());
    for (task, recipe) in tasks.iter().filter(|_| compared_routes) {
        let task_out = out.join(task.name());
        let base = CompareSpec {
            plans: plans.clone(),
            seeds: spec.seeds,
            data: DataSpec { task: *task, dir: Some(spec.glue.clone()), skip_bad_rows: false },
            options: spec.options(*task)?,
            // Only the route from the fine-tuned model distils; compare refuses layer weights
            // that no variant would use.
            distill: if spec.routes.contains(&Route::FromFinetuned) { spec.distill.clone() } else { DistillConfig::default() },
            distilled: false,
            heal: heal.clone(),
            from_finetuned: spec.routes.contains(&Route::FromFinetuned),
            reduced_lr: recipe.reduced_lr,
            pruned_lr: recipe.pruned_lr,
            variants: Some(spec.routes.iter().filter_map(|r| r.variant()).collect()),
            heal_dir: Some(out.join("heal")),
            out: task_out.clone(),
        };
        runner.say(&format!("study: {task} ({} plans × {} routes × {} seeds)", plans.len(), spec.routes.len(), spec.seeds));
        let compared = if spec.lr_grid.is_empty() {
            compare(checkpoint, &base, runner)?
        } else {
            let mut tables = Vec::new();
            for &lr in &spec.lr_grid {
                let mut at = base.clone();
                at.options.train.lr = lr;
                at.reduced_lr = Some(lr);
                // Only the route from the fine-tuned model has a rate of its own.
                at.pruned_lr = at.from_finetuned.then_some(lr);
                at.out = task_out.join(format!("lr-{lr}"));
                runner.say(&format!("study: {task} at lr {lr}"));
                let table = compare(checkpoint, &at, runner)?;
                write_table(&table, &at.out)?;
                tables.push(table);
            }
            best_rates(tables, &full.to_string(), &spec.lr_grid)
        };
        write_table(&compared, &task_out)?;
        table.notes.extend(compared.notes.iter().map(|n| format!("{task}: {n}")));
        let mut done = summarise_task(*task, &compared, &full, sharing)?;
        done.reference = reference_row(&task_out.join(REFERENCE_FILE), &done)?;
        table.tasks.push(done);
        write_study(&table, out)?;
    }
    if spec.routes.contains(&Route::Pretrained) {
        let recipe = spec.pretrain.as_ref().ok_or_else(|| ExperimentError::Spec("pretrain: the pretrained route needs it (corpus, tokens, ...)".into()))?;
        let mut route = PretrainedRoute {
            recipe,
            plans: plans[1..].to_vec(),
            glue: spec.glue.clone(),
            tasks: Vec::new(),
            seed: spec.seed,
            seeds: spec.seeds,
            tasks_sharing: sharing,
            lr_grid: spec.lr_grid.clone(),
        };
        for (task, r) in &tasks {
            route.tasks.push((*task, spec.options(*task)?, r.reduced_lr));
        }
        // A task the comparison already has gets the pre-trained rows beside its own.
        let mut add = |task: StudyTask, notes: Vec<String>| {
            table.notes.extend(notes);
            match table.tasks.iter_mut().find(|t| t.task == task.task) {
                Some(t) => t.rows.extend(task.rows),
                None => table.tasks.push(task),
            }
            write_study(&table, out)
        };
        pretrained(checkpoint, &route, out, runner, &mut add)?;
    }
    Ok(table)
}

/// One table from a comparison run at each rate of `grid`: each plan and variant's row from
/// the rate with the highest best-dev mean (ties: the first rate), then related to the full
/// plan's chosen row. The title and notes say how the rates were chosen.
pub fn best_rates(tables: Vec<CompareTable>, full: &str, grid: &[f64]) -> CompareTable {
    let mut tables = tables.into_iter();
    let mut best = tables.next().expect("a grid holds at least one rate");
    let mut notes = std::mem::take(&mut best.notes);
    for table in tables {
        notes.extend(table.notes);
        for row in table.rows {
            match best.rows.iter_mut().find(|r| r.plan == row.plan && r.variant == row.variant) {
                Some(kept) if row.mean > kept.mean => *kept = row,
                Some(_) => {}
                None => best.rows.push(row),
            }
        }
    }
    // The first rate's title names that rate as everyone's: say instead how the rates were chosen.
    let first = format!(", lr {} (reduced plans {})", grid[0], grid[0]);
    let grid: Vec<String> = grid.iter().map(|lr| lr.to_string()).collect();
    best.title = format!("{}; every row at the peak rate its best dev mean chose from {{{}}}", best.title.replacen(&first, "", 1), grid.join(", "));
    let chosen: Vec<String> = best.rows.iter().map(|r| format!("{} {}", r.name(), r.lr)).collect();
    notes.push(format!(
        "each row's rate was chosen on dev from {{{}}} ({}); the search's own runs (one comparison per rate, under lr-*/) are not in the time ratios",
        grid.join(", "),
        chosen.join(", ")
    ));
    best.notes = notes;
    best.relate_to(full);
    best
}

/// The reference trainer's runs of a task's full-model recipe, beside its comparison
/// (`OUT/<task>/reference.jsonl`, appended by `scripts/glue_pytorch.py --json`).
pub const REFERENCE_FILE: &str = "reference.jsonl";

/// The task's reference row, if its file is there; a malformed one is refused by name and line.
fn reference_row(path: &Path, task: &StudyTask) -> Result<Option<ReferenceRow>, ExperimentError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let name = path.display().to_string();
    let runs = parse_reference_runs(&name, &text)?;
    Ok(Some(ReferenceRow::new(&name, &task.task, &runs, &task.full)?))
}

/// A task's rows from its comparison table: costs with the healing shares, and the answer.
fn summarise_task(task: Task, table: &CompareTable, full: &FfnPlan, tasks_sharing_healing: usize) -> Result<StudyTask, ExperimentError> {
    let full_name = full.to_string();
    let reference = table.rows.iter().find(|r| r.plan == full_name).ok_or_else(|| ExperimentError::Spec(format!("{task}: the full plan has no row")))?;
    let row = |r: &PlanSummary, route: Route| {
        let heal_share = match route {
            Route::Deleted => 0.0,
            Route::HealedOnce => r.heal_seconds.unwrap_or(0.0) / tasks_sharing_healing.max(1) as f64,
            // Healed per seed against the task's full model, whose run it also needs.
            Route::FromFinetuned => r.heal_seconds.unwrap_or(0.0) + reference.train_seconds,
            // Not a comparison variant: its rows are in the pretrained table.
            Route::Pretrained => 0.0,
        };
        let cost = r.train_seconds + heal_share;
        StudyRow {
            plan: r.plan.clone(),
            route,
            metric: r.metric.clone(),
            best: r.values.clone(),
            best_mean: r.mean,
            best_std: r.std,
            final_mean: r.final_mean,
            final_std: r.final_std,
            delta_points: 100.0 * (r.mean - reference.mean),
            final_delta_points: r.final_mean.zip(reference.final_mean).map(|(a, b)| 100.0 * (a - b)),
            params: r.params,
            params_ratio: r.params_ratio,
            flops_ratio: r.flops_ratio,
            train_seconds: r.train_seconds,
            cost_seconds: cost,
            cost_ratio: cost / reference.train_seconds.max(1e-9),
            pretrain_tokens: None,
            lr: Some(r.lr),
        }
    };
    let full_row = row(reference, Route::Deleted);
    let rows: Vec<StudyRow> = table.rows.iter().filter(|r| r.plan != full_name).filter_map(|r| Route::of(r.variant).map(|route| row(r, route))).collect();
    let answer = answer(task, &full_row, &rows, full.kept().count());
    Ok(StudyTask { task: task.name().to_string(), metric: reference.metric.clone(), full: full_row, rows, answer, reference: None })
}

/// Writes `study.md`, `study.json` and `study.png` (Δ vs full per task, plan and route, with the
/// seeds' standard deviation as error bars) into `out`.
pub fn write_study(table: &StudyTable, out: &Path) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    crate::checkpoint::write_atomic(&out.join("study.md"), table.markdown().as_bytes())?;
    crate::checkpoint::write_atomic(&out.join("study.json"), serde_json::to_string_pretty(table).expect("a study serialises").as_bytes())?;
    let (groups, series) = table.delta_series();
    if series.is_empty() {
        return Ok(());
    }
    let path = out.join("study.png");
    png::grouped_bars(&path, "Δ vs the full model per task (mean over seeds, ± sd)", "points (dev metric × 100)", &groups, &series)
        .map_err(|e| ExperimentError::Chart { path: path.clone(), reason: e.to_string() })
}
