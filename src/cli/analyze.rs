//! `undivided analyze`: why removal works — layer-by-layer CKA between two models, and linear
//! probes per layer ([`crate::experiment::analyze`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::args::DeviceArgs;
use crate::analysis::{CkaKind, Pooling};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::Task;
use crate::data::text::read_texts;
use crate::experiment::analyze::{self, Side};
use crate::model::FfnPlan;

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    #[command(subcommand)]
    pub command: AnalyzeCommand,
}

#[derive(Subcommand, Debug)]
pub enum AnalyzeCommand {
    /// Layer-by-layer CKA between two models (or two plans of one) on the same sentences.
    Cka(CkaArgs),
    /// Linear probes: dev accuracy of a linear classifier on each layer's frozen features, per plan.
    Probe(ProbeArgs),
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    pub model: String,
    /// Plans to probe (`all;0,5`, or `all,0,5` as in `compare`); default: the checkpoint's own plan.
    #[arg(long)]
    pub plans: Option<String>,
    #[command(flatten)]
    pub data: super::args::DataArgs,
    /// Train each probe on at most this many training examples (the first ones).
    #[arg(long, default_value_t = 2000)]
    pub max_train: usize,
    #[arg(long, default_value_t = 64)]
    pub max_len: usize,
    #[arg(long, value_enum, default_value_t = Pooling::Mean)]
    pub pooling: Pooling,
    /// Full-batch optimisation steps per probe.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Write the accuracies as JSON here, and their line chart beside it (same name, `.png`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CkaArgs {
    /// First model: checkpoint folder, `default` or a HuggingFace repo id.
    pub a: String,
    /// Second model.
    pub b: String,
    /// Plan of the first model (default: its own).
    #[arg(long = "keep-ffn-a", value_name = "SPEC")]
    pub keep_ffn_a: Option<String>,
    /// Plan of the second model (default: its own).
    #[arg(long = "keep-ffn-b", value_name = "SPEC")]
    pub keep_ffn_b: Option<String>,
    /// Sentences: a text file (one per line), a GLUE `.tsv` file or a GLUE task folder (its
    /// `dev.tsv` when it has one, labels ignored). Without it, the built-in sample.
    #[arg(long = "data", value_name = "FILE_OR_DIR")]
    pub data: Option<PathBuf>,
    /// The GLUE layout of `--data` when its folder name does not say.
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Use at most this many sentences (the first ones).
    #[arg(long, default_value_t = 2000)]
    pub max_sentences: usize,
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Sentence vector per layer. `mean` (default) averages the real tokens; `cls` takes the
    /// [CLS] state, which is the same for every sentence at the embeddings output.
    #[arg(long, value_enum, default_value_t = Pooling::Mean)]
    pub pooling: Pooling,
    /// Debiased (unbiased-HSIC) CKA instead of linear CKA.
    #[arg(long)]
    pub debiased: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Write the matrix and its settings as JSON here, and the heat map beside it (same name, `.png`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    match args.command {
        AnalyzeCommand::Cka(a) => run_cka(a),
        AnalyzeCommand::Probe(a) => run_probe(a),
    }
}

fn sentences(args: &CkaArgs) -> anyhow::Result<crate::data::Dataset> {
    let Some(path) = &args.data else {
        let mut all = crate::data::sample("train");
        all.examples.extend(crate::data::sample("dev").examples);
        return Ok(all);
    };
    let dev = path.join("dev.tsv");
    let path = if path.is_dir() && dev.is_file() { dev } else { path.clone() };
    // `read_texts` takes the GLUE layout from the folder name when --task does not give it.
    Ok(read_texts(&path, args.task, false)?)
}

fn run_cka(args: CkaArgs) -> anyhow::Result<()> {
    let (a, b) = (Checkpoint::open(resolve_model(&args.a)?)?, Checkpoint::open(resolve_model(&args.b)?)?);
    let side_a = Side { plan: a.parse_plan(args.keep_ffn_a.as_deref())?, checkpoint: &a };
    let side_b = Side { plan: b.parse_plan(args.keep_ffn_b.as_deref())?, checkpoint: &b };
    let mut set = sentences(&args)?;
    set.examples.truncate(args.max_sentences.max(1));
    let device = args.device.init()?;
    let kind = if args.debiased { CkaKind::Debiased } else { CkaKind::Linear };
    let r = analyze::cka(&side_a, &side_b, &set, args.max_len, args.pooling, kind, &device)?;
    println!("{:?} CKA, {} sentences, {:?} pooling: rows = {} (embeddings, layers 1..), columns = {}", r.kind, r.sentences, r.pooling, r.a, r.b);
    let cols = r.matrix.first().map_or(0, Vec::len);
    let name = |i: usize| if i == 0 { "emb".to_string() } else { format!("L{i}") };
    println!("| | {} |", (0..cols).map(name).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(cols));
    for (i, row) in r.matrix.iter().enumerate() {
        println!("| {} | {} |", name(i), row.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" | "));
    }
    println!("diagonal: {}", r.diagonal.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", "));
    println!("hidden states in {:.1} s, CKA matrix in {:.2} s", r.encode_seconds, r.cka_seconds);
    if let Some(out) = &args.out {
        analyze::write_cka(&r, out)?;
        println!("written to {} and {}", out.display(), out.with_extension("png").display());
    }
    Ok(())
}

fn run_probe(args: ProbeArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let plans = match &args.plans {
        Some(spec) => FfnPlan::parse_list(spec, checkpoint.config.num_hidden_layers)?,
        None => vec![checkpoint.plan()],
    };
    let (mut train, dev_sets, warnings) = args.data.spec().load()?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    train.examples.truncate(args.max_train.max(1));
    let (dev_name, dev) = dev_sets.into_iter().next().context("no dev set")?;
    let device = args.device.init()?;
    let config = crate::analysis::ProbeConfig { steps: args.steps, ..Default::default() };
    let r = analyze::probes(&checkpoint, &plans, &train, &dev, args.max_len, args.pooling, &config, &device)?;
    for p in &r.plans {
        eprintln!("plan `{}`: {} probes in {:.1} s", p.plan, p.accuracy.len(), p.seconds);
    }
    println!(
        "Linear probes on {} ({} training / {} {dev_name} examples, {:?} pooling): dev accuracy per layer",
        r.task, r.train_examples, r.dev_examples, r.pooling
    );
    println!("| layer | {} |", r.plans.iter().map(|p| format!("`{}`", p.plan)).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(r.plans.len()));
    for layer in 0..r.plans.first().map_or(0, |p| p.accuracy.len()) {
        let name = if layer == 0 { "embeddings".to_string() } else { format!("{layer}") };
        println!("| {name} | {} |", r.plans.iter().map(|p| format!("{:.2}%", 100.0 * p.accuracy[layer])).collect::<Vec<_>>().join(" | "));
    }
    if let Some(out) = &args.out {
        analyze::write_probes(&r, out)?;
        println!("written to {} and {}", out.display(), out.with_extension("png").display());
    }
    Ok(())
}
