//! Training: the step shared by fine-tuning and healing ([`step`]), the run driver and its
//! cursor ([`driver`], [`cursor`]), fine-tuning ([`trainer`], [`start`], [`finetune`]), healing
//! ([`heal`], [`heal_run`]), pre-training ([`pretrain`], [`pretrain_run`]), evaluation, distillation losses, batches, schedule and AdamW.

pub mod adamw;
pub mod adamw_cube;
pub mod batches;
pub mod cursor;
pub mod distill;
pub mod eval;
pub mod grad_norm_cube;
pub mod heal;
pub mod observer;
pub mod optim;
pub mod pretrain;
pub mod rng;
pub mod schedule;
pub mod start;
pub mod step;
pub mod trainer;

#[cfg(not(target_arch = "wasm32"))]
pub mod driver;
#[cfg(not(target_arch = "wasm32"))]
pub mod finetune;
#[cfg(not(target_arch = "wasm32"))]
pub mod heal_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod pretrain_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod resume;

#[cfg(not(target_arch = "wasm32"))]
pub use eval::evaluate;
pub use eval::{EvalResult, evaluate_async, predict_logits_async, score};
pub use start::{Head, classifier_config, start_classifier};
pub use trainer::{DistillConfig, StepOutput, TrainConfig, Trainer, task_loss};
