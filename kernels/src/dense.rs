//! Dense layers (`x·W + b`) at inference on the page's CPU path.
//!
//! The weights are packed once ([`PackedWeights`]): panels of 8 columns, each `[d_in, 8]` in one
//! run of memory, as ONNX Runtime packs a constant weight matrix when its session starts. A tile
//! is 4 rows × 8 columns of accumulators (eight 4-lane registers, with two for a weight row and
//! one for the broadcast input: what the 16 XMM registers V8 allocates from can hold), 256 inputs
//! per pass, the bias as the accumulators' starting value.
//!
//! Why packed: in burn's `[d_in, d_out]` layout a tile reads 32 bytes of every weight row, rows
//! `4 · d_out` bytes apart; at `d_out` = 384 or 1,536 those rows fall in 8 or 2 of the L1
//! cache's 64 sets, so a 256-row panel does not stay in L1 however it is blocked. Packed, a
//! tile's weights are one contiguous stream. In V8 on a 2-vCPU Zen 3 EPYC (scratch harness, best
//! of 15), GFLOP/s for the model's 384→384, 384→1,536 and 1,536→384 layers:
//!
//! | rows | in place (the previous kernel) | gemm's `simd128` kernel | packed |
//! |---|---|---|---|
//! | 16 | 18–23 / 15–19 / 21–25 | 18–20 / 17–18 / 16–20 | 27–30 / 26–30 / 27–29 |
//! | 512 | 18–23 / 16–19 / 20–23 | 20 / 19–21 / 17–19 | 23–27 / 17–25 / 23–27 |
//! | 4,096 | 13–20 / 13–15 / 18–19 | 18–23 / 19–21 / 22–23 | 21–23 / 19–20 / 17–23 |
//!
//! Other tiles on the packed panels (6 × 8, 5 × 8, 3 × 12, 4 × 12, 3 × 16, 8 × 4) were slower;
//! 2 × 16 was as fast, but 8-column panels keep the workers' column shares (multiples of 8) on
//! whole panels. Natively gemm stays (its AVX-512 kernels are not beaten by this).

use core::ops::Range;

/// Columns per panel: one tile's width.
const PANEL: usize = 4 * C;
/// Inputs per pass over a tile (64 to 4,096 measured the same on packed panels within noise;
/// 256 keeps a tile's 8 KB of weights in L1 for the next row tile).
const KC: usize = 256;
/// Rows per tile.
const R: usize = 4;
/// 4-lane vectors (of columns) per tile.
const C: usize = 2;

/// A dense layer's weights (`[d_in, d_out]`, burn's `Linear` layout) laid out for [`dense`]:
/// `ceil(d_out / 8)` panels of `[d_in, 8]`, the last padded with zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeights {
    d_in: usize,
    d_out: usize,
    panels: Vec<f32>,
}

impl PackedWeights {
    /// Packs `w`, `[d_in, d_out]` row-major.
    ///
    /// # Panics
    /// When `w` does not hold `d_in · d_out` values.
    pub fn new(w: &[f32], d_in: usize, d_out: usize) -> Self {
        assert_eq!(w.len(), d_in * d_out, "packing dense weights: {} values, expected {d_in} × {d_out}", w.len());
        let mut panels = vec![0f32; d_out.div_ceil(PANEL) * d_in * PANEL];
        for (p, panel) in panels.chunks_exact_mut(d_in * PANEL).enumerate() {
            let j0 = p * PANEL;
            let width = PANEL.min(d_out - j0);
            for (k, row) in panel.chunks_exact_mut(PANEL).enumerate() {
                row[..width].copy_from_slice(&w[k * d_out + j0..k * d_out + j0 + width]);
            }
        }
        Self { d_in, d_out, panels }
    }

    pub fn d_in(&self) -> usize {
        self.d_in
    }

    pub fn d_out(&self) -> usize {
        self.d_out
    }

    /// `W[k, j]`.
    fn at(&self, k: usize, j: usize) -> f32 {
        self.panels[(j / PANEL) * self.d_in * PANEL + k * PANEL + j % PANEL]
    }
}

