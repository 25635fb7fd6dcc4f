//! The exact GELU as a straight line through each point, for training.
//!
//! Under autodiff, GELU written out as `x · ½(1 + erf(x/√2))` costs five element-wise passes
//! forward and about ten backward (erf's derivative alone is `exp`, a square and three products).
//! At each input the GELU equals the line `slope · x + offset`, with `slope` its derivative
//! there: a model that computes `x · slope + offset` with `slope` and `offset` held constant gets
//! the exact GELU forward and the exact derivative backward, from one product and one sum.

use std::f32::consts::{FRAC_1_SQRT_2, PI};

use crate::math::exp_nonpositive;

widest_vectors! {
    /// Replaces each `x[i]` with GELU's derivative there, `Φ(x) + x·φ(x)`, and writes `offset[i]`
    /// so that `x·slope + offset` is `GELU(x) = x·Φ(x)` (to rounding: `x·slope` is rounded as the
    /// caller's product will be, so the sum recovers `GELU(x)` within an ulp). Within 1e-6 of the
    /// exact values; the loop has no calls, so the compiler vectorises it.
    ///
    /// # Panics
    /// When the two slices differ in length.
    pub fn gelu_slope_offset(x_to_slope: &mut [f32], offset: &mut [f32]) {
        assert_eq!(x_to_slope.len(), offset.len(), "GELU: inputs and offsets differ in length");
        let inv_sqrt_2pi = 1.0 / (2.0 * PI).sqrt();
        for (v, offset) in x_to_slope.iter_mut().zip(offset.iter_mut()) {
            let x = *v;
            let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
            let pdf = exp_nonpositive(-0.5 * x * x) * inv_sqrt_2pi;
            let slope = cdf + x * pdf;
            *offset = x * cdf - x * slope;
            *v = slope;
        }
    }
}

widest_vectors! {
    /// Replaces each `x[i]` with `GELU(x) = x·Φ(x)`, for inference: the same erf as
    /// [`gelu_slope_offset`], in a loop without calls that the compiler vectorises. burn-flex's
    /// own GELU calls libm's `erff` per element: 20% of a full-model forward pass on the CPU.
    pub fn gelu_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            let x = *v;
            *v = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
        }
    }
}

/// erf by Eigen's rational approximation (`generic_fast_erf_float`: odd degree-13 numerator,
/// even degree-8 denominator on [−4, 4], where f32's erf reaches ±1): a few ulp, no calls.
/// libm's `erff`, which burn-flex calls per element, branches and calls `exp`: it was 7% of a
/// full-model training step.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    for c in [2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2] {
        p = p * x2 + c;
    }
    let mut q = -1.456_607_2e-5_f32;
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = q * x2 + c;
    }
    // Beyond ±3.95 the f32 erf is ±1 exactly (erfc < half an ulp of 1); the quotient is not.
    if x.abs() >= 3.95 { 1f32.copysign(x) } else { x * p / q }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_exp_are_within_a_few_ulp() {
        for i in -6000..=6000 {
            let x = i as f32 * 1e-3;
            let (got, want) = (erf(x) as f64, libm::erf(x as f64));
            assert!((got - want).abs() <= 4.0 * f32::EPSILON as f64 * want.abs().max(1e-3), "erf({x}) = {got}, expected {want}");
        }
        for i in 0..=8700 {
            let x = -(i as f32) * 1e-2;
            let (got, want) = (exp_nonpositive(x) as f64, (x as f64).exp());
            assert!((got - want).abs() <= 2.0 * f32::EPSILON as f64 * want + 1e-38, "exp({x}) = {got}, expected {want}");
        }
        // Below −87 (where f32's eˣ underflows): 0, never negative or NaN; a masked attention
        // score (−1e9) weighs nothing.
        for x in [-87.5f32, -200.0, -1e9, -1e30, f32::NEG_INFINITY] {
            assert_eq!(exp_nonpositive(x), 0.0, "exp({x})");
        }
        assert!(erf(3.95) == 1.0 && erf(9.0) == 1.0 && erf(-9.0) == -1.0 && erf(f32::INFINITY) == 1.0);
    }

    #[test]
    fn gelu_in_place_is_the_exact_gelu() {
        let xs: Vec<f32> = (-80..=80).map(|i| i as f32 * 0.1).chain([-30.0, -12.0, 12.0, 30.0, 0.0]).collect();
        let mut got = xs.clone();
        gelu_in_place(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            assert!((g as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "GELU({x}) = {g}, expected {want}");
        }
    }

    #[test]
    fn the_line_touches_the_gelu_with_its_slope() {
        let xs: Vec<f32> = (-80..=80).map(|i| i as f32 * 0.1).chain([-30.0, -12.0, 12.0, 30.0]).collect();
        let (mut slope, mut offset) = (xs.clone(), vec![0.0; xs.len()]);
        gelu_slope_offset(&mut slope, &mut offset);
        let gelu = |x: f64| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
        for ((&x, &s), &o) in xs.iter().zip(&slope).zip(&offset) {
            let value = x * s + o;
            assert!((value as f64 - gelu(x as f64)).abs() < 1e-6, "GELU({x}) = {value}, expected {}", gelu(x as f64));
            let h = 1e-4;
            let numeric = (gelu(x as f64 + h) - gelu(x as f64 - h)) / (2.0 * h);
            assert!((s as f64 - numeric).abs() < 1e-5, "GELU'({x}) = {s}, expected {numeric}");
        }
    }
}
