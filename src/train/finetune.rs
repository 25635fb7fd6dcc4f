//! A whole fine-tuning run on disk (native): evaluation, logs, the best checkpoint, atomic
//! resume checkpoints, NaN detection and `results.json`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use web_time::Instant;

use super::batches::epoch_batches;
use super::eval::{EvalResult, Prepared, evaluate};
pub use super::observer::{Observer, Progress, Quiet};
use super::observer::RateWindow;
use super::resume::{kept_after_failure, read_last_optimizer, read_last_weights, read_state, save_last, save_top_level};
use super::trainer::{TrainConfig, Trainer, classifier_config};
use crate::checkpoint::{Checkpoint, classifier_to_safetensors, load_classifier};
use crate::data::Task;
pub use crate::error::TrainError;
use crate::error::io;
use crate::model::{BertConfig, FfnPlan, ModelStats};

/// Length of the run and when to evaluate and save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub train: TrainConfig,
    pub epochs: usize,
    /// Stop after this many steps (overrides `epochs`).
    pub max_steps: Option<usize>,
    /// Evaluate on dev every N steps (0: only at the end).
    pub eval_every: usize,
    /// Write a resume checkpoint every N steps (0: only at evaluations and the end).
    pub save_every: usize,
    pub eval_batch_size: usize,
    /// The fine-tuned teacher checkpoint of task distillation (`train.distill` says how much).
    #[serde(default)]
    pub teacher: Option<PathBuf>,
    /// Dropout probability of every dropout layer, instead of the checkpoint's
    /// `hidden_dropout_prob` / `attention_probs_dropout_prob` (`None`: the checkpoint's). It is
    /// a property of the model built for the run, like the teacher, not of the optimiser step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
}

/// Where a run is, saved in `last/state.json` for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub step: usize,
    pub epoch: usize,
    /// Index of the next batch within the epoch's order.
    pub next_batch: usize,
    pub total_steps: usize,
    pub examples_seen: usize,
    pub train_seconds: f64,
    pub best: Option<(f64, usize)>,
    pub options: RunOptions,
    pub plan: String,
    pub task: Task,
}

impl RunState {
    pub fn progress(&self) -> Progress {
        Progress { step: self.step, total_steps: self.total_steps, epoch: self.epoch }
    }
}

/// The outcome of a run, also written to `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub task: Task,
    pub plan: String,
    /// Dev metrics of the best checkpoint, per dev file.
    pub dev: Vec<(String, EvalResult)>,
    pub main_metric: String,
    /// The main metric of the best checkpoint and the step it was taken at; `None` when the run
    /// was stopped before its first evaluation (then `dev` holds the model where it stopped). A
    /// finished run always has them: it evaluates at its last step.
    pub best_value: Option<f64>,
    pub best_step: Option<usize>,
    pub params: usize,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    pub steps: usize,
    pub seed: u64,
    pub device: String,
    pub options: RunOptions,
    pub versions: Value,
    /// False when the run was stopped before its last step.
    pub completed: bool,
}

pub(crate) fn versions() -> Value {
    json!({"undivided": env!("CARGO_PKG_VERSION"), "burn": "0.22.1"})
}

/// The files and evaluation state of one run.
struct Run<'a> {
    out: &'a Path,
    last_dir: PathBuf,
    config: BertConfig,
    tokenizer_files: &'a [(String, Vec<u8>)],
    dev: &'a [(String, Prepared)],
    pad_id: u32,
    eval_batch_size: usize,
    task: Task,
    device: Device,
    log: std::fs::File,
    log_path: PathBuf,
    /// Dev results of the best checkpoint so far (of this process).
    best_dev: Vec<(String, EvalResult)>,
}

impl Run<'_> {
    fn log(&mut self, v: Value) -> Result<(), TrainError> {
        writeln!(self.log, "{v}").map_err(io(&self.log_path))
    }

    /// `last/`: weights, optimizer state and position, for `--resume`.
    fn save_last(&self, trainer: &Trainer, state: &RunState) -> Result<(), TrainError> {
        let weights = pollster::block_on(classifier_to_safetensors(&trainer.model))?;
        save_last(&self.last_dir, &self.config, &weights, self.tokenizer_files, &trainer.optim, state)
    }

    /// Evaluates on every dev file; a new best is written to the top level of `out`.
    fn eval(&mut self, trainer: &Trainer, state: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let results: Vec<(String, EvalResult)> = self
            .dev
            .iter()
            .map(|(name, data)| (name.clone(), evaluate(&trainer.model, data, self.pad_id, self.eval_batch_size, &self.device)))
            .collect();
        let value = results.first().map(|(_, r)| r.main(self.task)).unwrap_or(f64::NAN);
        let metrics: serde_json::Map<String, Value> = results.iter().map(|(n, r)| (n.clone(), json!(r.metrics))).collect();
        self.log(json!({"step": state.step, "epoch": state.epoch, "eval": metrics}))?;
        observer.on_eval(state.progress(), &results);
        if state.best.is_none_or(|(b, _)| value > b) {
            state.best = Some((value, state.step));
            self.best_dev = results;
            let weights = pollster::block_on(classifier_to_safetensors(&trainer.model))?;
            save_top_level(self.out, &self.config, &weights, self.tokenizer_files)?;
        }
        Ok(())
    }
}

