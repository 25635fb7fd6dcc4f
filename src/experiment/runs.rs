//! Running, reusing and resuming the runs of an experiment. A run folder holding a finished run
//! with the same settings, written after every run it was made from (its lineage: the teacher it
//! learnt from, the healing it started from), is reused; an interrupted one is resumed on the
//! same terms; anything else is trained afresh.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::ExperimentError;
use super::data::{DataCache, DataSpec, TextSpec};
use crate::checkpoint::Checkpoint;
use crate::model::FfnPlan;
use crate::train::finetune_run::{FinetuneOptions, MadeFrom, RunResults, RunState, finetune};
use crate::train::heal_run::{HealOptions, HealResults, HealState, heal};
use crate::train::observer::Observer;
use crate::train::pretrain_run::{PretrainOptions, PretrainResults, PretrainState, pretrain};

/// Makes the progress observer of each run, given its label (the CLI: a progress bar).
pub type ObserverFactory<'a> = dyn Fn(&str) -> Box<dyn Observer> + 'a;

/// Runs an experiment's fine-tunings and healings on one device, with its data read once.
pub struct Runner<'a> {
    pub device: Device,
    pub data: DataCache,
    observe: &'a ObserverFactory<'a>,
    /// Where the runner says what it reuses and how runs went (the CLI: standard output).
    say: &'a dyn Fn(&str),
    /// Where it warns (skipped rows; the CLI: standard error).
    warn: &'a dyn Fn(&str),
    /// Each stale run replaced since the last [`Runner::take_replaced`]: the tables built from
    /// these runs carry them as notes, so a replaced run is said beside its numbers too.
    replaced: Vec<String>,
}

impl<'a> Runner<'a> {
    pub fn new(device: Device, observe: &'a ObserverFactory<'a>, say: &'a dyn Fn(&str), warn: &'a dyn Fn(&str)) -> Self {
        Self { device, data: DataCache::default(), observe, say, warn, replaced: Vec::new() }
    }

    /// Tells the user `line` (reuse, warnings, results as they come).
    pub fn say(&self, line: &str) {
        (self.say)(line)
    }

