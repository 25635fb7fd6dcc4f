//! `undivided bench`: inference throughput of full vs reduced models.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Args;
use serde::Serialize;
use web_time::Instant;

use super::args::DeviceArgs;
use super::thousands;
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::model::{BertInput, BertModel, FfnPlan, ForwardOptions, ModelStats};
use crate::text::TextInput;

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
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Sequence length of the fixed-shape benchmark.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed batches of the fixed-shape benchmark (after one warm-up batch).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
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

#[derive(Debug, Serialize)]
struct PlanResult {
    plan: String,
    params: usize,
    fixed_sent_per_s: f64,
    fixed_ms_per_batch: f64,
    data_sent_per_s: Option<f64>,
    data_sentences: usize,
}

fn run_to_host(model: &BertModel, input: BertInput) -> anyhow::Result<()> {
    // Reading the pooled output back forces the whole forward pass to finish.
    let out = model.forward(input, ForwardOptions::default());
    let _ = out.pooler_output.into_data().try_into_vec::<f32>()?;
    Ok(())
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

/// Training throughput on fixed `batch × seq_len` batches: one warm-up step, then `iters` timed.
fn run_train(args: &BenchArgs, checkpoint: &Checkpoint, device: &Device, plans: &[FfnPlan]) -> anyhow::Result<()> {
    use crate::data::{Label, Task};
    use crate::train::{TrainConfig, Trainer};
    let (b, s) = (args.batch, args.seq_len);
    let rows: Vec<crate::text::Encoded> = (0..b)
        .map(|r| crate::text::Encoded {
            input_ids: (0..s).map(|j| if j == 0 { 101 } else if j == s - 1 { 102 } else { 1000 + ((r * 131 + j * 17) % 20000) as u32 }).collect(),
            token_type_ids: vec![0; s],
            truncated: false,
        })
        .collect();
    let batch = crate::text::Batch::from_rows(&rows.iter().collect::<Vec<_>>(), 0);
    let labels: Vec<Label> = (0..b).map(|i| Label::Class(i % 2)).collect();
    println!("{} training on {} — batch {b} × {s} tokens, AdamW, {} timed steps after 1 warm-up", checkpoint.name(), args.device.device, args.iters);
    println!("{:<10}{:>14}{:>16}{:>14}", "plan", "params", "examples/s", "ms/step");
    let mut full_rate = None;
    for plan in plans {
        let ad = device.clone().autodiff();
        let (model, _) = checkpoint.load_classifier(Some(plan), &ad)?;
        let params = burn::module::Module::num_params(&model);
        let mut trainer = Trainer::new(model, Task::Sst2, TrainConfig::default(), args.iters + 1, &ad);
        let _: f32 = trainer.step(&batch, &labels).loss.into_scalar();
        let start = Instant::now();
        for _ in 0..args.iters {
            let _: f32 = trainer.step(&batch, &labels).loss.into_scalar();
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = (args.iters * b) as f64 / secs;
        let full = *full_rate.get_or_insert(rate);
        println!("{:<10}{:>14}{:>16.1}{:>14.0}   ({:.2}× the first plan)", plan.to_string(), thousands(params), rate, 1e3 * secs / args.iters as f64, rate / full);
    }
    Ok(())
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model)?)?;
    let device: Device = args.device.init()?;
    let n_layers = checkpoint.config.num_hidden_layers;
    let plans = FfnPlan::parse_list(&args.plans, n_layers)?;
    if args.train {
        return run_train(&args, &checkpoint, &device, &plans);
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
    let batches: Vec<_> = sentences
        .chunks(args.batch)
        .map(|c| checkpoint.tokenizer.encode_batch(&c.iter().map(|s| TextInput::Single(s.clone())).collect::<Vec<_>>()))
        .collect::<Result<_, _>>()?;

    // Fixed shape: every row a full `seq_len` of real tokens ([CLS] w … w [SEP]), no padding.
    let (b, s) = (args.batch, args.seq_len);
    let ids: Vec<i64> = (0..b * s)
        .map(|i| match i % s {
            0 => 101,
            j if j == s - 1 => 102,
            j => 1000 + ((i / s * 131 + j * 17) % 20000) as i64,
        })
        .collect();
    let fixed = |device: &Device| BertInput {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, s]), device),
        token_type_ids: Tensor::<2, Int>::zeros([b, s], device),
        attention_mask: Tensor::<2, Int>::ones([b, s], device),
    };

    let mut results = Vec::new();
    for plan in &plans {
        let (model, _) = checkpoint.load_bert(Some(plan), &device)?;
        run_to_host(&model, fixed(&device))?; // warm-up: kernel compilation, allocations
        let start = Instant::now();
        for _ in 0..args.iters {
            run_to_host(&model, fixed(&device))?;
        }
        let secs = start.elapsed().as_secs_f64();
        let fixed_sent_per_s = (args.iters * b) as f64 / secs;

        let data_sent_per_s = if batches.is_empty() {
            None
        } else {
            let start = Instant::now();
            for batch in &batches {
                run_to_host(&model, batch.to_input(&device))?;
            }
            Some(sentences.len() as f64 / start.elapsed().as_secs_f64())
        };
        let stats = ModelStats::new(&checkpoint.config, plan, s);
        results.push(PlanResult {
            plan: plan.to_string(),
            params: stats.total_params,
            fixed_sent_per_s,
            fixed_ms_per_batch: 1e3 * secs / args.iters as f64,
            data_sent_per_s,
            data_sentences: sentences.len(),
        });
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!(
        "{} on {} — batch {b}; fixed {b}×{s} tokens ({} timed batches); {}",
        checkpoint.name(),
        args.device.device,
        args.iters,
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
    Ok(())
}
