//! One AdamW update of a parameter, in one pass.

/// The scalars of one AdamW step for one parameter (Loshchilov & Hutter, decoupled weight
/// decay; burn's `AdamW` without AMSGrad), computed once per parameter by the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// `1 − lr·λ`: the weight decay.
    pub keep: f32,
    pub lr: f32,
    /// `1 − β₁ᵗ` and `1 − β₂ᵗ`: the bias corrections at step `t`.
    pub correction_1: f32,
    pub correction_2: f32,
}

/// Updates `p` and its moments `m`, `v` in place from the gradient `g`:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p(1 − lr·λ) − lr·(m/c₁)/(√(v/c₂) + ε)`,
/// each operation in the order burn's tensor AdamW applies it, so the results are the same.
///
/// # Panics
/// When the four slices differ in length.
pub fn adamw_update(step: &AdamWStep, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    assert!(g.len() == p.len() && m.len() == p.len() && v.len() == p.len(), "AdamW: parameter, gradient and moments differ in length");
    let (f1, f2) = (1.0 - step.beta_1, 1.0 - step.beta_2);
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = *m * step.beta_1 + g * f1;
        *v = *v * step.beta_2 + g * g * f2;
        let delta = (*m / step.correction_1) / ((*v / step.correction_2).sqrt() + step.epsilon);
        *p = *p * step.keep - delta * step.lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // t = 1 from zero moments: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², delta = g / (|g| + ε).
        let step = AdamWStep { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, keep: 1.0 - 0.1 * 0.01, lr: 0.1, correction_1: 0.1, correction_2: 0.001 };
        let (mut p, g, mut m, mut v) = (vec![1.0f32, -2.0], vec![0.5f32, -4.0], vec![0.0f32; 2], vec![0.0f32; 2]);
        adamw_update(&step, &mut p, &g, &mut m, &mut v);
        let want = [1.0 * 0.999 - 0.1, -2.0 * 0.999 + 0.1];
        for (got, want) in p.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // (1 − β₂ is 0.00099999 in f32.)
        assert!((m[1] + 0.4).abs() < 1e-6 && (v[1] - 0.016).abs() < 1e-6, "moments {m:?} {v:?}");
    }
}
