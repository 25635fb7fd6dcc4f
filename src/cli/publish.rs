//! `undivided publish`: puts native runs where the page finds them
//! ([`crate::experiment::publish`]).

use std::path::PathBuf;

use clap::Args;

use super::progress::say;
use crate::experiment::publish::{DEFAULT_INTO, publish_with};

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Run folders: a `finetune`, `heal`, `pretrain`, `compare`, `study` or `sweep` output, or a
    /// folder holding several (a pre-training's milestones are published each).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The folder served beside the page (its `index.json` keeps entries published earlier).
    #[arg(long, default_value = DEFAULT_INTO)]
    pub into: PathBuf,
    /// Write the weights as f16: half the download for the page (which computes in f32).
    #[arg(long)]
    pub f16: bool,
}

pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    let index = publish_with(&args.runs, &args.into, &say, args.f16)?;
    println!(
        "{} checkpoint(s) and {} result file(s) indexed in {}; `trunk serve` / `trunk build` serve {DEFAULT_INTO} beside the page as runs/",
        index.checkpoints.len(),
        index.results.len(),
        args.into.join("index.json").display()
    );
    Ok(())
}
