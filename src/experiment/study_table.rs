//! A study's table (`study.json`): one type for the command that writes it and the page that
//! shows it on first visit ([`crate::web::findings`]), like [`super::table`] for comparisons.

use serde::{Deserialize, Serialize};

use super::results::ResultsError;
use super::table::Variant;
use crate::chart::BarSeries;

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
}

impl Route {
    /// The comparison variant this route's runs are.
    pub fn variant(self) -> Variant {
        match self {
            Route::Deleted => Variant::Deleted,
            Route::HealedOnce => Variant::Healed,
            Route::FromFinetuned => Variant::PrunedDistill,
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
}

/// `study.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyTable {
    pub title: String,
    pub layers: usize,
    pub tasks: Vec<StudyTask>,
}

impl StudyTable {
    /// The study in Markdown: one line per task answering the question, then each task's table.
    pub fn markdown(&self) -> String {
        let pm = |m: f64, s: f64| format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s);
        let mut md = format!("## {}\n\n", self.title);
        for t in &self.tasks {
            md.push_str(&format!("- {}\n", t.answer));
        }
        for t in &self.tasks {
            md.push_str(&format!(
                "\n### {} ({}, ×100)\n\n| plan | route | best dev (mean ± sd) | final dev | Δ best | Δ final | params vs full | FLOPs vs full | train time | with healing | vs full |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
                t.task, t.metric
            ));
            for (r, route) in std::iter::once((&t.full, "full")).chain(t.rows.iter().map(|r| (r, r.route.label()))) {
                md.push_str(&format!(
                    "| `{}` | {route} | {} | {} | {:+.2} | {} | {:.0}% | {:.0}% | {:.0} s | {:.0} s | {:.2}× |\n",
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
            }
        }
        md
    }
}

impl StudyTable {
    /// The figure's data: one group per task, one series per reduced plan and route, each bar
    /// the Δ of the best dev mean vs the full model (points) with the seeds' sd as its error.
    pub fn delta_series(&self) -> (Vec<String>, Vec<BarSeries>) {
        let groups: Vec<String> = self.tasks.iter().map(|t| t.task.clone()).collect();
        let mut keys: Vec<(String, Route)> = Vec::new();
        for r in self.tasks.iter().flat_map(|t| &t.rows) {
            if !keys.contains(&(r.plan.clone(), r.route)) {
                keys.push((r.plan.clone(), r.route));
            }
        }
        let series = keys
            .iter()
            .map(|(plan, route)| BarSeries {
                name: format!("`{plan}` {}", route.label()),
                values: self.tasks.iter().map(|t| t.rows.iter().find(|r| &r.plan == plan && r.route == *route).map(|r| (r.delta_points, 100.0 * r.best_std))).collect(),
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
