//! Distillation losses for healing a reduced model against the full one (layer-to-layer hidden
//! states, attention distributions) and for task distillation (soft targets).

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

/// Guards `log` against the exact zeros that masked attention produces.
const EPS: f64 = 1e-12;

/// Mean squared error between student and teacher hidden states `[batch, seq, hidden]`, over
/// the real (unpadded) tokens of `mask` `[batch, seq]` and every hidden unit.
pub fn hidden_mse(student: Tensor<3>, teacher: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<1> {
    let [batch, seq, hidden] = student.dims();
    let m = mask.float().reshape([batch, seq, 1]);
    let sq = (student - teacher).square() * m.clone();
    sq.sum() / (m.sum() * hidden as f64)
}

/// KL(teacher ‖ student) between attention distributions `[batch, heads, seq_q, seq_k]`, summed
/// over keys and averaged over heads and the real query positions of `mask` `[batch, seq]`.
pub fn attention_kl(student: Tensor<4>, teacher: Tensor<4>, mask: Tensor<2, Int>) -> Tensor<1> {
    let [batch, heads, seq, _] = student.dims();
    let per_row = (teacher.clone() * ((teacher + EPS).log() - (student + EPS).log())).sum_dim(3); // [b, h, s, 1]
    let m = mask.float().reshape([batch, 1, seq, 1]);
    (per_row * m.clone()).sum() / (m.sum() * heads as f64)
}

/// Layer-to-layer distillation losses of one batch, still on the device.
pub struct LayerLosses {
    /// Hidden-state MSE averaged over the layer outputs 1..=L.
    pub hidden: Tensor<1>,
    /// Attention KL averaged over the layers.
    pub attention: Tensor<1>,
}

/// Every layer's hidden state and attention distribution from one forward pass.
pub struct LayerTrace {
    pub hidden_states: Vec<Tensor<3>>,
    pub attentions: Vec<Tensor<4>>,
}

impl LayerTrace {
    /// From a forward pass's optional outputs; panics when the pass was not asked for them
    /// (`ForwardConfig`), which is a bug of the caller, not bad input.
    pub fn new(hidden_states: Option<Vec<Tensor<3>>>, attentions: Option<Vec<Tensor<4>>>) -> Self {
        Self { hidden_states: hidden_states.expect("hidden states requested"), attentions: attentions.expect("attentions requested") }
    }
}

/// Hidden-state MSE over the layer outputs 1..=L (the embeddings output is skipped: it has no
/// intermediate block to make up for) and attention KL over every layer, each averaged over
/// layers. Student and teacher must have the same depth; `mask` is `[batch, seq]`.
pub fn layer_losses(student: LayerTrace, teacher: LayerTrace, mask: Tensor<2, Int>) -> LayerLosses {
    let layers = student.attentions.len() as f64;
    let hidden = student
        .hidden_states
        .into_iter()
        .zip(teacher.hidden_states)
        .skip(1)
        .map(|(s, t)| hidden_mse(s, t, mask.clone()))
        .reduce(|a, b| a + b)
        .expect("at least one layer")
        / layers;
    let attention =
        student.attentions.into_iter().zip(teacher.attentions).map(|(s, t)| attention_kl(s, t, mask.clone())).reduce(|a, b| a + b).expect("at least one layer")
            / layers;
    LayerLosses { hidden, attention }
}

/// Soft-target loss of task distillation (Hinton et al. 2015): `T² · KL(softmax(t/T) ‖
/// softmax(s/T))`, averaged over the batch. The `T²` keeps gradient sizes comparable across `T`.
pub fn soft_target_loss(student_logits: Tensor<2>, teacher_logits: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [batch, _] = student_logits.dims();
    let t = softmax(teacher_logits.div_scalar(temperature), 1);
    let log_s = log_softmax(student_logits.div_scalar(temperature), 1);
    let kl = (t.clone() * ((t + EPS).log() - log_s)).sum();
    kl.mul_scalar(temperature * temperature / batch as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn hidden_mse_by_hand() {
        let d = Device::flex();
        // batch 1, seq 2 (second token padded), hidden 2.
        let s = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 2.0, 9.0, 9.0], [1, 2, 2]), &d);
        let t = Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 4.0, 0.0, 0.0], [1, 2, 2]), &d);
        let mask = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &d);
        // ((1-0)² + (2-4)²) / 2 = 2.5; the padded token does not count.
        assert!((scalar(hidden_mse(s, t, mask)) - 2.5).abs() < 1e-6);
    }

    #[test]
    fn attention_kl_by_hand() {
        let d = Device::flex();
        // batch 1, 1 head, 2 queries (both real), 2 keys.
        let t = Tensor::<4>::from_data(TensorData::new(vec![0.5f32, 0.5, 1.0, 0.0], [1, 1, 2, 2]), &d);
        let s = Tensor::<4>::from_data(TensorData::new(vec![0.25f32, 0.75, 1.0, 0.0], [1, 1, 2, 2]), &d);
        let mask = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1], [1, 2]), &d);
        // Row 0: 0.5·ln(0.5/0.25) + 0.5·ln(0.5/0.75) = 0.5·ln 2 + 0.5·ln(2/3); row 1: 0.
        let want = (0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln()) / 2.0;
        assert!((scalar(attention_kl(s.clone(), t.clone(), mask)) - want).abs() < 1e-6);
        let same = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1], [1, 2]), &d);
        assert!(scalar(attention_kl(t.clone(), t, same)).abs() < 1e-9);
    }

    #[test]
    fn soft_targets_by_hand() {
        let d = Device::flex();
        let s = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0], [1, 2]), &d);
        let t = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 0.0], [1, 2]), &d);
        // T = 2: p = softmax([1, 0]) = [e/(e+1), 1/(e+1)], q = [0.5, 0.5]; loss = 4·Σ p ln(p/q).
        let e = 1f64.exp();
        let p = [e / (e + 1.0), 1.0 / (e + 1.0)];
        let want = 4.0 * p.iter().map(|pi| pi * (pi / 0.5).ln()).sum::<f64>();
        assert!((scalar(soft_target_loss(s, t, 2.0)) - want).abs() < 1e-5);
    }
}
