//! The model a fine-tuning run starts from, built one way for the CLI and the page: a
//! checkpoint's encoder with the run's plan, and a classification head for the task.
//!
//! **A checkpoint fine-tuned on another task** (its `config.json` has `id2label` with another
//! number of labels, or `finetuning_task` naming another task) keeps its encoder and gets a new
//! head drawn from the run's seed; the run reports it ([`Head::Replaced`]) and the CLI and the
//! page say so. That is what intermediate-task transfer (fine-tune on MNLI, then on RTE) needs,
//! and a head trained for other labels would only be noise to unlearn.

use burn::tensor::Device;

use crate::checkpoint::{Checkpoint, LoadReport, load_classifier, load_classifier_new_head};
use crate::data::Task;
use crate::error::CheckpointError;
use crate::model::{BertConfig, BertForSequenceClassification, FfnPlan};

/// Where the head of a run's starting model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// The checkpoint had no head (a pre-trained encoder): a new one from the run's seed.
    New,
    /// The checkpoint's head, fine-tuned for this task's labels.
    Kept,
    /// The checkpoint was fine-tuned for `labels` labels (on `task`, when it says): its head was
    /// left out and a new one drawn.
    Replaced { labels: usize, task: Option<String> },
}

impl Head {
    /// A sentence for the user when the head was replaced.
    pub fn notice(&self, source: &std::path::Path, task: Task) -> Option<String> {
        let Head::Replaced { labels, task: from } = self else { return None };
        let from = from.as_ref().map(|t| format!(" on {t}")).unwrap_or_default();
        Some(format!("{}: fine-tuned{from} with {labels} label(s); its encoder is kept and a new {task} head is trained", source.display()))
    }
}

/// What [`Head`] a run on `task` gives `checkpoint`.
pub fn head_for(config: &BertConfig, task: Task) -> Head {
    let Some(_) = config.id2label else { return Head::New };
    let labels = config.num_labels();
    let other_task = config.extra.get("finetuning_task").and_then(|t| t.as_str()).filter(|t| *t != task.name()).map(str::to_string);
    if labels == task.num_labels() && other_task.is_none() { Head::Kept } else { Head::Replaced { labels, task: other_task } }
}

/// The starting classifier of a run on `task` with `plan`: `checkpoint`'s weights, or
/// `encoder` (safetensors of an encoder healed in the page) in their place. A new head is drawn
/// from `seed`, so the same seed gives the same head. `device` is the run's (autodiff).
pub fn start_classifier(
    checkpoint: &Checkpoint,
    encoder: Option<&[u8]>,
    plan: &FfnPlan,
    task: Task,
    seed: u64,
    device: &Device,
) -> Result<(BertForSequenceClassification, Head, LoadReport), CheckpointError> {
    // The weights' own architecture (the checkpoint's plan, or `plan` for a healed encoder), with
    // the task's labels: the loader takes the plan's blocks from it and names missing ones.
    let own = match encoder {
        Some(_) => checkpoint.config.with_plan(plan),
        None => checkpoint.config.clone(),
    };
    let config = classifier_config(&own, &own.plan(), task);
    let path = checkpoint.source.join("model.safetensors");
    let head = match encoder {
        Some(_) => Head::New,
        None => head_for(&checkpoint.config, task),
    };
    device.seed(seed);
    let (model, report) = match (encoder, &head) {
        (Some(weights), _) => load_classifier_new_head(weights, &path, &config, plan, device)?,
        (None, Head::Replaced { .. }) => load_classifier_new_head(&checkpoint.weights, &path, &config, plan, device)?,
        (None, _) => load_classifier(&checkpoint.weights, &path, &config, plan, device)?,
    };
    Ok((model, head, report))
}

/// The classifier config written with the checkpoint: plan, labels, HF architecture name.
pub fn classifier_config(base: &BertConfig, plan: &FfnPlan, task: Task) -> BertConfig {
    let mut config = base.with_plan(plan);
    if task.is_regression() {
        config.set_labels(&["score".to_string()]);
        config.extra.insert("problem_type".into(), serde_json::json!("regression"));
    } else {
        config.set_labels(&task.labels().iter().map(|s| s.to_string()).collect::<Vec<_>>());
        config.extra.insert("problem_type".into(), serde_json::json!("single_label_classification"));
    }
    config.extra.insert("architectures".into(), serde_json::json!(["BertForSequenceClassification"]));
    config.extra.insert("finetuning_task".into(), serde_json::json!(task.name()));
    config
}
