//! Elementary functions without calls or scalar conversions, so that the loops using them
//! vectorise (they are `#[inline(always)]` so that each loop's target features apply to them).

/// `eˣ` for `x ≤ 0` by Cephes' `expf` (range reduction by ln 2, degree-6 polynomial, the power
/// of two written into the exponent bits), without a call so the loop around it vectorises; 0 below
/// −87, where f32 underflows. Within 2 ulp of `f32::exp` on [−87, 0].
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    let below = x < -87.0;
    let x = x.max(-87.0);
    // 1.5 · 2²³ + round(x / ln 2): the rounded integer sits in the low mantissa bits, so the
    // power of two below is built with integer lanes — `n as i32` would be a saturating scalar
    // conversion per value, which kept the loops around this from vectorising.
    let t = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = t - 12_582_912.0;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p * r + c;
    }
    let e = p * r * r + r + 1.0;
    // n ∈ [−126, 0]: 2ⁿ is the float with exponent field n + 127.
    let two_n = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    if below { 0.0 } else { e * two_n }
}
