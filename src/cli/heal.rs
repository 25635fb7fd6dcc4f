//! `undivided heal`: distil the full model into a reduced one on unlabelled text, so that the
//! deleted intermediate blocks' work is relearned before fine-tuning.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::finetune::{ProgressObserver, install_stop_handler};
use super::{DeviceArgs, ModelArgs, thousands};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::Task;
use crate::data::text::read_texts;
use crate::train::Prepared;
use crate::train::heal::HealConfig;
use crate::train::heal_run::{HealOptions, HealResults, heal, split_held_out};

#[derive(Args, Debug)]
pub struct HealArgs {
    /// The teacher: checkpoint folder, `default` or a HuggingFace repo id. The student is the same
    /// checkpoint with the intermediate blocks of `--keep-ffn` only.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub heal: HealSettings,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: the healed checkpoint, `heal.json`, `log.jsonl`, and `last/` for --resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from `OUT/last` (same settings).
    #[arg(long)]
    pub resume: bool,
}

/// What to heal on and for how long (shared with `compare --heal-text`).
#[derive(Args, Debug, Clone)]
pub struct HealSettings {
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

impl HealSettings {
    pub fn options(&self) -> anyhow::Result<HealOptions> {
        anyhow::ensure!(self.heal_batch_size > 0, "--heal-batch-size: expected at least 1");
        anyhow::ensure!(self.heal_lr > 0.0 && self.heal_lr.is_finite(), "--heal-lr: expected a positive number");
        anyhow::ensure!(self.heal_epochs > 0 || self.heal_steps.is_some(), "--heal-epochs: expected at least 1");
        anyhow::ensure!(
            self.hidden_weight >= 0.0 && self.attention_weight >= 0.0 && self.hidden_weight + self.attention_weight > 0.0,
            "--hidden-weight / --attention-weight: expected non-negative weights, not both 0"
        );
        Ok(HealOptions {
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
        })
    }

    /// Reads and tokenizes `--text`, and holds out 2% (at most 512 sentences) for evaluation.
    pub fn load(&self, teacher: &Checkpoint) -> anyhow::Result<(Prepared, Prepared)> {
        let path = self.text.as_ref().context("--text: expected a text file, a GLUE .tsv file or a GLUE task folder")?;
        let set = read_texts(path, self.text_task, false)?;
        let mut tokenizer = teacher.tokenizer.clone();
        tokenizer.set_max_len(self.heal_max_len, teacher.config.max_position_embeddings)?;
        let all = Prepared::new(&tokenizer, &set).with_context(|| format!("tokenizing {}", path.display()))?;
        Ok(split_held_out(&all, 512))
    }
}

/// Runs one healing into `out` (for `heal` and `compare`).
pub fn run_heal(teacher: &Checkpoint, plan: &crate::model::FfnPlan, settings: &HealSettings, device: &burn::tensor::Device, out: &std::path::Path, resume: bool) -> anyhow::Result<HealResults> {
    let (texts, held_out) = settings.load(teacher)?;
    let mut observer = ProgressObserver::new(format!("heal `{plan}`"));
    Ok(heal(teacher, plan, &texts, &held_out, out, &settings.options()?, resume, device, &mut observer)?)
}

pub fn run(args: HealArgs) -> anyhow::Result<()> {
    let teacher = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let spec = args.model.keep_ffn.as_deref().context("--keep-ffn: expected the student's plan (the layers that keep their intermediate block), e.g. 0,5 or none")?;
    let plan = teacher.parse_plan(Some(spec))?;
    let device = args.device.init()?;
    install_stop_handler();
    let r = run_heal(&teacher, &plan, &args.heal, &device, &args.out, args.resume).with_context(|| format!("healing into {}", args.out.display()))?;
    println!(
        "healed plan `{}` ({} parameters) in {} steps, {} sentences, {:.0} s ({:.1} sentences/s)",
        r.plan,
        thousands(r.params),
        r.steps,
        thousands(r.examples_seen),
        r.train_seconds,
        r.examples_per_second
    );
    println!(
        "  held-out ({} sentences): hidden-state MSE {:.4} -> {:.4}, attention KL {:.4} -> {:.4}",
        r.held_out_examples, r.before.hidden_mse, r.after.hidden_mse, r.before.attention_kl, r.after.attention_kl
    );
    if !r.completed {
        anyhow::bail!("stopped at step {}; continue with --resume", r.steps);
    }
    println!("healed checkpoint in {} (fine-tune it with `undivided finetune {}`)", args.out.display(), args.out.display());
    Ok(())
}
