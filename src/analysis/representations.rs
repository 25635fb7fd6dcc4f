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

/// One vector per sentence from token states `h` `[b, s, d]` and the attention mask as floats
/// `[b, s, 1]` (1 for a real token): what CKA, the probes and the page's sentence similarity
/// compare.
pub fn pool(h: Tensor<3>, mask: Tensor<3>, pooling: Pooling) -> Tensor<2> {
    let [b, _, d] = h.dims();
    match pooling {
        Pooling::Cls => h.narrow(1, 0, 1).reshape([b, d]),
        Pooling::Mean => ((h * mask.clone()).sum_dim(1) / mask.sum_dim(1)).reshape([b, d]),
    }
}

/// Cosine similarity of two vectors (0 for a zero vector): sentence similarity
/// (sentence-transformers' score) and how far a reduced model's [CLS] moved from the full one's.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |z: &[f32]| z.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
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
            per_layer[layer].push(pool(h, mask.clone(), pooling));
        }
    }
    per_layer.into_iter().map(|parts| Tensor::cat(parts, 0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_opposite_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-3.0, 0.0]) + 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 5.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
