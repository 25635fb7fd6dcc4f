//! `undivided compare`: several plans fine-tuned with identical settings and seeds, summarised
//! relative to the full model ([`crate::experiment::compare`]). With `--distill`, every reduced
//! plan is also fine-tuned with task distillation from the fine-tuned full model; with `--text`,
//! also healed (and healed + distilled); with `--from-finetuned`, also cut from the fine-tuned
//! full model, healed against it and distilled from it. Running the same command again reuses
//! finished runs and resumes interrupted ones.

use std::path::PathBuf;

use clap::Args;

use super::args::{DataArgs, DeviceArgs, HealTrainArgs, TrainArgs};
use super::progress::{self, install_stop_handler};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::experiment::compare::{CompareSpec, compare, write_table};
use crate::model::FfnPlan;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    pub model: String,
    /// Plans to compare: `all;none;0,5` (`;` between plans), or a comma list in which `all` and
    /// `none` stand alone and the layers between them form one plan (`all,none,0,5` = all, none
    /// and layers {0, 5}; `0;5` for two single-layer plans). `+norm` ends a plan whose removed
    /// blocks keep their LayerNorm (`all,0,5+norm,0,5`).
    #[arg(long, default_value = "all;0,5;none")]
    pub plans: String,
    /// Number of seeds per plan (seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Healing of each reduced plan (used when --text is given).
    #[command(flatten)]
    pub heal: HealTrainArgs,
    /// Also fine-tune each reduced plan with task distillation from the full plan's fine-tuned
    /// model of the same seed: as deleted, and as healed with --text (needs `all` among the
    /// plans). --distill-hidden / --distill-attention add the layer-to-layer losses.
    #[arg(long)]
    pub distill: bool,
    /// Also cut each reduced plan from the full plan's fine-tuned model of the same seed, heal it
    /// against that model on --text, then fine-tune it with distillation from it (needs --text
    /// and `all` among the plans; --distill-hidden / --distill-attention weigh its layer losses).
    #[arg(long)]
    pub from_finetuned: bool,
    /// Peak learning rate of the `--from-finetuned` rows (default: --lr). A student cut from a
    /// fine-tuned model is past the stage where the task is learnt: 3e-5 served better than 5e-5.
    #[arg(long)]
    pub pruned_lr: Option<f64>,
    /// Peak learning rate of the reduced plans' runs (default: --lr; `--pruned-lr` rows keep
    /// theirs). A model missing intermediate blocks has more to relearn with fewer weights: over
    /// an epoch of SST-2, `0,5+norm` gained most from 2e-4, the full model from 5e-5.
    #[arg(long)]
    pub reduced_lr: Option<f64>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one run per plan, variant and seed, healing runs, compare.md and compare.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl CompareArgs {
    /// What the experiment library runs.
    pub fn spec(&self, layers: usize) -> anyhow::Result<CompareSpec> {
        Ok(CompareSpec {
            plans: FfnPlan::parse_list(&self.plans, layers)?,
            seeds: self.seeds,
            data: self.data.spec(),
            options: self.train.options()?,
            distill: self.train.distill(),
            distilled: self.distill,
            heal: self.heal.spec()?,
            from_finetuned: self.from_finetuned,
            reduced_lr: self.reduced_lr,
            pruned_lr: self.pruned_lr,
            variants: None,
            heal_dir: None,
            out: self.out.clone(),
        })
    }
}

pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let spec = args.spec(checkpoint.config.num_hidden_layers)?;
    spec.validate(&checkpoint.plan())?;
    let device = args.device.init()?;
    install_stop_handler();
    let table = compare(&checkpoint, &spec, &mut progress::runner(device))?;
    write_table(&table, &args.out)?;
    println!("{}", table.markdown());
    println!("compare.md, compare.json and compare.png in {}", args.out.display());
    Ok(())
}
