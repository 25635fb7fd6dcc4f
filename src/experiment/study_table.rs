//! A study's table (`study.json`): one type for the command that writes it and the page that
//! shows it on first visit ([`crate::web::findings`]), like [`super::table`] for comparisons.

use serde::{Deserialize, Serialize};

use super::results::ResultsError;
use super::table::{PlanSummary, Variant, notes_markdown};
use crate::chart::BarSeries;
use crate::data::Task;
use crate::model::FfnPlan;

/// How a reduced model is made before it is fine-tuned on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Cut from the pre-trained checkpoint, then fine-tuned.
    Deleted,
    /// Cut from the pre-trained checkpoint and healed against it once per plan on unlabelled
    /// text (task-agnostic, shared by every task), then fine-tuned.
    HealedOnce,
    /// Cut from the task's fine-tuned full model, healed against it, fine-tuned with
    /// layer-to-layer distillation from it.
    FromFinetuned,
    /// Cut from the pre-trained checkpoint and pre-trained against it on a text corpus (the
    /// paper's route; once per plan, shared by every task), then fine-tuned from each milestone
    /// of the pre-training ([`super::pretrained`]).
    Pretrained,
}

impl Route {
    /// The comparison variant this route's runs are (`None`: the route has its own table).
    pub fn variant(self) -> Option<Variant> {
        match self {
            Route::Deleted => Some(Variant::Deleted),
            Route::HealedOnce => Some(Variant::Healed),
            Route::FromFinetuned => Some(Variant::PrunedDistill),
            Route::Pretrained => None,
        }
    }

    /// The route of a comparison variant, if it is one.
    pub fn of(variant: Variant) -> Option<Route> {
        match variant {
            Variant::Deleted => Some(Route::Deleted),
            Variant::Healed => Some(Route::HealedOnce),
            Variant::PrunedDistill => Some(Route::FromFinetuned),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::Deleted => "deleted",
            Route::HealedOnce => "healed once",
            Route::FromFinetuned => "cut from fine-tuned",
            Route::Pretrained => "pre-trained",
        }
    }
}

/// One row of a task's table: a plan by one route, over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRow {
    pub plan: String,
    pub route: Route,
    pub metric: String,
    /// Best dev evaluation per seed, and its mean and sample standard deviation.
    pub best: Vec<f64>,
    pub best_mean: f64,
    pub best_std: f64,
    /// Final dev evaluation per seed (the last step), mean and standard deviation.
    pub final_mean: Option<f64>,
    pub final_std: Option<f64>,
    /// Δ of the best mean vs the full model's, in points (metric × 100).
    pub delta_points: f64,
    pub final_delta_points: Option<f64>,
    pub params: usize,
    pub params_ratio: f64,
    pub flops_ratio: f64,
    /// Fine-tuning seconds per seed.
    pub train_seconds: f64,
    /// What the row cost per seed on this task: fine-tuning, plus its share of healing (a
    /// task-agnostic healing divided over the study's tasks), plus the full model's run when the
    /// route starts from it.
    pub cost_seconds: f64,
    /// `cost_seconds` over the full model's.
    pub cost_ratio: f64,
    /// The `pretrained` route's pre-training budget (tokens) of the checkpoint the row started
    /// from; its cost share is in `cost_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_tokens: Option<u64>,
    /// The peak learning rate of the row's fine-tunings (with a study's `lr_grid`: the one its
    /// dev score chose). Absent in studies written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

impl StudyRow {
    /// The route in words, with the pre-training budget where there is one.
    pub fn route_label(&self) -> String {
        match self.pretrain_tokens {
            Some(t) => format!("{} {}", self.route.label(), crate::data::corpus::tokens_label(t)),
            None => self.route.label().to_string(),
        }
    }
}

/// One task of a study: its rows and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyTask {
    pub task: String,
    pub metric: String,
    pub full: StudyRow,
    pub rows: Vec<StudyRow>,
    /// How many intermediate blocks can go within one point, and by which route, in words.
    pub answer: String,
    /// The full model's recipe run by the reference trainer (PyTorch `transformers`), when the
    /// study found its runs: a reader sees whether the full model here is handicapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceRow>,
}

/// The full model's recipe run by another trainer (`scripts/glue_pytorch.py`), over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRow {
    /// For instance `PyTorch 2.15.0 + transformers`.
    pub trainer: String,
    pub seeds: Vec<u64>,
    pub best: Vec<f64>,
    pub best_mean: f64,
    pub best_std: f64,
    pub final_mean: f64,
    pub final_std: f64,
    /// The full model's best mean here minus the reference's, in points: negative = below it.
    pub full_delta_points: f64,
    /// The same for the final evaluations, when the full model has them.
    pub full_final_delta_points: Option<f64>,
    /// Fine-tuning seconds per seed (on whatever machine the reference ran).
    pub train_seconds: f64,
}

