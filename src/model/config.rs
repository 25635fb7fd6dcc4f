//! `BertConfig`: the HuggingFace `config.json` of a BERT-family checkpoint, plus our `ffn_layers`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use burn::nn::{DropoutConfig, LinearConfig};
use burn::tensor::Device;

use super::plan::FfnPlan;
use super::{BertEmbeddings, BertEncoder, BertForSequenceClassification, BertModel, BertPooler};
use crate::error::ConfigError;

/// Upper bounds of `config.json`'s sizes: far above any released BERT-family model, far below
/// what would exhaust memory before the checkpoint is even read.
pub mod limits {
    pub const VOCAB: usize = 1_000_000;
    pub const HIDDEN: usize = 16_384;
    pub const LAYERS: usize = 256;
    pub const INTERMEDIATE: usize = 65_536;
    pub const POSITIONS: usize = 65_536;
    pub const TYPES: usize = 1_024;
    pub const LABELS: usize = 10_000;
}

/// Activation of the intermediate block, as HF names it in `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact GELU, `x · Φ(x)` (HF `gelu`; original BERT).
    Gelu,
    /// The tanh approximation of GELU (HF `gelu_new`, `gelu_pytorch_tanh`).
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    /// ReLU (HF `relu`), used by a few distilled checkpoints.
    Relu,
}

