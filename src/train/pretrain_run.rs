//! A whole pre-training run on disk (native): a reduced student cut from `MODEL` learns from the
//! full `MODEL` on a folder of text shards read as a packed stream, up to a token budget, with
//! held-out losses and a loadable checkpoint at every milestone, `last/` for a bit-identical
//! resume, `log.jsonl` and `pretrain.json`. It shares the run driver, the step's two-thread CPU
//! split and the resume files with fine-tuning and healing.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::cursor::{Batches, Cursor};
use super::driver::{Ending, Job, RunLog, Schedule, drive, start};
use super::eval::EvalResult;
use super::finetune_run::{MadeFrom, versions};
use super::observer::Observer;
use super::pretrain_step::{PretrainConfig, PretrainStep, Pretrainer, Student};
use super::resume::{kept_after_failure, read_last_weights, restore_optimization, save_dir, save_last, save_top_level};
use crate::checkpoint::{Checkpoint, bert_mlm_to_safetensors, bert_to_safetensors, load_bert, load_mlm_head};
use crate::data::corpus::{Corpus, CorpusError, CorpusStream, PackStats, SpecialIds, StreamPosition, pack_file, to_batch};
pub use crate::data::corpus::{MAX_TOKENS, parse_tokens, tokens_label};
use crate::error::{SettingsError, TrainError, io};
use crate::model::{BertConfig, FfnPlan, ModelStats};
use crate::text::Batch;

/// A pre-training run's settings: the step's, the data's and the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainOptions {
    pub config: PretrainConfig,
    /// The folder of text shards (every `*.txt` but the held-out file).
    pub corpus: PathBuf,
    /// The held-out text; its first `held_out` packed sequences are evaluated at each milestone.
    pub valid: PathBuf,
    pub held_out: usize,
    pub batch_size: usize,
    pub max_len: usize,
    /// Token budget: positions trained on (`batch_size × max_len` per step).
    pub tokens: u64,
    /// Budgets (tokens) at which a checkpoint is kept and the held-out losses are measured; the
    /// whole budget is always one.
    pub milestones: Vec<u64>,
    /// Write `last/` every N steps besides the milestones (0: only at milestones and stops).
    pub save_every: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_from: Option<MadeFrom>,
}

impl PretrainOptions {
    /// Tokens one step trains on.
    pub fn tokens_per_step(&self) -> u64 {
        self.batch_size as u64 * self.max_len as u64
    }

    /// Steps the budget buys (whole batches).
    pub fn total_steps(&self) -> usize {
        (self.tokens / self.tokens_per_step().max(1)) as usize
    }

    /// The milestones as `(step, budget)`, ascending, the whole budget last: a budget that is
    /// not a whole number of steps is reached at the step below it.
    pub fn milestone_steps(&self) -> Vec<(usize, u64)> {
        let per_step = self.tokens_per_step().max(1);
        let mut steps: Vec<(usize, u64)> =
            self.milestones.iter().chain([&self.tokens]).map(|&t| ((t / per_step) as usize, t)).filter(|(s, _)| *s > 0).collect();
        steps.sort_unstable();
        steps.dedup_by_key(|(s, _)| *s);
        steps
    }

    /// Every range checked before any work, naming the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.config.validate()?;
        SettingsError::check((1..=4096).contains(&self.batch_size), "--batch-size", "1 to 4096 sequences")?;
        SettingsError::check((8..=4096).contains(&self.max_len), "--max-len", "8 to 4096 tokens (at most the model's max_position_embeddings)")?;
        SettingsError::check((1..=100_000).contains(&self.held_out), "--held-out", "1 to 100000 sequences")?;
        SettingsError::check(self.save_every <= super::finetune_run::MAX_STEPS, "--save-every", "0 to 100000000 steps")?;
        SettingsError::check(self.tokens <= MAX_TOKENS, "--tokens", "at most 1000G tokens")?;
        SettingsError::check(self.total_steps() >= 1, "--tokens", "at least one batch (--batch-size × --max-len tokens)")?;
        SettingsError::check(
            self.milestones.iter().all(|&t| t <= self.tokens && t >= self.tokens_per_step()),
            "--milestones",
            "budgets between one batch and --tokens",
        )?;
        SettingsError::check(self.milestones.len() <= 64, "--milestones", "at most 64 budgets")?;
        Ok(())
    }

    /// The default milestones of a budget: every doubling from an eighth of it.
    pub fn doublings(tokens: u64) -> Vec<u64> {
        (0..4).rev().map(|k| tokens >> k).collect()
    }
}