    /// The function [`Runner::say`] calls, for a caller that holds the runner borrowed.
    pub fn sayer(&self) -> &'a dyn Fn(&str) {
        self.say
    }

    /// The stale runs replaced since the last call, each as a sentence (and forgets them).
    pub fn take_replaced(&mut self) -> Vec<String> {
        std::mem::take(&mut self.replaced)
    }

    /// Says that `dir` held a stale run that is being replaced, and keeps the note for the table.
    fn replacing(&mut self, label: &str, dir: &Path, what: &str) {
        self.say(&format!("{label}: {} holds {what}; replacing it", dir.display()));
        self.replaced.push(format!("{label}: replaced {what} in {}", dir.display()));
    }

    fn warn_once(&mut self) {
        for w in self.data.take_warnings() {
            (self.warn)(&format!("warning: {w}"));
        }
    }

    /// Fine-tunes `plan` of `checkpoint` on `data` into `out` (`resume`: continue `out/last`).
    /// `out` may not be the checkpoint's own folder or lie inside it: the run's best checkpoint
    /// would replace the model it started from.
    #[allow(clippy::too_many_arguments)]
    pub fn finetune(
        &mut self,
        checkpoint: &Checkpoint,
        plan: &FfnPlan,
        data: &DataSpec,
        options: &FinetuneOptions,
        out: &Path,
        resume: bool,
        label: &str,
    ) -> Result<RunResults, ExperimentError> {
        options.validate()?;
        outside_model(out, checkpoint)?;
        let options = &made_from(options, checkpoint, data);
        let task = self.data.task(data, checkpoint, options.train.max_len)?;
        self.warn_once();
        let mut observer = (self.observe)(label);
        Ok(finetune(checkpoint, plan, data.task, &task.train, &task.dev, out, options, resume, &self.device, observer.as_mut())?)
    }

    /// A finished run in `dir` with the same options, written after its `inputs`, is reused; an
    /// interrupted one is resumed on the same terms; else the run starts afresh.
    #[allow(clippy::too_many_arguments)]
    pub fn finetune_or_reuse(
        &mut self,
        checkpoint: &Checkpoint,
        plan: &FfnPlan,
        data: &DataSpec,
        options: &FinetuneOptions,
        dir: &Path,
        inputs: &[PathBuf],
        label: &str,
    ) -> Result<RunResults, ExperimentError> {
        // A run made from another model, data folder or task is not this run, whatever its folder.
        let options = &made_from(options, checkpoint, data);
        if let Ok(bytes) = std::fs::read(dir.join("results.json"))
            && let Ok(previous) = serde_json::from_slice::<RunResults>(&bytes)
            && previous.completed
            && previous.options == *options
            && previous.plan == plan.to_string()
            && newer_than_inputs(&dir.join("results.json"), inputs)
        {
            self.say(&format!("{label}: reusing the finished run in {}", dir.display()));
            return Ok(previous);
        }
        // An interrupted run of the same settings and inputs continues; anything else in `dir` (a
        // run of other settings, data or model) is replaced by a fresh run.
        let state = dir.join("last/state.json");
        let resume = newer_than_inputs(&state, inputs)
            && std::fs::read(&state)
                .ok()
                .and_then(|b| serde_json::from_slice::<RunState>(&b).ok())
                .is_some_and(|s| s.options == *options && s.plan == plan.to_string() && s.task == data.task);
        if !resume && holds_run(dir) {
            self.replacing(label, dir, "a run of other settings, data or model (or one older than the runs it builds on)");
        }
        self.finetune(checkpoint, plan, data, options, dir, resume, label).map_err(|e| e.context(format!("{label} in {}", dir.display())))
    }

    /// Heals `plan` of `teacher` on `text` into `out` (`resume`: continue `out/last`).
    pub fn heal(
        &mut self,
        teacher: &Checkpoint,
        plan: &FfnPlan,
        text: &TextSpec,
        options: &HealOptions,
        out: &Path,
        resume: bool,
    ) -> Result<HealResults, ExperimentError> {
        options.validate()?;
        outside_model(out, teacher)?;
        let options = &heal_made_from(options, teacher, text);
        let texts = self.data.texts(text, teacher, options.max_len)?;
        let mut observer = (self.observe)(&format!("heal `{plan}`"));
        Ok(heal(teacher, plan, &texts.train, &texts.held_out, out, options, resume, &self.device, observer.as_mut())?)
    }

    /// A finished healing in `dir` with the same options, written after its `inputs`, is reused;
    /// an interrupted one is resumed on the same terms.
    #[allow(clippy::too_many_arguments)]
    pub fn heal_or_reuse(
        &mut self,
        teacher: &Checkpoint,
        plan: &FfnPlan,
        text: &TextSpec,
        options: &HealOptions,
        dir: &Path,
        inputs: &[PathBuf],
    ) -> Result<HealResults, ExperimentError> {
        let options = &heal_made_from(options, teacher, text);
        if let Ok(bytes) = std::fs::read(dir.join("heal.json"))
            && let Ok(previous) = serde_json::from_slice::<HealResults>(&bytes)
            && previous.completed
            && previous.options == *options
            && dir.join("config.json").is_file()
            && newer_than_inputs(&dir.join("heal.json"), inputs)
        {
            self.say(&format!("heal `{plan}`: reusing the finished healing in {}", dir.display()));
            return Ok(previous);
        }
        let state = dir.join("last/state.json");
        let resume = newer_than_inputs(&state, inputs)
            && std::fs::read(&state)
                .ok()
                .and_then(|b| serde_json::from_slice::<HealState>(&b).ok())
                .is_some_and(|s| s.options == *options && s.plan == plan.to_string());
        if !resume && holds_run(dir) {
            self.replacing(&format!("heal `{plan}`"), dir, "a healing of other settings or text");
        }
        self.heal(teacher, plan, text, options, dir, resume).map_err(|e| e.context(format!("healing `{plan}` in {}", dir.display())))
    }
}

