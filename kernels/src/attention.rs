//! Multi-head self-attention at inference on the CPU, straight from the dense layers' rows.
//!
//! burn-flex's fused attention wants `[batch, heads, seq, head_dim]` tensors, so the model
//! copies queries, keys and values into that layout and the context back out (9% of a
//! `none`-plan forward pass), and its softmax is a scalar loop calling libm's `expf` per score
//! (36% of that pass: `perf`, 32 × 128 tokens, docs/benchmarks.md). Here each head reads its
//! columns of the `[batch·seq, heads·head_dim]` rows in place (the matrix products take strides),
//! the softmax runs over lanes with a call-free `exp`, and the context is written into its
//! columns of the output rows. Heads run on rayon's threads, one score matrix per thread (on
//! wasm32, which has no threads, one after another).

use gemm::{Parallelism, gemm};
#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

use crate::math::exp_nonpositive;

/// The sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// `out = softmax(q·kᵀ·scale + key_bias)·v` for every sequence and head, where `q`, `k`, `v` and
/// `out` are `[batch, seq, heads·head_dim]` rows (head `h` in columns `h·head_dim..`) and
/// `key_bias` is `[batch, seq]`: added to every query's score for that key (0 for a real token,
/// a large negative number for padding, as BERT's extended attention mask).
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn self_attention(q: &[f32], k: &[f32], v: &[f32], key_bias: &[f32], shape: AttentionShape, scale: f32, out: &mut [f32]) {
    let AttentionShape { batch, seq, heads, head_dim } = shape;
    let hidden = heads * head_dim;
    let rows = batch * seq * hidden;
    assert!(
        q.len() == rows && k.len() == rows && v.len() == rows && out.len() == rows,
        "attention: q/k/v/out hold {}/{}/{}/{} values, expected {rows} for {shape:?}",
        q.len(),
        k.len(),
        v.len(),
        out.len()
    );
    assert_eq!(key_bias.len(), batch * seq, "attention: the key bias is [batch, seq]");
    if rows == 0 {
        return;
    }
    let out = SharedOut(out.as_mut_ptr());
    let head = |scores: &mut Vec<f32>, bh: usize| {
        let (b, h) = (bh / heads, bh % heads);
        let at = b * seq * hidden + h * head_dim;
        let (hidden, seq_i) = (hidden as isize, seq as isize);
        // SAFETY: every pointer stays inside its slice (rows `b·seq..(b+1)·seq`, columns
        // `h·head_dim..(h+1)·head_dim`, strides `hidden`), and each (b, h) writes only its own
        // columns of its own rows of `out`, so no two threads write the same value.
        unsafe {
            // scores[i][j] = scale · Σ_d q[i][d] · k[j][d]
            gemm(
                seq,
                seq,
                head_dim,
                scores.as_mut_ptr(),
                1,
                seq_i,
                false,
                q.as_ptr().add(at),
                1,
                hidden,
                k.as_ptr().add(at),
                hidden,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
        softmax_rows(scores, &key_bias[b * seq..(b + 1) * seq]);
        unsafe {
            // out[i][d] = Σ_j scores[i][j] · v[j][d]
            gemm(
                seq,
                head_dim,
                seq,
                out.at(at),
                1,
                hidden,
                false,
                scores.as_ptr(),
                1,
                seq_i,
                v.as_ptr().add(at),
                1,
                hidden,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    (0..batch * heads).into_par_iter().for_each_init(|| vec![0f32; seq * seq], head);
    #[cfg(target_arch = "wasm32")]
    {
        let mut scores = vec![0f32; seq * seq];
        (0..batch * heads).for_each(|bh| head(&mut scores, bh));
    }
}

/// The output rows, written by every head's thread in disjoint columns.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: see `self_attention`: threads write disjoint elements.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// A method rather than the field, so closures capture the `Sync` wrapper, not the pointer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

/// Lanes of the reductions below: 16 f32 is one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

widest_vectors! {
    /// Every row of `scores` (`[rows, bias.len()]`) through [`softmax_with_bias`]: the loop where
    /// a third of a `none`-plan forward pass went before it ran on the CPU's full vector width.
    fn softmax_rows(scores: &mut [f32], bias: &[f32]) {
        for row in scores.chunks_exact_mut(bias.len()) {
            softmax_with_bias(row, bias);
        }
    }
}

/// `row = softmax(row + bias)`, the max and the sum kept per lane so that the compiler
/// vectorises both (a single float accumulator would serialise them).
#[inline(always)]
fn softmax_with_bias(row: &mut [f32], bias: &[f32]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let (body, tail) = row.split_at_mut(row.len() - row.len() % LANES);
    let (bias_body, bias_tail) = bias.split_at(body.len());
    for (chunk, b) in body.chunks_exact_mut(LANES).zip(bias_body.chunks_exact(LANES)) {
        for i in 0..LANES {
            chunk[i] += b[i];
            max[i] = if chunk[i] > max[i] { chunk[i] } else { max[i] };
        }
    }
    let mut m = max.into_iter().fold(f32::NEG_INFINITY, f32::max);
    for (s, b) in tail.iter_mut().zip(bias_tail) {
        *s += b;
        m = m.max(*s);
    }
    let mut sum = [0f32; LANES];
    for chunk in body.chunks_exact_mut(LANES) {
        for i in 0..LANES {
            chunk[i] = exp_nonpositive(chunk[i] - m);
            sum[i] += chunk[i];
        }
    }
    let mut total: f32 = sum.iter().sum();
    for s in tail.iter_mut() {
        *s = exp_nonpositive(*s - m);
        total += *s;
    }
    let inv = 1.0 / total;
    for s in row.iter_mut() {
        *s *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same attention in f64, one head and query at a time, written as the equation.
    fn reference(q: &[f32], k: &[f32], v: &[f32], bias: &[f32], s: AttentionShape, scale: f64) -> Vec<f64> {
        let hidden = s.heads * s.head_dim;
        let mut out = vec![0f64; q.len()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.seq {
                    let at = |t: usize, d: usize| (b * s.seq + t) * hidden + h * s.head_dim + d;
                    let scores: Vec<f64> = (0..s.seq)
                        .map(|j| scale * (0..s.head_dim).map(|d| q[at(i, d)] as f64 * k[at(j, d)] as f64).sum::<f64>() + bias[b * s.seq + j] as f64)
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for d in 0..s.head_dim {
                        out[at(i, d)] = (0..s.seq).map(|j| e[j] / total * v[at(j, d)] as f64).sum();
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small LCG: deterministic values in [-2, 2).
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn matches_the_equation_with_padding_odd_lengths_and_one_token() {
        for shape in [
            AttentionShape { batch: 3, seq: 37, heads: 4, head_dim: 8 },
            AttentionShape { batch: 2, seq: 16, heads: 12, head_dim: 32 },
            AttentionShape { batch: 1, seq: 1, heads: 2, head_dim: 4 },
        ] {
            let n = shape.batch * shape.seq * shape.heads * shape.head_dim;
            let (q, k, v) = (values(n, 1), values(n, 2), values(n, 3));
            // The last sequence is padded after its first third, as BERT's mask does it.
            let bias: Vec<f32> =
                (0..shape.batch * shape.seq).map(|i| if i / shape.seq == shape.batch - 1 && i % shape.seq > shape.seq / 3 { -1e9 } else { 0.0 }).collect();
            let scale = 1.0 / (shape.head_dim as f32).sqrt();
            let mut out = vec![f32::NAN; n];
            self_attention(&q, &k, &v, &bias, shape, scale, &mut out);
            let want = reference(&q, &k, &v, &bias, shape, scale as f64);
            let worst = out.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
            assert!(worst < 2e-5, "{shape:?}: max |diff| {worst}");
        }
    }

    #[test]
    #[should_panic(expected = "the key bias is [batch, seq]")]
    fn a_wrong_bias_length_is_refused() {
        let s = AttentionShape { batch: 1, seq: 2, heads: 1, head_dim: 2 };
        self_attention(&[0.0; 4], &[0.0; 4], &[0.0; 4], &[0.0; 3], s, 1.0, &mut [0.0; 4]);
    }
}
