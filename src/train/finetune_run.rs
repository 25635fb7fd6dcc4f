//! A whole fine-tuning run on disk (native): evaluation, logs, the best checkpoint, atomic
//! resume checkpoints, NaN detection and `results.json`.

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::cursor::{Cursor, EpochOrder};
use super::driver::{Ending, Job, RunLog, Schedule, drive, start};
use super::eval::{EvalResult, evaluate};
use super::finetune_step::{TrainConfig, Trainer};
pub use super::observer::{Observer, Progress, Quiet};
use super::resume::{kept_after_failure, read_last_weights, restore_optimization, save_last, save_top_level};
use super::start::{classifier_config, start_classifier};
use crate::checkpoint::{Checkpoint, classifier_to_safetensors, load_classifier};
use crate::data::Prepared;
use crate::data::Task;
pub use crate::error::TrainError;
use crate::error::{SettingsError, io};
use crate::model::{BertConfig, FfnPlan, ModelStats};

/// Length of the run and when to evaluate and save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneOptions {
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
    /// What the run was made from (set by the experiment runner): a later experiment reuses a
    /// finished run only when it was made from the same model and data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_from: Option<MadeFrom>,
}

/// The inputs of a run: the model it started from (its folder and a fingerprint of its
/// weights), and the data (a GLUE folder or healing text, and the task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MadeFrom {
    pub model: String,
    /// A 64-bit hash of the weights file, in hex: the same folder with other weights (a model
    /// trained again) is another input.
    pub weights: String,
    /// The data folder or text file; `None`: the built-in sample.
    pub data: Option<PathBuf>,
    pub task: Option<Task>,
}

impl MadeFrom {
    /// The record of `checkpoint` and `data` / `task`.
    pub fn new(checkpoint: &Checkpoint, data: Option<PathBuf>, task: Option<Task>) -> Self {
        use std::hash::{DefaultHasher, Hasher};
        let mut h = DefaultHasher::new();
        h.write(&checkpoint.weights);
        let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Self { model: absolute(&checkpoint.source).display().to_string(), weights: format!("{:016x}", h.finish()), data: data.map(|d| absolute(&d)), task }
    }
}

/// Where a run is, saved in `last/state.json` for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    #[serde(flatten)]
    pub cursor: Cursor,
    pub best: Option<(f64, usize)>,
    pub options: FinetuneOptions,
    pub plan: String,
    pub task: Task,
}

impl FinetuneOptions {
    /// Checks every setting's range (the optimiser's, the run's length, dropout).
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.train.validate()?;
        SettingsError::check((self.epochs > 0 || self.max_steps.is_some()) && self.epochs <= MAX_EPOCHS, "--epochs", "1 to 10000")?;
        SettingsError::check(self.max_steps.is_none_or(|s| (1..=MAX_STEPS).contains(&s)), "--steps", "1 to 100000000")?;
        SettingsError::check(self.eval_every <= MAX_STEPS && self.save_every <= MAX_STEPS, "--eval-every / --save-every", "0 to 100000000 steps")?;
        SettingsError::check(self.dropout.is_none_or(|p| (0.0..1.0).contains(&p)), "--dropout", "a probability in [0, 1)")?;
        SettingsError::check((1..=4096).contains(&self.eval_batch_size), "eval batch size", "1 to 4096")
    }

    /// When the run evaluates and saves.
    pub fn schedule(&self) -> Schedule {
        Schedule { eval_every: self.eval_every, save_every: self.save_every }
    }
}

/// The most epochs and steps a run takes (far past any GLUE recipe; a typo of a few digits more
/// is refused rather than run for a year).
pub const MAX_EPOCHS: usize = 10_000;
pub const MAX_STEPS: usize = 100_000_000;

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
    /// The main metric of the last evaluation (at the last step of a finished run): picking the
    /// best of several evaluations on a small dev set flatters a run; this does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_value: Option<f64>,
    pub params: usize,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    pub steps: usize,
    pub seed: u64,
    pub device: String,
    pub options: FinetuneOptions,
    pub versions: Value,
    /// False when the run was stopped before its last step.
    pub completed: bool,
    /// Set when the starting checkpoint was fine-tuned for other labels and got a new head
    /// ([`super::start::Head::Replaced`]): what the user is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_notice: Option<String>,
}