/// Which part of a dense layer one call computes: `rows` inputs, output columns `cols`, summed
/// over inputs `inputs` only. Several workers running the same forward pass each compute a
/// share of a layer's columns, or a share of its inputs (a partial sum), this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub rows: usize,
    pub cols: Range<usize>,
    pub inputs: Range<usize>,
}

/// `out = x·W + bias` over `rows` rows, with `x` `[rows, d_in]`, `bias` `[d_out]` and `out`
/// `[rows, d_out]`, row-major.
///
/// # Panics
/// When a slice's length does not match `w` and `rows`.
pub fn dense(x: &[f32], w: &PackedWeights, bias: &[f32], rows: usize, out: &mut [f32]) {
    dense_part(x, w, bias, &Part { rows, cols: 0..w.d_out, inputs: 0..w.d_in }, out);
}

/// Columns `part.cols` of `x·W[part.inputs] + bias`: `x` is `[rows, inputs.len()]` (the inputs
/// this part sums over), `bias` `[d_out]` (zeros for a partial sum that another part biases),
/// `out` `[rows, cols.len()]`, all row-major. Where two calls compute a column in a whole panel
/// (ranges on multiples of 8), the sums run in the same order and agree bit for bit.
///
/// # Panics
/// When a slice's length does not match `w` and `part`, or a range is not within `w`'s.
pub fn dense_part(x: &[f32], w: &PackedWeights, bias: &[f32], part: &Part, out: &mut [f32]) {
    let Part { rows, cols, inputs } = part.clone();
    let (width, depth) = (cols.len(), inputs.len());
    assert!(
        cols.start <= cols.end
            && cols.end <= w.d_out
            && inputs.start <= inputs.end
            && inputs.end <= w.d_in
            && x.len() == rows * depth
            && bias.len() == w.d_out
            && out.len() == rows * width,
        "dense: x/bias/out hold {}/{}/{} values, expected {}/{}/{} for {part:?} of a {} → {} layer",
        x.len(),
        bias.len(),
        out.len(),
        rows * depth,
        w.d_out,
        rows * width,
        w.d_in,
        w.d_out
    );
    if inputs.is_empty() {
        // No inputs to sum over (a worker with no share of them): the bias alone.
        out.chunks_exact_mut(width.max(1)).for_each(|row| row.copy_from_slice(&bias[cols.clone()]));
        return;
    }
    // Whole panels inside `cols` go through the tile; columns of panels cut by the range's ends
    // are summed one by one.
    let first = cols.start.next_multiple_of(PANEL).min(cols.end);
    let last = first.max(cols.end - cols.end % PANEL);
    for k0 in inputs.clone().step_by(KC) {
        let ks = k0..(k0 + KC).min(inputs.end);
        for j0 in (first..last).step_by(PANEL) {
            let at = Tile { w, depth, inputs: inputs.start, col0: cols.start, width, j0, ks: ks.clone(), start: k0 == inputs.start };
            let mut i0 = 0;
            while i0 + R <= rows {
                // SAFETY: rows i0..i0+R <= rows, columns j0..j0+8 within `cols` and `w`'s
                // panels, inputs `ks` within `inputs`, all checked against the slices above.
                unsafe { tile::<R>(x, bias, out, i0, &at) };
                i0 += R;
            }
            for i in i0..rows {
                // SAFETY: as above, one row.
                unsafe { tile::<1>(x, bias, out, i, &at) };
            }
        }
    }
    for j in (cols.start..first).chain(last..cols.end) {
        for i in 0..rows {
            let x = &x[i * depth..(i + 1) * depth];
            out[i * width + j - cols.start] = bias[j] + inputs.clone().zip(x).map(|(k, x)| x * w.at(k, j)).sum::<f32>();
        }
    }
}

