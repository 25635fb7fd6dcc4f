//! A whole healing run on disk (native): the reduced student learns the full teacher on
//! unlabelled text, with held-out losses, logs, atomic resume checkpoints, NaN detection and
//! `heal.json`. The healed student is a plain checkpoint: `finetune` takes it as its MODEL.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use web_time::Instant;

use super::batches::{epoch_batches, eval_batches};
use super::eval::{EvalResult, Prepared};
use super::finetune::versions;
use crate::error::{TrainError, io};
use super::resume::{kept_after_failure, read_last_optimizer, read_last_weights, read_state, save_last, save_top_level};
use super::heal::{HealConfig, Healer};
use super::observer::{Observer, Progress, RateWindow};
use crate::checkpoint::{Checkpoint, bert_to_safetensors, load_bert};
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
}

/// Where a healing run is, saved in `last/state.json` for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealState {
    pub step: usize,
    pub epoch: usize,
    pub next_batch: usize,
    pub total_steps: usize,
    pub examples_seen: usize,
    pub train_seconds: f64,
    pub plan: String,
    pub options: HealOptions,
    /// Held-out losses of the student before healing.
    pub before: Option<HealLosses>,
}

impl HealState {
    fn progress(&self) -> Progress {
        Progress { step: self.step, total_steps: self.total_steps, epoch: self.epoch }
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
        EvalResult {
            metrics: [("hidden_mse".to_string(), self.hidden_mse), ("attention_kl".to_string(), self.attention_kl)].into(),
            examples,
        }
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

/// Splits `texts` into training rows and a held-out set of at most `max_held_out` rows (2%,
/// at least 1 when there are 2 rows or more), taken evenly across the file.
pub fn split_held_out(texts: &Prepared, max_held_out: usize) -> (Prepared, Prepared) {
    let n = texts.len();
    let held = (n / 50).clamp(usize::from(n >= 2), max_held_out);
    let every = n.checked_div(held).unwrap_or(usize::MAX);
    let (mut train, mut dev) = (texts.clone(), texts.clone());
    train.rows.clear();
    train.labels.clear();
    dev.rows.clear();
    dev.labels.clear();
    for (i, (row, label)) in texts.rows.iter().zip(&texts.labels).enumerate() {
        let target = if every != usize::MAX && i % every == every - 1 && dev.rows.len() < held { &mut dev } else { &mut train };
        target.rows.push(row.clone());
        target.labels.push(*label);
    }
    (train, dev)
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
    fs::create_dir_all(out).map_err(io(out))?;
    let last_dir = out.join("last");
    let (teacher_model, _) = teacher.load_bert(None, device)?;

    let (mut healer, mut state) = if resume {
        let (state, state_path): (HealState, _) = read_state(&last_dir)?;
        if state.plan != plan.to_string() || state.options != *options {
            return Err(TrainError::Resume {
                path: state_path,
                reason: format!("it was started with plan `{}` and {:?}; pass the same settings", state.plan, state.options),
            });
        }
        let (weights, weights_path) = read_last_weights(&last_dir)?;
        let (student, _) = load_bert(&weights, &weights_path, &config, plan, &ad)?;
        let mut healer = Healer::new(student, teacher_model, options.config.clone(), state.total_steps, &ad);
        healer.optim = read_last_optimizer(&healer.optim, &last_dir)?;
        healer.step = state.step;
        (healer, state)
    } else {
        let _ = fs::remove_dir_all(&last_dir);
        let _ = fs::remove_file(out.join("log.jsonl"));
        let (student, _) = teacher.load_bert(Some(plan), &ad)?;
        let healer = Healer::new(student, teacher_model, options.config.clone(), total_steps, &ad);
        let state = HealState {
            step: 0,
            epoch: 0,
            next_batch: 0,
            total_steps,
            examples_seen: 0,
            train_seconds: 0.0,
            plan: plan.to_string(),
            options: options.clone(),
            before: None,
        };
        (healer, state)
    };

    let log_path = out.join("log.jsonl");
    let mut log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(&log_path))?;
    let mut write_log = |v: Value| writeln!(log, "{v}").map_err(io(&log_path));
    let eval_batch = 64;
    observer.on_start(state.progress());
    if state.before.is_none() {
        let before = held_out_losses(&healer, held_out, pad_id, eval_batch);
        write_log(json!({"step": 0, "held_out": before}))?;
        observer.on_eval(state.progress(), &[("held-out".into(), before.as_eval(held_out.len()))]);
        state.before = Some(before);
    }
    let save_last = |healer: &Healer, state: &HealState| -> Result<(), TrainError> {
        let weights = pollster::block_on(bert_to_safetensors(&healer.student))?;
        save_last(&last_dir, &config, &weights, &teacher.tokenizer_files, &healer.optim, state)
    };

    let lengths = texts.lengths();
    let mut interrupted = false;
    let mut window = RateWindow::new();
    'epochs: while state.step < state.total_steps {
        let batches = epoch_batches(&lengths, options.batch_size, options.config.seed, state.epoch);
        while state.next_batch < batches.len() {
            if state.step >= state.total_steps {
                break 'epochs;
            }
            let indices = &batches[state.next_batch];
            let batch = texts.batch(indices, pad_id);
            let started = Instant::now();
            let step = healer.step(&batch);
            let loss: f32 = step.loss.into_scalar();
            if !loss.is_finite() {
                let kept = kept_after_failure(&last_dir, None);
                write_log(json!({"step": state.step + 1, "error": format!("loss {loss}")}))?;
                return Err(TrainError::NonFinite { step: state.step + 1, value: loss, kept });
            }
            state.train_seconds += started.elapsed().as_secs_f64();
            state.step += 1;
            state.next_batch += 1;
            state.examples_seen += indices.len();
            let rate = window.add(indices.len());
            observer.on_step(state.progress(), loss, rate);
            if state.step % 10 == 0 || state.step == 1 {
                let hidden: f32 = step.hidden.into_scalar();
                let attention: f32 = step.attention.into_scalar();
                write_log(json!({"step": state.step, "epoch": state.epoch, "loss": loss, "hidden_mse": hidden, "attention_kl": attention, "lr": healer.schedule.lr(state.step - 1), "examples_per_s": rate}))?;
                window.restart();
            }
            if options.eval_every > 0 && state.step % options.eval_every == 0 && state.step < state.total_steps {
                let now = held_out_losses(&healer, held_out, pad_id, eval_batch);
                write_log(json!({"step": state.step, "held_out": now}))?;
                observer.on_eval(state.progress(), &[("held-out".into(), now.as_eval(held_out.len()))]);
            }
            let stop = observer.should_stop();
            if stop || (options.save_every > 0 && state.step % options.save_every == 0) {
                save_last(&healer, &state)?;
            }
            if stop {
                interrupted = true;
                break 'epochs;
            }
        }
        state.epoch += 1;
        state.next_batch = 0;
    }

    let after = held_out_losses(&healer, held_out, pad_id, eval_batch);
    if !interrupted {
        write_log(json!({"step": state.step, "held_out": after}))?;
        observer.on_eval(state.progress(), &[("held-out".into(), after.as_eval(held_out.len()))]);
        save_last(&healer, &state)?;
        let weights = pollster::block_on(bert_to_safetensors(&healer.student))?;
        save_top_level(out, &config, &weights, &teacher.tokenizer_files)?;
    }
    let results = HealResults {
        teacher: teacher.source.display().to_string(),
        plan: plan.to_string(),
        params: ModelStats::new(&teacher.config, plan, options.max_len).total_params,
        steps: state.step,
        examples_seen: state.examples_seen,
        train_seconds: state.train_seconds,
        examples_per_second: state.examples_seen as f64 / state.train_seconds.max(1e-9),
        held_out_examples: held_out.len(),
        before: state.before.expect("evaluated at the start"),
        after,
        device: format!("{device:?}"),
        options: options.clone(),
        versions: versions(),
        completed: !interrupted,
    };
    let path = out.join("heal.json");
    fs::write(&path, serde_json::to_vec_pretty(&results).expect("results serialise")).map_err(io(&path))?;
    Ok(results)
}