pub(crate) fn versions() -> Value {
    json!({"undivided": env!("CARGO_PKG_VERSION"), "burn": "0.22.1"})
}

/// Fine-tuning as the run driver's [`Job`]: the trainer, the dev sets, the best checkpoint.
struct FinetuneJob<'a> {
    /// Whether `last/` is this run's (resumed, or saved since it started).
    ours: bool,
    trainer: Trainer,
    train: &'a Prepared,
    out: &'a Path,
    last_dir: PathBuf,
    config: BertConfig,
    tokenizer_files: &'a [(String, Vec<u8>)],
    dev: &'a [(String, Prepared)],
    pad_id: u32,
    eval_batch_size: usize,
    task: Task,
    /// The best dev value and its step, carried over a resume.
    best: Option<(f64, usize)>,
    /// The main metric of the latest evaluation of this process.
    latest: Option<f64>,
    /// Dev results of the best checkpoint so far (of this process).
    best_dev: Vec<(String, EvalResult)>,
    /// The state fields the cursor does not hold, for `last/state.json`.
    options: FinetuneOptions,
    plan: String,
    last_lr: f64,
}

impl FinetuneJob<'_> {
    fn dev_results(&self) -> Vec<(String, EvalResult)> {
        self.dev
            .iter()
            .map(|(name, data)| (name.clone(), evaluate(&self.trainer.model, data, self.pad_id, self.eval_batch_size, &self.trainer.device)))
            .collect()
    }
}

impl Job for FinetuneJob<'_> {
    type Batch = Vec<usize>;

    fn step(&mut self, indices: &Vec<usize>) -> Result<f32, TrainError> {
        let batch = self.train.batch(indices, self.pad_id);
        let labels: Vec<_> = indices.iter().map(|&i| self.train.labels[i]).collect();
        let out = self.trainer.step(&batch, &labels);
        self.last_lr = out.lr;
        Ok(out.loss.into_scalar())
    }

    fn log_fields(&mut self) -> serde_json::Map<String, Value> {
        [("lr".to_string(), json!(self.last_lr))].into_iter().collect()
    }

    /// Evaluates on every dev file; a new best is written to the top level of `out`.
    fn evaluate(&mut self, cursor: &Cursor, log: &mut RunLog, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let results = self.dev_results();
        let value = results.first().map(|(_, r)| r.main(self.task)).unwrap_or(f64::NAN);
        let metrics: serde_json::Map<String, Value> = results.iter().map(|(n, r)| (n.clone(), json!(r.metrics))).collect();
        log.write(json!({"step": cursor.step, "epoch": cursor.epoch, "eval": metrics}))?;
        observer.on_eval(cursor.progress(), &results);
        self.latest = Some(value);
        if self.best.is_none_or(|(b, _)| value > b) {
            self.best = Some((value, cursor.step));
            self.best_dev = results;
            let weights = pollster::block_on(classifier_to_safetensors(&self.trainer.model))?;
            save_top_level(self.out, &self.config, &weights, self.tokenizer_files)?;
        }
        Ok(())
    }

    /// `last/`: weights, optimizer state and position, for `--resume`.
    fn save_last(&mut self, cursor: &Cursor) -> Result<(), TrainError> {
        let state = RunState { cursor: cursor.clone(), best: self.best, options: self.options.clone(), plan: self.plan.clone(), task: self.task };
        let weights = pollster::block_on(classifier_to_safetensors(&self.trainer.model))?;
        save_last(&self.last_dir, &self.config, &weights, self.tokenizer_files, &self.trainer.opt.optim, &state)?;
        self.ours = true;
        Ok(())
    }

    fn kept_after_failure(&self) -> String {
        kept_after_failure(&self.last_dir, Some(self.out), self.ours)
    }
}

