//! `undivided study`: the paper's table, task by task ([`crate::experiment::study`]).

use std::path::PathBuf;

use clap::Args;

use super::args::DeviceArgs;
use super::progress::{self, install_stop_handler};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::experiment::study::{Route, StudyPart, StudySpec, study_part, write_study};

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The study's JSON file: model, glue folder, tasks with their recipes, plans, routes
    /// (deleted, healed-once, from-finetuned, pretrained), seeds, healing, distillation and
    /// pre-training (docs/cli.md).
    pub spec: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder: one comparison per task (`<task>/`), the shared healings (`heal/`) and
    /// pre-trainings (`pretrain/`), study.md/json/png and pretrained.md/json/png. Running again
    /// reuses finished runs.
    #[arg(long)]
    pub out: PathBuf,
    /// Run only these of the spec's tasks now (comma-separated, e.g. `mrpc,cola`); a later run
    /// of the whole study reuses their runs. The table then holds these tasks.
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Run only these of the spec's routes now (`deleted`, `healed-once`, `from-finetuned`,
    /// `pretrained`).
    #[arg(long, value_delimiter = ',', value_parser = parse_route)]
    pub routes: Vec<Route>,
    /// Run only the first N of the spec's seeds now (a later run with all of them reuses these).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Run only these of the spec's plans now, as the spec writes them (separated by `;`, since
    /// a plan holds commas: `--plans '0,5+norm;none'`); the full model always runs.
    #[arg(long, value_delimiter = ';')]
    pub plans: Vec<String>,
}

fn parse_route(s: &str) -> Result<Route, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_string()))
        .map_err(|_| format!("expected deleted, healed-once, from-finetuned or pretrained, got {s:?}"))
}

pub fn run(args: StudyArgs) -> anyhow::Result<()> {
    let spec = StudySpec::read(&args.spec)?;
    let checkpoint = Checkpoint::open(resolve_model(&spec.model)?)?;
    spec.validate(checkpoint.config.num_hidden_layers)?;
    let device = args.device.init()?;
    install_stop_handler();
    let part = StudyPart { tasks: args.tasks, routes: args.routes, seeds: args.seeds, plans: args.plans };
    let table = study_part(&checkpoint, &spec, &part, &args.out, &mut progress::runner(device))?;
    if !table.tasks.is_empty() {
        write_study(&table, &args.out)?;
        println!("{}", table.markdown());
        println!("study.md, study.json and study.png in {}", args.out.display());
    }
    let pretrained = args.out.join("pretrained.md");
    if spec.routes.contains(&Route::Pretrained) && pretrained.is_file() {
        println!("{}", std::fs::read_to_string(&pretrained)?);
        println!("pretrained.md, pretrained.json and pretrained.png in {}", args.out.display());
    }
    Ok(())
}
