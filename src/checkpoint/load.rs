//! Loading HF safetensors into a [`BertModel`] or a classifier, strictly.
//!
//! Every parameter the model has must be in the file with the right shape; every tensor in the
//! file must have a place in the model, except the ones HF checkpoints carry for other heads
//! (`cls.*`, `position_ids`) and the intermediate blocks that the requested plan removes — those
//! are dropped, which is how a reduced model is made from a pre-trained one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::names::{
    MLM_BIAS, MLM_TENSORS, Slot, bert_slots, canonical_name, classifier_slots, intermediate_layer_of, is_ignorable, mlm_slots, relabel_linear, with_stable_id,
};
use crate::error::CheckpointError;
use crate::model::{BertConfig, BertForSequenceClassification, BertModel, BertOnlyMLMHead, FfnPlan};

/// The largest weight magnitude accepted: trained BERT weights stay within the hundreds; finite
/// values near `f32::MAX` load, then overflow every output to NaN.
const MAX_WEIGHT: f32 = 1e6;

/// What loading did besides filling the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Number of tensors loaded into the model.
    pub loaded: usize,
    /// Intermediate-block tensors of layers the plan removes (HF names).
    pub dropped: Vec<String>,
    /// Tensors of heads this model does not have (`cls.*`, `position_ids`, ...).
    pub ignored: Vec<String>,
    /// The classification head was not in the file and starts from random weights.
    pub new_head: bool,
}

/// The tensors of one safetensors file, by canonical name.
struct TensorTable<'a> {
    path: PathBuf,
    tensors: BTreeMap<String, (String, safetensors::tensor::TensorView<'a>)>,
}

impl<'a> TensorTable<'a> {
    fn parse(bytes: &'a [u8], path: &Path) -> Result<Self, CheckpointError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut tensors: BTreeMap<String, (String, safetensors::tensor::TensorView<'a>)> = BTreeMap::new();
        for (name, view) in st.tensors() {
            let canonical = canonical_name(&name);
            // `bert.X` and `X`, or `LayerNorm.gamma` and `LayerNorm.weight`, name one parameter:
            // two of them would load one or the other, by chance.
            if let Some((other, _)) = tensors.get(&canonical) {
                let (a, b) = if *other < name { (other.clone(), name.clone()) } else { (name.clone(), other.clone()) };
                return Err(CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("tensors `{a}` and `{b}` are the same parameter (`{canonical}`); a checkpoint holds one tensor per parameter"),
                });
            }
            tensors.insert(canonical, (name, view));
        }
        Ok(Self { path: path.to_path_buf(), tensors })
    }

    /// Removes `name` from the table as f32 values, checking its shape against `expected`.
    fn take(&mut self, name: &str, expected: &[usize], hint: impl FnOnce() -> String) -> Result<Vec<f32>, CheckpointError> {
        let path = self.path.clone();
        let Some((original, view)) = self.tensors.remove(name) else {
            return Err(CheckpointError::Missing { path, name: name.into(), expected: expected.to_vec(), hint: hint() });
        };
        if view.shape() != expected {
            return Err(CheckpointError::Shape { path, name: original, expected: expected.to_vec(), found: view.shape().to_vec() });
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F64 => data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
            other => return Err(CheckpointError::Dtype { path, name: original, dtype: format!("{other:?}") }),
        };
        if let Some(bad) = values.iter().find(|v| !v.is_finite() || v.abs() > MAX_WEIGHT) {
            let what = if bad.is_nan() {
                "NaN"
            } else if bad.is_infinite() {
                "infinite"
            } else {
                "implausibly large (|x| > 1e6, which no trained BERT has; the outputs would overflow to NaN)"
            };
            return Err(CheckpointError::NonFinite { path, name: original, what });
        }
        Ok(values)
    }

    fn contains_prefix(&self, prefix: &str) -> bool {
        self.tensors.range(prefix.to_string()..).next().is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// Removes the tensors whose canonical name starts with `prefix`; returns their file names.
    fn remove_prefix(&mut self, prefix: &str) -> Vec<String> {
        let names: Vec<String> = self.tensors.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        names.iter().filter_map(|k| self.tensors.remove(k)).map(|(original, _)| original).collect()
    }
}