/// Loads the teacher of task distillation: a classifier for `task` with the student's vocabulary
/// (and, for layer-to-layer distillation, the student's depth, width and heads).
fn load_teacher(
    path: &Path,
    student: &Checkpoint,
    task: Task,
    layer_to_layer: bool,
    device: &Device,
) -> Result<crate::model::BertForSequenceClassification, TrainError> {
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
    options: &FinetuneOptions,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<RunResults, TrainError> {
    options.validate()?;
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

    let layer_to_layer = options.train.distill.as_ref().is_some_and(|d| d.layer_to_layer());
    let teacher = match &options.teacher {
        Some(path) => Some(load_teacher(path, checkpoint, task, layer_to_layer, device)?),
        None => None,
    };

    // Start from the pre-trained checkpoint, or from `last/` when resuming.
    let last_dir = out.join("last");
    let mut head_notice = None;
    // Held until the run returns: one writer per folder.
    let (_lock, started) = start::<RunState>(out, resume, observer)?;
    let (model, cursor, best) = match started {
        Some((state, state_path)) => {
            let same = state.plan == plan.to_string()
                && state.task == task
                && state.options.train == options.train
                && state.options.teacher == options.teacher
                && state.options.dropout == options.dropout
                && (state.options.made_from.is_none() || options.made_from.is_none() || state.options.made_from == options.made_from);
            if !same {
                return Err(TrainError::Resume {
                    path: state_path,
                    reason: format!("it was started with task {}, plan `{}` and {:?}; pass the same settings", state.task, state.plan, state.options.train),
                });
            }
            state
                .cursor
                .check(total_steps, steps_per_epoch, options.train.batch_size)
                .map_err(|reason| TrainError::Resume { path: state_path.clone(), reason })?;
            let (weights, weights_path) = read_last_weights(&last_dir)?;
            (load_classifier(&weights, &weights_path, &config, plan, &ad)?.0, state.cursor, state.best)
        }
        None => {
            // A new classification head is drawn from the seed: same seed, same head.
            let (model, head, _) = start_classifier(checkpoint, None, plan, task, options.train.seed, &ad)?;
            head_notice = head.notice(&checkpoint.source, task);
            (model, Cursor::new(total_steps), None)
        }
    };
    let mut trainer = Trainer::new(model, task, options.train.clone(), cursor.total_steps, &ad);
    if let Some(teacher) = teacher {
        trainer = trainer.with_teacher(teacher);
    }
    if resume {
        restore_optimization(&mut trainer.opt, &last_dir, cursor.step)?;
    }

    let mut log = RunLog::open(out, resume.then_some(cursor.step))?;
    let mut job = FinetuneJob {
        ours: resume,
        trainer,
        train,
        out,
        last_dir,
        config,
        tokenizer_files: &checkpoint.tokenizer_files,
        dev,
        pad_id,
        eval_batch_size: options.eval_batch_size,
        task,
        best,
        latest: None,
        best_dev: Vec::new(),
        options: options.clone(),
        plan: plan.to_string(),
        last_lr: 0.0,
    };
    let mut cursor = cursor;
    let mut order = EpochOrder::new(train.lengths(), options.train.batch_size, options.train.seed);
    let ending = drive(&mut job, &mut cursor, &mut order, options.schedule(), &mut log, observer)?;

    let best_dev = match std::mem::take(&mut job.best_dev) {
        // Stopped before any evaluation: report the current model.
        none if none.is_empty() => job.dev_results(),
        best => best,
    };
    let (best_value, best_step) = job.best.unzip();
    let results = RunResults {
        task,
        plan: plan.to_string(),
        dev: best_dev,
        main_metric: task.metrics()[0].name().to_string(),
        best_value,
        best_step,
        final_value: if ending == Ending::Finished { job.latest } else { None },
        params: ModelStats::new(&checkpoint.config, plan, options.train.max_len).total_params + burn::module::Module::num_params(&job.trainer.model.classifier),
        train_seconds: cursor.train_seconds,
        examples_per_second: cursor.examples_per_second(),
        steps: cursor.step,
        seed: options.train.seed,
        device: format!("{:?}", device),
        options: options.clone(),
        versions: versions(),
        completed: ending == Ending::Finished,
        head_notice,
    };
    let path = out.join("results.json");
    fs::write(&path, serde_json::to_vec_pretty(&results).expect("results serialise")).map_err(io(&path))?;
    Ok(results)
}
