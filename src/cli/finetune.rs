//! `undivided finetune`: GLUE fine-tuning of a full or reduced model, resumable.

use std::path::Path;

use anyhow::Context;
use clap::Args;

use super::args::{DataArgs, DeviceArgs, ModelArgs, RunDirArgs, TrainArgs};
use super::progress::{self, install_stop_handler};
use super::thousands;
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::train::finetune_run::RunResults;

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub run: RunDirArgs,
}

/// The lines `finetune` prints at the end. A run stopped before its first evaluation has no best
/// checkpoint: it says so and shows the dev metrics of the model where it stopped.
fn results_summary(r: &RunResults, out: &Path) -> String {
    let head = match r.best_value.zip(r.best_step) {
        None => format!("stopped at step {} before its first evaluation", r.steps),
        Some((value, step)) => format!("best {} {value:.4} at step {step} of {}", r.main_metric, r.steps),
    };
    let mut lines = vec![format!(
        "{} plan `{}`: {head}; {} parameters; {:.0} s training, {:.1} examples/s",
        r.task,
        r.plan,
        thousands(r.params),
        r.train_seconds,
        r.examples_per_second
    )];
    for (name, e) in &r.dev {
        let metrics: Vec<String> = e.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        lines.push(format!("  {name} ({} examples): {}", e.examples, metrics.join(", ")));
    }
    lines.push(if r.best_value.is_none() {
        format!("results.json in {} (the model at step {}; no best checkpoint yet)", out.display(), r.steps)
    } else {
        format!("best checkpoint and results.json in {}", out.display())
    });
    lines.join("\n")
}

pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.train.teacher.is_some() || !args.train.layer_to_layer(),
        "--distill-hidden / --distill-attention: need --teacher (the model to distil from)"
    );
    let options = args.train.options()?;
    let checkpoint = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let plan = checkpoint.parse_plan(args.model.keep_ffn.as_deref())?;
    let device = args.device.init()?;
    args.run.check()?;
    install_stop_handler();
    let label = format!("{} `{plan}`", args.data.task);
    let results = progress::runner(device)
        .finetune(&checkpoint, &plan, &args.data.spec(), &options, &args.run.out, args.run.resume, &label)
        .with_context(|| format!("fine-tuning into {}", args.run.out.display()))?;
    if let Some(notice) = &results.head_notice {
        eprintln!("note: {notice}");
    }
    println!("{}", results_summary(&results, &args.run.out));
    if !results.completed {
        anyhow::bail!("stopped at step {} of the run; continue with --resume", results.steps);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Task;
    use crate::train::finetune_run::FinetuneOptions;
    use crate::train::{EvalResult, TrainConfig};

    fn results(best_value: Option<f64>) -> RunResults {
        RunResults {
            task: Task::Sst2,
            plan: "none".into(),
            dev: vec![("dev".into(), EvalResult { metrics: [("accuracy".to_string(), 0.8532)].into(), examples: 872 })],
            main_metric: "accuracy".into(),
            best_value,
            best_step: best_value.map(|_| 400),
            final_value: None,
            params: 15_619_970,
            train_seconds: 2983.0,
            examples_per_second: 4.5,
            steps: 421,
            seed: 42,
            device: "flex".into(),
            options: FinetuneOptions {
                train: TrainConfig::default(),
                epochs: 1,
                max_steps: None,
                eval_every: 500,
                save_every: 200,
                eval_batch_size: 64,
                teacher: None,
                dropout: None,
                made_from: None,
            },
            versions: serde_json::json!({}),
            completed: false,
            head_notice: None,
        }
    }

    #[test]
    fn summary_of_a_run_stopped_before_any_evaluation_says_so_instead_of_nan() {
        let text = results_summary(&results(None), Path::new("runs/x"));
        assert!(!text.contains("NaN"), "{text}");
        assert!(text.contains("stopped at step 421 before its first evaluation"), "{text}");
        assert!(text.contains("accuracy 0.8532") && text.contains("no best checkpoint yet"), "{text}");
        let text = results_summary(&results(Some(0.86)), Path::new("runs/x"));
        assert!(text.contains("best accuracy 0.8600 at step 400 of 421") && text.contains("best checkpoint and results.json in runs/x"), "{text}");
    }

    /// A stopped run's `results.json` reads back (it held a NaN, which JSON writes as `null`, and
    /// then no longer parsed), and the page's reader says why it cannot show it.
    #[test]
    fn results_of_a_run_stopped_before_any_evaluation_read_back() {
        let stopped = results(None);
        let json = serde_json::to_string(&stopped).unwrap();
        assert!(json.contains(r#""best_value":null"#), "{json}");
        assert_eq!(serde_json::from_str::<RunResults>(&json).unwrap(), stopped);
        let err = crate::experiment::results::parse_results("results.json", &json).unwrap_err().to_string();
        assert!(err.contains("results.json") && err.contains("stopped before its first evaluation"), "{err}");
        let finished = serde_json::to_string(&results(Some(0.86))).unwrap();
        let rows = crate::experiment::results::parse_results("results.json", &finished).unwrap().rows;
        assert_eq!(rows[0].value, 0.86);
    }
}
