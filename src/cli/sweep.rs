//! `undivided sweep`: which intermediate blocks matter? One removal at a time, then cumulatively
//! best-first, each fine-tuned briefly ([`crate::experiment::sweep`]).

use std::path::PathBuf;

use clap::Args;

use super::args::{DataArgs, DeviceArgs, TrainArgs};
use super::progress::{self, install_stop_handler};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::experiment::sweep::{SweepSpec, markdown, sweep, write_report};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id (its own plan is the starting point).
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Fine-tuning of every step (brief: for example `--steps 300`).
    #[command(flatten)]
    pub train: TrainArgs,
    /// Only the single removals, not the cumulative best-first order.
    #[arg(long)]
    pub no_cumulative: bool,
    /// How many metric points below the full model still count as "no loss".
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f64,
    /// CKA-to-full on at most this many dev sentences (the first ones).
    #[arg(long, default_value_t = 1000)]
    pub cka_sentences: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one run per plan, sweep.md, sweep.json and PNG charts.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.train.teacher.is_none() && !args.train.layer_to_layer(),
        "--teacher / --distill-*: a sweep measures plain removal; use finetune --teacher for distillation"
    );
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let spec = SweepSpec {
        data: args.data.spec(),
        options: args.train.options()?,
        cumulative: !args.no_cumulative,
        tolerance: args.tolerance,
        cka_sentences: args.cka_sentences,
        out: args.out.clone(),
    };
    let device = args.device.init()?;
    install_stop_handler();
    let report = sweep(&checkpoint, &spec, &mut progress::runner(device))?;
    write_report(&report, &spec.options, &args.out)?;
    println!("{}", markdown(&report, &spec.options));
    println!("sweep.md, sweep.json and charts (sweep-single.png, sweep-cumulative.png, sweep-cka.png) in {}", args.out.display());
    Ok(())
}
