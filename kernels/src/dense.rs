//! Dense layers (`x·W + b`) at inference on the page's CPU path, for the few rows a sentence has.
//!
//! At one short sentence (16 rows) the page's CPU pass was three quarters gemm's 12 × 4 wasm
//! micro-kernel (V8's sampling profile, `scripts/bench_browser.js --profile`). Here a tile is
//! 4 rows × 8 columns of accumulators (eight 4-lane registers, with two for a weight row and one
//! for the broadcast input: what the 16 XMM registers V8 allocates from can hold), the weights
//! are read in place a row at a time, 256 inputs per pass so that a panel stays in L1, and the
//! bias is the accumulators' starting value. In V8 on 2 vCPUs of an AMD EPYC, 16 rows:
//! 36.8 / 27.6 / 31.9 GFLOP/s for the model's 384→384, 384→1,536 and 1,536→384 layers, against
//! gemm's 30.4 / 25.2 / 26.8; at 512 rows gemm's packed tiles are as fast (15.9 against 15.1), so
//! the model uses this for a few rows only. Natively it keeps gemm, whose AVX-512 kernels this
//! does not beat.

/// The sizes of one dense call: `rows` inputs of `d_in` values to `rows` outputs of `d_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseShape {
    pub rows: usize,
    pub d_in: usize,
    pub d_out: usize,
}

use core::ops::Range;

/// Inputs per pass over a tile: 256 rows of a weight panel (4C columns, 8 KB) stay in L1 while
/// every row tile reads them (1,536→384 went from 23 to 32 GFLOP/s; 64 or 128 measured the same).
const KC: usize = 256;
/// Rows per tile.
const R: usize = 4;
/// 4-lane vectors (of columns) per tile.
const C: usize = 2;

/// `out = x·w + bias`, with `x` `[rows, d_in]`, `w` `[d_in, d_out]` (burn's `Linear` layout),
/// `bias` `[d_out]` and `out` `[rows, d_out]`, all row-major.
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn dense(x: &[f32], w: &[f32], bias: &[f32], shape: DenseShape, out: &mut [f32]) {
    dense_columns(x, w, bias, shape, 0..shape.d_out, out);
}

/// Columns `cols` of [`dense`]'s output: `out` is `[rows, cols.len()]`, row-major. Several
/// workers running the same forward pass each compute their share of a layer's columns this way
/// (each reading only its share of the weights) and exchange the shares.
///
/// # Panics
/// When a slice's length does not match `shape` and `cols`, or `cols` is not within `d_out`.
pub fn dense_columns(x: &[f32], w: &[f32], bias: &[f32], shape: DenseShape, cols: Range<usize>, out: &mut [f32]) {
    let DenseShape { rows, d_in, d_out } = shape;
    let width = cols.len();
    assert!(
        cols.start <= cols.end && cols.end <= d_out && x.len() == rows * d_in && w.len() == d_in * d_out && bias.len() == d_out && out.len() == rows * width,
        "dense: x/w/bias/out hold {}/{}/{}/{} values, expected {}/{}/{d_out}/{} for {shape:?}, columns {cols:?}",
        x.len(),
        w.len(),
        bias.len(),
        out.len(),
        rows * d_in,
        d_in * d_out,
        rows * width
    );
    let wide = cols.start + width - width % (4 * C);
    for k0 in (0..d_in).step_by(KC) {
        let ks = k0..(k0 + KC).min(d_in);
        for j0 in (cols.start..wide).step_by(4 * C) {
            let at = Tile { shape, col0: cols.start, width, j0, ks: ks.clone() };
            let mut i0 = 0;
            while i0 + R <= rows {
                // SAFETY: rows i0..i0+R <= rows, columns j0..j0+4C <= wide <= cols.end <= d_out
                // and ks within d_in, checked against the slices' lengths above.
                unsafe { tile::<R>(x, w, bias, out, i0, &at) };
                i0 += R;
            }
            for i in i0..rows {
                // SAFETY: as above, one row.
                unsafe { tile::<1>(x, w, bias, out, i, &at) };
            }
        }
    }
    for i in 0..rows {
        for j in wide..cols.end {
            out[i * width + j - cols.start] = bias[j] + (0..d_in).map(|k| x[i * d_in + k] * w[k * d_out + j]).sum::<f32>();
        }
    }
}