/// Held-out losses (dropout off), averaged over sequences.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PretrainLosses {
    pub hidden_mse: f64,
    pub attention_kl: f64,
    /// Masked-LM cross-entropy (0 when not trained).
    pub mlm: f64,
}

impl PretrainLosses {
    fn as_eval(&self, examples: usize) -> EvalResult {
        EvalResult {
            metrics: [("hidden_mse".to_string(), self.hidden_mse), ("attention_kl".to_string(), self.attention_kl), ("mlm".to_string(), self.mlm)].into(),
            examples,
        }
    }
}

/// One milestone: where its checkpoint is and what it had cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    /// The budget asked for (`--milestones`, `--tokens`), which names the folder.
    pub budget: u64,
    /// Tokens trained on: whole steps, at most the budget.
    pub tokens: u64,
    pub step: usize,
    /// The checkpoint's folder, relative to the run's folder (`milestones/<tokens>`).
    pub dir: String,
    pub held_out: PretrainLosses,
    /// Seconds of training up to this milestone.
    pub train_seconds: f64,
}

/// Where a pre-training run is, saved in `last/state.json` for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainState {
    #[serde(flatten)]
    pub cursor: Cursor,
    pub plan: String,
    pub options: PretrainOptions,
    pub before: Option<PretrainLosses>,
    pub milestones: Vec<Milestone>,
    pub packing: PackStats,
}

/// The outcome of a pre-training run, also written to `pretrain.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainResults {
    pub teacher: String,
    pub plan: String,
    pub params: usize,
    pub steps: usize,
    pub tokens_seen: u64,
    pub train_seconds: f64,
    pub tokens_per_second: f64,
    /// Real tokens over all positions of the training sequences.
    pub packing_efficiency: f64,
    pub packing: PackStats,
    pub held_out_sequences: usize,
    pub before: PretrainLosses,
    pub after: PretrainLosses,
    pub milestones: Vec<Milestone>,
    pub device: String,
    pub options: PretrainOptions,
    pub versions: Value,
    pub completed: bool,
}

/// The packed corpus as the driver's batches: each batch is `batch_size` sequences; the cursor
/// keeps the stream's position (and its pass as the epoch); a step counts its tokens.
struct StreamBatches {
    stream: CorpusStream,
    batch_size: usize,
    tokens_per_step: usize,
    /// The stream's packing counts, shared with the job that saves them in `last/`.
    packing: Rc<Cell<PackStats>>,
}

impl Batches for StreamBatches {
    type Batch = Batch;
    fn next(&mut self, cursor: &mut Cursor) -> Result<(Batch, usize), TrainError> {
        let batch = self.stream.next_batch(self.batch_size).map_err(corpus_error)?;
        cursor.stream = Some(self.stream.position);
        cursor.epoch = self.stream.position.pass;
        self.packing.set(self.stream.stats);
        Ok((batch, self.tokens_per_step))
    }
}

fn corpus_error(e: CorpusError) -> TrainError {
    TrainError::Config(e.to_string())
}

/// Pre-training as the run driver's [`Job`].
struct PretrainJob<'a> {
    ours: bool,
    pretrainer: Pretrainer,
    held_out: &'a [Batch],
    held_out_sequences: usize,
    out: &'a Path,
    last_dir: PathBuf,
    config: BertConfig,
    tokenizer_files: &'a [(String, Vec<u8>)],
    plan: String,
    options: PretrainOptions,
    milestone_steps: Vec<(usize, u64)>,
    before: Option<PretrainLosses>,
    milestones: Vec<Milestone>,
    /// Packing counts of the runs before a resume (the stream counts this process's).
    packing_before: PackStats,
    packing_now: Rc<Cell<PackStats>>,
    latest: Option<PretrainLosses>,
    last_step: Option<PretrainStep>,
}