/// One line of the reference trainer's output (`scripts/glue_pytorch.py` prints and appends
/// it): `{"task", "seed", "metric", "best", "final", "train_seconds", "torch"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRun {
    pub task: String,
    pub seed: u64,
    pub metric: String,
    pub best: f64,
    #[serde(rename = "final")]
    pub final_value: f64,
    pub train_seconds: f64,
    /// The PyTorch version that ran it.
    #[serde(default)]
    pub torch: Option<String>,
}

/// Reads a reference file: one JSON run per line (blank lines skipped); `name` names it in errors.
pub fn parse_reference_runs(name: &str, text: &str) -> Result<Vec<ReferenceRun>, ResultsError> {
    let bad = |line: usize, reason: String| ResultsError::Reference { name: name.into(), line, reason };
    let mut runs = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let run: ReferenceRun = serde_json::from_str(l).map_err(|e| bad(i + 1, e.to_string()))?;
        if run.best.abs() > 1.0 || run.final_value.abs() > 1.0 {
            return Err(bad(i + 1, format!("metric {} / {} is not a fraction in [-1, 1]", run.best, run.final_value)));
        }
        runs.push(run);
    }
    if runs.is_empty() {
        return Err(bad(0, "no run in the file".into()));
    }
    Ok(runs)
}

impl ReferenceRow {
    /// The row for `task` from its reference runs, against the full model's row; runs of another
    /// task or metric are refused (a file copied into the wrong task's folder).
    pub fn new(name: &str, task: &str, runs: &[ReferenceRun], full: &StudyRow) -> Result<ReferenceRow, ResultsError> {
        if let Some(r) = runs.iter().find(|r| r.task != task || r.metric != full.metric) {
            let reason = format!("a run of {} ({}) in {task}'s reference; expected {task} ({})", r.task, r.metric, full.metric);
            return Err(ResultsError::Reference { name: name.into(), line: 0, reason });
        }
        let stats = |f: fn(&ReferenceRun) -> f64| PlanSummary::mean_std(&runs.iter().map(f).collect::<Vec<_>>());
        let (best_mean, best_std) = stats(|r| r.best);
        let (final_mean, final_std) = stats(|r| r.final_value);
        Ok(ReferenceRow {
            trainer: runs.iter().find_map(|r| r.torch.as_ref()).map(|t| format!("PyTorch {t} + transformers")).unwrap_or_else(|| "reference trainer".into()),
            seeds: runs.iter().map(|r| r.seed).collect(),
            best: runs.iter().map(|r| r.best).collect(),
            best_mean,
            best_std,
            final_mean,
            final_std,
            full_delta_points: 100.0 * (full.best_mean - best_mean),
            full_final_delta_points: full.final_mean.map(|f| 100.0 * (f - final_mean)),
            train_seconds: stats(|r| r.train_seconds).0,
        })
    }
}

impl StudyTask {
    /// The full model here against the reference trainer's run of the same recipe, in words.
    pub fn reference_line(&self) -> Option<String> {
        let r = self.reference.as_ref()?;
        let fin = r.full_final_delta_points.map(|d| format!("{d:+.2}")).unwrap_or_else(|| "–".into());
        Some(format!(
            "{}: the full model here {:+.2} points vs {} on the same recipe (best dev; final {fin}), {} seed(s) there",
            self.task,
            r.full_delta_points,
            r.trainer,
            r.seeds.len()
        ))
    }
}