/// A trainable parameter holding `data`, under the stable id of `name`.
fn param<const D: usize>(name: &str, data: TensorData, device: &Device) -> Param<burn::tensor::Tensor<D>> {
    with_stable_id(Param::from_data(data, device), name)
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major (HF `[out, in]` → burn `[in, out]`).
pub(crate) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

fn fill_slots(table: &mut TensorTable<'_>, slots: Vec<(String, Slot<'_>)>, checkpoint_plan: &FfnPlan, device: &Device) -> Result<usize, CheckpointError> {
    let mut loaded = 0;
    for (prefix, slot) in slots {
        let hint = || match intermediate_layer_of(&prefix) {
            Some(layer) if prefix.ends_with("output.LayerNorm") && !checkpoint_plan.has_output_norm(layer) => format!(
                " — this checkpoint removed layer {layer}'s intermediate block with its LayerNorm (its plan is `{checkpoint_plan}`), so a `+norm` plan cannot be loaded from it; load it without `+norm`, or cut from a checkpoint that has the block"
            ),
            Some(layer) if !checkpoint_plan.keeps(layer) => format!(
                " — this checkpoint has no intermediate block in layer {layer} (its config.json keeps them in layers `{checkpoint_plan}`); a plan can remove blocks, not add them"
            ),
            _ => String::new(),
        };
        match slot {
            Slot::Linear(linear) => {
                let [d_in, d_out] = linear.weight.lazy_shape().dims();
                let w = table.take(&format!("{prefix}.weight"), &[d_out, d_in], hint)?;
                linear.weight = param(&format!("{prefix}.weight"), TensorData::new(transpose(&w, d_out, d_in), [d_in, d_out]), device);
                loaded += 1;
                if linear.bias.is_some() {
                    let b = table.take(&format!("{prefix}.bias"), &[d_out], hint)?;
                    linear.bias = Some(param(&format!("{prefix}.bias"), TensorData::new(b, [d_out]), device));
                    loaded += 1;
                }
            }
            Slot::LayerNorm(norm) => {
                let [d] = norm.gamma.lazy_shape().dims();
                let g = table.take(&format!("{prefix}.weight"), &[d], hint)?;
                norm.gamma = param(&format!("{prefix}.weight"), TensorData::new(g, [d]), device);
                let b = table.take(&format!("{prefix}.bias"), &[d], hint)?;
                norm.beta = Some(param(&format!("{prefix}.bias"), TensorData::new(b, [d]), device));
                loaded += 2;
            }
            Slot::Embedding(embedding) => {
                let [n, d] = embedding.weight.lazy_shape().dims();
                let w = table.take(&format!("{prefix}.weight"), &[n, d], hint)?;
                embedding.weight = param(&format!("{prefix}.weight"), TensorData::new(w, [n, d]), device);
                loaded += 1;
            }
        }
    }
    Ok(loaded)
}

/// Sorts what is left in the table into dropped / ignored, or fails on the first unexpected tensor.
fn finish(table: TensorTable<'_>, plan: &FfnPlan, has_classifier: bool, report: &mut LoadReport) -> Result<(), CheckpointError> {
    for (name, (original, view)) in table.tensors {
        if is_ignorable(&name, has_classifier) {
            report.ignored.push(original);
        } else if intermediate_layer_of(&name).is_some_and(|l| l < plan.num_layers() && !plan.keeps(l)) {
            report.dropped.push(original);
        } else {
            let hint = if name.starts_with("encoder.layer.") { format!(" (the model has {} layers)", plan.num_layers()) } else { String::new() };
            return Err(CheckpointError::Unexpected { path: table.path, name: original, found: view.shape().to_vec(), hint });
        }
    }
    Ok(())
}