/// Loads the teacher of task distillation: a classifier for `task` with the student's vocabulary
/// (and, for layer-to-layer distillation, the student's depth, width and heads).
fn load_teacher(path: &Path, student: &Checkpoint, task: Task, layer_to_layer: bool, device: &Device) -> Result<crate::model::BertForSequenceClassification, TrainError> {
    let teacher = Checkpoint::open(path)?;
    let bad = |reason: String| TrainError::Config(format!("--teacher {}: {reason}", path.display()));
    if teacher.config.id2label.is_none() {
        return Err(bad("not a fine-tuned classifier (config.json has no id2label); fine-tune the full model first".into()));
    }
    if teacher.config.num_labels() != task.num_labels() {
        return Err(bad(format!("its head has {} labels but {task} has {}", teacher.config.num_labels(), task.num_labels())));
    }
    if teacher.config.vocab_size != student.config.vocab_size || teacher.tokenizer.vocab_size() != student.tokenizer.vocab_size() {
        return Err(bad(format!(
            "its vocabulary ({} tokens) differs from the student's ({}); teacher and student must share a tokenizer",
            teacher.config.vocab_size, student.config.vocab_size
        )));
    }
    let (t, s) = (&teacher.config, &student.config);
    let shape = |c: &BertConfig| (c.num_hidden_layers, c.hidden_size, c.num_attention_heads);
    if layer_to_layer && shape(t) != shape(s) {
        return Err(bad(format!(
            "layer-to-layer distillation needs the student's shape, but the teacher has (layers, hidden size, heads) = {:?} and the student {:?}",
            shape(t),
            shape(s)
        )));
    }
    Ok(teacher.load_classifier(None, device)?.0)
}