/// The architecture of a BERT-family encoder.
///
/// Field names are HF's, so a `config.json` from the hub deserialises as is; fields we do not
/// use (`architectures`, `model_type`, `transformers_version`, ...) are kept in [`BertConfig::extra`]
/// and written back, so a saved full checkpoint still loads in HF `transformers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Dropout before the classification head; HF falls back to `hidden_dropout_prob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: usize,
    /// Undivided's own field: the 0-based layers that keep their intermediate block.
    /// Absent means every layer keeps it (a plain HF checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffn_layers: Option<Vec<usize>>,
    /// Undivided's own field: whether the layers outside `ffn_layers` keep their intermediate
    /// block's `output.LayerNorm` (a `+norm` plan, see [`FfnPlan`]). Absent means they do not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ffn_keep_layer_norm: bool,
    /// Label names of a sequence-classification head (HF `id2label`), if the checkpoint has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
    /// Every other field of `config.json`, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Parses a `config.json` and checks that the architecture is one this crate can build.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let mut value: Value = serde_json::from_str(json).map_err(|e| ConfigError::Json(e.to_string()))?;
        // HF writes `"hidden_act": "gelu"`; tolerate upper case and a few spellings.
        if let Some(Value::String(act)) = value.get_mut("hidden_act") {
            *act = act.to_ascii_lowercase();
        }
        let config: Self = serde_json::from_value(value).map_err(|e| ConfigError::Json(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Serialises back to a pretty `config.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a BertConfig always serialises")
    }

    /// BERT-base (uncased) dimensions, used by tests and `undivided info --preset`.
    pub fn bert_base() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            classifier_dropout: None,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            ffn_layers: None,
            ffn_keep_layer_norm: false,
            id2label: None,
            extra: Map::new(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let field = |name: &'static str, expected: String| Err(ConfigError::Field { field: name, expected });
        // Caps no real BERT reaches (BERT-large: 24 layers, 1024 wide, 4096 intermediate, 30,522
        // tokens; multilingual vocabularies ~250,000), so that a hostile or mistyped config.json
        // is refused before anything is allocated rather than after gigabytes.
        let within = |name: &'static str, value: usize, max: usize| -> Result<(), ConfigError> {
            if value == 0 || value > max {
                return Err(ConfigError::Field { field: name, expected: format!("1 to {max}, found {value}") });
            }
            Ok(())
        };
        within("vocab_size", self.vocab_size, limits::VOCAB)?;
        within("hidden_size", self.hidden_size, limits::HIDDEN)?;
        within("num_hidden_layers", self.num_hidden_layers, limits::LAYERS)?;
        within("intermediate_size", self.intermediate_size, limits::INTERMEDIATE)?;
        within("max_position_embeddings", self.max_position_embeddings, limits::POSITIONS)?;
        within("type_vocab_size", self.type_vocab_size, limits::TYPES)?;
        within("num_attention_heads", self.num_attention_heads, self.hidden_size)?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return field("num_attention_heads", format!("a positive divisor of hidden_size ({})", self.hidden_size));
        }
        if self.pad_token_id >= self.vocab_size {
            return field("pad_token_id", format!("an id below vocab_size ({})", self.vocab_size));
        }
        for (name, p) in [("hidden_dropout_prob", self.hidden_dropout_prob), ("attention_probs_dropout_prob", self.attention_probs_dropout_prob)] {
            if !(0.0..1.0).contains(&p) {
                return field(name, format!("a probability in [0, 1), found {p}"));
            }
        }
        if let Some(p) = self.classifier_dropout
            && !(0.0..1.0).contains(&p)
        {
            return field("classifier_dropout", format!("a probability in [0, 1), found {p}"));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return field("layer_norm_eps", format!("a small positive number such as 1e-12, found {}", self.layer_norm_eps));
        }
        if let Some(map) = &self.id2label {
            let n = map.len();
            if n == 0 || n > limits::LABELS {
                return field("id2label", format!("1 to {} labels, found {n}", limits::LABELS));
            }
            if let Some(key) = map.keys().find(|k| k.parse::<usize>().ok().is_none_or(|i| i >= n || i.to_string() != **k)) {
                return field("id2label", format!("keys exactly \"0\" to \"{}\" (one per label), found \"{key}\"", n - 1));
            }
        } else if let Some(n) = self.extra.get("num_labels")
            && n.as_u64().is_none_or(|n| n == 0 || n as usize > limits::LABELS)
        {
            return field("num_labels", format!("1 to {} labels, found {n}", limits::LABELS));
        }
        if let Some(layers) = &self.ffn_layers
            && let Some(&bad) = layers.iter().find(|&&l| l >= self.num_hidden_layers)
        {
            return field("ffn_layers", format!("layer indices below num_hidden_layers ({}), found {bad}", self.num_hidden_layers));
        }
        Ok(())
    }

    /// The layers that keep their intermediate block, as stored in this config.
    pub fn plan(&self) -> FfnPlan {
        match &self.ffn_layers {
            None => FfnPlan::all(self.num_hidden_layers),
            Some(layers) => {
                FfnPlan::from_layers(self.num_hidden_layers, layers.iter().copied()).expect("validated in from_json").with_norm(self.ffn_keep_layer_norm)
            }
        }
    }

    /// The same architecture with another intermediate-block plan.
    pub fn with_plan(&self, plan: &FfnPlan) -> Self {
        let mut config = self.clone();
        config.ffn_layers = if plan.is_full() { None } else { Some(plan.kept().collect()) };
        config.ffn_keep_layer_norm = plan.keeps_norm();
        config
    }

    /// A LayerNorm over the hidden size with this config's epsilon: every LayerNorm of BERT.
    pub fn layer_norm(&self, device: &burn::tensor::Device) -> burn::nn::LayerNorm {
        burn::nn::LayerNormConfig::new(self.hidden_size).with_epsilon(self.layer_norm_eps).init(device)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of labels of a classification head: from `id2label`, else HF's `num_labels`, else 2.
    pub fn num_labels(&self) -> usize {
        if let Some(map) = &self.id2label {
            return map.len();
        }
        self.extra.get("num_labels").and_then(Value::as_u64).map(|n| n as usize).unwrap_or(2)
    }

    /// Label names in id order (`LABEL_0`, ... when the config has none).
    pub fn label_names(&self) -> Vec<String> {
        let n = self.num_labels();
        (0..n).map(|i| self.id2label.as_ref().and_then(|m| m.get(&i.to_string()).cloned()).unwrap_or_else(|| format!("LABEL_{i}"))).collect()
    }

    /// Sets every dropout probability (hidden states, attention, classifier head) to `p`, as HF's
    /// `from_pretrained(..., hidden_dropout_prob=p, attention_probs_dropout_prob=p)` does.
    pub fn set_dropout(&mut self, p: f64) {
        self.hidden_dropout_prob = p;
        self.attention_probs_dropout_prob = p;
        if self.classifier_dropout.is_some() {
            self.classifier_dropout = Some(p);
        }
    }

    /// Sets the classification labels, in HF's `id2label` / `label2id` form.
    pub fn set_labels(&mut self, names: &[String]) {
        self.id2label = Some(names.iter().enumerate().map(|(i, n)| (i.to_string(), n.clone())).collect());
        let label2id: Map<String, Value> = names.iter().enumerate().map(|(i, n)| (n.clone(), Value::from(i))).collect();
        self.extra.insert("label2id".into(), Value::Object(label2id));
        self.extra.remove("num_labels");
    }

    /// Dropout before the classifier, as HF resolves it.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    // Building a model from its config (burn's `XConfig::init(&device)`).

    /// A randomly initialised model with this config's plan (`ffn_layers`).
    pub fn init(&self, device: &Device) -> BertModel {
        self.init_with_plan(&self.plan(), device)
    }

    /// A randomly initialised model with the given plan. Parameters are lazy: loading a
    /// checkpoint over them never materialises the random values.
    pub fn init_with_plan(&self, plan: &FfnPlan, device: &Device) -> BertModel {
        BertModel { embeddings: BertEmbeddings::new(self, device), encoder: BertEncoder::new(self, plan, device), pooler: BertPooler::new(self, device) }
    }

    /// A randomly initialised classifier with `num_labels()` outputs and the given plan.
    pub fn init_classifier(&self, plan: &FfnPlan, device: &Device) -> BertForSequenceClassification {
        BertForSequenceClassification {
            bert: self.init_with_plan(plan, device),
            dropout: DropoutConfig::new(self.classifier_dropout_prob()).init(),
            classifier: LinearConfig::new(self.hidden_size, self.num_labels()).init(device),
        }
    }
}