/// Loads BERT's masked-LM head (`cls.predictions.*`) from safetensors bytes of a checkpoint whose
/// architecture is `config`; a file without it is refused naming every missing tensor.
pub fn load_mlm_head(bytes: &[u8], path: &Path, config: &BertConfig, device: &Device) -> Result<BertOnlyMLMHead, CheckpointError> {
    let mut table = TensorTable::parse(bytes, path)?;
    let missing: Vec<&str> = MLM_TENSORS.iter().copied().filter(|n| !table.tensors.contains_key(*n)).collect();
    if !missing.is_empty() {
        return Err(CheckpointError::NoMlmHead { path: path.to_path_buf(), missing: missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ") });
    }
    let mut head = BertOnlyMLMHead::new(config, device);
    fill_slots(&mut table, mlm_slots(&mut head), &config.plan(), device)?;
    let bias = table.take(MLM_BIAS, &[config.vocab_size], String::new)?;
    head.bias = param(MLM_BIAS, TensorData::new(bias, [config.vocab_size]), device);
    Ok(head)
}

/// Loads a `BertModel` with `plan` from safetensors bytes whose architecture is `config`.
///
/// `plan` must be a subset of the checkpoint's own plan (`config.ffn_layers`): blocks can be
/// removed at load time, not added. `path` only names the file in errors.
pub fn load_bert(bytes: &[u8], path: &Path, config: &BertConfig, plan: &FfnPlan, device: &Device) -> Result<(BertModel, LoadReport), CheckpointError> {
    let mut table = TensorTable::parse(bytes, path)?;
    let mut model = config.init_with_plan(plan, device);
    let mut report = LoadReport { loaded: fill_slots(&mut table, bert_slots(&mut model), &config.plan(), device)?, ..Default::default() };
    finish(table, plan, false, &mut report)?;
    Ok((model, report))
}

/// Loads a `BertForSequenceClassification` with `plan`. A checkpoint without a `classifier`
/// head (a pre-trained encoder) gets a new, randomly initialised head with `config.num_labels()`
/// outputs, and `report.new_head` is set.
pub fn load_classifier(
    bytes: &[u8],
    path: &Path,
    config: &BertConfig,
    plan: &FfnPlan,
    device: &Device,
) -> Result<(BertForSequenceClassification, LoadReport), CheckpointError> {
    load_classifier_with(bytes, path, config, plan, device, true)
}

/// The classifier of `config` with the encoder of the file and a new, randomly initialised head:
/// any `classifier.*` tensors the file has (a head fine-tuned for another task) are left out and
/// listed in the report's `ignored`.
pub fn load_classifier_new_head(
    bytes: &[u8],
    path: &Path,
    config: &BertConfig,
    plan: &FfnPlan,
    device: &Device,
) -> Result<(BertForSequenceClassification, LoadReport), CheckpointError> {
    load_classifier_with(bytes, path, config, plan, device, false)
}

fn load_classifier_with(
    bytes: &[u8],
    path: &Path,
    config: &BertConfig,
    plan: &FfnPlan,
    device: &Device,
    keep_head: bool,
) -> Result<(BertForSequenceClassification, LoadReport), CheckpointError> {
    let mut table = TensorTable::parse(bytes, path)?;
    let left_out = if keep_head { Vec::new() } else { table.remove_prefix("classifier.") };
    let mut model = config.init_classifier(plan, device);
    let new_head = !table.contains_prefix("classifier.");
    let checkpoint_plan = config.plan();
    let loaded = if new_head {
        relabel_linear(&mut model.classifier, "classifier");
        fill_slots(&mut table, bert_slots(&mut model.bert), &checkpoint_plan, device)?
    } else {
        fill_slots(&mut table, classifier_slots(&mut model), &checkpoint_plan, device)?
    };
    let mut report = LoadReport { loaded, new_head, ignored: left_out, ..Default::default() };
    finish(table, plan, true, &mut report)?;
    Ok((model, report))
}