impl PretrainJob<'_> {
    fn held_out_losses(&self) -> PretrainLosses {
        let (mut hidden, mut attention, mut mlm, mut n) = (0.0, 0.0, 0.0, 0usize);
        for (i, batch) in self.held_out.iter().enumerate() {
            let out = self.pretrainer.eval_losses(batch, i);
            let rows = batch.batch_size as f64;
            hidden += out.hidden.into_scalar::<f32>() as f64 * rows;
            attention += out.attention.into_scalar::<f32>() as f64 * rows;
            mlm += out.mlm.into_scalar::<f32>() as f64 * rows;
            n += batch.batch_size;
        }
        let n = n.max(1) as f64;
        PretrainLosses { hidden_mse: hidden / n, attention_kl: attention / n, mlm: mlm / n }
    }

    fn weights(&self) -> Result<Vec<u8>, TrainError> {
        let student = &self.pretrainer.student;
        Ok(match &student.mlm {
            Some(head) => pollster::block_on(bert_mlm_to_safetensors(&student.bert, head))?,
            None => pollster::block_on(bert_to_safetensors(&student.bert))?,
        })
    }

    fn packing(&self) -> PackStats {
        let (a, b) = (self.packing_before, self.packing_now.get());
        PackStats {
            sequences: a.sequences + b.sequences,
            real_tokens: a.real_tokens + b.real_tokens,
            positions: a.positions + b.positions,
            skipped_lines: a.skipped_lines + b.skipped_lines,
        }
    }
}

impl Job for PretrainJob<'_> {
    type Batch = Batch;

    fn step(&mut self, batch: &Batch) -> Result<f32, TrainError> {
        let step = self.pretrainer.step(batch);
        let loss = step.loss.clone().into_scalar();
        self.last_step = Some(step);
        Ok(loss)
    }

    fn milestone(&self, step: usize) -> bool {
        self.milestone_steps.iter().any(|(s, _)| *s == step)
    }

    fn log_fields(&mut self) -> serde_json::Map<String, Value> {
        let Some(step) = self.last_step.take() else { return Default::default() };
        let read = |t: burn::tensor::Tensor<1>| t.into_scalar::<f32>();
        let fields =
            [("hidden_mse", json!(read(step.hidden))), ("attention_kl", json!(read(step.attention))), ("mlm", json!(read(step.mlm))), ("lr", json!(step.lr))];
        fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Held-out losses; at a milestone also its checkpoint, `milestones/<tokens>/`.
    fn evaluate(&mut self, cursor: &Cursor, log: &mut RunLog, observer: &mut dyn Observer) -> Result<(), TrainError> {
        let now = self.held_out_losses();
        log.write(json!({"step": cursor.step, "tokens": cursor.examples_seen, "held_out": now}))?;
        observer.on_eval(cursor.progress(), &[("held-out".into(), now.as_eval(self.held_out_sequences))]);
        self.latest = Some(now);
        if self.milestone(cursor.step) && !self.milestones.iter().any(|m| m.step == cursor.step) {
            let tokens = cursor.step as u64 * self.options.tokens_per_step();
            let budget = self.milestone_steps.iter().find(|(s, _)| *s == cursor.step).map_or(tokens, |(_, b)| *b);
            let dir = format!("milestones/{}", tokens_label(budget));
            let weights = self.weights()?;
            let path = self.out.join(&dir);
            fs::create_dir_all(path.parent().expect("under out")).map_err(io(&path))?;
            let milestone = Milestone { budget, tokens, step: cursor.step, dir, held_out: now, train_seconds: cursor.train_seconds };
            let info = serde_json::to_vec_pretty(&milestone).expect("a milestone serialises");
            save_dir(&path, &self.config, &weights, self.tokenizer_files, &[("milestone.json", info)])?;
            self.milestones.push(milestone);
        }
        Ok(())
    }

    fn save_last(&mut self, cursor: &Cursor) -> Result<(), TrainError> {
        let state = PretrainState {
            cursor: cursor.clone(),
            plan: self.plan.clone(),
            options: self.options.clone(),
            before: self.before,
            milestones: self.milestones.clone(),
            packing: self.packing(),
        };
        let weights = self.weights()?;
        save_last(&self.last_dir, &self.config, &weights, self.tokenizer_files, &self.pretrainer.opt.optim, &state)?;
        self.ours = true;
        Ok(())
    }

    fn kept_after_failure(&self) -> String {
        kept_after_failure(&self.last_dir, None, self.ours)
    }
}

