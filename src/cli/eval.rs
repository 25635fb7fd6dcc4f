//! `undivided eval`: a fine-tuned checkpoint's GLUE metrics on a task's dev set(s).

use clap::Args;

use super::args::{DataArgs, DeviceArgs, PrecisionArgs};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::Prepared;
use crate::train::evaluate;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A fine-tuned checkpoint folder.
    pub checkpoint: String,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Truncate inputs to this many tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open_classifier(&resolve_model(&args.checkpoint)?)?;
    anyhow::ensure!(
        checkpoint.config.num_labels() == args.data.task.num_labels(),
        "{}: its head has {} labels but {} has {}",
        checkpoint.source.display(),
        checkpoint.config.num_labels(),
        args.data.task,
        args.data.task.num_labels()
    );
    let device = args.device.init()?;
    let (model, _) = checkpoint.load_classifier(None, &device)?;
    let model = crate::model::precision::cast(model, args.precision.precision, &device)?;
    let (_, dev_sets, warnings) = args.data.spec().load()?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let mut tokenizer = checkpoint.tokenizer.clone();
    tokenizer.set_max_len(args.max_len, checkpoint.config.max_position_embeddings)?;
    let mut all = serde_json::Map::new();
    for (name, set) in dev_sets {
        let prepared = Prepared::new(&tokenizer, &set)?;
        let result = evaluate(&model, &prepared, tokenizer.pad_id(), 64, &device);
        if !args.json {
            let metrics: Vec<String> = result.metrics.iter().map(|(k, v)| format!("{k} {:.4}", v)).collect();
            println!("{} plan `{}` on {name} ({} examples): {}", args.data.task, checkpoint.plan(), result.examples, metrics.join(", "));
        }
        all.insert(name, serde_json::json!(result));
    }
    if args.json {
        println!("{}", serde_json::Value::Object(all));
    }
    Ok(())
}
