//! The `undivided` command line: one file per subcommand, the shared arguments in [`args`] and
//! the progress display in [`progress`]. Commands parse, call the library (mostly
//! [`crate::experiment`] and [`crate::train`]) and print; none imports another command.

mod analyze;
mod args;
mod bench;
mod cache;
mod compare;
mod encode;
mod eval;
mod finetune;
mod heal;
mod info;
mod predict;
mod pretrain;
mod progress;
mod publish;
mod reduce;
mod study;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `12345678` → `12,345,678`, for every command's output.
pub(crate) use crate::experiment::table::thousands;

#[derive(Parser, Debug)]
#[command(name = "undivided", version, about = "Does BERT need its intermediate layers? Full vs reduced BERT.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parameters by component and FLOPs per token of a model and plan (needs only config.json).
    Info(info::InfoArgs),
    /// Write a reduced checkpoint: the model with intermediate blocks only in the kept layers.
    Reduce(reduce::ReduceArgs),
    /// Encode one sentence or a pair and print the model's outputs.
    Encode(encode::EncodeArgs),
    /// Inference throughput of the full and reduced models.
    Bench(bench::BenchArgs),
    /// Fine-tune every weight on a GLUE task (full or reduced), keeping the best checkpoint.
    Finetune(finetune::FinetuneArgs),
    /// Evaluate a fine-tuned checkpoint on a task's dev set(s).
    Eval(eval::EvalArgs),
    /// Classify one sentence or pair with a fine-tuned checkpoint.
    Predict(predict::PredictArgs),
    /// Heal a reduced model: distil the full model into it on unlabelled text (hidden states and attention).
    Heal(heal::HealArgs),
    /// Pre-train a reduced architecture on general text (the paper's route), with the full model as
    /// teacher: packed corpus, token budget, a checkpoint at each milestone.
    Pretrain(pretrain::PretrainArgs),
    /// Why removal works: layer-by-layer CKA between two models, and linear probes per layer.
    Analyze(analyze::AnalyzeArgs),
    /// Fine-tune several plans with the same settings and seeds; write a Markdown + JSON table.
    Compare(compare::CompareArgs),
    /// Which intermediate blocks matter: remove one at a time, then cumulatively best-first,
    /// fine-tuning briefly each time; metric and CKA to the full model per removal.
    Sweep(sweep::SweepArgs),
    /// The paper's table: tasks × plans × routes × seeds from a JSON spec, with the answer per task.
    Study(study::StudyArgs),
    /// What the download cache holds, with sizes; `--clean` empties it.
    Cache(cache::CacheArgs),
    /// Put native runs beside the page: copy their checkpoints and tables, write `index.json`.
    Publish(publish::PublishArgs),
}

/// Entry point of the binary: runs the command and prints errors with their causes.
pub fn main() -> ExitCode {
    // burn materialises some state on `Device::default()` (restored optimizer moments, before
    // they move to the parameters' device), and its default is wgpu when compiled in: keep that
    // on the CPU so that a machine without any GPU driver never starts one behind the user's back.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => info::run(args),
        Command::Reduce(args) => reduce::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Finetune(args) => finetune::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Heal(args) => heal::run(args),
        Command::Pretrain(args) => pretrain::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Study(args) => study::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Analyze(args) => analyze::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_has_a_consistent_definition() {
        // Duplicate argument names across flattened groups only show up at run time otherwise.
        super::Cli::command().debug_assert();
    }
}
