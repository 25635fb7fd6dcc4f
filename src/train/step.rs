//! What every optimisation step shares, fine-tuning's ([`super::Trainer`]) and healing's
//! ([`super::heal_step::Healer`]): the step's seed, the batch split over CPU threads, gradient
//! clipping, the learning-rate schedule and AdamW.

use std::ops::Range;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::adamw::GradScale;
use super::optim::{ParamTable, adamw, add_gradients, clip_factor, global_norm};
use super::schedule::LinearSchedule;
use crate::device::is_flex;
use crate::error::SettingsError;
use crate::model::with_mask_seed;
use crate::text::Batch;

/// The optimiser settings both kinds of run have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimConfig {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
}

/// The flags that set an [`OptimConfig`]'s values, for its errors: fine-tuning, healing and
/// pre-training name them differently on the command line.
pub struct OptimFlags {
    pub lr: &'static str,
    pub warmup_ratio: &'static str,
    pub weight_decay: &'static str,
    pub max_grad_norm: &'static str,
}

impl OptimConfig {
    /// Checks the optimiser's settings, the same for every kind of run, naming each by `flags`.
    /// `lr_up_to_one`: healing and pre-training take rates up to 1; fine-tuning has no upper
    /// bound, so that a diverging run and its NaN stop can be reproduced.
    pub fn validate(&self, flags: &OptimFlags, lr_up_to_one: bool) -> Result<(), SettingsError> {
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        let positive = self.lr > 0.0 && self.lr.is_finite();
        if lr_up_to_one {
            SettingsError::check(positive && self.lr <= 1.0, flags.lr, "a learning rate in (0, 1]")?;
        } else {
            SettingsError::check(positive, flags.lr, "a positive, finite number")?;
        }
        SettingsError::check((0.0..1.0).contains(&self.warmup_ratio), flags.warmup_ratio, "a fraction in [0, 1)")?;
        SettingsError::check(non_negative(self.weight_decay), flags.weight_decay, "a non-negative number")?;
        SettingsError::check(non_negative(self.max_grad_norm), flags.max_grad_norm, "a non-negative number (0: no clipping)")
    }
}

/// AdamW over a parameter table with BERT's schedule, and the count of steps taken.
pub struct Optimization {
    pub optim: ModuleOptimizer,
    pub params: ParamTable,
    pub schedule: LinearSchedule,
    pub max_grad_norm: f64,
    /// Gradient clipping's factor, handed to the optimizer for each step.
    grad_scale: GradScale,
    pub seed: u64,
    /// Steps taken so far.
    pub step: usize,
}

impl Optimization {
    pub fn new(params: ParamTable, settings: OptimConfig, total_steps: usize) -> Self {
        let grad_scale = GradScale::default();
        Self {
            optim: adamw(settings.weight_decay, &params, &grad_scale),
            grad_scale,
            params,
            schedule: LinearSchedule::new(settings.lr, total_steps, settings.warmup_ratio),
            max_grad_norm: settings.max_grad_norm,
            seed: settings.seed,
            step: 0,
        }
    }

    /// The seed of this step's dropout masks: it depends only on `(seed, step)`, so a resumed run
    /// draws the same masks as an uninterrupted one.
    pub fn step_seed(&self) -> u64 {
        self.seed.wrapping_mul(0x9E37_79B9).wrapping_add(self.step as u64)
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.schedule.lr(self.step)
    }

    /// Clips `grads` to the global norm, takes one AdamW step on `module` at the scheduled
    /// learning rate and counts it. Returns the gradient norm before clipping and the rate.
    ///
    /// The module is moved through the optimizer, not cloned, so each parameter buffer has one
    /// holder and AdamW updates it where it is (a clone would make every buffer shared: a copy of
    /// each parameter per step, one more GPU launch each). A panic inside the step aborts the
    /// process, since the module has no value to leave behind meanwhile.
    pub fn apply<M: Module>(&mut self, module: &mut M, grads: GradientsParams) -> (Option<Tensor<1>>, f64) {
        replace_with::replace_with_or_abort_and_return(module, |m| {
            let (m, grad_norm, lr) = self.step_owned(m, grads);
            ((grad_norm, lr), m)
        })
    }

    fn step_owned<M: Module>(&mut self, module: M, grads: GradientsParams) -> (M, Option<Tensor<1>>, f64) {
        let grad_norm = global_norm(&grads, &self.params);
        // The optimizer multiplies each gradient by the factor as it updates its parameter (on a
        // GPU inside the AdamW kernel): the gradients are not scaled one by one beforehand.
        self.grad_scale.set(grad_norm.as_ref().filter(|_| self.max_grad_norm > 0.0).map(|n| clip_factor(n, self.max_grad_norm)));
        let lr = self.lr();
        let module = self.optim.step(lr, module, grads);
        self.grad_scale.set(None);
        self.step += 1;
        (module, grad_norm, lr)
    }
}

