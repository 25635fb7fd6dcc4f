//! Where a run is: the step, the epoch and the next batch of the epoch's order, and what it has
//! cost so far. One type for every loop that trains — fine-tuning, healing and pre-training on
//! disk ([`super::driver`]) and the page's quick runs — so that a resumed run continues from
//! exactly the batch an uninterrupted one would have taken.
//!
//! The core of each of those loops is here too, compiled for both targets: [`Cursor::begin`]
//! takes the next batch, the caller steps (synchronously natively, awaiting the loss in the
//! page), and [`Cursor::end`] stops on a non-finite loss or counts the step.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::batches::epoch_batches;
use super::observer::Progress;
use crate::data::corpus::StreamPosition;
use crate::error::TrainError;

/// Where a run's batches come from: an epoch order over a dataset held in memory
/// ([`EpochOrder`], rows by index) or a stream read as it goes (pre-training's packed corpus).
/// `next` moves the cursor's position on, so that `last/` resumes with the very next batch.
pub trait Batches {
    type Batch;
    /// The next batch and how many examples (rows, sequences) it holds.
    fn next(&mut self, cursor: &mut Cursor) -> Result<(Self::Batch, usize), TrainError>;
}

impl Batches for EpochOrder {
    type Batch = Vec<usize>;
    fn next(&mut self, cursor: &mut Cursor) -> Result<(Vec<usize>, usize), TrainError> {
        let indices = cursor.next_batch(self);
        let n = indices.len();
        Ok((indices, n))
    }
}

/// A step begun by [`Cursor::begin`]: how many examples its batch holds and when it started.
#[must_use = "a begun step is counted by Cursor::end"]
#[derive(Debug)]
pub struct Turn {
    pub examples: usize,
    started: Instant,
}

/// A step whose loss was not a finite number: the run stops there, the cursor not moved on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFinite {
    /// The step that failed, from 1.
    pub step: usize,
    pub value: f32,
}

/// The position and totals of a run, saved (flattened) in `last/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Steps taken so far.
    pub step: usize,
    /// The epoch the next batch comes from, from 0.
    pub epoch: usize,
    /// Index of the next batch within the epoch's order.
    pub next_batch: usize,
    pub total_steps: usize,
    pub examples_seen: usize,
    /// Seconds spent in training steps (evaluation and saving left out).
    pub train_seconds: f64,
    /// Where a run that reads a stream (pre-training's packed corpus) continues; `epoch` is then
    /// the pass over the corpus and `next_batch` unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamPosition>,
}

impl Cursor {
    /// A run of `total_steps` steps (at least 1) at its start.
    pub fn new(total_steps: usize) -> Self {
        Self { step: 0, epoch: 0, next_batch: 0, total_steps: total_steps.max(1), examples_seen: 0, train_seconds: 0.0, stream: None }
    }

    /// Whether every step has been taken.
    pub fn done(&self) -> bool {
        self.step >= self.total_steps
    }

    pub fn progress(&self) -> Progress {
        Progress { step: self.step, total_steps: self.total_steps, epoch: self.epoch }
    }

    /// The rows of the next batch, moving on to the next epoch's order when this one is used up.
    pub fn next_batch(&mut self, order: &mut EpochOrder) -> Vec<usize> {
        if self.next_batch >= order.batches(self.epoch).len() {
            self.epoch += 1;
            self.next_batch = 0;
        }
        let batch = order.batches(self.epoch)[self.next_batch].clone();
        self.next_batch += 1;
        batch
    }

    /// The next batch from `batches`, and the step begun on it (timed from here: building the
    /// batch is not the step's cost).
    pub fn begin<B>(&mut self, batches: &mut dyn Batches<Batch = B>) -> Result<(B, Turn), TrainError> {
        let (batch, examples) = batches.next(self)?;
        Ok((batch, Turn { examples, started: Instant::now() }))
    }

    /// Ends the step begun by `turn`, whose loss was read back as `loss`: a non-finite loss stops
    /// the run (the cursor stays at the last good step); otherwise the step is counted, and its
    /// seconds returned.
    pub fn end(&mut self, turn: Turn, loss: f32) -> Result<f64, NonFinite> {
        if !loss.is_finite() {
            return Err(NonFinite { step: self.step + 1, value: loss });
        }
        let seconds = turn.started.elapsed().as_secs_f64();
        self.advance(turn.examples, seconds);
        Ok(seconds)
    }

    /// Counts a finished step of `examples` rows that took `seconds`.
    pub fn advance(&mut self, examples: usize, seconds: f64) {
        self.step += 1;
        self.examples_seen += examples;
        self.train_seconds += seconds;
    }

