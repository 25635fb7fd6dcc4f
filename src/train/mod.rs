//! Fine-tuning: batches, schedule, AdamW, the training step, evaluation and (natively) whole runs.

pub mod adamw;
pub mod batches;
pub mod distill;
pub mod eval;
pub mod heal;
pub mod observer;
pub mod optim;
pub mod results;
pub mod rng;
pub mod schedule;
pub mod trainer;

#[cfg(not(target_arch = "wasm32"))]
pub mod finetune;
#[cfg(not(target_arch = "wasm32"))]
pub mod heal_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod resume;

#[cfg(not(target_arch = "wasm32"))]
pub use eval::evaluate;
pub use eval::{EvalResult, Prepared, evaluate_async, predict_logits_async, score};
pub use trainer::{DistillConfig, StepOutput, TrainConfig, Trainer, classifier_config, task_loss};
