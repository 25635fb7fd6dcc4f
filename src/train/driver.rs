//! The one loop of every run on disk (native): the cursor's turn (next batch, step, stop on a
//! non-finite loss: [`Cursor::begin`] / [`Cursor::end`], shared with the page), then log,
//! evaluate and save `last/` on schedule, and stop cleanly when asked. Fine-tuning, healing and
//! pre-training supply only their [`Job`]: the step, the evaluation and what `last/` holds.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::cursor::{Batches, Cursor};
use super::observer::{Observer, RateWindow};
use super::resume::read_state;
use crate::checkpoint::RunLock;
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

/// `log.jsonl`: one JSON object a line, appended; each step's training line and each
/// evaluation appear once however often the run is resumed.
pub struct RunLog {
    file: fs::File,
    path: PathBuf,
    /// `(step, kind)` of the lines already in the file.
    written: HashSet<(u64, &'static str)>,
}

/// What a log line records: an evaluation, an error, or a step's training loss.
fn kind(line: &Value) -> &'static str {
    ["eval", "held_out", "error"].into_iter().find(|k| line.get(*k).is_some()).unwrap_or("train")
}

impl RunLog {
    /// Opens `out/log.jsonl` for appending. A run resumed at step `resumed_at` first drops the
    /// lines of steps after it (written after its last save, and about to be taken again).
    pub fn open(out: &Path, resumed_at: Option<usize>) -> Result<Self, TrainError> {
        let path = out.join("log.jsonl");
        let mut written = HashSet::new();
        if let Some(step) = resumed_at
            && let Ok(text) = fs::read_to_string(&path)
        {
            let mut kept = String::new();
            for line in text.lines() {
                let Ok(value) = serde_json::from_str::<Value>(line) else { continue };
                let at = value.get("step").and_then(Value::as_u64).unwrap_or(0);
                if at <= step as u64 && written.insert((at, kind(&value))) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            crate::checkpoint::write_atomic(&path, kept.as_bytes()).map_err(TrainError::Checkpoint)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        Ok(Self { file, path, written })
    }

    /// Appends `line`, unless the log already holds this step's line of its kind.
    pub fn write(&mut self, line: Value) -> Result<(), TrainError> {
        let at = line.get("step").and_then(Value::as_u64).unwrap_or(0);
        if !self.written.insert((at, kind(&line))) {
            return Ok(());
        }
        writeln!(self.file, "{line}").map_err(io(&self.path))
    }
}

/// What a kind of run does at each point of the loop.
pub trait Job {
    /// What one step trains on (row indices, a packed batch).
    type Batch;
    /// One optimisation step on `batch`; returns the loss, read back.
    fn step(&mut self, batch: &Self::Batch) -> Result<f32, TrainError>;
    /// Whether to evaluate (and save) after `step` besides the schedule: pre-training's
    /// milestones, which double rather than repeat.
    fn milestone(&self, _step: usize) -> bool {
        false
    }
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

/// Runs `job` from `cursor` to its last step over `batches`.
pub fn drive<J: Job + ?Sized>(
    job: &mut J,
    cursor: &mut Cursor,
    batches: &mut dyn Batches<Batch = J::Batch>,
    schedule: Schedule,
    log: &mut RunLog,
    observer: &mut dyn Observer,
) -> Result<Ending, TrainError> {
    observer.on_start(cursor.progress());
    let mut window = RateWindow::new();
    let mut evaluated_at = None;
    while !cursor.done() {
        let (batch, turn) = cursor.begin(batches)?;
        let examples = turn.examples;
        let loss = job.step(&batch)?;
        if let Err(e) = cursor.end(turn, loss) {
            log.write(json!({"step": e.step, "error": format!("loss {}", e.value)}))?;
            return Err(TrainError::NonFinite { step: e.step, value: e.value, kept: job.kept_after_failure() });
        }
        let rate = window.add(examples);
        observer.on_step(cursor.progress(), loss, rate);
        if cursor.step.is_multiple_of(LOG_EVERY) || cursor.step == 1 {
            let mut line = json!({"step": cursor.step, "epoch": cursor.epoch, "loss": loss, "examples_per_s": rate});
            line.as_object_mut().expect("an object").extend(job.log_fields());
            log.write(line)?;
            window.restart();
        }
        let eval_now = Schedule::every(schedule.eval_every, cursor.step) || job.milestone(cursor.step);
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

/// The start of a run in `out`: the folder's lock ([`RunLock`]: a second run into the same
/// folder is refused, naming this one, until this run ends), and the state saved in `last/` when
/// resuming (with its path, for errors), or `None` for a fresh run.
///
/// A fresh run keeps an earlier run's `last/` and log until it has its own: the first save
/// replaces `last/` atomically, and the old log is kept as `log.previous.jsonl`. When `last/` is
/// missing because a crash fell between the two renames that replace it, the complete copy
/// beside it (`last.tmp`, else `last.old`) is put back, and `observer` is told.
pub fn start<S: DeserializeOwned>(out: &Path, resume: bool, observer: &mut dyn Observer) -> Result<(RunLock, Option<(S, PathBuf)>), TrainError> {
    let lock = RunLock::acquire(out, "a run")?;
    Ok((lock, start_locked(out, resume, observer)?))
}

fn start_locked<S: DeserializeOwned>(out: &Path, resume: bool, observer: &mut dyn Observer) -> Result<Option<(S, PathBuf)>, TrainError> {
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
