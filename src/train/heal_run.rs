//! A whole healing run on disk (native): the reduced student learns the full teacher on
//! unlabelled text, with held-out losses, logs, atomic resume checkpoints, NaN detection and
//! `heal.json`. The healed student is a plain checkpoint: `finetune` takes it as its MODEL.

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::batches::eval_batches;
use super::cursor::{Cursor, EpochOrder};
use super::driver::{Ending, Job, RunLog, Schedule, drive, start};
use super::eval::EvalResult;
use super::finetune_run::versions;
use super::heal_step::{HealConfig, HealStep, Healer};
use super::observer::Observer;
use super::resume::{kept_after_failure, read_last_weights, restore_optimization, save_last, save_top_level};
use crate::checkpoint::{Checkpoint, bert_to_safetensors, load_bert};
use crate::data::Prepared;
use crate::error::{SettingsError, TrainError, io};
use crate::model::{BertConfig, FfnPlan, ModelStats};

/// Length of a healing run and when to evaluate and save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealOptions {
    pub config: HealConfig,
    pub batch_size: usize,
    pub max_len: usize,
    pub epochs: usize,
    /// Stop after this many steps (overrides `epochs`).
    pub max_steps: Option<usize>,
    /// Evaluate the held-out losses every N steps (0: only before and after).
    pub eval_every: usize,
    /// Write a resume checkpoint every N steps (0: only at the end).
    pub save_every: usize,
    /// What the healing was made from (set by the experiment runner): the teacher and the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_from: Option<super::finetune_run::MadeFrom>,
}

/// Where a healing run is, saved in `last/state.json` for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealState {
    #[serde(flatten)]
    pub cursor: Cursor,
    pub plan: String,
    pub options: HealOptions,
    /// Held-out losses of the student before healing.
    pub before: Option<HealLosses>,
}

impl HealOptions {
    /// Checks every setting's range (the optimiser's, the run's length and batches).
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.config.validate()?;
        SettingsError::check((1..=4096).contains(&self.batch_size), "--heal-batch-size", "1 to 4096")?;
        SettingsError::check((3..=4096).contains(&self.max_len), "--heal-max-len", "3 to 4096 tokens")?;
        SettingsError::check((self.epochs > 0 || self.max_steps.is_some()) && self.epochs <= super::finetune_run::MAX_EPOCHS, "--heal-epochs", "1 to 10000")?;
        SettingsError::check(self.max_steps.is_none_or(|s| (1..=super::finetune_run::MAX_STEPS).contains(&s)), "--heal-steps", "1 to 100000000")?;
        SettingsError::check(
            self.eval_every <= super::finetune_run::MAX_STEPS && self.save_every <= super::finetune_run::MAX_STEPS,
            "--heal-eval-every / --heal-save-every",
            "0 to 100000000 steps",
        )
    }

    /// When the run evaluates the held-out losses and saves.
    pub fn schedule(&self) -> Schedule {
        Schedule { eval_every: self.eval_every, save_every: self.save_every }
    }
}

/// Held-out distillation losses (dropout off), averaged over sentences.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealLosses {
    pub hidden_mse: f64,
    pub attention_kl: f64,
}

impl HealLosses {
    fn as_eval(&self, examples: usize) -> EvalResult {
        EvalResult { metrics: [("hidden_mse".to_string(), self.hidden_mse), ("attention_kl".to_string(), self.attention_kl)].into(), examples }
    }
}

/// The outcome of a healing run, also written to `heal.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealResults {
    pub teacher: String,
    pub plan: String,
    pub params: usize,
    pub steps: usize,
    pub examples_seen: usize,
    pub train_seconds: f64,
    pub examples_per_second: f64,
    pub held_out_examples: usize,
    pub before: HealLosses,
    pub after: HealLosses,
    pub device: String,
    pub options: HealOptions,
    pub versions: Value,
    pub completed: bool,
}

fn held_out_losses(healer: &Healer, dev: &Prepared, pad_id: u32, batch_size: usize) -> HealLosses {
    let (mut hidden, mut attention, mut n) = (0.0, 0.0, 0usize);
    for indices in eval_batches(&dev.lengths(), batch_size) {
        let out = healer.eval_losses(&dev.batch(&indices, pad_id));
        hidden += out.hidden.into_scalar::<f32>() as f64 * indices.len() as f64;
        attention += out.attention.into_scalar::<f32>() as f64 * indices.len() as f64;
        n += indices.len();
    }
    let n = n.max(1) as f64;
    HealLosses { hidden_mse: hidden / n, attention_kl: attention / n }
}

/// Batch size of the held-out evaluation.
const EVAL_BATCH: usize = 64;

/// Healing as the run driver's [`Job`]: the healer, the held-out sentences, `last/`.
struct HealJob<'a> {
    /// Whether `last/` is this run's (resumed, or saved since it started).
    ours: bool,
    healer: Healer,
    texts: &'a Prepared,
    held_out: &'a Prepared,
    pad_id: u32,
    last_dir: PathBuf,
    config: BertConfig,
    tokenizer_files: &'a [(String, Vec<u8>)],
    plan: String,
    options: HealOptions,
    before: Option<HealLosses>,
    /// The held-out losses of the last evaluation.
    latest: Option<HealLosses>,
    last_step: Option<HealStep>,
}

impl HealJob<'_> {
    fn held_out(&self) -> HealLosses {
        held_out_losses(&self.healer, self.held_out, self.pad_id, EVAL_BATCH)
    }
}

