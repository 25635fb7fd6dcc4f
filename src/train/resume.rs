//! What fine-tuning and healing runs write to disk and read back: atomic checkpoint folders and
//! the `last/` folder (weights, optimizer state, position) that `--resume` continues from.
//!
//! `last/` is written beside its final place and renamed over it; a top-level checkpoint is staged
//! and its files moved up with `config.json` last. Either way a run killed at any moment leaves
//! the old checkpoint or the new one, never a half-written one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::tensor::Bytes;
use serde::Serialize;

use super::step::Optimization;
use crate::checkpoint::write_checkpoint;
use crate::error::{TrainError, io};
use crate::model::BertConfig;

/// What a run stopped by a non-finite loss leaves behind, for its error message: the last good
/// `last/` if this run (or the run it resumed) wrote one, and the best model where the run keeps
/// one. A fresh run that failed before its first save leaves an earlier run's files as they were.
pub(crate) fn kept_after_failure(last_dir: &Path, best: Option<&Path>, ours: bool) -> String {
    if !ours || !last_dir.join("state.json").is_file() {
        let earlier =
            if last_dir.join("state.json").is_file() { format!(" The earlier run's state in {} is as it was.", last_dir.display()) } else { String::new() };
        return format!("No checkpoint of this run had been written yet.{earlier}");
    }
    match best {
        Some(out) => format!("The last good state is in {}; the best model in {}.", last_dir.display(), out.display()),
        None => format!("The last good state is in {}.", last_dir.display()),
    }
}

/// Reads `last/state.json` of an interrupted run.
pub(crate) fn read_state<T: serde::de::DeserializeOwned>(last_dir: &Path) -> Result<(T, PathBuf), TrainError> {
    let path = last_dir.join("state.json");
    let resume_err = |reason: String| TrainError::Resume { path: path.clone(), reason };
    let text = fs::read_to_string(&path).map_err(|e| resume_err(e.to_string()))?;
    let state = serde_json::from_str(&text).map_err(|e| resume_err(e.to_string()))?;
    Ok((state, path))
}

/// Reads `last/model.safetensors` of an interrupted run, with its path for error messages.
pub(crate) fn read_last_weights(last_dir: &Path) -> Result<(Vec<u8>, PathBuf), TrainError> {
    let path = last_dir.join("model.safetensors");
    Ok((fs::read(&path).map_err(io(&path))?, path))
}

/// Restores the optimizer state (AdamW moments) saved in `last/optimizer.bpk`.
pub(crate) fn read_last_optimizer(optim: &ModuleOptimizer, last_dir: &Path) -> Result<ModuleOptimizer, TrainError> {
    let path = last_dir.join("optimizer.bpk");
    let bytes = fs::read(&path).map_err(io(&path))?;
    optim.clone().from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| TrainError::Resume { path, reason: format!("{e:?}") })
}

/// Puts an optimisation back where `last/` left it: the AdamW moments and the step count.
pub(crate) fn restore_optimization(opt: &mut Optimization, last_dir: &Path, step: usize) -> Result<(), TrainError> {
    opt.optim = read_last_optimizer(&opt.optim, last_dir)?;
    opt.step = step;
    Ok(())
}

/// Writes `last/` (weights, optimizer state, position) in one atomic step, for `--resume`.
pub(crate) fn save_last(
    last_dir: &Path,
    config: &BertConfig,
    weights: &[u8],
    tokenizer_files: &[(String, Vec<u8>)],
    optim: &ModuleOptimizer,
    state: &impl Serialize,
) -> Result<(), TrainError> {
    let optim = optim.into_bytes().map_err(|e| TrainError::Config(format!("saving the optimizer state: {e:?}")))?;
    let state_json = serde_json::to_vec_pretty(state).expect("state serialises");
    save_dir(last_dir, config, weights, tokenizer_files, &[("optimizer.bpk", optim.to_vec()), ("state.json", state_json)])
}

/// Writes a complete checkpoint folder atomically: into `dir.tmp`, then renamed over `dir`.
pub(crate) fn save_dir(
    dir: &Path,
    config: &BertConfig,
    weights: &[u8],
    tokenizer_files: &[(String, Vec<u8>)],
    extra: &[(&str, Vec<u8>)],
) -> Result<(), TrainError> {
    let tmp = dir.with_extension("tmp");
    let _ = fs::remove_dir_all(&tmp);
    write_checkpoint(&tmp, config, weights, tokenizer_files)?;
    for (name, bytes) in extra {
        fs::write(tmp.join(name), bytes).map_err(io(&tmp))?;
    }
    let old = dir.with_extension("old");
    let _ = fs::remove_dir_all(&old);
    if dir.exists() {
        fs::rename(dir, &old).map_err(io(dir))?;
    }
    fs::rename(&tmp, dir).map_err(io(dir))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Writes a checkpoint at the top level of `out` (beside `last/`, logs and results): staged in a
/// sub-folder, then its files moved up, config.json last — a folder whose config.json is present
/// has all its other files.
pub(crate) fn save_top_level(out: &Path, config: &BertConfig, weights: &[u8], tokenizer_files: &[(String, Vec<u8>)]) -> Result<(), TrainError> {
    let staging = out.join("checkpoint.staging");
    save_dir(&staging, config, weights, tokenizer_files, &[])?;
    let names = ["model.safetensors"].into_iter().chain(tokenizer_files.iter().map(|(n, _)| n.as_str())).chain(["config.json"]);
    for name in names {
        let from = staging.join(name);
        fs::rename(&from, out.join(name)).map_err(io(&from))?;
    }
    let _ = fs::remove_dir_all(&staging);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_names_what_is_left() {
        let dir = std::env::temp_dir().join(format!("undivided-kept-{}", std::process::id()));
        let last = dir.join("last");
        fs::create_dir_all(&last).unwrap();
        assert_eq!(kept_after_failure(&last, Some(&dir), true), "No checkpoint of this run had been written yet.");
        fs::write(last.join("state.json"), "{}").unwrap();
        let earlier = kept_after_failure(&last, Some(&dir), false);
        assert!(earlier.starts_with("No checkpoint of this run") && earlier.contains("earlier run's state"), "{earlier}");
        let with_best = kept_after_failure(&last, Some(&dir), true);
        assert!(with_best.contains(&last.display().to_string()) && with_best.contains("the best model in"), "{with_best}");
        let heal = kept_after_failure(&last, None, true);
        assert!(heal.contains(&last.display().to_string()) && !heal.contains("best model"), "{heal}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
