//! Parameter and FLOP counts computed from a config and a plan alone (no weights needed).

use serde::Serialize;

use super::{BertConfig, FfnPlan};

/// Parameters of one encoder layer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerStats {
    pub layer: usize,
    pub attention_params: usize,
    /// 0 when the plan removes this layer's intermediate block (its `output.LayerNorm`'s
    /// 2 × hidden when a `+norm` plan keeps that).
    pub intermediate_params: usize,
    pub has_intermediate: bool,
    /// Multiply-add FLOPs per token (2 per MAC) of the attention block at the given sequence length.
    pub attention_flops_per_token: u64,
    pub intermediate_flops_per_token: u64,
}

/// Parameters in total and by component, and FLOPs per token at one sequence length.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelStats {
    pub plan: String,
    pub seq_len: usize,
    pub embeddings_params: usize,
    pub layers: Vec<LayerStats>,
    pub pooler_params: usize,
    /// Parameters of `BertModel` (embeddings + encoder + pooler).
    pub total_params: usize,
    /// `total_params` as f32 bytes.
    pub weight_bytes: usize,
    /// Encoder FLOPs per token at `seq_len` (matrix products; LayerNorm, softmax and GELU are
    /// a few FLOPs per element and left out), plus the pooler's share (`2·H²` per sequence / `seq_len`).
    pub flops_per_token: u64,
}

impl ModelStats {
    pub fn new(config: &BertConfig, plan: &FfnPlan, seq_len: usize) -> Self {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let linear = |d_in: usize, d_out: usize| d_in * d_out + d_out;
        let layer_norm = 2 * h;
        let embeddings_params = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h + layer_norm;
        let attention_params = 4 * linear(h, h) + layer_norm;
        let intermediate_params = linear(h, i) + linear(i, h) + layer_norm;
        let (h64, i64, l64) = (h as u64, i as u64, seq_len as u64);
        // Q, K, V and output projections, then scores (q·k over `seq` keys) and the weighted sum of values.
        let attention_flops = 2 * 4 * h64 * h64 + 2 * 2 * l64 * h64;
        let intermediate_flops = 2 * 2 * h64 * i64;

        let layers: Vec<LayerStats> = (0..config.num_hidden_layers)
            .map(|layer| {
                let keep = plan.keeps(layer);
                LayerStats {
                    layer,
                    attention_params,
                    intermediate_params: if keep {
                        intermediate_params
                    } else if plan.has_output_norm(layer) {
                        layer_norm
                    } else {
                        0
                    },
                    has_intermediate: keep,
                    attention_flops_per_token: attention_flops,
                    intermediate_flops_per_token: if keep { intermediate_flops } else { 0 },
                }
            })
            .collect();
        let pooler_params = linear(h, h);
        let total_params = embeddings_params + layers.iter().map(|l| l.attention_params + l.intermediate_params).sum::<usize>() + pooler_params;
        let encoder_flops: u64 = layers.iter().map(|l| l.attention_flops_per_token + l.intermediate_flops_per_token).sum();
        let pooler_flops = 2 * h64 * h64 / l64.max(1);
        Self {
            plan: plan.to_string(),
            seq_len,
            embeddings_params,
            layers,
            pooler_params,
            total_params,
            weight_bytes: total_params * 4,
            flops_per_token: encoder_flops + pooler_flops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_base_counts_match_hf() {
        let config = BertConfig::bert_base();
        let full = ModelStats::new(&config, &FfnPlan::all(12), 128);
        assert_eq!(full.total_params, 109_482_240);
        let none = ModelStats::new(&config, &FfnPlan::none(12), 128);
        assert_eq!(none.total_params, 52_794_624);
        // The intermediate block is about two thirds of a layer.
        let l = &full.layers[0];
        let share = l.intermediate_params as f64 / (l.attention_params + l.intermediate_params) as f64;
        assert!((share - 2.0 / 3.0).abs() < 0.01, "{share}");
        // `+norm` keeps 2 × 768 LayerNorm weights in each of the 12 layers, and no FLOPs.
        let none_norm = ModelStats::new(&config, &FfnPlan::none(12).with_norm(true), 128);
        assert_eq!(none_norm.total_params, 52_794_624 + 12 * 2 * 768);
        assert_eq!(none_norm.flops_per_token, none.flops_per_token);
    }
}
