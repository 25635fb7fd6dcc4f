//! Checkpoint folders on disk (native only): reading, resolving a model argument, atomic writing.

use std::fs;
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use super::{Checkpoint, TOKENIZER_FILES, Weights, hub};
use crate::error::CheckpointError;
use crate::model::BertConfig;

/// Where `scripts/setup.sh` places the embedded default model (all-MiniLM-L6-v2).
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// The most bytes of a `config.json`: real ones are about 1 KB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The most bytes of a tokenizer file: BERT-family ones are 0.2–3 MB (multilingual included).
pub const MAX_TOKENIZER_BYTES: u64 = 16 << 20;

/// Reads a config or tokenizer file, refusing one past its cap ([`MAX_CONFIG_BYTES`],
/// [`MAX_TOKENIZER_BYTES`]) before parsing it; a file whose size the file system does not
/// report (a pipe, `/dev/zero`) is read up to the cap and no further.
fn read_small(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    use std::io::Read;
    let cap = if path.file_name().is_some_and(|n| n == "config.json") { MAX_CONFIG_BYTES } else { MAX_TOKENIZER_BYTES };
    let too_large = |len: String| CheckpointError::Inconsistent {
        path: path.to_path_buf(),
        reason: format!(
            "{len} bytes; expected at most {cap} for this file (a real one has {})",
            if cap == MAX_CONFIG_BYTES { "about 1 KB" } else { "a few MB" }
        ),
    };
    let len = fs::metadata(path).map_err(io(path))?.len();
    if len > cap {
        return Err(too_large(len.to_string()));
    }
    let mut bytes = Vec::new();
    fs::File::open(path).map_err(io(path))?.take(cap + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(format!("more than {cap}")));
    }
    Ok(bytes)
}

impl Weights {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> Result<Self, CheckpointError> {
        let file = fs::File::open(path).map_err(io(path))?;
        // SAFETY: the map is read-only, and this project never changes a checkpoint file in
        // place (every write goes to a new file that is renamed over the old one, so a map
        // keeps the old file's pages). Another program truncating the file under a running
        // process would end it with SIGBUS, as with any memory-mapped reader.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
        Ok(Self::from_map(map))
    }
}

impl Checkpoint {
    /// Opens a checkpoint that must carry a classification head (`id2label` in its config):
    /// what `eval` and `predict` take.
    pub fn open_classifier(dir: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let checkpoint = Self::open(dir)?;
        if checkpoint.config.id2label.is_none() {
            return Err(CheckpointError::NotClassifier { path: checkpoint.source.clone() });
        }
        Ok(checkpoint)
    }

    /// Reads a checkpoint folder. The weights are memory-mapped, not read: a tensor's bytes are
    /// read when the loader takes it, so a checkpoint costs about its own size once, and a huge
    /// or padded file costs nothing it does not use.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(io(dir)(std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint folder")));
        }
        let mut files = Vec::new();
        for name in std::iter::once("config.json").chain(TOKENIZER_FILES) {
            let path = dir.join(name);
            if path.is_file() {
                files.push((name.to_string(), read_small(&path)?));
            }
        }
        let weights_path = dir.join("model.safetensors");
        let weights = if weights_path.is_file() { Some(Weights::map(&weights_path)?) } else { None };
        Self::from_parts(dir, files, weights)
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

/// Writes a checkpoint folder: `model.safetensors`, `config.json` (with `ffn_layers` when
/// reduced) and the tokenizer files, each written atomically.
pub fn write_checkpoint(dir: &Path, config: &BertConfig, weights: &[u8], tokenizer_files: &[(String, Vec<u8>)]) -> Result<(), CheckpointError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    write_atomic(&dir.join("model.safetensors"), weights)?;
    for (name, bytes) in tokenizer_files {
        write_atomic(&dir.join(name), bytes)?;
    }
    // config.json last: a folder whose config is present has all its other files.
    write_atomic(&dir.join("config.json"), config.to_json().as_bytes())
}
