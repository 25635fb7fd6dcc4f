//! `undivided study`: the paper's table, task by task ([`crate::experiment::study`]).

use std::path::PathBuf;

use clap::Args;

use super::args::DeviceArgs;
use super::progress::{self, install_stop_handler};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::experiment::study::{StudySpec, study, write_study};

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The study's JSON file: model, glue folder, tasks with their recipes, plans, routes
    /// (deleted, healed-once, from-finetuned), seeds, healing and distillation (README).
    pub spec: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one comparison per task (`<task>/`), the shared healings (`heal/`),
    /// study.md, study.json and study.png. Running again reuses finished runs.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: StudyArgs) -> anyhow::Result<()> {
    let spec = StudySpec::read(&args.spec)?;
    let checkpoint = Checkpoint::open(resolve_model(&spec.model)?)?;
    spec.validate(checkpoint.config.num_hidden_layers)?;
    let device = args.device.init()?;
    install_stop_handler();
    let table = study(&checkpoint, &spec, &args.out, &mut progress::runner(device))?;
    write_study(&table, &args.out)?;
    println!("{}", table.markdown());
    println!("study.md, study.json and study.png in {}", args.out.display());
    Ok(())
}
