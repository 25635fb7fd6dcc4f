//! Checkpoints: HF folders (`config.json` + `model.safetensors` + tokenizer files), loaded
//! strictly into a model with any layer plan, saved back with HF names.

mod load;
mod names;
mod save;

#[cfg(not(target_arch = "wasm32"))]
mod atomic;
#[cfg(not(target_arch = "wasm32"))]
mod folder;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;
#[cfg(not(target_arch = "wasm32"))]
pub mod lock;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

pub use load::{LoadReport, load_bert, load_classifier, load_classifier_new_head, load_mlm_head};
pub use names::{MLM_TENSORS, bert_param_ids, classifier_param_ids, mlm_param_ids};
pub use save::{bert_mlm_to_safetensors, bert_to_safetensors, classifier_to_safetensors, to_f16};

#[cfg(not(target_arch = "wasm32"))]
pub use atomic::write_atomic;
#[cfg(not(target_arch = "wasm32"))]
pub use folder::{DEFAULT_MODEL_DIR, resolve_model, write_checkpoint};
#[cfg(not(target_arch = "wasm32"))]
pub use lock::{LockError, RunLock};

use crate::error::CheckpointError;
use crate::model::{BertConfig, BertForSequenceClassification, BertModel, FfnPlan};
use crate::text::BertTokenizer;

/// Names of the tokenizer files a checkpoint may carry; they are copied verbatim on save.
pub const TOKENIZER_FILES: [&str; 4] = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

/// A checkpoint read into memory: config, tokenizer and the raw safetensors bytes.
///
/// The same type serves the CLI (read from a folder) and the browser (bytes fetched over HTTP).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub config: BertConfig,
    pub tokenizer: BertTokenizer,
    /// The tokenizer files as found, to write them back unchanged.
    pub tokenizer_files: Vec<(String, Vec<u8>)>,
    /// The `model.safetensors` bytes (memory-mapped when read from a folder).
    pub weights: Weights,
    /// Where it came from (a folder or URL), for error messages.
    pub source: PathBuf,
}

/// The bytes of a `model.safetensors`: memory-mapped from a file natively, owned when they came
/// over the network (the page). Cheap to clone (shared).
#[derive(Clone)]
pub struct Weights(std::sync::Arc<WeightBytes>);

enum WeightBytes {
    Owned(Vec<u8>),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

impl Weights {
    #[cfg(not(target_arch = "wasm32"))]
    fn from_map(map: memmap2::Mmap) -> Self {
        Self(std::sync::Arc::new(WeightBytes::Mapped(map)))
    }
}

impl From<Vec<u8>> for Weights {
    fn from(bytes: Vec<u8>) -> Self {
        Self(std::sync::Arc::new(WeightBytes::Owned(bytes)))
    }
}

impl std::ops::Deref for Weights {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &*self.0 {
            WeightBytes::Owned(v) => v,
            #[cfg(not(target_arch = "wasm32"))]
            WeightBytes::Mapped(m) => m,
        }
    }
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Weights({} bytes)", self.len())
    }
}

impl Checkpoint {
    /// Builds a checkpoint from the contents of its files. `files` must hold `config.json`,
    /// `model.safetensors`, and `tokenizer.json` or `vocab.txt`.
    pub fn from_files(source: impl Into<PathBuf>, mut files: Vec<(String, Vec<u8>)>) -> Result<Self, CheckpointError> {
        let weights = files.iter().position(|(n, _)| n == "model.safetensors").map(|i| Weights::from(files.swap_remove(i).1));
        Self::from_parts(source, files, weights)
    }

