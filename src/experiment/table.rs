//! The summary table of a comparison: one row per plan and variant over its seeds, relative to
//! the full model. The same types write `compare.json` and read it back (the page, `publish`,
//! later studies), so the file format is defined once.

use serde::{Deserialize, Serialize};

/// How a reduced model was prepared before fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The suffix of the variant's run folders (`plan-0_5-healed`).
    pub fn suffix(self) -> &'static str {
        match self {
            Variant::Deleted => "",
            Variant::DeletedDistill => "-distill",
            Variant::Healed => "-healed",
            Variant::HealedDistill => "-healed-distill",
            Variant::PrunedDistill => "-pruned-distill",
        }
    }

    /// How tables name it.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Deleted => "deleted",
            Variant::DeletedDistill => "deleted + distill",
            Variant::Healed => "healed",
            Variant::HealedDistill => "healed + distill",
            Variant::PrunedDistill => "pruned from fine-tuned + healed + distill",
        }
    }

    /// Whether the variant learns from the full plan's fine-tuned run (its teacher).
    pub fn distilled(self) -> bool {
        matches!(self, Variant::DeletedDistill | Variant::HealedDistill | Variant::PrunedDistill)
    }
}

fn deleted() -> Variant {
    Variant::Deleted
}

/// One row of the table: a plan and variant over its seeds. Fields a reader can do without
/// default when absent, so tables written by earlier versions still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub plan: String,
    #[serde(default = "deleted")]
    pub variant: Variant,
    /// Peak learning rate of the row's runs.
    #[serde(default)]
    pub lr: f64,
    pub metric: String,
    /// The main metric of each seed's best checkpoint.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation over seeds (0 with one seed).
    #[serde(default)]
    pub std: f64,
    /// The main metric of each seed's last evaluation, its mean and spread: the best of several
    /// evaluations on a dev set of a few hundred examples flatters every row.
    #[serde(default)]
    pub final_values: Vec<f64>,
    #[serde(default)]
    pub final_mean: Option<f64>,
    #[serde(default)]
    pub final_std: Option<f64>,
    pub params: usize,
    #[serde(default)]
    pub params_ratio: f64,
    #[serde(default)]
    pub flops_ratio: f64,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    #[serde(default)]
    pub speedup: f64,
    #[serde(default)]
    pub delta_vs_full: Option<f64>,
    /// Wall time and sentences of healing (per seed, averaged), for healed variants.
    #[serde(default)]
    pub heal_seconds: Option<f64>,
    #[serde(default)]
    pub heal_examples: Option<usize>,
}

/// `compare.json`: a title saying what was compared and how, and the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareTable {
    pub title: String,
    pub rows: Vec<PlanSummary>,
    /// What the reader should know about how the rows were made: each stale run replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl PlanSummary {
    /// Mean and sample standard deviation of `values`.
    pub fn mean_std(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
        (mean, std)
    }

    /// How charts and lists name the row: the plan, and its variant when it is not a plain cut.
    pub fn name(&self) -> String {
        if self.variant == Variant::Deleted { format!("`{}`", self.plan) } else { format!("`{}` {}", self.plan, self.variant.label()) }
    }
}

impl CompareTable {
    /// Sets every row's Δ and speed-up against the full plan's row (`full`), if there is one.
    pub fn relate_to(&mut self, full: &str) {
        let Some(reference) = self.rows.iter().find(|r| r.plan == full).cloned() else { return };
        for r in &mut self.rows {
            r.speedup = r.examples_per_second / reference.examples_per_second;
            r.delta_vs_full = Some(r.mean - reference.mean);
        }
    }

    /// The table in Markdown, metric values in percent.
    pub fn markdown(&self) -> String {
        let rows = &self.rows;
        // A variant column once a plan appears in more than one way; a cost column once one healed.
        let variants = rows.iter().any(|r| r.variant != Variant::Deleted);
        let healed = rows.iter().any(|r| r.heal_seconds.is_some());
        // Rows trained at different learning rates (--reduced-lr, --pruned-lr) say which.
        let lrs_differ = rows.iter().any(|r| r.lr != rows[0].lr);
        let mut md = format!(
            "## {}\n\n| plan (layers keeping their intermediate block) | {}{} (mean ± sd) | Δ vs full | parameters | params vs full | FLOPs vs full | train time | examples/s | speed-up |{}\n|---|{}---|---|---|---|---|---|---|---|{}\n",
            self.title,
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
        md.push_str(&notes_markdown(&self.notes));
        md
    }
}

/// A table's notes as a Markdown list under a heading (nothing when there are none).
pub fn notes_markdown(notes: &[String]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let mut md = String::from("\nNotes:\n\n");
    for n in notes {
        md.push_str(&format!("- {n}\n"));
    }
    md
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(plan: &str, variant: Variant, values: &[f64]) -> PlanSummary {
        let (mean, std) = PlanSummary::mean_std(values);
        PlanSummary {
            plan: plan.into(),
            variant,
            lr: 5e-5,
            metric: "accuracy".into(),
            values: values.to_vec(),
            mean,
            std,
            final_values: vec![],
            final_mean: None,
            final_std: None,
            params: 1_000,
            params_ratio: 1.0,
            flops_ratio: 1.0,
            train_seconds: 10.0,
            examples_per_second: if plan == "all" { 2.0 } else { 3.0 },
            speedup: 1.0,
            delta_vs_full: None,
            heal_seconds: None,
            heal_examples: None,
        }
    }

    /// What the writer writes, the reader reads back unchanged; Δ and speed-up come from the
    /// full row.
    #[test]
    fn a_table_round_trips_and_relates_rows_to_the_full_model() {
        let mut table =
            CompareTable { title: "t".into(), rows: vec![row("all", Variant::Deleted, &[0.9, 0.8]), row("none", Variant::Healed, &[0.8])], notes: Vec::new() };
        table.relate_to("all");
        assert!((table.rows[1].delta_vs_full.unwrap() + 0.05).abs() < 1e-12);
        assert!((table.rows[1].speedup - 1.5).abs() < 1e-12);
        assert!((table.rows[0].std - 0.0707).abs() < 1e-3);
        let json = serde_json::to_string(&table).unwrap();
        assert!(json.contains(r#""variant":"healed""#), "{json}");
        let back: CompareTable = serde_json::from_str(&json).unwrap();
        assert_eq!((back.title.as_str(), back.rows.len(), back.rows[1].variant, back.rows[1].values.as_slice()), ("t", 2, Variant::Healed, &[0.8][..]));
        assert!((back.rows[1].delta_vs_full.unwrap() - table.rows[1].delta_vs_full.unwrap()).abs() < 1e-12);
        assert!(table.markdown().contains("| `none` | healed | 80.00 ± 0.00 | -5.00 |"), "{}", table.markdown());
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
