//! Per-layer sentence representations of a model — the embeddings output and every layer's
//! output, pooled to one vector per sentence — for CKA and probes.

use burn::tensor::{Device, Tensor};

use crate::data::Prepared;
use crate::model::{BertModel, ForwardConfig};
use crate::train::batches::eval_batches;

/// How a sentence's token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The [CLS] token's state.
    Cls,
    /// The mean over the real (unpadded) tokens.
    Mean,
}

/// `L + 1` tensors `[n, hidden]`: the embeddings output, then each layer's output, for the rows
/// of `data` in a fixed order (the same for any model given the same rows).
pub fn layer_representations(model: &BertModel, data: &Prepared, pad_id: u32, batch_size: usize, pooling: Pooling, device: &Device) -> Vec<Tensor<2>> {
    let mut per_layer: Vec<Vec<Tensor<2>>> = Vec::new();
    for indices in eval_batches(&data.lengths(), batch_size) {
        let input = data.batch(&indices, pad_id).to_input(device);
        let mask = input.attention_mask.clone().float().unsqueeze_dim::<3>(2); // [b, s, 1]
        let out = model.forward(input, ForwardConfig { hidden_states: true, attentions: false });
        let states = out.hidden_states.expect("requested");
        if per_layer.is_empty() {
            per_layer = vec![Vec::new(); states.len()];
        }
        for (layer, h) in states.into_iter().enumerate() {
            let [b, _, d] = h.dims();
            let pooled = match pooling {
                Pooling::Cls => h.narrow(1, 0, 1).reshape([b, d]),
                Pooling::Mean => ((h * mask.clone()).sum_dim(1) / mask.clone().sum_dim(1)).reshape([b, d]),
            };
            per_layer[layer].push(pooled);
        }
    }
    per_layer.into_iter().map(|parts| Tensor::cat(parts, 0)).collect()
}