    /// Builds a checkpoint from its small files (config, tokenizer) and its weights.
    pub fn from_parts(source: impl Into<PathBuf>, files: Vec<(String, Vec<u8>)>, weights: Option<Weights>) -> Result<Self, CheckpointError> {
        let source = source.into();
        let find = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
        let path_of = |name: &str| source.join(name);
        let missing = |name: &str| CheckpointError::Io {
            path: path_of(name),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found in the checkpoint"),
        };

        let config_bytes = find("config.json").ok_or_else(|| missing("config.json"))?;
        let config_text = String::from_utf8_lossy(config_bytes);
        let config = BertConfig::from_json(&config_text).map_err(|source| CheckpointError::Config { path: path_of("config.json"), source })?;
        let weights = weights.ok_or_else(|| missing("model.safetensors"))?;

        let tokenizer = if let Some(json) = find("tokenizer.json") {
            BertTokenizer::from_json_bytes(json, &path_of("tokenizer.json").display().to_string())?
        } else if let Some(vocab) = find("vocab.txt") {
            let lowercase = find("tokenizer_config.json")
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("do_lower_case").and_then(|v| v.as_bool()))
                .unwrap_or(true);
            BertTokenizer::from_vocab_txt(&String::from_utf8_lossy(vocab), lowercase, &path_of("vocab.txt").display().to_string())?
        } else {
            return Err(missing("tokenizer.json (or vocab.txt)"));
        };
        let mut tokenizer = tokenizer;
        let max_len = crate::text::DEFAULT_MAX_LEN.min(config.max_position_embeddings);
        tokenizer.set_max_len(max_len, config.max_position_embeddings)?;
        tokenizer.set_type_vocab_size(config.type_vocab_size);
        // Every id the tokenizer can produce must have a row in the embeddings: past the end, the
        // CPU panics and a GPU reads whatever memory lies there (silent garbage).
        if let Some((id, token)) = tokenizer.max_id()
            && id as usize >= config.vocab_size
        {
            let file = if find("tokenizer.json").is_some() { "tokenizer.json" } else { "vocab.txt" };
            return Err(CheckpointError::Inconsistent {
                path: path_of(file),
                reason: format!(
                    "token `{token}` has id {id}, but config.json's vocab_size is {}: the tokenizer does not belong to this model",
                    config.vocab_size
                ),
            });
        }

        let tokenizer_files = files.into_iter().filter(|(n, _)| TOKENIZER_FILES.contains(&n.as_str())).collect();
        Ok(Self { config, tokenizer, tokenizer_files, weights, source })
    }

    /// The checkpoint's own plan (from `ffn_layers` in its config).
    pub fn plan(&self) -> FfnPlan {
        self.config.plan()
    }

    /// Parses a `--keep-ffn` spec against this checkpoint's layer count.
    pub fn parse_plan(&self, spec: Option<&str>) -> Result<FfnPlan, CheckpointError> {
        match spec {
            None => Ok(self.plan()),
            Some(spec) => {
                FfnPlan::parse(spec, self.config.num_hidden_layers).map_err(|source| CheckpointError::Config { path: self.source.join("--keep-ffn"), source })
            }
        }
    }

    fn weights_path(&self) -> PathBuf {
        self.source.join("model.safetensors")
    }

    /// The encoder with `plan` (`None`: the checkpoint's own plan).
    pub fn load_bert(&self, plan: Option<&FfnPlan>, device: &Device) -> Result<(BertModel, LoadReport), CheckpointError> {
        let plan = plan.cloned().unwrap_or_else(|| self.plan());
        load_bert(&self.weights, &self.weights_path(), &self.config, &plan, device)
    }

    /// The sequence classifier with `plan`; a new head if the checkpoint has none.
    pub fn load_classifier(&self, plan: Option<&FfnPlan>, device: &Device) -> Result<(BertForSequenceClassification, LoadReport), CheckpointError> {
        let plan = plan.cloned().unwrap_or_else(|| self.plan());
        load_classifier(&self.weights, &self.weights_path(), &self.config, &plan, device)
    }

    /// The config of this checkpoint with another plan.
    /// BERT's masked-LM head (`cls.predictions.*`) of this checkpoint; refused, naming the
    /// missing tensors, where the checkpoint has none.
    pub fn load_mlm_head(&self, device: &Device) -> Result<crate::model::BertOnlyMLMHead, CheckpointError> {
        load_mlm_head(&self.weights, &self.weights_path(), &self.config, device)
    }

    pub fn config_with_plan(&self, plan: &FfnPlan) -> BertConfig {
        self.config.with_plan(plan)
    }

    /// Short human-readable name: the folder name.
    pub fn name(&self) -> String {
        Path::new(&self.source).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}
