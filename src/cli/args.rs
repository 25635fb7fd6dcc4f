//! The command line's shared arguments, and their conversion into what the library takes
//! ([`FinetuneOptions`], [`HealOptions`], [`DataSpec`], [`TextSpec`]), checked by the library's own
//! `validate` (the page calls the same checks).

use std::path::PathBuf;

use clap::Args;

use crate::data::Task;
use crate::device::Backend;
use crate::experiment::compare::HealSpec;
use crate::experiment::data::{DataSpec, TextSpec};
use crate::model::Precision;
use crate::train::finetune_run::FinetuneOptions;
use crate::train::heal_run::HealOptions;
use crate::train::heal_step::HealConfig;
use crate::train::{DistillConfig, TrainConfig};

/// The model argument shared by most subcommands.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Checkpoint folder, `default` (all-MiniLM-L6-v2 placed by setup) or a HuggingFace repo id.
    pub model: String,
    /// Layers that keep their intermediate block: `all`, `none` or `0,2,5`, with `+norm` (`0,5+norm`)
    /// if the removed blocks keep their LayerNorm (default: the checkpoint's own).
    #[arg(long = "keep-ffn", value_name = "SPEC")]
    pub keep_ffn: Option<String>,
}

/// The backend option shared by subcommands that run the model.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute backend: `flex` (CPU) or `wgpu` (GPU through Vulkan/Metal/DX12).
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub device: Backend,
}

impl DeviceArgs {
    pub fn init(&self) -> anyhow::Result<burn::tensor::Device> {
        Ok(pollster::block_on(crate::device::init_device(self.device))?)
    }
}

/// The precision a model computes in at inference.
#[derive(Args, Debug, Clone)]
pub struct PrecisionArgs {
    /// `f16`: weights and activations in half precision, on GPU adapters with `shader-f16`
    /// (`--device wgpu`); the outputs come back as f32. Training always computes in f32.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

/// The folder a resumable run writes, and whether to continue the run already in it.
#[derive(Args, Debug, Clone)]
pub struct RunDirArgs {
    /// Output folder: the result (a checkpoint), its results file, `log.jsonl`, and `last/` for
    /// --resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from `OUT/last` (same settings).
    #[arg(long)]
    pub resume: bool,
    /// Start afresh in an --out that holds an earlier run (its `last/` and log are replaced once
    /// the new run saves; without this flag such an --out is refused).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
}

impl RunDirArgs {
    /// Refuses to start afresh over an earlier run unless `--overwrite` says so.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.resume || self.overwrite || !crate::experiment::runs::holds_run(&self.out),
            "--out {}: holds an earlier run; --resume continues it, --overwrite replaces it, or choose another --out",
            self.out.display()
        );
        Ok(())
    }
}

/// Where the data comes from and how strictly it is read.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// GLUE task.
    #[arg(long, value_enum, default_value_t = Task::Sst2)]
    pub task: Task,
    /// Folder with the task's `train.tsv` / `dev.tsv` (or a `glue_data` folder holding the task's
    /// folder). Without it, SST-2 uses the built-in sentiment sample.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Skip malformed rows (counted and reported) instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    /// What the experiment library reads.
    pub fn spec(&self) -> DataSpec {
        DataSpec { task: self.task, dir: self.data.clone(), skip_bad_rows: self.skip_bad_rows }
    }
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after this many optimisation steps (overrides --epochs).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Truncate inputs to this many tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Fraction of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup_ratio: f64,
    /// AdamW weight decay (not applied to biases and LayerNorm).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Clip gradients to this global L2 norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Dropout probability of every dropout layer (default: the checkpoint's
    /// `hidden_dropout_prob` / `attention_probs_dropout_prob`, 0.1 for BERT); the fine-tuned
    /// checkpoint's config.json records it. On SST-2, 0 did not help `0,5+norm` in one epoch.
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Evaluate on dev (and keep the best checkpoint) every N steps; 0: at the end only.
    #[arg(long, default_value_t = 500)]
    pub eval_every: usize,
    /// Write a resume checkpoint every N steps (besides evaluations); 0: only then.
    #[arg(long, default_value_t = 200)]
    pub save_every: usize,
    /// Task distillation: a checkpoint fine-tuned on the same task (usually the full model) whose
    /// softened predictions the student also learns.
    #[arg(long, value_name = "CHECKPOINT")]
    pub teacher: Option<PathBuf>,
    /// Softmax temperature of the teacher's and student's predictions (with --teacher).
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// Weight of the soft-target loss; the cross-entropy gets 1 − alpha (with --teacher).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// Weight of a per-layer hidden-state MSE to the teacher (with --teacher; the teacher must
    /// have the student's depth and width). Task-specific layer-to-layer distillation: the
    /// student relearns, on this task, what its deleted intermediate blocks did.
    #[arg(long, default_value_t = 0.0, value_name = "WEIGHT")]
    pub distill_hidden: f64,
    /// Weight of a per-layer attention KL to the teacher (with --teacher), as --distill-hidden.
    #[arg(long, default_value_t = 0.0, value_name = "WEIGHT")]
    pub distill_attention: f64,
}

