//! `undivided reduce`: write a checkpoint without the removed intermediate blocks.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use clap::Args;

use super::args::ModelArgs;
use super::thousands;
use crate::checkpoint::{Checkpoint, bert_to_safetensors, classifier_to_safetensors, resolve_model, to_f16, write_checkpoint};

#[derive(Args, Debug)]
pub struct ReduceArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output folder (created; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Weight precision of the written checkpoint: `f16` halves the download (the page serves the
    /// default model so); the model still computes in f32 on the rounded weights.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
}

/// The stored precision of a written checkpoint.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
}

pub fn run(args: ReduceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.model.keep_ffn.is_some() || args.dtype != Dtype::F32,
        "--keep-ffn is required: which layers keep their intermediate block? (or --dtype f16 to convert the checkpoint as it is)"
    );
    let dir = resolve_model(&args.model.model)?;
    let checkpoint = Checkpoint::open(&dir)?;
    let plan = checkpoint.parse_plan(args.model.keep_ffn.as_deref())?;
    // Reduction is a copy of tensors: the CPU backend is all it needs.
    let device = Device::flex();
    let config = checkpoint.config_with_plan(&plan);
    let is_classifier = checkpoint.config.id2label.is_some();
    let (weights, report, params) = if is_classifier {
        let (model, report) = checkpoint.load_classifier(Some(&plan), &device)?;
        let params = burn::module::Module::num_params(&model);
        (pollster::block_on(classifier_to_safetensors(&model))?, report, params)
    } else {
        let (model, report) = checkpoint.load_bert(Some(&plan), &device)?;
        let params = burn::module::Module::num_params(&model);
        (pollster::block_on(bert_to_safetensors(&model))?, report, params)
    };
    let weights = match args.dtype {
        Dtype::F32 => weights,
        Dtype::F16 => to_f16(&weights, &args.out.join("model.safetensors"))?,
    };
    crate::experiment::runs::outside_model(&args.out, &checkpoint)?;
    write_checkpoint(&args.out, &config, &weights, &checkpoint.tokenizer_files)
        .with_context(|| format!("writing the reduced checkpoint to {}", args.out.display()))?;
    println!(
        "wrote {} with plan `{plan}`: {} parameters as {:?} ({:.1} MB), {} tensors; dropped {} tensors of removed intermediate blocks",
        args.out.display(),
        thousands(params),
        args.dtype,
        weights.len() as f64 / 1e6,
        report.loaded,
        report.dropped.len()
    );
    Ok(())
}
