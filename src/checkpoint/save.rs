//! Writing models as HF safetensors (HF names and `[out, in]` linear layout).

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::Tensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::load::transpose;
use super::names::{Slot, bert_slots, classifier_slots, hf_name};
use crate::error::CheckpointError;
use crate::model::{BertForSequenceClassification, BertModel};

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
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
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

/// The classifier's weights with HF `BertForSequenceClassification` names (`bert.*`, `classifier.*`).
pub async fn classifier_to_safetensors(model: &BertForSequenceClassification) -> Result<Vec<u8>, CheckpointError> {
    let mut model = model.clone();
    serialize(collect(classifier_slots(&mut model), true).await?)
}
