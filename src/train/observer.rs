//! Progress callbacks of long runs (fine-tuning, healing): the CLI draws a progress bar, tests
//! stop a run midway.

use web_time::Instant;

use super::eval::EvalResult;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Steps taken so far.
    pub step: usize,
    pub total_steps: usize,
    /// The current epoch, from 0.
    pub epoch: usize,
}

/// What a run reports while it goes.
pub trait Observer {
    fn on_start(&mut self, _progress: Progress) {}
    fn on_step(&mut self, _progress: Progress, _loss: f32, _examples_per_s: f64) {}
    /// Named evaluation results (dev files for fine-tuning, held-out losses for healing).
    fn on_eval(&mut self, _progress: Progress, _results: &[(String, EvalResult)]) {}
    /// Something the user should know that is not an error (a resume from a backup folder).
    fn on_notice(&mut self, _text: &str) {}
    /// Polled after each step: `true` saves a resume checkpoint and stops (Ctrl-C).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that reports nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Examples per second since the last log line: the rate the progress bar and the log show,
/// recent enough to see a slow-down, smoothed over the steps between two log lines.
pub struct RateWindow {
    start: Instant,
    examples: usize,
}

impl RateWindow {
    pub fn new() -> Self {
        Self { start: Instant::now(), examples: 0 }
    }

    /// Counts a batch and returns the rate since the window opened.
    pub fn add(&mut self, examples: usize) -> f64 {
        self.examples += examples;
        self.examples as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Opens a new window (after a log line).
    pub fn restart(&mut self) {
        *self = Self::new();
    }
}

impl Default for RateWindow {
    fn default() -> Self {
        Self::new()
    }
}
