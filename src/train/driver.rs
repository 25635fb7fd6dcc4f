//! The one loop of every run on disk (native): take the cursor's next batch, step, stop on a
//! non-finite loss, log, evaluate and save `last/` on schedule, stop cleanly when asked.
//! Fine-tuning ([`super::finetune`]) and healing ([`super::heal_run`]) supply only their
//! [`Job`]: the step, the evaluation and what `last/` holds.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use web_time::Instant;

use super::cursor::{Cursor, EpochOrder};
use super::observer::{Observer, RateWindow};
use super::resume::read_state;
use crate::error::{TrainError, io};

/// When a run evaluates and writes its resume checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Evaluate every N steps (0: only at the end).
    pub eval_every: usize,
    /// Write `last/` every N steps (0: only at evaluations, a stop and the end).
    pub save_every: usize,
}

impl Schedule {
    fn every(n: usize, step: usize) -> bool {
        n > 0 && step.is_multiple_of(n)
    }
}

/// Steps between two lines of training loss in `log.jsonl` (and the first step).
const LOG_EVERY: usize = 10;

/// `log.jsonl`: one JSON object a line, appended.
pub struct RunLog {
    file: fs::File,
    path: PathBuf,
}

impl RunLog {
    /// Opens `out/log.jsonl` for appending.
    pub fn open(out: &Path) -> Result<Self, TrainError> {
        let path = out.join("log.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        Ok(Self { file, path })
    }

    pub fn write(&mut self, line: Value) -> Result<(), TrainError> {
        writeln!(self.file, "{line}").map_err(io(&self.path))
    }
}

/// What a kind of run does at each point of the loop.
pub trait Job {
    /// One optimisation step on the training rows `indices`; returns the loss, read back.
    fn step(&mut self, indices: &[usize]) -> Result<f32, TrainError>;
    /// Fields of the last step for its log line besides step, epoch, loss and rate (e.g. `lr`).
    fn log_fields(&mut self) -> Map<String, Value>;
    /// Evaluates, logs and reports the result (and keeps a best model, where the job has one).
    fn evaluate(&mut self, cursor: &Cursor, log: &mut RunLog, observer: &mut dyn Observer) -> Result<(), TrainError>;
    /// Writes `last/` for `--resume` with the cursor at its current position.
    fn save_last(&mut self, cursor: &Cursor) -> Result<(), TrainError>;
    /// What the user still has after a failure, for the error message.
    fn kept_after_failure(&self) -> String;
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every step taken, evaluated at the last one, `last/` written.
    Finished,
    /// Stopped by the observer (Ctrl-C) after saving `last/`.
    Interrupted,
}

/// Runs `job` from `cursor` to its last step over `order`'s batches.
pub fn drive(job: &mut dyn Job, cursor: &mut Cursor, order: &mut EpochOrder, schedule: Schedule, log: &mut RunLog, observer: &mut dyn Observer) -> Result<Ending, TrainError> {
    observer.on_start(cursor.progress());
    let mut window = RateWindow::new();
    let mut evaluated_at = None;
    while !cursor.done() {
        let indices = cursor.next_batch(order);
        let started = Instant::now();
        let loss = job.step(&indices)?;
        if !loss.is_finite() {
            log.write(json!({"step": cursor.step + 1, "error": format!("loss {loss}")}))?;
            return Err(TrainError::NonFinite { step: cursor.step + 1, value: loss, kept: job.kept_after_failure() });
        }
        cursor.advance(indices.len(), started.elapsed().as_secs_f64());
        let rate = window.add(indices.len());
        observer.on_step(cursor.progress(), loss, rate);
        if cursor.step % LOG_EVERY == 0 || cursor.step == 1 {
            let mut line = json!({"step": cursor.step, "epoch": cursor.epoch, "loss": loss, "examples_per_s": rate});
            line.as_object_mut().expect("an object").extend(job.log_fields());
            log.write(line)?;
            window.restart();
        }
        let eval_now = Schedule::every(schedule.eval_every, cursor.step);
        if eval_now {
            job.evaluate(cursor, log, observer)?;
            evaluated_at = Some(cursor.step);
        }
        let stop = observer.should_stop();
        if eval_now || stop || Schedule::every(schedule.save_every, cursor.step) {
            job.save_last(cursor)?;
        }
        if stop {
            return Ok(Ending::Interrupted);
        }
    }
    if evaluated_at != Some(cursor.step) {
        job.evaluate(cursor, log, observer)?;
    }
    job.save_last(cursor)?;
    Ok(Ending::Finished)
}

/// The start of a run in `out`: the state saved in `last/` when resuming (with its path, for
/// errors), or `None` for a fresh run.
///
/// A fresh run keeps an earlier run's `last/` and log until it has its own: the first save
/// replaces `last/` atomically, and the old log is kept as `log.previous.jsonl`. When `last/` is
/// missing because a crash fell between the two renames that replace it, the complete copy
/// beside it (`last.tmp`, else `last.old`) is put back, and `observer` is told.
pub fn start<S: DeserializeOwned>(out: &Path, resume: bool, observer: &mut dyn Observer) -> Result<Option<(S, PathBuf)>, TrainError> {
    fs::create_dir_all(out).map_err(io(out))?;
    let last_dir = out.join("last");
    if resume {
        if !last_dir.is_dir() {
            for backup in [out.join("last.tmp"), out.join("last.old")] {
                if backup.join("state.json").is_file() {
                    fs::rename(&backup, &last_dir).map_err(io(&backup))?;
                    observer.on_notice(&format!(
                        "{} was missing (a crash while it was being replaced); resuming from {}, the last complete copy",
                        last_dir.display(),
                        backup.display()
                    ));
                    break;
                }
            }
        }
        return read_state(&last_dir).map(Some);
    }
    let log = out.join("log.jsonl");
    if log.is_file() {
        let previous = out.join("log.previous.jsonl");
        fs::rename(&log, &previous).map_err(io(&log))?;
    }
    Ok(None)
}