impl Job for HealJob<'_> {
    type Batch = Vec<usize>;

    fn step(&mut self, indices: &Vec<usize>) -> Result<f32, TrainError> {
        let step = self.healer.step(&self.texts.batch(indices, self.pad_id));
        let loss = step.loss.clone().into_scalar();
        self.last_step = Some(step);
        Ok(loss)
    }

    fn log_fields(&mut self) -> serde_json::Map<String, Value> {
        let Some(step) = self.last_step.take() else { return Default::default() };
        let hidden: f32 = step.hidden.into_scalar();
        let attention: f32 = step.attention.into_scalar();
        [("hidden_mse", json!(hidden)), ("attention_kl", json!(attention)), ("lr", json!(step.lr))].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn evaluate(&mut self, cursor: &Cursor, log: &mut RunLog, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let now = self.held_out();
        log.write(json!({"step": cursor.step, "held_out": now}))?;
        observer.on_eval(cursor.progress(), &[("held-out".into(), now.as_eval(self.held_out.len()))]);
        self.latest = Some(now);
        Ok(())
    }

    fn save_last(&mut self, cursor: &Cursor) -> Result<(), TrainError> {
        let state = HealState { cursor: cursor.clone(), plan: self.plan.clone(), options: self.options.clone(), before: self.before };
        let weights = pollster::block_on(bert_to_safetensors(&self.healer.student))?;
        save_last(&self.last_dir, &self.config, &weights, self.tokenizer_files, &self.healer.opt.optim, &state)?;
        self.ours = true;
        Ok(())
    }

    fn kept_after_failure(&self) -> String {
        kept_after_failure(&self.last_dir, None, self.ours)
    }
}

/// Heals `plan` of `teacher` on `texts` (training rows) and `held_out`, writing into `out`: the
/// healed checkpoint at the top level, `last/` for `--resume`, `log.jsonl` and `heal.json`.
#[allow(clippy::too_many_arguments)]
pub fn heal(
    teacher: &Checkpoint,
    plan: &FfnPlan,
    texts: &Prepared,
    held_out: &Prepared,
    out: &Path,
    options: &HealOptions,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<HealResults, TrainError> {
    options.validate()?;
    if texts.is_empty() {
        return Err(TrainError::Config("no sentences to heal on".into()));
    }
    if plan == &teacher.plan() {
        return Err(TrainError::Config(format!(
            "plan `{plan}` keeps every intermediate block the teacher has: nothing to heal; pass --keep-ffn with fewer layers"
        )));
    }
    let ad = device.clone().autodiff();
    let config: BertConfig = teacher.config.with_plan(plan);
    let pad_id = teacher.tokenizer.pad_id();
    let steps_per_epoch = texts.len().div_ceil(options.batch_size);
    let total_steps = options.max_steps.unwrap_or(options.epochs * steps_per_epoch).max(1);
    let last_dir = out.join("last");
    let (teacher_model, _) = teacher.load_bert(None, device)?;

    // Held until the run returns: one writer per folder.
    let (_lock, started) = start::<HealState>(out, resume, observer)?;
    let (student, cursor, before) = match started {
        Some((state, state_path)) => {
            if state.plan != plan.to_string() || state.options != *options {
                return Err(TrainError::Resume {
                    path: state_path,
                    reason: format!("it was started with plan `{}` and {:?}; pass the same settings", state.plan, state.options),
                });
            }
            state.cursor.check(total_steps, steps_per_epoch, options.batch_size).map_err(|reason| TrainError::Resume { path: state_path.clone(), reason })?;
            let (weights, weights_path) = read_last_weights(&last_dir)?;
            (load_bert(&weights, &weights_path, &config, plan, &ad)?.0, state.cursor, state.before)
        }
        None => (teacher.load_bert(Some(plan), &ad)?.0, Cursor::new(total_steps), None),
    };
    let mut healer = Healer::new(student, teacher_model, options.config.clone(), cursor.total_steps, &ad);
    if resume {
        restore_optimization(&mut healer.opt, &last_dir, cursor.step)?;
    }

    let mut log = RunLog::open(out, resume.then_some(cursor.step))?;
    let mut job = HealJob {
        ours: resume,
        healer,
        texts,
        held_out,
        pad_id,
        last_dir,
        config,
        tokenizer_files: &teacher.tokenizer_files,
        plan: plan.to_string(),
        options: options.clone(),
        before,
        latest: None,
        last_step: None,
    };
    if job.before.is_none() {
        let before = job.held_out();
        log.write(json!({"step": 0, "held_out": before}))?;
        observer.on_eval(cursor.progress(), &[("held-out".into(), before.as_eval(held_out.len()))]);
        job.before = Some(before);
    }
    let mut cursor = cursor;
    let mut order = EpochOrder::new(texts.lengths(), options.batch_size, options.config.seed);
    let ending = drive(&mut job, &mut cursor, &mut order, options.schedule(), &mut log, observer)?;

    let after = match (ending, job.latest) {
        (Ending::Finished, Some(latest)) => {
            let weights = pollster::block_on(bert_to_safetensors(&job.healer.student))?;
            save_top_level(out, &job.config, &weights, &teacher.tokenizer_files)?;
            latest
        }
        // Interrupted: where the student stands now, reported but not logged.
        _ => job.held_out(),
    };
    let results = HealResults {
        teacher: teacher.source.display().to_string(),
        plan: plan.to_string(),
        params: ModelStats::new(&teacher.config, plan, options.max_len).total_params,
        steps: cursor.step,
        examples_seen: cursor.examples_seen,
        train_seconds: cursor.train_seconds,
        examples_per_second: cursor.examples_per_second(),
        held_out_examples: held_out.len(),
        before: job.before.expect("evaluated at the start"),
        after,
        device: format!("{device:?}"),
        options: options.clone(),
        versions: versions(),
        completed: ending == Ending::Finished,
    };
    let path = out.join("heal.json");
    fs::write(&path, serde_json::to_vec_pretty(&results).expect("results serialise")).map_err(io(&path))?;
    Ok(results)
}