/// Pre-trains `plan` of `teacher` on `options.corpus` into `out`: milestone checkpoints under
/// `out/milestones/`, the last one also at the top level of `out`, `last/` for `--resume`,
/// `log.jsonl` and `pretrain.json`.
pub fn pretrain(
    teacher: &Checkpoint,
    plan: &FfnPlan,
    out: &Path,
    options: &PretrainOptions,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<PretrainResults, TrainError> {
    options.validate()?;
    if plan == &teacher.plan() && options.config.distils() {
        return Err(TrainError::Config(format!(
            "plan `{plan}` keeps every intermediate block the teacher has: nothing to learn from it; pass --keep-ffn with fewer layers"
        )));
    }
    let limit = teacher.config.max_position_embeddings;
    if options.max_len > limit {
        return Err(TrainError::Settings(SettingsError { setting: "--max-len", expected: "at most the model's max_position_embeddings" }));
    }
    let ad = device.clone().autodiff();
    let config = teacher.config.with_plan(plan);
    let special = SpecialIds::of(&teacher.tokenizer).map_err(corpus_error)?;
    let corpus = Corpus::open(&options.corpus, Some(&options.valid)).map_err(corpus_error)?;
    let (held_out_rows, _) = pack_file(&options.valid, &teacher.tokenizer, options.max_len, options.held_out).map_err(corpus_error)?;
    let held_out: Vec<Batch> = held_out_rows.chunks(16).map(|rows| to_batch(rows, options.max_len, special.pad)).collect();
    // The head first: a checkpoint without one is refused before any work.
    let head = if options.config.mlm_weight > 0.0 { Some(teacher.load_mlm_head(&ad)?) } else { None };
    let total_steps = options.total_steps();
    let last_dir = out.join("last");
    let teacher_model = if options.config.distils() { Some(teacher.load_bert(None, device)?.0) } else { None };

    // Held until the run returns: one writer per folder.
    let (_lock, started) = start::<PretrainState>(out, resume, observer)?;
    let (student, cursor, before, milestones, packing) = match started {
        Some((state, state_path)) => {
            let refuse = |reason: String| TrainError::Resume { path: state_path.clone(), reason };
            if state.plan != plan.to_string() || state.options != *options {
                return Err(refuse(format!("it was started with plan `{}` and {:?}; pass the same settings", state.plan, state.options)));
            }
            let c = &state.cursor;
            let tokens_ok = c.examples_seen as u64 == c.step as u64 * options.tokens_per_step();
            if c.total_steps != total_steps
                || c.step > total_steps
                || c.stream.is_none() && c.step > 0
                || !tokens_ok
                || !(c.train_seconds.is_finite() && c.train_seconds >= 0.0)
            {
                return Err(refuse(format!(
                    "its position (step {} of {}, {} tokens) does not fit a run of {total_steps} steps of {} tokens",
                    c.step,
                    c.total_steps,
                    c.examples_seen,
                    options.tokens_per_step()
                )));
            }
            if c.stream.is_some_and(|p| p.shard >= corpus.shards.len()) {
                return Err(refuse(format!(
                    "it stopped in shard {} of a pass, but {} holds {} shards now",
                    c.stream.map(|p| p.shard).unwrap_or(0) + 1,
                    options.corpus.display(),
                    corpus.shards.len()
                )));
            }
            let (weights, weights_path) = read_last_weights(&last_dir)?;
            let bert = load_bert(&weights, &weights_path, &config, plan, &ad)?.0;
            let mlm = if head.is_some() { Some(load_mlm_head(&weights, &weights_path, &config, &ad)?) } else { None };
            (Student { bert, mlm }, state.cursor, state.before, state.milestones, state.packing)
        }
        None => (Student { bert: teacher.load_bert(Some(plan), &ad)?.0, mlm: head }, Cursor::new(total_steps), None, Vec::new(), PackStats::default()),
    };
    let position = cursor.stream.unwrap_or(StreamPosition::default());
    let stream = CorpusStream::new(corpus, &teacher.tokenizer, options.max_len, options.config.seed, position).map_err(corpus_error)?;
    let mut pretrainer = Pretrainer::new(student, teacher_model, options.config.clone(), special, teacher.config.vocab_size, total_steps, &ad);
    if resume {
        restore_optimization(&mut pretrainer.opt, &last_dir, cursor.step)?;
    }

    let mut log = RunLog::open(out, resume.then_some(cursor.step))?;
    let mut job = PretrainJob {
        ours: resume,
        pretrainer,
        held_out: &held_out,
        held_out_sequences: held_out_rows.len(),
        out,
        last_dir,
        config,
        tokenizer_files: &teacher.tokenizer_files,
        plan: plan.to_string(),
        options: options.clone(),
        milestone_steps: options.milestone_steps(),
        before,
        milestones,
        packing_before: packing,
        packing_now: Rc::new(Cell::new(PackStats::default())),
        latest: None,
        last_step: None,
    };
    if job.before.is_none() {
        let before = job.held_out_losses();
        log.write(json!({"step": 0, "tokens": 0, "held_out": before}))?;
        observer.on_eval(cursor.progress(), &[("held-out".into(), before.as_eval(job.held_out_sequences))]);
        job.before = Some(before);
    }
    let mut cursor = cursor;
    let mut batches =
        StreamBatches { stream, batch_size: options.batch_size, tokens_per_step: options.tokens_per_step() as usize, packing: job.packing_now.clone() };
    let schedule = Schedule { eval_every: 0, save_every: options.save_every };
    let ending = drive(&mut job, &mut cursor, &mut batches, schedule, &mut log, observer)?;
    if !batches.stream.empty_shards.is_empty() {
        observer.on_notice(&format!(
            "skipped {} shard(s) without text: {}",
            batches.stream.empty_shards.len(),
            batches.stream.empty_shards.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }

    let after = match (ending, job.latest) {
        (Ending::Finished, Some(latest)) => {
            let weights = job.weights()?;
            save_top_level(out, &job.config, &weights, &teacher.tokenizer_files)?;
            latest
        }
        _ => job.held_out_losses(),
    };
    let packing = job.packing();
    let tokens_seen = cursor.examples_seen as u64;
    let results = PretrainResults {
        teacher: teacher.source.display().to_string(),
        plan: plan.to_string(),
        params: ModelStats::new(&teacher.config, plan, options.max_len).total_params,
        steps: cursor.step,
        tokens_seen,
        train_seconds: cursor.train_seconds,
        tokens_per_second: tokens_seen as f64 / cursor.train_seconds.max(1e-9),
        packing_efficiency: packing.efficiency(),
        packing,
        held_out_sequences: job.held_out_sequences,
        before: job.before.expect("evaluated at the start"),
        after,
        milestones: job.milestones.clone(),
        device: format!("{device:?}"),
        options: options.clone(),
        versions: versions(),
        completed: ending == Ending::Finished,
    };
    let path = out.join("pretrain.json");
    fs::write(&path, serde_json::to_vec_pretty(&results).expect("results serialise")).map_err(io(&path))?;
    Ok(results)
}
