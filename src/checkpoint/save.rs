//! Writing models as HF safetensors (HF names and `[out, in]` linear layout).

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::Tensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::load::transpose;
use super::names::{MLM_BIAS, Slot, bert_slots, classifier_slots, hf_name, mlm_slots};
use crate::error::CheckpointError;
use crate::model::{BertForSequenceClassification, BertModel, BertOnlyMLMHead};

/// One tensor to write: HF name, shape, f32 values.
type Named = (String, Vec<usize>, Vec<f32>);

async fn values<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, CheckpointError> {
    let data = param.val().into_data_async().await.map_err(|e| CheckpointError::Readback(format!("{e:?}")))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| CheckpointError::Readback(format!("{e:?}")))
}

async fn collect(slots: Vec<(String, Slot<'_>)>, classifier: bool) -> Result<Vec<Named>, CheckpointError> {
    let mut out = Vec::new();
    for (prefix, slot) in slots {
        let name = |leaf: &str| hf_name(&format!("{prefix}.{leaf}"), classifier);
        match slot {
            Slot::Linear(linear) => {
                let [d_in, d_out] = linear.weight.dims();
                let w = values(&linear.weight).await?;
                out.push((name("weight"), vec![d_out, d_in], transpose(&w, d_in, d_out)));
                if let Some(bias) = &linear.bias {
                    out.push((name("bias"), vec![d_out], values(bias).await?));
                }
            }
            Slot::LayerNorm(norm) => {
                let [d] = norm.gamma.dims();
                out.push((name("weight"), vec![d], values(&norm.gamma).await?));
                if let Some(beta) = &norm.beta {
                    out.push((name("bias"), vec![d], values(beta).await?));
                }
            }
            Slot::Embedding(embedding) => {
                let dims = embedding.weight.dims().to_vec();
                out.push((name("weight"), dims, values(&embedding.weight).await?));
            }
        }
    }
    Ok(out)
}

fn serialize(tensors: Vec<Named>) -> Result<Vec<u8>, CheckpointError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors.into_iter().map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CheckpointError::Readback(e.to_string()))?;
    // `format: pt` is what HF transformers looks for in the metadata of a PyTorch safetensors file.
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(views, metadata).map_err(|e| CheckpointError::Readback(e.to_string()))
}

/// The model's weights as a safetensors file with HF `BertModel` names.
pub async fn bert_to_safetensors(model: &BertModel) -> Result<Vec<u8>, CheckpointError> {
    let mut model = model.clone();
    serialize(collect(bert_slots(&mut model), false).await?)
}

/// The encoder with its masked-LM head, as HF `BertForMaskedLM` writes them (`bert.*`,
/// `cls.predictions.*`; the decoder is the tied word embeddings and is not written twice). A
/// `BertModel` loads from it (the head is ignored); pre-training loads the head too.
pub async fn bert_mlm_to_safetensors(model: &BertModel, head: &BertOnlyMLMHead) -> Result<Vec<u8>, CheckpointError> {
    let (mut model, mut head) = (model.clone(), head.clone());
    let mut tensors: Vec<Named> = collect(bert_slots(&mut model), false).await?.into_iter().map(|(n, s, v)| (format!("bert.{n}"), s, v)).collect();
    tensors.extend(collect(mlm_slots(&mut head), false).await?);
    tensors.push((MLM_BIAS.to_string(), head.bias.dims().to_vec(), values(&head.bias).await?));
    serialize(tensors)
}

/// The classifier's weights with HF `BertForSequenceClassification` names (`bert.*`, `classifier.*`).
pub async fn classifier_to_safetensors(model: &BertForSequenceClassification) -> Result<Vec<u8>, CheckpointError> {
    let mut model = model.clone();
    serialize(collect(classifier_slots(&mut model), true).await?)
}

/// The largest finite f16.
const F16_MAX: f32 = 65504.0;

/// A safetensors file with every F32 tensor stored as F16 (names, shapes, order and metadata
/// kept): half the bytes to download, for the page. The loader widens F16 back to f32, so the
/// model computes as before on weights rounded to 11 significant bits. A value past f16's range
/// is refused by tensor name (it would become infinite). `path` names the file in errors.
pub fn to_f16(bytes: &[u8], path: &std::path::Path) -> Result<Vec<u8>, CheckpointError> {
    use safetensors::SafeTensors;
    let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|e| corrupt(e.to_string()))?;
        let (dtype, data) = match view.dtype() {
            Dtype::F32 => {
                let mut out = Vec::with_capacity(view.data().len() / 2);
                for b in view.data().chunks_exact(4) {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    if x.is_finite() && x.abs() > F16_MAX {
                        return Err(CheckpointError::NonFinite { path: path.to_path_buf(), name, what: "out of f16's range (|x| > 65504)" });
                    }
                    out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
                }
                (Dtype::F16, out)
            }
            other => (other, view.data().to_vec()),
        };
        tensors.push((name, dtype, view.shape().to_vec(), data));
    }
    let views = tensors
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(e.to_string()))?;
    let metadata = metadata.metadata().clone();
    safetensors::serialize(views, metadata).map_err(|e| corrupt(e.to_string()))
}
