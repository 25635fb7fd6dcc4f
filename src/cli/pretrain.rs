//! `undivided pretrain`: continued, task-agnostic pre-training of a reduced architecture cut from
//! MODEL, with the full MODEL as teacher, on a folder of text shards packed into full sequences.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::{DeviceArgs, ModelArgs, RunDirArgs};
use super::progress::{ProgressObserver, install_stop_handler};
use super::thousands;
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::train::pretrain_run::{PretrainOptions, parse_tokens, pretrain, tokens_label};
use crate::train::pretrain_step::PretrainConfig;

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// The teacher: checkpoint folder, `default` or a HuggingFace repo id. The student is the same
    /// checkpoint with the intermediate blocks of `--keep-ffn` only.
    #[command(flatten)]
    pub model: ModelArgs,
    /// A folder of UTF-8 text shards (`*.txt`, one paragraph a line), read as a stream.
    #[arg(long, value_name = "DIR")]
    pub corpus: PathBuf,
    /// Held-out text (default: `valid.txt` in --corpus); left out of the training shards.
    #[arg(long, value_name = "FILE")]
    pub valid: Option<PathBuf>,
    /// Held-out sequences evaluated at every milestone.
    #[arg(long, default_value_t = 64)]
    pub held_out: usize,
    /// Token budget (`16M`, `512k`, `4096`): positions trained on, batch × max-len per step.
    #[arg(long, default_value = "16M", value_parser = parse_tokens)]
    pub tokens: u64,
    /// Budgets at which a checkpoint is kept (`2M,4M,8M`); default: every doubling from an
    /// eighth of --tokens.
    #[arg(long, value_delimiter = ',', value_parser = parse_tokens)]
    pub milestones: Option<Vec<u64>>,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Tokens per packed sequence.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.01)]
    pub warmup_ratio: f64,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Weight of the per-layer hidden-state MSE to the teacher.
    #[arg(long, default_value_t = 1.0)]
    pub hidden_weight: f64,
    /// Weight of the per-layer attention KL to the teacher.
    #[arg(long, default_value_t = 1.0)]
    pub attention_weight: f64,
    /// Weight of the masked-LM loss (needs the checkpoint's `cls.predictions` head, as
    /// bert-base-uncased has; all-MiniLM-L6-v2 has none).
    #[arg(long, default_value_t = 0.0)]
    pub mlm_weight: f64,
    /// Fraction of tokens the masked-LM loss predicts.
    #[arg(long, default_value_t = 0.15)]
    pub mask_prob: f64,
    /// Write a resume checkpoint every N steps (besides milestones).
    #[arg(long, default_value_t = 100)]
    pub save_every: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub run: RunDirArgs,
}

impl PretrainArgs {
    pub fn options(&self) -> anyhow::Result<PretrainOptions> {
        let options = PretrainOptions {
            config: PretrainConfig {
                lr: self.lr,
                warmup_ratio: self.warmup_ratio,
                weight_decay: self.weight_decay,
                max_grad_norm: self.max_grad_norm,
                hidden_weight: self.hidden_weight,
                attention_weight: self.attention_weight,
                mlm_weight: self.mlm_weight,
                mask_prob: self.mask_prob,
                seed: self.seed,
            },
            corpus: self.corpus.clone(),
            valid: self.valid.clone().unwrap_or_else(|| self.corpus.join("valid.txt")),
            held_out: self.held_out,
            batch_size: self.batch_size,
            max_len: self.max_len,
            tokens: self.tokens,
            milestones: self
                .milestones
                .clone()
                .unwrap_or_else(|| PretrainOptions::doublings(self.tokens))
                .into_iter()
                .filter(|&t| t >= (self.batch_size * self.max_len) as u64)
                .collect(),
            save_every: self.save_every,
            made_from: None,
        };
        options.validate()?;
        Ok(options)
    }
}

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let teacher = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let spec = args
        .model
        .keep_ffn
        .as_deref()
        .context("--keep-ffn: expected the student's plan (the layers that keep their intermediate block), e.g. 0,5+norm or none")?;
    let plan = teacher.parse_plan(Some(spec))?;
    let device = args.device.init()?;
    args.run.check()?;
    install_stop_handler();
    let mut observer = ProgressObserver::new(format!("pretrain `{plan}`")).with_unit("tokens");
    let r = pretrain(&teacher, &plan, &args.run.out, &options, args.run.resume, &device, &mut observer)
        .with_context(|| format!("pre-training into {}", args.run.out.display()))?;
    drop(observer);
    println!(
        "pre-trained plan `{}` ({} parameters): {} steps, {} tokens in {:.0} s ({:.0} tokens/s, teacher and student), packing {:.4} real tokens per position",
        r.plan,
        thousands(r.params),
        r.steps,
        tokens_label(r.tokens_seen),
        r.train_seconds,
        r.tokens_per_second,
        r.packing_efficiency
    );
    println!(
        "  held-out ({} sequences): hidden-state MSE {:.4} -> {:.4}, attention KL {:.4} -> {:.4}{}",
        r.held_out_sequences,
        r.before.hidden_mse,
        r.after.hidden_mse,
        r.before.attention_kl,
        r.after.attention_kl,
        if options.config.mlm_weight > 0.0 { format!(", masked-LM {:.4} -> {:.4}", r.before.mlm, r.after.mlm) } else { String::new() }
    );
    for m in &r.milestones {
        println!(
            "  milestone {:>6}: step {}, hidden-state MSE {:.4}, checkpoint {}",
            tokens_label(m.budget),
            m.step,
            m.held_out.hidden_mse,
            args.run.out.join(&m.dir).display()
        );
    }
    if r.packing.skipped_lines > 0 {
        println!("  skipped {} over-long line(s) (over 1 MiB)", r.packing.skipped_lines);
    }
    if !r.completed {
        anyhow::bail!("stopped at step {}; continue with --resume", r.steps);
    }
    println!("pre-trained checkpoint in {} (fine-tune it, or any milestone, with `undivided finetune`)", args.run.out.display());
    Ok(())
}
