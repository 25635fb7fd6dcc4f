//! What long runs show while they go: a progress bar with loss, rate and ETA, evaluations
//! printed above it, and Ctrl-C / SIGTERM turned into "save a resume checkpoint and stop".

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::train::EvalResult;
use crate::train::observer::{Observer, Progress};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // A second Ctrl-C kills at once.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Ctrl-C / SIGTERM finish the current step, write a resume checkpoint and stop.
pub fn install_stop_handler() {
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
    /// What the driver counts per step: `examples`, or `tokens` for pre-training.
    unit: &'static str,
}

impl ProgressObserver {
    pub fn new(label: impl Into<String>) -> Self {
        Self { bar: ProgressBar::hidden(), label: label.into(), unit: "examples" }
    }

    /// Rates in `unit`/s (pre-training counts tokens).
    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }
}

impl Observer for ProgressObserver {
    fn on_start(&mut self, state: Progress) {
        self.bar = ProgressBar::new(state.total_steps as u64);
        self.bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} steps {msg} [{elapsed_precise} ETA {eta_precise}]").expect("static template"),
        );
        self.bar.set_prefix(self.label.clone());
        self.bar.set_position(state.step as u64);
    }
    fn on_step(&mut self, state: Progress, loss: f32, examples_per_s: f64) {
        // Without a terminal (logs, CI) the bar is hidden: print a line now and then instead.
        if self.bar.is_hidden() && (state.step.is_multiple_of(50) || state.step == state.total_steps) {
            eprintln!("{} step {}/{}: loss {loss:.4}, {examples_per_s:.1} {}/s", self.label, state.step, state.total_steps, self.unit);
        }
        self.bar.set_position(state.step as u64);
        let unit = if self.unit == "examples" { "ex" } else { self.unit };
        self.bar.set_message(format!("loss {loss:.4} | {examples_per_s:.1} {unit}/s | epoch {}", state.epoch + 1));
    }
    fn on_eval(&mut self, state: Progress, results: &[(String, EvalResult)]) {
        for (name, r) in results {
            let metrics: Vec<String> = r.metrics.iter().map(|(k, v)| format!("{k} {:.4}", v)).collect();
            self.bar.println(format!("{} step {}: {name}: {}", self.label, state.step, metrics.join(", ")));
        }
    }
    fn on_notice(&mut self, text: &str) {
        // A hidden bar (no terminal) prints nothing: a notice must reach the user anyway.
        if self.bar.is_hidden() { eprintln!("note: {text}") } else { self.bar.println(format!("note: {text}")) }
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

/// A progress bar per run, for the experiment library's runner (pre-trainings, labelled
/// `pretrain …` by the runner, count tokens).
pub fn bar(label: &str) -> Box<dyn Observer> {
    let bar = ProgressObserver::new(label);
    Box::new(if label.starts_with("pretrain ") { bar.with_unit("tokens") } else { bar })
}

/// What the runner tells the user (reuse, results as they come), printed on standard output.
pub fn say(line: &str) {
    println!("{line}");
}

/// What the runner warns about (skipped rows), printed on standard error.
pub fn warn(line: &str) {
    eprintln!("{line}");
}

/// The experiment runner of a command: progress bars, lines on standard output and error.
pub fn runner(device: burn::tensor::Device) -> crate::experiment::runs::Runner<'static> {
    crate::experiment::runs::Runner::new(device, &bar, &say, &warn)
}