/// Fine-tunes `checkpoint` with `plan` on `train`, evaluating on `dev`, writing into `out`:
/// the best checkpoint at the top level, `last/` for `--resume`, `log.jsonl` and `results.json`.
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    checkpoint: &Checkpoint,
    plan: &FfnPlan,
    task: Task,
    train: &Prepared,
    dev: &[(String, Prepared)],
    out: &Path,
    options: &RunOptions,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<RunResults, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Config("the training set is empty".into()));
    }
    let ad = device.clone().autodiff();
    // A dropout override applies to the model trained here and is saved in its config.json.
    let overridden;
    let checkpoint = match options.dropout {
        Some(p) => {
            let mut c = checkpoint.clone();
            c.config.set_dropout(p);
            overridden = c;
            &overridden
        }
        None => checkpoint,
    };
    let config = classifier_config(&checkpoint.config, plan, task);
    let pad_id = checkpoint.tokenizer.pad_id();
    let steps_per_epoch = train.len().div_ceil(options.train.batch_size);
    let total_steps = options.max_steps.unwrap_or(options.epochs * steps_per_epoch).max(1);
    fs::create_dir_all(out).map_err(io(out))?;
    let last_dir = out.join("last");

    let layer_to_layer = options.train.distill.as_ref().is_some_and(|d| d.layer_to_layer());
    let teacher = match &options.teacher {
        Some(path) => Some(load_teacher(path, checkpoint, task, layer_to_layer, device)?),
        None => None,
    };

    // Start from the pre-trained checkpoint, or from `last/` when resuming.
    let (mut trainer, mut state) = if resume {
        let (state, state_path): (RunState, _) = read_state(&last_dir)?;
        if state.plan != plan.to_string() || state.task != task || state.options.train != options.train || state.options.teacher != options.teacher || state.options.dropout != options.dropout {
            return Err(TrainError::Resume {
                path: state_path,
                reason: format!("it was started with task {}, plan `{}` and {:?}; pass the same settings", state.task, state.plan, state.options.train),
            });
        }
        let (weights, weights_path) = read_last_weights(&last_dir)?;
        let (model, _) = load_classifier(&weights, &weights_path, &config, plan, &ad)?;
        let mut trainer = Trainer::new(model, task, options.train.clone(), state.total_steps, &ad);
        if let Some(teacher) = teacher {
            trainer = trainer.with_teacher(teacher);
        }
        trainer.optim = read_last_optimizer(&trainer.optim, &last_dir)?;
        trainer.step = state.step;
        (trainer, state)
    } else {
        let _ = fs::remove_dir_all(&last_dir);
        let _ = fs::remove_file(out.join("log.jsonl"));
        // A new classification head is drawn from the seeded RNG: same seed, same head.
        ad.seed(options.train.seed);
        let (model, _) = checkpoint.load_classifier(Some(plan), &ad)?;
        let model = if model.num_labels() == task.num_labels() {
            model
        } else {
            // A checkpoint fine-tuned for another task: keep the encoder, new head.
            let weights = pollster::block_on(crate::checkpoint::bert_to_safetensors(&model.bert))?;
            load_classifier(&weights, &checkpoint.source, &config, plan, &ad)?.0
        };
        let mut trainer = Trainer::new(model, task, options.train.clone(), total_steps, &ad);
        if let Some(teacher) = teacher {
            trainer = trainer.with_teacher(teacher);
        }
        let state = RunState {
            step: 0,
            epoch: 0,
            next_batch: 0,
            total_steps,
            examples_seen: 0,
            train_seconds: 0.0,
            best: None,
            options: options.clone(),
            plan: plan.to_string(),
            task,
        };
        (trainer, state)
    };

    let log_path = out.join("log.jsonl");
    let log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(&log_path))?;
    let mut run = Run {
        out,
        last_dir,
        config,
        tokenizer_files: &checkpoint.tokenizer_files,
        dev,
        pad_id,
        eval_batch_size: options.eval_batch_size,
        task,
        device: ad.clone(),
        log,
        log_path,
        best_dev: Vec::new(),
    };
    let main_metric = task.metrics()[0].name().to_string();
    observer.on_start(state.progress());
    let lengths = train.lengths();
    let mut interrupted = false;
    let mut window = RateWindow::new();
    'epochs: while state.step < state.total_steps {
        let batches = epoch_batches(&lengths, options.train.batch_size, options.train.seed, state.epoch);
        while state.next_batch < batches.len() {
            if state.step >= state.total_steps {
                break 'epochs;
            }
            let indices = &batches[state.next_batch];
            let batch = train.batch(indices, pad_id);
            let labels: Vec<_> = indices.iter().map(|&i| train.labels[i]).collect();
            let started = Instant::now();
            let out_step = trainer.step(&batch, &labels);
            let loss: f32 = out_step.loss.into_scalar();
            if !loss.is_finite() {
                let kept = kept_after_failure(&run.last_dir, Some(out));
                run.log(json!({"step": state.step + 1, "error": format!("loss {loss}")}))?;
                return Err(TrainError::NonFinite { step: state.step + 1, value: loss, kept });
            }
            state.train_seconds += started.elapsed().as_secs_f64();
            state.step += 1;
            state.next_batch += 1;
            state.examples_seen += indices.len();
            let rate = window.add(indices.len());
            observer.on_step(state.progress(), loss, rate);
            if state.step % 10 == 0 || state.step == 1 {
                run.log(json!({"step": state.step, "epoch": state.epoch, "loss": loss, "lr": out_step.lr, "examples_per_s": rate}))?;
                window.restart();
            }
            let eval_now = options.eval_every > 0 && state.step % options.eval_every == 0;
            if eval_now {
                run.eval(&trainer, &mut state, observer)?;
            }
            let stop = observer.should_stop();
            if eval_now || stop || (options.save_every > 0 && state.step % options.save_every == 0) {
                run.save_last(&trainer, &state)?;
            }
            if stop {
                interrupted = true;
                break 'epochs;
            }
        }
        state.epoch += 1;
        state.next_batch = 0;
    }

    if !interrupted {
        let evaluated_now = options.eval_every > 0 && state.step % options.eval_every == 0;
        if !evaluated_now || run.best_dev.is_empty() {
            run.eval(&trainer, &mut state, observer)?;
        }
        run.save_last(&trainer, &state)?;
    }
    let mut best_dev = std::mem::take(&mut run.best_dev);
    if best_dev.is_empty() {
        // Stopped before any evaluation: report the current model.
        best_dev = dev.iter().map(|(name, data)| (name.clone(), evaluate(&trainer.model, data, pad_id, options.eval_batch_size, &ad))).collect();
    }
    let (best_value, best_step) = state.best.unzip();
    let results = RunResults {
        task,
        plan: plan.to_string(),
        dev: best_dev,
        main_metric,
        best_value,
        best_step,
        params: ModelStats::new(&checkpoint.config, plan, options.train.max_len).total_params + burn::module::Module::num_params(&trainer.model.classifier),
        train_seconds: state.train_seconds,
        examples_per_second: state.examples_seen as f64 / state.train_seconds.max(1e-9),
        steps: state.step,
        seed: options.train.seed,
        device: format!("{:?}", device),
        options: options.clone(),
        versions: versions(),
        completed: !interrupted,
    };
    let path = out.join("results.json");
    fs::write(&path, serde_json::to_vec_pretty(&results).expect("results serialise")).map_err(io(&path))?;
    Ok(results)
}
