//! Checkpoints: HF folders (`config.json` + `model.safetensors` + tokenizer files), loaded
//! strictly into a model with any layer plan, saved back with HF names.

mod load;
mod names;
mod save;

#[cfg(not(target_arch = "wasm32"))]
mod folder;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

pub use load::{LoadReport, load_bert, load_classifier};
pub use names::{bert_param_ids, classifier_param_ids};
pub use save::{bert_to_safetensors, classifier_to_safetensors};

#[cfg(not(target_arch = "wasm32"))]
pub use folder::{DEFAULT_MODEL_DIR, resolve_model, write_atomic, write_checkpoint};

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
    /// The `model.safetensors` bytes.
    pub weights: Vec<u8>,
    /// Where it came from (a folder or URL), for error messages.
    pub source: PathBuf,
}

impl Checkpoint {
    /// Builds a checkpoint from the contents of its files. `files` must hold `config.json`,
    /// `model.safetensors`, and `tokenizer.json` or `vocab.txt`.
    pub fn from_files(source: impl Into<PathBuf>, files: Vec<(String, Vec<u8>)>) -> Result<Self, CheckpointError> {
        let source = source.into();
        let find = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
        let path_of = |name: &str| source.join(name);
        let missing = |name: &str| CheckpointError::Io {
            path: path_of(name),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found in the checkpoint"),
        };

        let config_bytes = find("config.json").ok_or_else(|| missing("config.json"))?;
        let config_text = String::from_utf8_lossy(config_bytes);
        let config = BertConfig::from_json(&config_text)
            .map_err(|source| CheckpointError::Config { path: path_of("config.json"), source })?;
        let weights = find("model.safetensors").ok_or_else(|| missing("model.safetensors"))?.clone();

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
            Some(spec) => FfnPlan::parse(spec, self.config.num_hidden_layers)
                .map_err(|source| CheckpointError::Config { path: self.source.join("--keep-ffn"), source }),
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
    pub fn load_classifier(
        &self,
        plan: Option<&FfnPlan>,
        device: &Device,
    ) -> Result<(BertForSequenceClassification, LoadReport), CheckpointError> {
        let plan = plan.cloned().unwrap_or_else(|| self.plan());
        load_classifier(&self.weights, &self.weights_path(), &self.config, &plan, device)
    }

    /// The config of this checkpoint with another plan.
    pub fn config_with_plan(&self, plan: &FfnPlan) -> BertConfig {
        self.config.with_plan(plan)
    }

    /// Short human-readable name: the folder name.
    pub fn name(&self) -> String {
        Path::new(&self.source).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}
