//! HF tensor names of every parameter of our modules, in one place for loading and saving.

use burn::module::{Param, ParamId};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::Tensor;

use crate::model::{BertForSequenceClassification, BertModel, BertOnlyMLMHead};

/// A parameterised leaf module and the HF name prefix of its tensors.
pub(crate) enum Slot<'a> {
    /// `{prefix}.weight` `[out, in]` (HF/PyTorch layout; burn stores `[in, out]`) and `{prefix}.bias` `[out]`.
    Linear(&'a mut Linear),
    /// `{prefix}.weight` and `{prefix}.bias` `[hidden]` (old checkpoints: `gamma` / `beta`).
    LayerNorm(&'a mut LayerNorm),
    /// `{prefix}.weight` `[n, hidden]`.
    Embedding(&'a mut Embedding),
}

/// Every leaf of a `BertModel`, with HF `BertModel` names (no `bert.` prefix).
pub(crate) fn bert_slots(model: &mut BertModel) -> Vec<(String, Slot<'_>)> {
    let mut slots = Vec::new();
    let e = &mut model.embeddings;
    slots.push(("embeddings.word_embeddings".into(), Slot::Embedding(&mut e.word_embeddings)));
    slots.push(("embeddings.position_embeddings".into(), Slot::Embedding(&mut e.position_embeddings)));
    slots.push(("embeddings.token_type_embeddings".into(), Slot::Embedding(&mut e.token_type_embeddings)));
    slots.push(("embeddings.LayerNorm".into(), Slot::LayerNorm(&mut e.layer_norm)));
    for (i, layer) in model.encoder.layers.iter_mut().enumerate() {
        let p = format!("encoder.layer.{i}");
        let a = &mut layer.attention;
        slots.push((format!("{p}.attention.self.query"), Slot::Linear(&mut a.query)));
        slots.push((format!("{p}.attention.self.key"), Slot::Linear(&mut a.key)));
        slots.push((format!("{p}.attention.self.value"), Slot::Linear(&mut a.value)));
        slots.push((format!("{p}.attention.output.dense"), Slot::Linear(&mut a.output_dense)));
        slots.push((format!("{p}.attention.output.LayerNorm"), Slot::LayerNorm(&mut a.output_layer_norm)));
        if let Some(block) = layer.intermediate.as_mut() {
            slots.push((format!("{p}.intermediate.dense"), Slot::Linear(&mut block.intermediate_dense)));
            slots.push((format!("{p}.output.dense"), Slot::Linear(&mut block.output_dense)));
            slots.push((format!("{p}.output.LayerNorm"), Slot::LayerNorm(&mut block.output_layer_norm)));
        }
        if let Some(norm) = layer.output_layer_norm.as_mut() {
            slots.push((format!("{p}.output.LayerNorm"), Slot::LayerNorm(norm)));
        }
    }
    slots.push(("pooler.dense".into(), Slot::Linear(&mut model.pooler.dense)));
    slots
}

/// Every leaf of a classifier, named as in [`bert_slots`] plus `classifier`. On disk HF's
/// `BertForSequenceClassification` adds a `bert.` prefix to the encoder's names ([`hf_name`]).
pub(crate) fn classifier_slots(model: &mut BertForSequenceClassification) -> Vec<(String, Slot<'_>)> {
    let mut slots = bert_slots(&mut model.bert);
    slots.push(("classifier".into(), Slot::Linear(&mut model.classifier)));
    slots
}

/// HF `cls.predictions.*` names of the masked-LM head (its decoder is the tied word embeddings;
/// its `bias` is a bare parameter, [`MLM_BIAS`]).
pub(crate) fn mlm_slots(head: &mut BertOnlyMLMHead) -> Vec<(String, Slot<'_>)> {
    vec![
        ("cls.predictions.transform.dense".into(), Slot::Linear(&mut head.transform_dense)),
        ("cls.predictions.transform.LayerNorm".into(), Slot::LayerNorm(&mut head.transform_layer_norm)),
    ]
}

/// The masked-LM head's output bias.
pub(crate) const MLM_BIAS: &str = "cls.predictions.bias";

/// Every tensor a masked-LM head needs, as HF names them.
pub const MLM_TENSORS: [&str; 5] = [
    "cls.predictions.transform.dense.weight",
    "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight",
    "cls.predictions.transform.LayerNorm.bias",
    MLM_BIAS,
];

/// Ids and ranks of the masked-LM head's parameters (decay on its dense weight only).
pub fn mlm_param_ids(head: &BertOnlyMLMHead) -> Vec<(ParamId, usize, bool)> {
    let mut head = head.clone();
    let bias = head.bias.id;
    let mut ids = slot_param_ids(mlm_slots(&mut head));
    ids.push((bias, 1, false));
    ids
}

/// Our canonical name of a tensor found on disk: without the `bert.` prefix, and with the old
/// TensorFlow-era `LayerNorm.gamma` / `LayerNorm.beta` spelled `weight` / `bias`.
pub(crate) fn canonical_name(name: &str) -> String {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    match name.rsplit_once('.') {
        Some((head, "gamma")) if head.ends_with("LayerNorm") => format!("{head}.weight"),
        Some((head, "beta")) if head.ends_with("LayerNorm") => format!("{head}.bias"),
        _ => name.to_string(),
    }
}

/// The name HF uses on disk for a canonical name: classifiers nest the encoder under `bert.`.
pub(crate) fn hf_name(canonical: &str, classifier: bool) -> String {
    if classifier && !canonical.starts_with("classifier.") { format!("bert.{canonical}") } else { canonical.to_string() }
}

/// If `name` (without `bert.` prefix) belongs to layer `i`'s intermediate block, returns `i`.
pub(crate) fn intermediate_layer_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("encoder.layer.")?;
    let (index, tail) = rest.split_once('.')?;
    let i = index.parse().ok()?;
    (tail.starts_with("intermediate.") || tail.starts_with("output.")).then_some(i)
}

/// Tensors that HF checkpoints carry but a `BertModel` has no use for: pre-training heads
/// (`cls.*`), the integer `position_ids` buffer, and (for a bare encoder) a classifier head.
pub(crate) fn is_ignorable(name: &str, model_has_classifier: bool) -> bool {
    name.starts_with("cls.") || name.ends_with("embeddings.position_ids") || (!model_has_classifier && name.starts_with("classifier."))
}

/// A parameter id derived from the tensor's canonical name (FNV-1a), so that the same weight
/// has the same id in every process: optimizer state saved by one run resumes in the next.
pub(crate) fn stable_id(name: &str) -> ParamId {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    ParamId::from(hash)
}

/// The same parameter under its stable id (value and training state unchanged).
pub(crate) fn with_stable_id<const D: usize>(param: Param<Tensor<D>>, name: &str) -> Param<Tensor<D>> {
    let (_, value, mapper) = param.consume();
    Param::from_mapped_value(stable_id(name), value, mapper)
}

/// Gives a (new, randomly initialised) linear layer the stable ids of `{prefix}.weight/bias`.
pub(crate) fn relabel_linear(linear: &mut Linear, prefix: &str) {
    let device = linear.weight.lazy_device();
    let weight = std::mem::replace(&mut linear.weight, Param::from_tensor(Tensor::zeros([1, 1], &device)));
    linear.weight = with_stable_id(weight, &format!("{prefix}.weight"));
    if let Some(bias) = linear.bias.take() {
        linear.bias = Some(with_stable_id(bias, &format!("{prefix}.bias")));
    }
}

/// Ids and ranks of every parameter of a classifier, and whether weight decay applies to it
/// (not to biases and LayerNorm parameters, as in BERT's original optimizer).
pub fn classifier_param_ids(model: &BertForSequenceClassification) -> Vec<(ParamId, usize, bool)> {
    let mut model = model.clone();
    slot_param_ids(classifier_slots(&mut model))
}

/// The same for a bare encoder.
pub fn bert_param_ids(model: &BertModel) -> Vec<(ParamId, usize, bool)> {
    let mut model = model.clone();
    slot_param_ids(bert_slots(&mut model))
}

fn slot_param_ids(slots: Vec<(String, Slot<'_>)>) -> Vec<(ParamId, usize, bool)> {
    let mut out = Vec::new();
    for (_, slot) in slots {
        match slot {
            Slot::Linear(l) => {
                out.push((l.weight.id, 2, true));
                if let Some(b) = &l.bias {
                    out.push((b.id, 1, false));
                }
            }
            Slot::LayerNorm(n) => {
                out.push((n.gamma.id, 1, false));
                if let Some(b) = &n.beta {
                    out.push((b.id, 1, false));
                }
            }
            Slot::Embedding(e) => out.push((e.weight.id, 2, true)),
        }
    }
    out
}
