//! `undivided bench`: inference (or training) throughput of full vs reduced models
//! ([`crate::experiment::bench`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::{DeviceArgs, PrecisionArgs};
use super::thousands;
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::device::Launches;
use crate::experiment::bench::{self, InferenceBenchOptions, TrainingBenchOptions};
use crate::model::FfnPlan;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Checkpoint folder, `default` or a HuggingFace repo id.
    #[arg(default_value = "default")]
    pub model: String,
    /// Plans to compare: `all;0,5;none`, or `all,0,5,none` as in `compare`.
    #[arg(long, default_value = "all;none")]
    pub plans: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Sequence length of the fixed-shape benchmark.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed batches (or training steps) of the fixed-shape benchmark.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Untimed batches (or training steps) before the timed ones: kernel compilation, and on the
    /// CPU the allocator's first touch of its memory, which slows the first training steps. At
    /// least one is always run (0 counts as 1): the shared timing loop reports the first apart.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// A GLUE TSV whose first column holds sentences (SST-2 dev), run in file order with dynamic padding.
    #[arg(long, default_value = "../shared/glue/SST-2/dev.tsv")]
    pub data: PathBuf,
    /// Use only the first N sentences of --data (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Time training steps (forward, backward, AdamW) on the fixed-shape batches instead of inference.
    #[arg(long)]
    pub train: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Sentences from the first column of a GLUE TSV with a header row.
fn read_sentences(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let sentence = line.split('\t').next().unwrap_or_default().trim();
        anyhow::ensure!(!sentence.is_empty(), "{}:{}: empty sentence in the first column", path.display(), i + 1);
        out.push(sentence.to_string());
    }
    Ok(out)
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let device = args.device.init()?;
    let plans = FfnPlan::parse_list(&args.plans, checkpoint.config.num_hidden_layers)?;
    let (b, s) = (args.batch, args.seq_len);
    // Bounds that a benchmark never needs to pass; past them an allocation fails (an abort, not
    // an error) or the run takes days.
    anyhow::ensure!((1..=4096).contains(&b), "--batch {b}: expected 1 to 4096 sequences");
    anyhow::ensure!((1..=100_000).contains(&args.iters), "--iters {}: expected 1 to 100000", args.iters);
    anyhow::ensure!(args.warmup <= 100_000, "--warmup {}: expected 0 to 100000", args.warmup);
    anyhow::ensure!(
        (2..=checkpoint.config.max_position_embeddings).contains(&s),
        "--seq-len: expected 2 to {} tokens",
        checkpoint.config.max_position_embeddings
    );
    if args.train {
        anyhow::ensure!(
            args.precision.precision == crate::model::Precision::F32,
            "--precision {}: training computes in f32 (inference only)",
            args.precision.precision
        );
        let results = bench::training(&checkpoint, &plans, &TrainingBenchOptions { batch: b, seq_len: s, warmup: args.warmup, iters: args.iters }, &device)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&results)?);
            return Ok(());
        }
        println!(
            "{} training on {} — batch {b} × {s} tokens, AdamW, {} timed steps after {} warm-up",
            checkpoint.name(),
            args.device.device,
            args.iters,
            args.warmup
        );
        println!("{:<10}{:>14}{:>16}{:>14}", "plan", "params", "examples/s", "ms/step");
        let full = results.first().map_or(1.0, |r| r.examples_per_s);
        for r in &results {
            println!(
                "{:<10}{:>14}{:>16.1}{:>14.0}   ({:.2}× the first plan)",
                r.plan,
                thousands(r.params),
                r.examples_per_s,
                r.ms_per_step,
                r.examples_per_s / full
            );
        }
        print_launches("training step", results.iter().map(|r| (r.plan.as_str(), r.launches_per_step.as_ref())));
        return Ok(());
    }
    let sentences = if args.data.is_file() {
        let mut s = read_sentences(&args.data)?;
        if args.limit > 0 {
            s.truncate(args.limit);
        }
        s
    } else {
        eprintln!("note: {} not found; skipping the dataset benchmark", args.data.display());
        Vec::new()
    };
    let spec =
        InferenceBenchOptions { batch: b, seq_len: s, warmup: args.warmup, iters: args.iters, sentences: &sentences, precision: args.precision.precision };
    let results = bench::inference(&checkpoint, &plans, &spec, &device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!(
        "{} on {} in {} — batch {b}; fixed {b}×{s} tokens ({} timed batches after {} warm-up); {}",
        checkpoint.name(),
        args.device.device,
        args.precision.precision,
        args.iters,
        args.warmup,
        if sentences.is_empty() { "no dataset".to_string() } else { format!("{} ({} sentences, dynamic padding)", args.data.display(), sentences.len()) }
    );
    println!("{:<10}{:>14}{:>18}{:>16}{:>18}", "plan", "params", "fixed sent/s", "ms/batch", "dataset sent/s");
    for r in &results {
        println!(
            "{:<10}{:>14}{:>18.1}{:>16.1}{:>18}",
            r.plan,
            thousands(r.params),
            r.fixed_sent_per_s,
            r.fixed_ms_per_batch,
            r.data_sent_per_s.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
        );
    }
    print_launches("forward pass", results.iter().map(|r| (r.plan.as_str(), r.launches_per_forward.as_ref())));
    Ok(())
}

/// Kernel launches per pass and plan, with the kernels launched most (wgpu only).
fn print_launches<'a>(what: &str, rows: impl Iterator<Item = (&'a str, Option<&'a Launches>)>) {
    for (plan, launches) in rows {
        let Some(l) = launches else { continue };
        let top: Vec<String> = l.top(6).iter().map(|(k, c)| format!("{k} {c}")).collect();
        println!("{plan:<10} kernel launches per {what}: {} (most: {})", l.total, top.join(", "));
    }
}
