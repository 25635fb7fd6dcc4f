//! Checkpoint folders on disk (native only): reading, resolving a model argument, atomic writing.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Checkpoint, TOKENIZER_FILES, hub};
use crate::error::CheckpointError;
use crate::model::BertConfig;

/// Where `scripts/setup.sh` places the embedded default model (all-MiniLM-L6-v2).
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

impl Checkpoint {
    /// Reads a checkpoint folder.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(io(dir)(std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint folder")));
        }
        let mut files = Vec::new();
        for name in ["config.json", "model.safetensors"].into_iter().chain(TOKENIZER_FILES) {
            let path = dir.join(name);
            if path.is_file() {
                files.push((name.to_string(), fs::read(&path).map_err(io(&path))?));
            }
        }
        Self::from_files(dir, files)
    }

    /// Reads only `config.json` (for `undivided info`, which needs no weights).
    pub fn read_config(model: &str) -> Result<BertConfig, CheckpointError> {
        let path = Path::new(model);
        let path = if path.is_dir() { path.join("config.json") } else { path.to_path_buf() };
        let path = if path.exists() { path } else { resolve_model(model)?.join("config.json") };
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        BertConfig::from_json(&text).map_err(|source| CheckpointError::Config { path, source })
    }
}

/// Turns a model argument into a local folder: `default` (the embedded all-MiniLM-L6-v2), an
/// existing folder, or a HuggingFace repo id (`bert-base-uncased`, `org/name`) downloaded once
/// into the cache (see [`hub`]).
pub fn resolve_model(model: &str) -> Result<PathBuf, CheckpointError> {
    if model == "default" {
        let dir = PathBuf::from(DEFAULT_MODEL_DIR);
        if dir.join("config.json").is_file() {
            return Ok(dir);
        }
        return Err(CheckpointError::NotFound {
            what: format!("default model ({DEFAULT_MODEL_DIR})"),
            reason: "run `scripts/setup.sh model` to place all-MiniLM-L6-v2 there".into(),
        });
    }
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if hub::looks_like_repo_id(model) {
        return hub::download(model, &hub::HubOptions::from_env());
    }
    Err(CheckpointError::NotFound { what: model.to_string(), reason: "not a folder, and not a valid repo id".into() })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename,
/// so an interrupted write never leaves a half-written file under the real name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Writes a checkpoint folder: `model.safetensors`, `config.json` (with `ffn_layers` when
/// reduced) and the tokenizer files, each written atomically.
pub fn write_checkpoint(
    dir: &Path,
    config: &BertConfig,
    weights: &[u8],
    tokenizer_files: &[(String, Vec<u8>)],
) -> Result<(), CheckpointError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    write_atomic(&dir.join("model.safetensors"), weights)?;
    for (name, bytes) in tokenizer_files {
        write_atomic(&dir.join(name), bytes)?;
    }
    // config.json last: a folder whose config is present has all its other files.
    write_atomic(&dir.join("config.json"), config.to_json().as_bytes())
}