impl TrainArgs {
    /// The distillation the flags ask for, whether or not a teacher was given (the CLI checks
    /// the flags before any teacher is loaded).
    pub fn distill(&self) -> DistillConfig {
        DistillConfig { temperature: self.temperature, alpha: self.alpha, hidden_weight: self.distill_hidden, attention_weight: self.distill_attention }
    }

    /// Whether a layer-to-layer distillation weight was asked for (it needs a teacher).
    pub fn layer_to_layer(&self) -> bool {
        self.distill().layer_to_layer()
    }

    /// The run's options, checked ([`FinetuneOptions::validate`], the same checks as the page's).
    pub fn options(&self) -> anyhow::Result<FinetuneOptions> {
        let options = FinetuneOptions {
            train: TrainConfig {
                batch_size: self.batch_size,
                max_len: self.max_len,
                lr: self.lr,
                warmup_ratio: self.warmup_ratio,
                weight_decay: self.weight_decay,
                max_grad_norm: self.max_grad_norm,
                seed: self.seed,
                distill: self.teacher.as_ref().map(|_| self.distill()),
            },
            teacher: self.teacher.clone(),
            dropout: self.dropout,
            epochs: self.epochs,
            max_steps: self.steps,
            eval_every: self.eval_every,
            save_every: self.save_every,
            eval_batch_size: 64,
            made_from: None,
        };
        options.validate()?;
        // The distillation flags are checked even without --teacher (compare picks the teacher).
        TrainConfig { distill: Some(self.distill()), ..options.train.clone() }.validate()?;
        Ok(options)
    }
}

/// What to heal on and for how long (shared with `compare --heal-text`).
#[derive(Args, Debug, Clone)]
pub struct HealTrainArgs {
    /// Unlabelled sentences: a text file (one per line), a GLUE `.tsv` file or a GLUE task folder
    /// (its `train.tsv`; labels are ignored).
    #[arg(long = "text", value_name = "FILE_OR_DIR")]
    pub text: Option<PathBuf>,
    /// The GLUE layout of `--text` when its folder name does not say (`SST-2`, `RTE`, ...).
    #[arg(long = "text-task", value_enum)]
    pub text_task: Option<Task>,
    /// Passes over the sentences.
    #[arg(long, default_value_t = 1)]
    pub heal_epochs: usize,
    /// Stop after this many steps (overrides --heal-epochs).
    #[arg(long)]
    pub heal_steps: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub heal_batch_size: usize,
    /// Truncate sentences to this many tokens.
    #[arg(long, default_value_t = 64)]
    pub heal_max_len: usize,
    /// Peak learning rate of healing.
    #[arg(long, default_value_t = 1e-4)]
    pub heal_lr: f64,
    /// Weight of the per-layer hidden-state MSE.
    #[arg(long, default_value_t = 1.0)]
    pub hidden_weight: f64,
    /// Weight of the per-layer attention KL.
    #[arg(long, default_value_t = 1.0)]
    pub attention_weight: f64,
    /// Evaluate the held-out losses every N steps (0: before and after only).
    #[arg(long, default_value_t = 200)]
    pub heal_eval_every: usize,
    /// Write a resume checkpoint every N steps.
    #[arg(long, default_value_t = 100)]
    pub heal_save_every: usize,
    #[arg(long, default_value_t = 42)]
    pub heal_seed: u64,
}

impl HealTrainArgs {
    /// The healing's options, checked ([`HealOptions::validate`]).
    pub fn options(&self) -> anyhow::Result<HealOptions> {
        let options = HealOptions {
            config: HealConfig {
                lr: self.heal_lr,
                hidden_weight: self.hidden_weight,
                attention_weight: self.attention_weight,
                seed: self.heal_seed,
                ..HealConfig::default()
            },
            batch_size: self.heal_batch_size,
            max_len: self.heal_max_len,
            epochs: self.heal_epochs,
            max_steps: self.heal_steps,
            eval_every: self.heal_eval_every,
            save_every: self.heal_save_every,
            made_from: None,
        };
        options.validate()?;
        Ok(options)
    }

    /// The sentences to heal on, when `--text` was given.
    pub fn text(&self) -> Option<TextSpec> {
        self.text.as_ref().map(|path| TextSpec { path: path.clone(), task: self.text_task })
    }

    /// `--text` with the options, for the healed variants of `compare` (`None` without `--text`).
    pub fn spec(&self) -> anyhow::Result<Option<HealSpec>> {
        Ok(match self.text() {
            Some(text) => Some(HealSpec { text, options: self.options()? }),
            None => None,
        })
    }
}
