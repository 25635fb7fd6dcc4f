//! Throughput of full and reduced models: inference on fixed-shape batches and on a dataset with
//! dynamic padding, and training steps on fixed-shape batches.

use burn::tensor::Device;
use serde::Serialize;
use web_time::Instant;

use super::ExperimentError;
use super::timing::{BenchInput, time_passes};
use crate::checkpoint::Checkpoint;
use crate::data::{Label, Task};
use crate::device::{Launches, is_flex};
use crate::error::ReadbackError;
use crate::model::precision::{self, Precision};
use crate::model::{BertModel, FfnPlan, ForwardConfig, ModelStats};
use crate::text::{Batch, TextInput};
use crate::train::eval::by_row_parts;
use crate::train::step::batch_parts;
use crate::train::{TrainConfig, Trainer};

/// What an inference benchmark runs.
pub struct InferenceBenchOptions<'a> {
    pub batch: usize,
    pub seq_len: usize,
    /// Untimed batches before the timed ones (kernel compilation, the allocator's first touches).
    pub warmup: usize,
    /// Timed batches of the fixed shape.
    pub iters: usize,
    /// Sentences run in order, `batch` at a time with dynamic padding (none: skipped).
    pub sentences: &'a [String],
    /// What the models compute in (f16: on GPU adapters with `shader-f16`).
    pub precision: Precision,
}

/// One plan's inference throughput.
#[derive(Debug, Clone, Serialize)]
pub struct InferenceResult {
    pub plan: String,
    pub params: usize,
    pub fixed_sent_per_s: f64,
    pub fixed_ms_per_batch: f64,
    pub data_sent_per_s: Option<f64>,
    pub data_sentences: usize,
    /// Kernel launches of one fixed-shape forward pass after the warm-up (wgpu; none on flex).
    pub launches_per_forward: Option<Launches>,
}

/// One plan's training throughput.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingResult {
    pub plan: String,
    pub params: usize,
    pub examples_per_s: f64,
    pub ms_per_step: f64,
    /// Kernel launches of one training step after the warm-up (wgpu; none on flex).
    pub launches_per_step: Option<Launches>,
}

/// One forward pass of `batch` to the host, as evaluation runs it (rows in slices on parallel
/// threads on the CPU, [`by_row_parts`]); reading the pooled output back forces the pass to finish.
fn run_to_host(model: &BertModel, batch: &Batch, device: &Device) -> Result<(), ReadbackError> {
    let read = |slice: &Batch| {
        let out = model.forward(slice.to_input(device), ForwardConfig::default());
        out.pooler_output.into_data().try_into_vec::<f32>().map(|_| ()).map_err(ReadbackError::of("the pooled output"))
    };
    by_row_parts(batch, batch_parts(device), &read).into_iter().collect()
}

/// Inference sentences/s of each plan of `checkpoint` (on wgpu also the launches of one pass).
pub fn inference(
    checkpoint: &Checkpoint,
    plans: &[FfnPlan],
    spec: &InferenceBenchOptions<'_>,
    device: &Device,
) -> Result<Vec<InferenceResult>, ExperimentError> {
    let (b, s) = (spec.batch, spec.seq_len);
    let batches: Vec<Batch> = spec
        .sentences
        .chunks(b.max(1))
        .map(|c| checkpoint.tokenizer.encode_batch(&c.iter().map(|s| TextInput::Single(s.clone())).collect::<Vec<_>>()))
        .collect::<Result<_, _>>()?;
    let fixed = BenchInput::of(checkpoint).batch(b, s);
    let mut results = Vec::new();
    for plan in plans {
        let (model, _) = checkpoint.load_bert(Some(plan), device)?;
        let model = precision::cast(model, spec.precision, device)?;
        let timing = pollster::block_on(time_passes(spec.warmup, spec.iters, !is_flex(device), || {
            let done = run_to_host(&model, &fixed, device);
            async { done }
        }))?;
        let secs = timing.ms_per_pass * spec.iters as f64 / 1e3;
        let data_sent_per_s = if batches.is_empty() {
            None
        } else {
            let start = Instant::now();
            for batch in &batches {
                run_to_host(&model, batch, device)?;
            }
            Some(spec.sentences.len() as f64 / start.elapsed().as_secs_f64())
        };
        results.push(InferenceResult {
            plan: plan.to_string(),
            params: ModelStats::new(&checkpoint.config, plan, s).total_params,
            fixed_sent_per_s: (spec.iters * b) as f64 / secs,
            fixed_ms_per_batch: 1e3 * secs / spec.iters as f64,
            data_sent_per_s,
            data_sentences: spec.sentences.len(),
            launches_per_forward: timing.launches,
        });
    }
    Ok(results)
}

/// What a training benchmark runs: steps on fixed `batch × seq_len` batches.
#[derive(Debug, Clone, Copy)]
pub struct TrainingBenchOptions {
    pub batch: usize,
    pub seq_len: usize,
    /// Untimed steps first. Why more than one: on the CPU the first steps of a process run up to
    /// twice as slow as the rest while the allocator touches its memory for the first time
    /// (page faults, all within three steps; docs/benchmarks.md), a cost a fine-tuning run of
    /// hundreds of steps pays once.
    pub warmup: usize,
    /// Timed steps.
    pub iters: usize,
}

/// Training examples/s of each plan: `spec.warmup` untimed steps (and on wgpu one counted step),
/// then `spec.iters` timed (forward, backward, clipping, AdamW; the loss read back each step).
pub fn training(checkpoint: &Checkpoint, plans: &[FfnPlan], spec: &TrainingBenchOptions, device: &Device) -> Result<Vec<TrainingResult>, ExperimentError> {
    let TrainingBenchOptions { batch, seq_len, warmup, iters } = *spec;
    let input = BenchInput::of(checkpoint).batch(batch, seq_len);
    let labels: Vec<Label> = (0..batch).map(|i| Label::Class(i % 2)).collect();
    let mut results = Vec::new();
    for plan in plans {
        let ad = device.clone().autodiff();
        let (model, _) = checkpoint.load_classifier(Some(plan), &ad)?;
        let params = burn::module::Module::num_params(&model);
        let mut trainer = Trainer::new(model, Task::Sst2, TrainConfig::default(), warmup + iters + 1, &ad);
        let timing = pollster::block_on(time_passes::<ExperimentError, _, _>(warmup, iters, !is_flex(device), || {
            let _: f32 = trainer.step(&input, &labels).loss.into_scalar();
            async { Ok(()) }
        }))?;
        let secs = timing.ms_per_pass * iters as f64 / 1e3;
        results.push(TrainingResult {
            plan: plan.to_string(),
            params,
            examples_per_s: (iters * batch) as f64 / secs,
            ms_per_step: 1e3 * secs / iters as f64,
            launches_per_step: timing.launches,
        });
    }
    Ok(results)
}
