//! `undivided predict`: one sentence or pair through a fine-tuned checkpoint.

use clap::Args;

use super::args::DeviceArgs;
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::{Prepared, Task};
use crate::text::TextInput;
use crate::train::eval::{argmax, predict_logits, probabilities};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A fine-tuned checkpoint folder.
    pub checkpoint: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    pub text: String,
    pub text_b: Option<String>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open_classifier(&resolve_model(&args.checkpoint)?)?;
    let device = args.device.init()?;
    let (model, _) = checkpoint.load_classifier(None, &device)?;
    let input = TextInput::new(args.text.clone(), args.text_b.clone());
    let task = if checkpoint.config.num_labels() == 1 { Task::Stsb } else { Task::Sst2 };
    let prepared = Prepared::single(&checkpoint.tokenizer, task, &input)?;
    let logits = predict_logits(&model, &prepared, checkpoint.tokenizer.pad_id(), 1, &device).remove(0);
    let names = checkpoint.config.label_names();
    if logits.len() == 1 {
        if args.json {
            println!("{}", serde_json::json!({"score": logits[0]}));
        } else {
            println!("score {:.4}", logits[0]);
        }
        return Ok(());
    }
    let probs = probabilities(&logits);
    let best = argmax(&probs);
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = names.iter().zip(&probs).map(|(n, p)| (n.clone(), serde_json::json!(p))).collect();
        println!("{}", serde_json::json!({"label": names[best], "probabilities": map}));
    } else {
        println!("{} ({:.1}%)", names[best], 100.0 * probs[best]);
        for (n, p) in names.iter().zip(&probs) {
            println!("  {n:<16} {:5.1}%", 100.0 * p);
        }
    }
    Ok(())
}
