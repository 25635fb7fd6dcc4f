//! Training. Each kind has a *step* (one optimisation step: `*_step.rs`) and a *run* (a run on
//! disk around the step, resumable: `*_run.rs`): fine-tuning ([`finetune_step`], [`start`],
//! [`finetune_run`]), healing ([`heal_step`], [`heal_run`]) and pre-training ([`pretrain_step`],
//! [`pretrain_run`]). What the steps share is in [`step`]; what the runs share — the loop's
//! core, also the page's ([`cursor`]), and the native loop around it ([`driver`]). Then
//! evaluation, distillation losses, batches, schedule and AdamW.

pub mod adamw;
pub mod adamw_cube;
pub mod batches;
pub mod cursor;
pub mod distill;
pub mod eval;
pub mod finetune_step;
pub mod grad_norm_cube;
pub mod heal_step;
pub mod observer;
pub mod optim;
pub mod pretrain_step;
pub mod rng;
pub mod schedule;
pub mod start;
pub mod step;

#[cfg(not(target_arch = "wasm32"))]
pub mod driver;
#[cfg(not(target_arch = "wasm32"))]
pub mod finetune_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod heal_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod pretrain_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod resume;

#[cfg(not(target_arch = "wasm32"))]
pub use eval::evaluate;
pub use eval::{EvalResult, evaluate_async, predict_logits_async, score};
pub use finetune_step::{DistillConfig, StepOutput, TrainConfig, Trainer, task_loss};
pub use start::{Head, classifier_config, start_classifier};
