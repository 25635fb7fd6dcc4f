//! Dropout masks drawn on the host.

use rand_core::RngCore;
use rand_pcg::Pcg64Mcg;

/// `n` mask values: 0 with probability `prob`, otherwise `1 / (1 - prob)` (inverted dropout, as
/// burn and PyTorch scale kept values). Each value compares 32 random bits with `prob · 2³²`.
pub fn mask_values(rng: &mut Pcg64Mcg, prob: f64, n: usize) -> Vec<f32> {
    let threshold = (prob * 4_294_967_296.0).round() as u64;
    let keep = (1.0 / (1.0 - prob)) as f32;
    let value = |bits: u64| if bits < threshold { 0.0 } else { keep };
    let mut out = Vec::with_capacity(n);
    while out.len() + 2 <= n {
        let r = rng.next_u64();
        out.push(value(r & 0xFFFF_FFFF));
        out.push(value(r >> 32));
    }
    if out.len() < n {
        out.push(value(rng.next_u64() & 0xFFFF_FFFF));
    }
    out
}
