//! `undivided heal`: distil the full model into a reduced one on unlabelled text, so that the
//! deleted intermediate blocks' work is relearned before fine-tuning.

use anyhow::Context;
use clap::Args;

use super::args::{DeviceArgs, HealTrainArgs, ModelArgs, RunDirArgs};
use super::progress::{self, install_stop_handler};
use super::thousands;
use crate::checkpoint::{Checkpoint, resolve_model};

#[derive(Args, Debug)]
pub struct HealArgs {
    /// The teacher: checkpoint folder, `default` or a HuggingFace repo id. The student is the same
    /// checkpoint with the intermediate blocks of `--keep-ffn` only.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub heal: HealTrainArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub run: RunDirArgs,
}

pub fn run(args: HealArgs) -> anyhow::Result<()> {
    let teacher = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let spec =
        args.model.keep_ffn.as_deref().context("--keep-ffn: expected the student's plan (the layers that keep their intermediate block), e.g. 0,5 or none")?;
    let plan = teacher.parse_plan(Some(spec))?;
    let device = args.device.init()?;
    args.run.check()?;
    install_stop_handler();
    let options = args.heal.options()?;
    let text = args.heal.text().context("--text: expected a text file, a GLUE .tsv file or a GLUE task folder")?;
    let r = progress::runner(device)
        .heal(&teacher, &plan, &text, &options, &args.run.out, args.run.resume)
        .with_context(|| format!("healing into {}", args.run.out.display()))?;
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
    println!("healed checkpoint in {} (fine-tune it with `undivided finetune {}`)", args.run.out.display(), args.run.out.display());
    Ok(())
}