impl Runner<'_> {
    /// Pre-trains `plan` of `teacher` into `dir`: a finished run with the same options (and its
    /// last milestone's checkpoint) is reused; an interrupted one of the same options resumed;
    /// anything else replaced by a fresh run, and said.
    pub fn pretrain_or_reuse(
        &mut self,
        teacher: &Checkpoint,
        plan: &FfnPlan,
        options: &PretrainOptions,
        dir: &Path,
    ) -> Result<PretrainResults, ExperimentError> {
        options.validate()?;
        outside_model(dir, teacher)?;
        let mut options = options.clone();
        if options.made_from.is_none() {
            options.made_from = Some(MadeFrom::new(teacher, Some(options.corpus.clone()), None));
        }
        if let Ok(bytes) = std::fs::read(dir.join("pretrain.json"))
            && let Ok(previous) = serde_json::from_slice::<PretrainResults>(&bytes)
            && previous.completed
            && previous.options == options
            && previous.plan == plan.to_string()
            && previous.milestones.iter().all(|m| dir.join(&m.dir).join("config.json").is_file())
        {
            self.say(&format!("pretrain `{plan}`: reusing the finished pre-training in {}", dir.display()));
            return Ok(previous);
        }
        let state = dir.join("last/state.json");
        let previous = std::fs::read(&state).ok().and_then(|b| serde_json::from_slice::<PretrainState>(&b).ok());
        let resume = previous.as_ref().is_some_and(|s| s.options == options && s.plan == plan.to_string());
        if previous.is_some() && !resume {
            self.replacing(&format!("pretrain `{plan}`"), dir, "a pre-training of other settings");
        }
        let mut observer = (self.observe)(&format!("pretrain `{plan}`"));
        pretrain(teacher, plan, dir, &options, resume, &self.device, observer.as_mut())
            .map_err(|e| ExperimentError::from(e).context(format!("pre-training `{plan}` in {}", dir.display())))
    }
}

/// `options` with what the run is made from: `checkpoint`, and `data`'s folder and task.
fn made_from(options: &FinetuneOptions, checkpoint: &Checkpoint, data: &DataSpec) -> FinetuneOptions {
    let mut options = options.clone();
    if options.made_from.is_none() {
        options.made_from = Some(MadeFrom::new(checkpoint, data.dir.clone(), Some(data.task)));
    }
    options
}

/// `options` with what the healing is made from: the teacher and the text.
fn heal_made_from(options: &HealOptions, teacher: &Checkpoint, text: &TextSpec) -> HealOptions {
    let mut options = options.clone();
    if options.made_from.is_none() {
        options.made_from = Some(MadeFrom::new(teacher, Some(text.path.clone()), text.task));
    }
    options
}

/// Whether `file` was written after every file in `inputs` (the results of the runs it started
/// from). Options alone cannot tell that a teacher or a healing was redone since: the path is
/// the same, the weights are not.
pub fn newer_than_inputs(file: &Path, inputs: &[PathBuf]) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(written) = modified(file) else { return false };
    inputs.iter().all(|input| modified(input).is_some_and(|t| t <= written))
}

/// `path` made absolute with links resolved, as far as it exists (a run folder may not yet).
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
    let mut out = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    out
}

/// Refuses an output folder that is `checkpoint`'s own folder or lies inside it.
pub fn outside_model(out: &Path, checkpoint: &Checkpoint) -> Result<(), ExperimentError> {
    let (out_path, model) = (resolved(out), resolved(&checkpoint.source));
    if out_path.starts_with(&model) {
        return Err(ExperimentError::Spec(format!(
            "--out {}: that is the model's own folder ({}) or inside it; the run would write over the model it starts from — choose another --out",
            out.display(),
            checkpoint.source.display()
        )));
    }
    Ok(())
}

/// Whether `out` holds a run (finished or not) that a fresh run would replace.
pub fn holds_run(out: &Path) -> bool {
    ["results.json", "heal.json", "pretrain.json", "last/state.json", "last.old/state.json", "last.tmp/state.json"].iter().any(|f| out.join(f).is_file())
}