/// How many slices a batch is trained in on `device`: [`CPU_PARTS`] on burn-flex natively, one
/// elsewhere.
///
/// Why: most of burn-flex's element-wise kernels run on one thread, so one pass leaves the other
/// cores idle outside the matrix products; slices on parallel threads keep them busy (about 1.5×
/// on a 2-core machine, docs/benchmarks.md). The number is fixed, not taken from the machine, so
/// a seed gives the same run on any CPU.
pub fn batch_parts(device: &Device) -> usize {
    if cfg!(not(target_arch = "wasm32")) && is_flex(device) { CPU_PARTS } else { 1 }
}

/// Slices of a batch trained on parallel threads on the CPU.
pub const CPU_PARTS: usize = 2;

/// What part of a batch's loss one slice carries: its share of the examples (per-example means:
/// the task loss, soft targets) and of the real tokens (per-token means: layer-to-layer
/// distillation, healing). Weighted by them, the slices' losses and gradients sum to the whole
/// batch's.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub examples: f64,
    pub tokens: f64,
}

impl Share {
    pub const WHOLE: Share = Share { examples: 1.0, tokens: 1.0 };
}

/// The losses of a batch or slice: the first is differentiated, the others (its parts, for the
/// log) ride along. Every entry is already weighted by the slice's [`Share`], so slices add up.
pub type Losses = Vec<Tensor<1>>;

/// A loss function of a model on the rows `rows` of a batch (given as that slice), weighted by
/// the slice's share.
pub type LossFn<'a, M> = dyn Fn(&M, &Batch, Range<usize>, Share) -> Losses + Sync + 'a;

/// The losses of `batch` and the gradients of every parameter of `model`, from `parts` slices of
/// the batch ([`batch_parts`]; 1: one pass). The slices run on parallel threads where there are
/// any; each slice's dropout masks come from its own generator seeded with `seed` and the slice's
/// index, so the result does not depend on which thread runs which slice. With one part burn's own
/// dropout runs (the device was seeded by the caller).
pub fn gradients<M: Module + Sync>(
    model: &M,
    device: &Device,
    params: &ParamTable,
    batch: &Batch,
    parts: usize,
    seed: u64,
    loss: &LossFn<'_, M>,
) -> (Losses, GradientsParams) {
    let n = batch.batch_size;
    let parts = parts.clamp(1, n.max(1));
    if parts == 1 {
        let losses = loss(model, batch, 0..n, Share::WHOLE);
        let grads = GradientsParams::from_grads(losses[0].backward(), model);
        return (losses.into_iter().map(Tensor::detach).collect(), grads);
    }
    let tokens = batch.real_tokens();
    let slices: Vec<(Batch, Range<usize>)> = (0..parts)
        .map(|i| {
            let rows = i * n / parts..(i + 1) * n / parts;
            (batch.rows(rows.clone()), rows)
        })
        .collect();
    let run = |i: usize| {
        let (slice, rows) = &slices[i];
        let share = Share { examples: slice.batch_size as f64 / n as f64, tokens: slice.real_tokens() as f64 / tokens.max(1) as f64 };
        // A fresh autodiff leaf per slice: slices that shared the model's own nodes would share
        // one autodiff graph, and one lock.
        let model = model.clone().fork(device);
        with_mask_seed(seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)), || {
            let losses = loss(&model, slice, rows.clone(), share);
            let grads = GradientsParams::from_grads(losses[0].backward(), &model);
            (losses.into_iter().map(Tensor::detach).collect::<Losses>(), grads)
        })
    };
    let mut results = run_parts(parts, &run).into_iter();
    let (mut losses, mut grads) = results.next().expect("at least one part");
    for (l, g) in results {
        losses = losses.into_iter().zip(l).map(|(a, b)| a + b).collect();
        add_gradients(&mut grads, g, params);
    }
    (losses, grads)
}

/// Runs `run(0..parts)`, in parallel where threads exist, and returns the results in order.
#[cfg(not(target_arch = "wasm32"))]
fn run_parts<R: Send>(parts: usize, run: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
    use rayon::prelude::*;
    (0..parts).into_par_iter().map(run).collect()
}

#[cfg(target_arch = "wasm32")]
fn run_parts<R>(parts: usize, run: &dyn Fn(usize) -> R) -> Vec<R> {
    (0..parts).map(run).collect()
}
