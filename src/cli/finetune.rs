//! `undivided finetune`, `eval` and `predict`: GLUE fine-tuning of full and reduced models.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DeviceArgs, ModelArgs, thousands};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::{self, Dataset, Task};
use crate::train::eval::{argmax, predict_logits};
use crate::train::finetune::{RunOptions, RunResults, finetune};
use crate::train::observer::{Observer, Progress};
use crate::train::{DistillConfig, EvalResult, Prepared, TrainConfig, evaluate};

/// Where the data comes from and how strictly it is read.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// GLUE task.
    #[arg(long, value_enum, default_value_t = Task::Sst2)]
    pub task: Task,
    /// Folder with the task's `train.tsv` / `dev.tsv` (or a `glue_data` folder holding the task's
    /// folder). Without it, SST-2 uses the built-in sentiment sample.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Skip malformed rows (counted and reported) instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    /// The training set and the dev set(s).
    pub fn load(&self) -> anyhow::Result<(Dataset, Vec<(String, Dataset)>)> {
        let Some(dir) = &self.data else {
            anyhow::ensure!(self.task == Task::Sst2, "--data is required for {} (only SST-2 has a built-in sample)", self.task);
            return Ok((data::sample("train"), vec![("sample-dev".into(), data::sample("dev"))]));
        };
        let train = data::glue::read_split(self.task, dir, "train.tsv", self.skip_bad_rows)?;
        let dev = self
            .task
            .dev_files()
            .iter()
            .map(|f| Ok((f.trim_end_matches(".tsv").to_string(), data::glue::read_split(self.task, dir, f, self.skip_bad_rows)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for set in std::iter::once(&train).chain(dev.iter().map(|(_, d)| d)) {
            if let Some(first) = set.skipped.first() {
                eprintln!("warning: skipped {} malformed rows (first: {first})", set.skipped.len());
            }
        }
        Ok((train, dev))
    }
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after this many optimisation steps (overrides --epochs).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Truncate inputs to this many tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Fraction of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup_ratio: f64,
    /// AdamW weight decay (not applied to biases and LayerNorm).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Clip gradients to this global L2 norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Dropout probability of every dropout layer (default: the checkpoint's
    /// `hidden_dropout_prob` / `attention_probs_dropout_prob`, 0.1 for BERT); the fine-tuned
    /// checkpoint's config.json records it. On SST-2, 0 did not help `0,5+norm` in one epoch.
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Evaluate on dev (and keep the best checkpoint) every N steps; 0: at the end only.
    #[arg(long, default_value_t = 500)]
    pub eval_every: usize,
    /// Write a resume checkpoint every N steps (besides evaluations); 0: only then.
    #[arg(long, default_value_t = 200)]
    pub save_every: usize,
    /// Task distillation: a checkpoint fine-tuned on the same task (usually the full model) whose
    /// softened predictions the student also learns.
    #[arg(long, value_name = "CHECKPOINT")]
    pub teacher: Option<PathBuf>,
    /// Softmax temperature of the teacher's and student's predictions (with --teacher).
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// Weight of the soft-target loss; the cross-entropy gets 1 − alpha (with --teacher).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// Weight of a per-layer hidden-state MSE to the teacher (with --teacher; the teacher must
    /// have the student's depth and width). Task-specific layer-to-layer distillation: the
    /// student relearns, on this task, what its deleted intermediate blocks did.
    #[arg(long, default_value_t = 0.0, value_name = "WEIGHT")]
    pub distill_hidden: f64,
    /// Weight of a per-layer attention KL to the teacher (with --teacher), as --distill-hidden.
    #[arg(long, default_value_t = 0.0, value_name = "WEIGHT")]
    pub distill_attention: f64,
}

impl TrainArgs {
    /// The distillation the flags ask for, whether or not a teacher was given (the CLI checks
    /// the flags before any teacher is loaded).
    pub fn distill(&self) -> DistillConfig {
        DistillConfig {
            temperature: self.temperature,
            alpha: self.alpha,
            hidden_weight: self.distill_hidden,
            attention_weight: self.distill_attention,
        }
    }

    /// Whether a layer-to-layer distillation weight was asked for (it needs a teacher).
    pub fn layer_to_layer(&self) -> bool {
        self.distill().layer_to_layer()
    }

    pub fn options(&self) -> anyhow::Result<RunOptions> {
        anyhow::ensure!(self.batch_size > 0, "--batch-size: expected at least 1");
        anyhow::ensure!(self.lr > 0.0 && self.lr.is_finite(), "--lr: expected a positive number");
        anyhow::ensure!((0.0..1.0).contains(&self.warmup_ratio), "--warmup-ratio: expected a fraction in [0, 1)");
        anyhow::ensure!(self.dropout.is_none_or(|p| (0.0..1.0).contains(&p)), "--dropout: expected a probability in [0, 1)");
        anyhow::ensure!(self.epochs > 0 || self.steps.is_some(), "--epochs: expected at least 1");
        anyhow::ensure!(self.temperature > 0.0 && self.temperature.is_finite(), "--temperature: expected a positive number");
        anyhow::ensure!((0.0..=1.0).contains(&self.alpha), "--alpha: expected a weight in [0, 1]");
        for (flag, w) in [("--distill-hidden", self.distill_hidden), ("--distill-attention", self.distill_attention)] {
            anyhow::ensure!(w >= 0.0 && w.is_finite(), "{flag}: expected a non-negative weight");
        }
        Ok(RunOptions {
            train: TrainConfig {
                batch_size: self.batch_size,
                max_len: self.max_len,
                lr: self.lr,
                warmup_ratio: self.warmup_ratio,
                weight_decay: self.weight_decay,
                max_grad_norm: self.max_grad_norm,
                seed: self.seed,
                distill: self.teacher.as_ref().map(|_| self.distill()),
            },
            teacher: self.teacher.clone(),
            dropout: self.dropout,
            epochs: self.epochs,
            max_steps: self.steps,
            eval_every: self.eval_every,
            save_every: self.save_every,
            eval_batch_size: 64,
        })
    }
}

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
    /// Output folder: the best checkpoint, `results.json`, `log.jsonl`, and `last/` for --resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from `OUT/last` (same settings).
    #[arg(long)]
    pub resume: bool,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // A second Ctrl-C kills at once.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Ctrl-C / SIGTERM finish the current step, write a resume checkpoint and stop.
pub(super) fn install_stop_handler() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic and resets the disposition, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// Progress bar with loss, examples/s and ETA; evaluations printed above it.
pub struct ProgressObserver {
    bar: ProgressBar,
    label: String,
}

impl ProgressObserver {
    pub fn new(label: impl Into<String>) -> Self {
        Self { bar: ProgressBar::hidden(), label: label.into() }
    }
}

impl Observer for ProgressObserver {
    fn on_start(&mut self, state: Progress) {
        self.bar = ProgressBar::new(state.total_steps as u64);
        self.bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} steps {msg} [{elapsed_precise} ETA {eta_precise}]")
                .expect("static template"),
        );
        self.bar.set_prefix(self.label.clone());
        self.bar.set_position(state.step as u64);
    }
    fn on_step(&mut self, state: Progress, loss: f32, examples_per_s: f64) {
        // Without a terminal (logs, CI) the bar is hidden: print a line now and then instead.
        if self.bar.is_hidden() && (state.step % 50 == 0 || state.step == state.total_steps) {
            eprintln!("{} step {}/{}: loss {loss:.4}, {examples_per_s:.1} examples/s", self.label, state.step, state.total_steps);
        }
        self.bar.set_position(state.step as u64);
        self.bar.set_message(format!("loss {loss:.4} | {examples_per_s:.1} ex/s | epoch {}", state.epoch + 1));
    }
    fn on_eval(&mut self, state: Progress, results: &[(String, EvalResult)]) {
        for (name, r) in results {
            let metrics: Vec<String> = r.metrics.iter().map(|(k, v)| format!("{k} {:.4}", v)).collect();
            self.bar.println(format!("{} step {}: {name}: {}", self.label, state.step, metrics.join(", ")));
        }
    }
    fn should_stop(&mut self) -> bool {
        let stop = STOP.load(Ordering::SeqCst);
        if stop {
            self.bar.println("interrupted: writing a resume checkpoint (run again with --resume)");
        }
        stop
    }
}

