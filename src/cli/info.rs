//! `undivided info`: parameter and FLOP accounting from `config.json` alone.

use clap::Args;
use serde_json::json;

use super::args::ModelArgs;
use super::thousands;
use crate::checkpoint::Checkpoint;
use crate::model::{FfnPlan, ModelStats};

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sequence length for the FLOP count.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let config = Checkpoint::read_config(&args.model.model)?;
    let plan = match &args.model.keep_ffn {
        Some(spec) => FfnPlan::parse(spec, config.num_hidden_layers)?,
        None => config.plan(),
    };
    anyhow::ensure!(
        (1..=1_000_000).contains(&args.seq_len),
        "--seq-len {}: expected 1 to 1000000 tokens (the FLOP count of longer sequences overflows 64 bits)",
        args.seq_len
    );
    let stats = ModelStats::new(&config, &plan, args.seq_len);
    let full = ModelStats::new(&config, &FfnPlan::all(config.num_hidden_layers), args.seq_len);

    if args.json {
        let out = json!({
            "model": args.model.model,
            "stats": stats,
            "full_model": { "total_params": full.total_params, "flops_per_token": full.flops_per_token },
            "params_ratio": stats.total_params as f64 / full.total_params as f64,
            "flops_ratio": stats.flops_per_token as f64 / full.flops_per_token as f64,
            "weight_bytes": {"f32": stats.weight_bytes, "f16": stats.weight_bytes / 2},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }

    let pct = |n: usize| 100.0 * n as f64 / stats.total_params as f64;
    println!(
        "{} — {} layers, hidden {}, intermediate {}; plan `{}` keeps {} of {} intermediate blocks",
        args.model.model,
        config.num_hidden_layers,
        config.hidden_size,
        config.intermediate_size,
        plan,
        plan.num_kept(),
        plan.num_layers()
    );
    println!("{:<26}{:>14}{:>9}", "component", "parameters", "share");
    println!("{:<26}{:>14}{:>8.1}%", "embeddings", thousands(stats.embeddings_params), pct(stats.embeddings_params));
    for l in &stats.layers {
        println!("{:<26}{:>14}{:>8.1}%", format!("layer {} attention", l.layer), thousands(l.attention_params), pct(l.attention_params));
        if l.intermediate_params > 0 {
            // Without the block, what is left is a `+norm` plan's output.LayerNorm.
            let note = if l.has_intermediate { "" } else { "  (removed; its LayerNorm kept)" };
            println!("{:<26}{:>14}{:>8.1}%{note}", format!("layer {} intermediate", l.layer), thousands(l.intermediate_params), pct(l.intermediate_params));
        } else {
            println!("{:<26}{:>14}", format!("layer {} intermediate", l.layer), "removed");
        }
    }
    println!("{:<26}{:>14}{:>8.1}%", "pooler", thousands(stats.pooler_params), pct(stats.pooler_params));
    println!(
        "{:<26}{:>14}   ({:.1} MB as f32, {:.1} MB as f16; full model {}, {:.1}%)",
        "total",
        thousands(stats.total_params),
        stats.weight_bytes as f64 / 1e6,
        stats.weight_bytes as f64 / 2e6,
        thousands(full.total_params),
        100.0 * stats.total_params as f64 / full.total_params as f64
    );
    println!(
        "FLOPs per token at {} tokens: {:.1} MFLOP (full model {:.1} MFLOP, {:.1}%)",
        args.seq_len,
        stats.flops_per_token as f64 / 1e6,
        full.flops_per_token as f64 / 1e6,
        100.0 * stats.flops_per_token as f64 / full.flops_per_token as f64
    );
    Ok(())
}
