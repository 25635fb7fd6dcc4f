//! Progress callbacks of long runs (fine-tuning, healing): the CLI draws a progress bar, tests
//! stop a run midway.

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
    /// Polled after each step: `true` saves a resume checkpoint and stops (Ctrl-C).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that reports nothing.
pub struct Quiet;
impl Observer for Quiet {}