impl Drop for ProgressObserver {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
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

/// Loads the data and runs one fine-tuning, for `finetune` and `compare`.
pub fn run_one(
    checkpoint: &Checkpoint,
    plan: &crate::model::FfnPlan,
    data: &DataArgs,
    train: &TrainArgs,
    device: &burn::tensor::Device,
    out: &Path,
    resume: bool,
    label: &str,
) -> anyhow::Result<RunResults> {
    let (train_set, dev_sets) = data.load()?;
    let mut tokenizer = checkpoint.tokenizer.clone();
    tokenizer.set_max_len(train.max_len, checkpoint.config.max_position_embeddings)?;
    let prepared = Prepared::new(&tokenizer, &train_set)?;
    let dev: Vec<(String, Prepared)> =
        dev_sets.iter().map(|(n, d)| Ok((n.clone(), Prepared::new(&tokenizer, d)?))).collect::<anyhow::Result<_>>()?;
    let mut observer = ProgressObserver::new(label);
    Ok(finetune(checkpoint, plan, data.task, &prepared, &dev, out, &train.options()?, resume, device, &mut observer)?)
}

pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.train.teacher.is_some() || !args.train.layer_to_layer(),
        "--distill-hidden / --distill-attention: need --teacher (the model to distil from)"
    );
    let checkpoint = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let plan = checkpoint.parse_plan(args.model.keep_ffn.as_deref())?;
    let device = args.device.init()?;
    install_stop_handler();
    let label = format!("{} `{plan}`", args.data.task);
    let results = run_one(&checkpoint, &plan, &args.data, &args.train, &device, &args.out, args.resume, &label)
        .with_context(|| format!("fine-tuning into {}", args.out.display()))?;
    println!("{}", results_summary(&results, &args.out));
    if !results.completed {
        anyhow::bail!("stopped at step {} of the run; continue with --resume", results.steps);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A fine-tuned checkpoint folder.
    pub checkpoint: String,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Truncate inputs to this many tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Opens a checkpoint that must carry a classification head (`id2label` in its config).
fn open_classifier(model: &str) -> anyhow::Result<Checkpoint> {
    let checkpoint = Checkpoint::open(resolve_model(model)?)?;
    anyhow::ensure!(
        checkpoint.config.id2label.is_some(),
        "{}: not a fine-tuned classifier (config.json has no id2label); fine-tune it first",
        checkpoint.source.display()
    );
    Ok(checkpoint)
}

pub fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    let checkpoint = open_classifier(&args.checkpoint)?;
    anyhow::ensure!(
        checkpoint.config.num_labels() == args.data.task.num_labels(),
        "{}: its head has {} labels but {} has {}",
        checkpoint.source.display(),
        checkpoint.config.num_labels(),
        args.data.task,
        args.data.task.num_labels()
    );
    let device = args.device.init()?;
    let (model, _) = checkpoint.load_classifier(None, &device)?;
    let (_, dev_sets) = args.data.load()?;
    let mut tokenizer = checkpoint.tokenizer.clone();
    tokenizer.set_max_len(args.max_len, checkpoint.config.max_position_embeddings)?;
    let mut all = serde_json::Map::new();
    for (name, set) in dev_sets {
        let prepared = Prepared::new(&tokenizer, &set)?;
        let result = evaluate(&model, &prepared, tokenizer.pad_id(), 64, &device);
        if !args.json {
            let metrics: Vec<String> = result.metrics.iter().map(|(k, v)| format!("{k} {:.4}", v)).collect();
            println!("{} plan `{}` on {name} ({} examples): {}", args.data.task, checkpoint.plan(), result.examples, metrics.join(", "));
        }
        all.insert(name, serde_json::json!(result));
    }
    if args.json {
        println!("{}", serde_json::Value::Object(all));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A fine-tuned checkpoint folder.
    pub checkpoint: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    pub text: String,
    pub text_b: Option<String>,
}

pub fn run_predict(args: PredictArgs) -> anyhow::Result<()> {
    let checkpoint = open_classifier(&args.checkpoint)?;
    let device = args.device.init()?;
    let (model, _) = checkpoint.load_classifier(None, &device)?;
    let set = Dataset {
        task: Task::Sst2,
        examples: vec![data::Example { text_a: args.text.clone(), text_b: args.text_b.clone(), label: data::Label::Class(0) }],
        skipped: vec![],
    };
    let prepared = Prepared::new(&checkpoint.tokenizer, &set)?;
    let logits = predict_logits(&model, &prepared, checkpoint.tokenizer.pad_id(), 1, &device).remove(0);
    let names = checkpoint.config.label_names();
    if logits.len() == 1 {
        if args.json {
            println!("{}", serde_json::json!({"score": logits[0]}));
        } else {
            println!("score {:.4}", logits[0]);
        }
        return Ok(());
    }
    let probs = crate::train::eval::probabilities(&logits);
    let best = argmax(&probs);
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = names.iter().zip(&probs).map(|(n, p)| (n.clone(), serde_json::json!(p))).collect();
        println!("{}", serde_json::json!({"label": names[best], "probabilities": map}));
    } else {
        println!("{} ({:.1}%)", names[best], 100.0 * probs[best]);
        for (n, p) in names.iter().zip(&probs) {
            println!("  {n:<16} {:5.1}%", 100.0 * p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(best_value: Option<f64>) -> RunResults {
        RunResults {
            task: Task::Sst2,
            plan: "none".into(),
            dev: vec![("dev".into(), EvalResult { metrics: [("accuracy".to_string(), 0.8532)].into(), examples: 872 })],
            main_metric: "accuracy".into(),
            best_value,
            best_step: best_value.map(|_| 400),
            params: 15_619_970,
            train_seconds: 2983.0,
            examples_per_second: 4.5,
            steps: 421,
            seed: 42,
            device: "flex".into(),
            options: RunOptions {
                train: TrainConfig::default(),
                epochs: 1,
                max_steps: None,
                eval_every: 500,
                save_every: 200,
                eval_batch_size: 64,
                teacher: None,
                dropout: None,
            },
            versions: serde_json::json!({}),
            completed: false,
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
        let err = crate::train::results::parse_results("results.json", &json).unwrap_err();
        assert!(err.contains("results.json") && err.contains("stopped before its first evaluation"), "{err}");
        let finished = serde_json::to_string(&results(Some(0.86))).unwrap();
        let rows = crate::train::results::parse_results("results.json", &finished).unwrap().rows;
        assert_eq!(rows[0].value, 0.86);
    }
}