/// Where a tile sits: output columns `j0..j0+8` (a whole panel) over inputs `ks`, of a part whose
/// inputs start at `inputs` (`depth` of them: `x`'s row length) and whose output (`width`
/// columns) starts at column `col0`; `start` when `ks` are the part's first inputs.
struct Tile<'a> {
    w: &'a PackedWeights,
    depth: usize,
    inputs: usize,
    col0: usize,
    width: usize,
    j0: usize,
    ks: Range<usize>,
    start: bool,
}

/// Rows `i0..i0+ROWS` of `at`'s columns, summed over its inputs: started from the bias for the
/// first block of inputs, from the output's partial sums for the others.
///
/// # Safety
/// Those rows, columns and inputs exist in `at`, and the slices hold the values `at` describes.
#[inline(always)]
unsafe fn tile<const ROWS: usize>(x: &[f32], bias: &[f32], out: &mut [f32], i0: usize, at: &Tile) {
    let (depth, width, j0) = (at.depth, at.width, at.j0);
    let panel = at.w.panels[(j0 / PANEL) * at.w.d_in * PANEL..].as_ptr();
    let x = x.as_ptr();
    unsafe {
        let out = out.as_mut_ptr().add(j0 - at.col0);
        let mut acc: [[F4; C]; ROWS] = if at.start {
            [core::array::from_fn(|c| F4::load(bias.as_ptr().add(j0 + 4 * c))); ROWS]
        } else {
            core::array::from_fn(|r| core::array::from_fn(|c| F4::load(out.add((i0 + r) * width + 4 * c))))
        };
        for k in at.ks.clone() {
            let w_row = panel.add(k * PANEL);
            let mut w_k = [F4::zero(); C];
            for (c, w_k) in w_k.iter_mut().enumerate() {
                *w_k = F4::load(w_row.add(4 * c));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let x_rk = F4::splat(*x.add((i0 + r) * depth + k - at.inputs));
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

    fn reference(x: &[f32], w: &[f32], bias: &[f32], rows: usize, d_in: usize, d_out: usize) -> Vec<f64> {
        let mut out = vec![0f64; rows * d_out];
        for i in 0..rows {
            for j in 0..d_out {
                out[i * d_out + j] = bias[j] as f64 + (0..d_in).map(|k| x[i * d_in + k] as f64 * w[k * d_out + j] as f64).sum::<f64>();
            }
        }
        out
    }

    fn layer(rows: usize, d_in: usize, d_out: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..rows * d_in).map(|i| ((i * 7919 % 263) as f32 - 131.0) / 97.0).collect();
        let w = (0..d_in * d_out).map(|i| ((i * 104_729 % 211) as f32 - 105.0) / 503.0).collect();
        let bias = (0..d_out).map(|j| j as f32 * 0.25 - 1.0).collect();
        (x, w, bias)
    }

    /// A layer's input, packed weights and bias, and their whole product.
    fn with_product(rows: usize, d_in: usize, d_out: usize) -> (Vec<f32>, PackedWeights, Vec<f32>, Vec<f32>) {
        let (x, w, bias) = layer(rows, d_in, d_out);
        let w = PackedWeights::new(&w, d_in, d_out);
        let mut whole = vec![0.0; rows * d_out];
        dense(&x, &w, &bias, rows, &mut whole);
        (x, w, bias, whole)
    }

    #[test]
    fn packing_keeps_every_weight_and_pads_the_last_panel() {
        let (_, w, _) = layer(0, 5, 11);
        let packed = PackedWeights::new(&w, 5, 11);
        assert_eq!(packed.panels.len(), 2 * 5 * 8);
        for k in 0..5 {
            for j in 0..11 {
                assert_eq!(packed.at(k, j), w[k * 11 + j], "W[{k}, {j}]");
            }
            assert!(packed.panels[5 * 8 + k * 8 + 3..5 * 8 + k * 8 + 8].iter().all(|&v| v == 0.0), "padding of input {k}");
        }
    }

    /// Every tile and tail: full row tiles and leftover rows, whole panels and a last panel cut
    /// short (widths that are not a multiple of 8), more inputs than one pass, one row, and an
    /// empty batch.
    #[test]
    fn equals_the_product_for_every_tile_and_tail() {
        for &(rows, d_in, d_out) in
            &[(16, 384, 384), (1, 7, 8), (5, 33, 20), (7, 16, 3), (9, 64, 1536), (0, 8, 8), (4, 1, 16), (6, 1536, 24), (3, 600, 11), (513, 40, 16)]
        {
            let (x, w, bias) = layer(rows, d_in, d_out);
            let mut out = vec![f32::NAN; rows * d_out];
            dense(&x, &PackedWeights::new(&w, d_in, d_out), &bias, rows, &mut out);
            for (got, want) in out.iter().zip(reference(&x, &w, &bias, rows, d_in, d_out)) {
                assert!((*got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "{rows} × {d_in} → {d_out}: {got} vs {want}");
            }
        }
    }

    /// Any column range gives those columns of the whole product, whatever its start and width:
    /// aligned halves, odd starts, a range inside one panel, an empty range. Where both compute a
    /// column in a whole panel (ranges on multiples of 8, as the workers' shares are) the sums
    /// run in the same order and agree bit for bit; a range's cut panels sum in another order.
    #[test]
    fn columns_are_the_whole_products_columns() {
        let (rows, d_in, d_out) = (6, 300, 40);
        let (x, w, bias, whole) = with_product(rows, d_in, d_out);
        for cols in [0..20, 16..40, 0..40, 3..29, 9..13, 37..40, 16..16] {
            let mut part = vec![f32::NAN; rows * cols.len()];
            dense_part(&x, &w, &bias, &Part { rows, cols: cols.clone(), inputs: 0..d_in }, &mut part);
            for i in 0..rows {
                for (k, j) in cols.clone().enumerate() {
                    let (got, want) = (part[i * cols.len() + k], whole[i * d_out + j]);
                    if cols.start.is_multiple_of(8) && cols.len().is_multiple_of(8) {
                        assert_eq!(got.to_bits(), want.to_bits(), "{cols:?} [{i}, {j}]");
                    }
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{cols:?} [{i}, {j}]: {got} vs {want}");
                }
            }
        }
    }

    /// Partial sums over shares of the inputs (one biased, the others not) add up to the whole
    /// product: how the workers split `output.dense`.
    #[test]
    fn input_shares_sum_to_the_whole_product() {
        let (rows, d_in, d_out) = (5, 700, 24);
        let (x, w, bias, whole) = with_product(rows, d_in, d_out);
        for shares in [vec![0..350, 350..700], vec![0..256, 256..513, 513..700], vec![0..0, 0..700]] {
            let mut sum = vec![0f32; rows * d_out];
            for (s, inputs) in shares.iter().enumerate() {
                let xs: Vec<f32> = (0..rows).flat_map(|i| x[i * d_in + inputs.start..i * d_in + inputs.end].to_vec()).collect();
                let b = if s == 0 { bias.clone() } else { vec![0.0; d_out] };
                let mut out = vec![f32::NAN; rows * d_out];
                dense_part(&xs, &w, &b, &Part { rows, cols: 0..d_out, inputs: inputs.clone() }, &mut out);
                sum.iter_mut().zip(&out).for_each(|(s, o)| *s += o);
            }
            for (got, want) in sum.iter().zip(&whole) {
                assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{shares:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "cols: 30..50")]
    fn names_a_range_past_the_outputs() {
        let w = PackedWeights::new(&[0.0; 80], 2, 40);
        dense_part(&[0.0; 4], &w, &[0.0; 40], &Part { rows: 2, cols: 30..50, inputs: 0..2 }, &mut [0.0; 40]);
    }

    #[test]
    #[should_panic(expected = "dense: x/bias/out hold")]
    fn names_the_mismatched_lengths() {
        dense(&[0.0; 3], &PackedWeights::new(&[0.0; 4], 2, 2), &[0.0; 2], 2, &mut [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "packing dense weights: 5 values, expected 2 × 3")]
    fn names_weights_of_the_wrong_size() {
        PackedWeights::new(&[0.0; 5], 2, 3);
    }
}