/// Where a tile sits: output columns `j0..j0+4C` (of `d_out`) over inputs `ks`, written to an
/// output of `width` columns that starts at column `col0`.
struct Tile {
    shape: DenseShape,
    col0: usize,
    width: usize,
    j0: usize,
    ks: Range<usize>,
}

/// Rows `i0..i0+ROWS` of `at`'s columns, summed over its inputs: started from the bias for the
/// first block of inputs, from the output's partial sums for the others.
///
/// # Safety
/// Those rows, columns and inputs exist in `at.shape`, the columns lie within the output's, and
/// the slices hold the values `at` describes.
#[inline(always)]
unsafe fn tile<const ROWS: usize>(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32], i0: usize, at: &Tile) {
    let DenseShape { d_in, d_out, .. } = at.shape;
    let (j0, width) = (at.j0, at.width);
    let (x, w) = (x.as_ptr(), w.as_ptr());
    unsafe {
        let out = out.as_mut_ptr().add(j0 - at.col0);
        let mut acc: [[F4; C]; ROWS] = if at.ks.start == 0 {
            [core::array::from_fn(|c| F4::load(bias.as_ptr().add(j0 + 4 * c))); ROWS]
        } else {
            core::array::from_fn(|r| core::array::from_fn(|c| F4::load(out.add((i0 + r) * width + 4 * c))))
        };
        for k in at.ks.clone() {
            let w_row = w.add(k * d_out + j0);
            let mut w_k = [F4::zero(); C];
            for (c, w_k) in w_k.iter_mut().enumerate() {
                *w_k = F4::load(w_row.add(4 * c));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let x_rk = F4::splat(*x.add((i0 + r) * d_in + k));
                for (acc, w_k) in acc.iter_mut().zip(w_k) {
                    *acc = acc.add_mul(x_rk, w_k);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (c, acc) in acc.iter().enumerate() {
                acc.store(out.add((i0 + r) * width + 4 * c));
            }
        }
    }
}

/// Four `f32` lanes: wasm SIMD on wasm32 (each operation one instruction), an array elsewhere
/// (the same arithmetic in the same order, so native tests check what the page runs).
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
struct F4(core::arch::wasm32::v128);

#[cfg(target_arch = "wasm32")]
impl F4 {
    #[inline(always)]
    fn zero() -> Self {
        Self(core::arch::wasm32::f32x4_splat(0.0))
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self(core::arch::wasm32::f32x4_splat(v))
    }
    /// # Safety
    /// `p..p+4` is readable.
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { core::arch::wasm32::v128_load(p.cast()) })
    }
    /// # Safety
    /// `p..p+4` is writable.
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { core::arch::wasm32::v128_store(p.cast(), self.0) }
    }
    /// `self + a·b`, rounded twice (no fused multiply-add in baseline wasm SIMD).
    #[inline(always)]
    fn add_mul(self, a: Self, b: Self) -> Self {
        use core::arch::wasm32::{f32x4_add, f32x4_mul};
        Self(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy)]
struct F4([f32; 4]);