    /// Checks a cursor read back from `state.json` against the run it is to continue:
    /// `total_steps` from the run's own settings and data, its batches per epoch and batch size.
    /// A state that disagrees (another `--steps`, a hand-edited or corrupt file) is refused
    /// rather than trusted.
    pub fn check(&self, total_steps: usize, batches_per_epoch: usize, batch_size: usize) -> Result<(), String> {
        if self.total_steps != total_steps {
            return Err(format!("it runs {} steps, but these settings and data make {total_steps}; pass the settings it was started with", self.total_steps));
        }
        let epochs = total_steps.div_ceil(batches_per_epoch.max(1));
        let fine = self.step <= total_steps
            && self.next_batch <= batches_per_epoch
            && self.epoch <= epochs
            && self.examples_seen <= self.step.saturating_mul(batch_size)
            && self.train_seconds.is_finite()
            && self.train_seconds >= 0.0;
        if !fine {
            return Err(format!(
                "its position (step {}, epoch {}, batch {}, {} examples, {} s) does not fit a run of {total_steps} steps of {batches_per_epoch} batches of {batch_size}",
                self.step, self.epoch, self.next_batch, self.examples_seen, self.train_seconds
            ));
        }
        Ok(())
    }

    /// Examples per second of training so far.
    pub fn examples_per_second(&self) -> f64 {
        self.examples_seen as f64 / self.train_seconds.max(1e-9)
    }
}

/// The length-bucketed batch order of each epoch ([`epoch_batches`]), computed once per epoch.
pub struct EpochOrder {
    lengths: Vec<usize>,
    batch_size: usize,
    seed: u64,
    epoch: usize,
    batches: Vec<Vec<usize>>,
}

impl EpochOrder {
    /// The order of rows of `lengths` tokens, `batch_size` at a time; deterministic in `seed`.
    pub fn new(lengths: Vec<usize>, batch_size: usize, seed: u64) -> Self {
        let batches = epoch_batches(&lengths, batch_size, seed, 0);
        Self { lengths, batch_size, seed, epoch: 0, batches }
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    fn batches(&mut self, epoch: usize) -> &[Vec<usize>] {
        if epoch != self.epoch {
            self.batches = epoch_batches(&self.lengths, self.batch_size, self.seed, epoch);
            self.epoch = epoch;
        }
        &self.batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taking batches across epochs gives the epochs' orders one after the other, and a cursor
    /// restored from its JSON continues with the very batch the original would have taken.
    #[test]
    fn batches_follow_the_epoch_orders_and_survive_a_round_trip() {
        let lengths: Vec<usize> = (0..10).map(|i| i % 4 + 2).collect();
        let mut order = EpochOrder::new(lengths.clone(), 3, 9);
        let mut cursor = Cursor::new(9);
        let mut taken = Vec::new();
        for _ in 0..5 {
            let b = cursor.next_batch(&mut order);
            cursor.advance(b.len(), 0.5);
            taken.push(b);
        }
        let expected: Vec<Vec<usize>> = epoch_batches(&lengths, 3, 9, 0).into_iter().chain(epoch_batches(&lengths, 3, 9, 1)).collect();
        assert_eq!(taken, expected[..5]);
        assert_eq!((cursor.epoch, cursor.next_batch, cursor.step), (1, 1, 5));

        let mut resumed: Cursor = serde_json::from_str(&serde_json::to_string(&cursor).unwrap()).unwrap();
        let mut fresh_order = EpochOrder::new(lengths, 3, 9);
        assert_eq!(resumed.next_batch(&mut fresh_order), cursor.next_batch(&mut order));
        assert_eq!(resumed.next_batch(&mut fresh_order), expected[6]);
        assert!(!cursor.done());
        assert_eq!(Cursor::new(0).total_steps, 1);
    }

    /// The loop's core: a finite loss counts the step; a non-finite one names the step and
    /// leaves the cursor where it was, so that the run stops at its last good step.
    #[test]
    fn a_turn_counts_finite_steps_and_stops_on_nan() {
        let mut order = EpochOrder::new(vec![3; 6], 2, 1);
        let mut cursor = Cursor::new(4);
        let (batch, turn) = cursor.begin(&mut order).unwrap();
        assert_eq!((batch.len(), turn.examples), (2, 2));
        assert!(cursor.end(turn, 0.7).unwrap() >= 0.0);
        assert_eq!((cursor.step, cursor.examples_seen), (1, 2));
        let (_, turn) = cursor.begin(&mut order).unwrap();
        let before = (cursor.step, cursor.examples_seen);
        assert_eq!(cursor.end(turn, f32::NAN).unwrap_err().step, 2);
        assert_eq!((cursor.step, cursor.examples_seen), before);
        let (_, turn) = cursor.begin(&mut order).unwrap();
        assert_eq!(cursor.end(turn, f32::INFINITY).unwrap_err().value, f32::INFINITY);
    }
}