/// `study.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyTable {
    pub title: String,
    pub layers: usize,
    pub tasks: Vec<StudyTask>,
    /// What the reader should know about how the rows were made: each stale run replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl StudyTable {
    /// The study in Markdown: one line per task answering the question, then each task's table.
    pub fn markdown(&self) -> String {
        let pm = |m: f64, s: f64| format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s);
        let mut md = format!("## {}\n\n", self.title);
        for t in &self.tasks {
            md.push_str(&format!("- {}\n", t.answer));
            if let Some(line) = t.reference_line() {
                md.push_str(&format!("- {line}\n"));
            }
        }
        for t in &self.tasks {
            md.push_str(&format!(
                "\n### {} ({}, ×100)\n\n| plan | route | best dev (mean ± sd) | final dev | Δ best | Δ final | params vs full | FLOPs vs full | train time | with healing | vs full |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
                t.task, t.metric
            ));
            // Rows fine-tuned at different rates (a reduced rate, or a grid's choice) say which.
            let lrs_differ = t.rows.iter().any(|r| r.lr != t.full.lr);
            for (r, route) in std::iter::once((&t.full, "full".to_string())).chain(t.rows.iter().map(|r| (r, r.route_label()))) {
                let lr = match (lrs_differ, r.lr) {
                    (true, Some(lr)) => format!(" (lr {lr})"),
                    _ => String::new(),
                };
                md.push_str(&format!(
                    "| `{}`{lr} | {route} | {} | {} | {:+.2} | {} | {:.0}% | {:.0}% | {:.0} s | {:.0} s | {:.2}× |\n",
                    r.plan,
                    pm(r.best_mean, r.best_std),
                    r.final_mean.zip(r.final_std).map(|(m, s)| pm(m, s)).unwrap_or_else(|| "–".into()),
                    r.delta_points,
                    r.final_delta_points.map(|d| format!("{d:+.2}")).unwrap_or_else(|| "–".into()),
                    100.0 * r.params_ratio,
                    100.0 * r.flops_ratio,
                    r.train_seconds,
                    r.cost_seconds,
                    r.cost_ratio
                ));
                if let (Some(reference), "full") = (&t.reference, route.as_str()) {
                    let fin = reference.full_final_delta_points.map(|d| format!("{:+.2}", -d)).unwrap_or_else(|| "–".into());
                    md.push_str(&format!(
                        "| `{}` | {} | {} | {} | {:+.2} | {fin} | 100% | 100% | {:.0} s | – | – |\n",
                        r.plan,
                        reference.trainer,
                        pm(reference.best_mean, reference.best_std),
                        pm(reference.final_mean, reference.final_std),
                        -reference.full_delta_points,
                        reference.train_seconds
                    ));
                }
            }
        }
        md.push_str(&notes_markdown(&self.notes));
        md
    }
}

impl StudyTable {
    /// The figure's data: one group per task, one series per reduced plan and route, each bar
    /// the Δ of the best dev mean vs the full model (points) with the seeds' sd as its error.
    pub fn delta_series(&self) -> (Vec<String>, Vec<BarSeries>) {
        let groups: Vec<String> = self.tasks.iter().map(|t| t.task.clone()).collect();
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in self.tasks.iter().flat_map(|t| &t.rows) {
            if !keys.contains(&(r.plan.clone(), r.route_label())) {
                keys.push((r.plan.clone(), r.route_label()));
            }
        }
        let series = keys
            .iter()
            .map(|(plan, route)| BarSeries {
                name: format!("`{plan}` {route}"),
                values: self
                    .tasks
                    .iter()
                    .map(|t| t.rows.iter().find(|r| &r.plan == plan && &r.route_label() == route).map(|r| (r.delta_points, 100.0 * r.best_std)))
                    .collect(),
            })
            .collect();
        (groups, series)
    }
}

/// Parses a `study.json`; `name` only names the file in errors.
pub fn parse_study(name: &str, text: &str) -> Result<StudyTable, ResultsError> {
    let table: StudyTable = serde_json::from_str(text).map_err(|e| ResultsError::Study { name: name.into(), what: format!("not a study table ({e})") })?;
    if table.tasks.is_empty() {
        return Err(ResultsError::Study { name: name.into(), what: "a study with no task".into() });
    }
    Ok(table)
}

/// The blocks a plan keeps, from its name (`all` = every layer; `+norm` does not count).
fn kept_blocks(plan: &str, layers: usize) -> usize {
    FfnPlan::parse(plan, layers).map(|p| p.kept().count()).unwrap_or(layers)
}

/// "N of L blocks can go within one point": the reduced row within one point (best dev mean)
/// that removes the most blocks, ties to the cheaper; or what came closest.
pub fn answer(task: Task, full: &StudyRow, rows: &[StudyRow], layers: usize) -> String {
    let within: Vec<&StudyRow> = rows.iter().filter(|r| r.delta_points >= -1.0).collect();
    let removed = |r: &StudyRow| layers - kept_blocks(&r.plan, layers).min(layers);
    let best = within.iter().max_by(|a, b| removed(a).cmp(&removed(b)).then(b.cost_ratio.total_cmp(&a.cost_ratio)));
    match best {
        Some(r) => format!(
            "{task}: {} of {layers} intermediate blocks can go within one point — `{}` ({}) {:+.2} points, {:.2}× the full model's training time{}",
            removed(r),
            r.plan,
            r.route_label(),
            r.delta_points,
            r.cost_ratio,
            if r.cost_ratio < 1.0 { ", cheaper" } else { ", not cheaper" }
        ),
        None => {
            let closest = rows.iter().max_by(|a, b| a.delta_points.total_cmp(&b.delta_points));
            match closest {
                Some(r) => format!(
                    "{task}: no reduced plan stays within one point of the full model ({:.2}); closest `{}` ({}) {:+.2} points",
                    100.0 * full.best_mean,
                    r.plan,
                    r.route_label(),
                    r.delta_points
                ),
                None => format!("{task}: no reduced plan in the study"),
            }
        }
    }
}
