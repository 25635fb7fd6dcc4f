//! `undivided analyze`: why removal works — layer-by-layer CKA between two models.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use web_time::Instant;

use super::args::DeviceArgs;
use crate::analysis::{CkaKind, Pooling, cka_matrix, layer_representations, probe_layers};
use crate::chart::{Series, png};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::data::Task;
use crate::data::text::read_texts;
use crate::model::FfnPlan;
use crate::data::Prepared;

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
    let a = Checkpoint::open(resolve_model(&args.a)?)?;
    let b = Checkpoint::open(resolve_model(&args.b)?)?;
    let (plan_a, plan_b) = (a.parse_plan(args.keep_ffn_a.as_deref())?, b.parse_plan(args.keep_ffn_b.as_deref())?);
    anyhow::ensure!(
        a.config.vocab_size == b.config.vocab_size,
        "{} and {} have different vocabularies ({} vs {} tokens): CKA needs the same sentences tokenized the same way",
        a.source.display(),
        b.source.display(),
        a.config.vocab_size,
        b.config.vocab_size
    );
    let mut set = sentences(&args)?;
    set.examples.truncate(args.max_sentences.max(1));
    let mut tokenizer = a.tokenizer.clone();
    tokenizer.set_max_len(args.max_len, a.config.max_position_embeddings.min(b.config.max_position_embeddings))?;
    let rows = Prepared::new(&tokenizer, &set).context("tokenizing the sentences")?;
    let device = args.device.init()?;
    let started = Instant::now();
    let (model_a, _) = a.load_bert(Some(&plan_a), &device)?;
    let reps_a = layer_representations(&model_a, &rows, tokenizer.pad_id(), 64, args.pooling, &device);
    drop(model_a);
    let (model_b, _) = b.load_bert(Some(&plan_b), &device)?;
    let reps_b = layer_representations(&model_b, &rows, tokenizer.pad_id(), 64, args.pooling, &device);
    let encode_seconds = started.elapsed().as_secs_f64();
    let kind = if args.debiased { CkaKind::Debiased } else { CkaKind::Linear };
    let started = Instant::now();
    let matrix = pollster::block_on(cka_matrix(reps_a, reps_b, kind))?;
    let cka_seconds = started.elapsed().as_secs_f64();

    let label = |c: &Checkpoint, p: &FfnPlan| format!("{} `{p}`", c.name());
    println!(
        "{:?} CKA, {} sentences, {:?} pooling: rows = {} (embeddings, layers 1..), columns = {}",
        kind,
        rows.len(),
        args.pooling,
        label(&a, &plan_a),
        label(&b, &plan_b)
    );
    let cols = matrix.first().map_or(0, Vec::len);
    println!("| | {} |", (0..cols).map(|j| if j == 0 { "emb".to_string() } else { format!("L{j}") }).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(cols));
    for (i, row) in matrix.iter().enumerate() {
        let name = if i == 0 { "emb".to_string() } else { format!("L{i}") };
        println!("| {name} | {} |", row.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" | "));
    }
    let diagonal: Vec<f64> = (0..matrix.len().min(cols)).map(|i| matrix[i][i]).collect();
    println!("diagonal: {}", diagonal.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", "));
    println!("hidden states in {encode_seconds:.1} s, CKA matrix in {cka_seconds:.2} s");
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "a": label(&a, &plan_a), "b": label(&b, &plan_b), "kind": kind, "pooling": args.pooling,
            "sentences": rows.len(), "matrix": matrix, "diagonal": diagonal, "cka_seconds": cka_seconds,
        });
        crate::checkpoint::write_atomic(out, serde_json::to_string_pretty(&json)?.as_bytes())?;
        let chart = out.with_extension("png");
        let title = format!("{kind:?} CKA, {} sentences", rows.len());
        png::heatmap(&chart, &title, &label(&a, &plan_a), &label(&b, &plan_b), &matrix)?;
        println!("written to {} and {}", out.display(), chart.display());
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
    let mut tokenizer = checkpoint.tokenizer.clone();
    tokenizer.set_max_len(args.max_len, checkpoint.config.max_position_embeddings)?;
    let (train, dev) = (Prepared::new(&tokenizer, &train)?, Prepared::new(&tokenizer, &dev)?);
    let device = args.device.init()?;
    let config = crate::analysis::ProbeConfig { steps: args.steps, ..Default::default() };
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for plan in &plans {
        let started = Instant::now();
        let (model, _) = checkpoint.load_bert(Some(plan), &device)?;
        let accuracies = pollster::block_on(probe_layers(&model, &train, &dev, tokenizer.pad_id(), args.pooling, &config, &device))?;
        eprintln!("plan `{plan}`: {} probes in {:.1} s", accuracies.len(), started.elapsed().as_secs_f64());
        table.push((plan.to_string(), accuracies));
    }
    println!(
        "Linear probes on {} ({} training / {} {dev_name} examples, {:?} pooling): dev accuracy per layer",
        args.data.task,
        train.len(),
        dev.len(),
        args.pooling
    );
    println!("| layer | {} |", table.iter().map(|(p, _)| format!("`{p}`")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(table.len()));
    for layer in 0..table.first().map_or(0, |(_, a)| a.len()) {
        let name = if layer == 0 { "embeddings".to_string() } else { format!("{layer}") };
        println!("| {name} | {} |", table.iter().map(|(_, a)| format!("{:.2}%", 100.0 * a[layer])).collect::<Vec<_>>().join(" | "));
    }
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "model": checkpoint.name(), "task": args.data.task, "pooling": args.pooling, "train_examples": train.len(),
            "dev_examples": dev.len(), "probe": config,
            "plans": table.iter().map(|(p, a)| serde_json::json!({"plan": p, "accuracy": a})).collect::<Vec<_>>(),
        });
        crate::checkpoint::write_atomic(out, serde_json::to_string_pretty(&json)?.as_bytes())?;
        let chart = out.with_extension("png");
        let series: Vec<Series> = table
            .iter()
            .map(|(p, a)| Series { name: format!("`{p}`"), points: a.iter().enumerate().map(|(i, &v)| (i as f64, 100.0 * v)).collect() })
            .collect();
        let title = format!("Linear probes of {} on {} (dev)", checkpoint.name(), args.data.task);
        png::lines(&chart, &title, "hidden state (0 = embeddings)", "probe accuracy (%)", &series)?;
        println!("written to {} and {}", out.display(), chart.display());
    }
    Ok(())
}