#[cfg(not(target_arch = "wasm32"))]
impl F4 {
    #[inline(always)]
    fn zero() -> Self {
        Self([0.0; 4])
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self([v; 4])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    fn add_mul(self, a: Self, b: Self) -> Self {
        Self(std::array::from_fn(|l| self.0[l] + a.0[l] * b.0[l]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], w: &[f32], bias: &[f32], s: DenseShape) -> Vec<f64> {
        let mut out = vec![0f64; s.rows * s.d_out];
        for i in 0..s.rows {
            for j in 0..s.d_out {
                out[i * s.d_out + j] = bias[j] as f64 + (0..s.d_in).map(|k| x[i * s.d_in + k] as f64 * w[k * s.d_out + j] as f64).sum::<f64>();
            }
        }
        out
    }

    /// Every tile and tail: full row tiles and leftover rows, full column tiles and leftover
    /// columns (widths that are not a multiple of 8), one row, and an empty batch.
    #[test]
    fn equals_the_product_for_every_tile_and_tail() {
        for &(rows, d_in, d_out) in &[(16, 384, 384), (1, 7, 8), (5, 33, 20), (7, 16, 3), (9, 64, 1536), (0, 8, 8), (4, 1, 16), (6, 1536, 24), (3, 600, 11)] {
            let shape = DenseShape { rows, d_in, d_out };
            let x: Vec<f32> = (0..rows * d_in).map(|i| ((i * 7919 % 263) as f32 - 131.0) / 97.0).collect();
            let w: Vec<f32> = (0..d_in * d_out).map(|i| ((i * 104_729 % 211) as f32 - 105.0) / 503.0).collect();
            let bias: Vec<f32> = (0..d_out).map(|j| j as f32 * 0.25 - 1.0).collect();
            let mut out = vec![f32::NAN; rows * d_out];
            dense(&x, &w, &bias, shape, &mut out);
            for (got, want) in out.iter().zip(reference(&x, &w, &bias, shape)) {
                assert!((*got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "{shape:?}: {got} vs {want}");
            }
        }
    }

    /// Any column range gives those columns of the whole product, whatever its start and width:
    /// aligned halves, odd starts, a range inside one tile, an empty range. Where both compute a
    /// column in a tile (ranges on multiples of 8, as the workers' shares are) the sums run in
    /// the same order and agree bit for bit; a range's leftover columns sum in another order.
    #[test]
    fn columns_are_the_whole_products_columns() {
        let shape = DenseShape { rows: 6, d_in: 300, d_out: 40 };
        let x: Vec<f32> = (0..6 * 300).map(|i| ((i * 7919 % 263) as f32 - 131.0) / 97.0).collect();
        let w: Vec<f32> = (0..300 * 40).map(|i| ((i * 104_729 % 211) as f32 - 105.0) / 503.0).collect();
        let bias: Vec<f32> = (0..40).map(|j| j as f32 * 0.25 - 1.0).collect();
        let mut whole = vec![0.0; 6 * 40];
        dense(&x, &w, &bias, shape, &mut whole);
        for cols in [0..20, 20..40, 0..40, 3..29, 9..13, 37..40, 16..16] {
            let mut part = vec![f32::NAN; 6 * cols.len()];
            dense_columns(&x, &w, &bias, shape, cols.clone(), &mut part);
            for i in 0..6 {
                for (k, j) in cols.clone().enumerate() {
                    let (got, want) = (part[i * cols.len() + k], whole[i * 40 + j]);
                    if cols.start.is_multiple_of(8) && cols.len().is_multiple_of(8) {
                        assert_eq!(got.to_bits(), want.to_bits(), "{cols:?} [{i}, {j}]");
                    }
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{cols:?} [{i}, {j}]: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "columns 30..50")]
    fn names_a_range_past_the_outputs() {
        dense_columns(&[0.0; 4], &[0.0; 80], &[0.0; 40], DenseShape { rows: 2, d_in: 2, d_out: 40 }, 30..50, &mut [0.0; 40]);
    }

    #[test]
    #[should_panic(expected = "dense: x/w/bias/out hold")]
    fn names_the_mismatched_lengths() {
        dense(&[0.0; 3], &[0.0; 4], &[0.0; 2], DenseShape { rows: 2, d_in: 2, d_out: 2 }, &mut [0.0; 4]);
    }
}
