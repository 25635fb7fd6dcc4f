//! The encoder's inference on cubecl devices (wgpu natively, WebGPU in the page) in nine kernel
//! launches per layer instead of about sixty.
//!
//! Why: burn composes a dense layer from a matmul and a bias add, LayerNorm from two reductions
//! and six element-wise kernels, and attention from head-split copies, two matmuls and a
//! softmax: 363 launches per forward pass of MiniLM's six layers. On a GPU each launch is a
//! dispatch with its own pipeline, bind group and memory round trip; on a software adapter
//! (SwiftShader) burn's matmul, tiled for large matrices, also does wasted work on the few rows
//! a page's batch has. Here a layer is three projections, one attention, one output projection,
//! one residual + LayerNorm, one dense + GELU, one dense and one residual + LayerNorm — each a
//! single kernel written for these shapes. Only inference takes them (no autodiff, no attention
//! maps, contiguous tensors); training and the rest keep burn's kernels, which the tests hold
//! these to.
//!
//! Each kernel reads and writes the model's float type, `f32` or `f16` (`--precision f16`, on
//! adapters with `shader-f16`: half the memory traffic, which bounds these kernels on a GPU), and
//! accumulates in `f32` whatever it reads: a 384- or 1,536-term sum of f16 products in f16 would
//! lose the digits the f16 model keeps through burn's kernels.

use burn::backend::Cube;
use burn::backend::wgpu::CubeTensor;
use burn::tensor::{DType, Tensor};
use cubecl::ir::{ElemType, FloatKind};
use cubecl::prelude::*;

use crate::device::{cube_tensor, is_cube};

/// Output rows each unit of [`dense_kernel`] computes: each weight it reads is used this many
/// times from a register.
const DENSE_ROWS: usize = 8;
/// Units per cube of [`dense_kernel`], along the output columns.
const DENSE_UNITS: usize = 64;
/// The most output columns each unit of [`dense_kernel`] computes: each `x` value it reads is
/// used this many times from a register.
const DENSE_COLS: usize = 8;
/// Units per cube of [`add_norm_kernel`] (one cube per row). The kernel spells it `64`: a `const`
/// read inside a kernel sizes its shared memory wrongly (the launch fails), a literal does not.
const NORM_UNITS: usize = 64;
/// Cubes per dimension of a launch at most (WebGPU's `maxComputeWorkgroupsPerDimension`).
const MAX_CUBES: usize = 65_535;
/// The most rows [`dense`] takes: its launch has one cube per `DENSE_ROWS` rows along y.
pub const MAX_DENSE_ROWS: usize = MAX_CUBES * DENSE_ROWS;
/// Units per cube of [`attention_kernel`] (one unit per query row and head).
const ATTENTION_UNITS: u32 = 64;

/// `y = x·w + b`, with the exact GELU applied when `gelu`: `x` `[rows, k]`, `w` `[k, n]`
/// (burn's `Linear` layout), `b` `[n]`. Each unit computes a `rows_per_unit × cols_per_unit`
/// tile of `y` in registers: rows `r·R..(r+1)·R` and columns `c·U·C + j·U + unit` (`U` units
/// per cube), so that in every step over `k` the units of a cube read neighbouring weights (one
/// wide load on a GPU, one vector load on a CPU-based adapter) and all read the same `x` value.
#[cube(launch)]
fn dense_kernel<F: Float>(
    x: &[F],
    w: &[F],
    b: &[F],
    y: &mut [F],
    rows: usize,
    k: usize,
    n: usize,
    #[comptime] rows_per_unit: usize,
    #[comptime] cols_per_unit: usize,
    #[comptime] gelu: bool,
    #[define(F)] _dtype: ElemType,
) {
    let units = CUBE_DIM_X as usize;
    let first_row = CUBE_POS_Y as usize * rows_per_unit;
    let first_col = CUBE_POS_X as usize * units * cols_per_unit + UNIT_POS_X as usize;
    // Rows and columns past the end read the last one (no branch in the loop), and are not written.
    let mut x_at = Array::<usize>::new(rows_per_unit);
    let mut w_at = Array::<usize>::new(cols_per_unit);
    let mut acc = Array::<f32>::new(rows_per_unit * cols_per_unit);
    #[unroll]
    for i in 0..rows_per_unit {
        let mut row = first_row + i;
        if row >= rows {
            row = rows - 1;
        }
        x_at[i] = row * k;
    }
    #[unroll]
    for j in 0..cols_per_unit {
        let mut col = first_col + j * units;
        if col >= n {
            col = n - 1;
        }
        w_at[j] = col;
    }
    #[unroll]
    for t in 0..rows_per_unit * cols_per_unit {
        acc[t] = 0.0;
    }
    for kk in 0..k {
        let mut weights = Array::<f32>::new(cols_per_unit);
        #[unroll]
        for j in 0..cols_per_unit {
            weights[j] = f32::cast_from(w[kk * n + w_at[j]]);
        }
        #[unroll]
        for i in 0..rows_per_unit {
            let value = f32::cast_from(x[x_at[i] + kk]);
            #[unroll]
            for j in 0..cols_per_unit {
                acc[i * cols_per_unit + j] += value * weights[j];
            }
        }
    }
    #[unroll]
    for j in 0..cols_per_unit {
        let col = first_col + j * units;
        if col < n {
            let bias = f32::cast_from(b[col]);
            #[unroll]
            for i in 0..rows_per_unit {
                let row = first_row + i;
                if row < rows {
                    let mut value = acc[i * cols_per_unit + j] + bias;
                    if gelu {
                        value = value * 0.5 * (Erf::erf(value * std::f32::consts::FRAC_1_SQRT_2) + 1.0);
                    }
                    y[row * n + col] = F::cast_from(value);
                }
            }
        }
    }
}

/// `y = LayerNorm(x + residual)` over rows of `n` (`residual` read only when `add`): one cube
/// per row, its units summing strided slices, then in shared memory — the mean first, then the
/// variance about it, as burn computes them.
#[cube(launch)]
fn add_norm_kernel<F: Float>(
    x: &[F],
    residual: &[F],
    gamma: &[F],
    beta: &[F],
    y: &mut [F],
    rows: usize,
    n: usize,
    epsilon: f32,
    #[comptime] add: bool,
    #[define(F)] _dtype: ElemType,
) {
    // Rows past 65,535 (WebGPU's limit per dimension of a launch) continue along y.
    let row = CUBE_POS_Y as usize * CUBE_COUNT_X as usize + CUBE_POS_X as usize;
    if row >= rows {
        terminate!();
    }
    let unit = UNIT_POS as usize;
    let base = row * n;
    let count = f32::cast_from(n);

    let mut sum = 0.0f32;
    let mut i = unit;
    while i < n {
        sum += summand(x, residual, base + i, add);
        i += 64;
    }
    let mean = cube_sum(sum) / count;

    let mut squares = 0.0f32;
    let mut j = unit;
    while j < n {
        let centred = summand(x, residual, base + j, add) - mean;
        squares += centred * centred;
        j += 64;
    }
    let inverse = 1.0f32 / f32::sqrt(cube_sum(squares) / count + epsilon);

    let mut c = unit;
    while c < n {
        y[base + c] = F::cast_from((summand(x, residual, base + c, add) - mean) * inverse * f32::cast_from(gamma[c]) + f32::cast_from(beta[c]));
        c += 64;
    }
}

/// `x[at] + residual[at]`, or `x[at]` alone, in `f32`.
#[cube]
fn summand<F: Float>(x: &[F], residual: &[F], at: usize, #[comptime] add: bool) -> f32 {
    let mut value = f32::cast_from(x[at]);
    if add {
        value += f32::cast_from(residual[at]);
    }
    value
}

/// The sum of `value` over the cube's 64 units (`NORM_UNITS`), for every unit: a tree in shared
/// memory.
#[cube]
fn cube_sum(value: f32) -> f32 {
    let mut shared = Shared::<[f32]>::new_slice(64usize);
    let unit = UNIT_POS as usize;
    shared[unit] = value;
    sync_cube();
    let mut half = 32usize;
    while half > 0 {
        if unit < half {
            shared[unit] += shared[unit + half];
        }
        sync_cube();
        half /= 2;
    }
    let sum = shared[0];
    // Every unit has read it before the next sum overwrites the memory.
    sync_cube();
    sum
}

/// Multi-head self-attention from the projections' layout (`q`, `k`, `v`, `out`:
/// `[batch, seq, heads·head_dim]`): unit `(b, h, i)` computes query `i` of head `h` in one pass
/// over the keys with a running maximum (the online softmax), so no `[seq, seq]` scores are
/// stored and no per-head copies made. `bias` is BERT's padding bias of key `j` of sequence `b`
/// at `b·bias_batch + j·bias_key` (in f16 its −10⁹ is −∞, which the online softmax takes: a
/// weight of 0).
#[cube(launch)]
fn attention_kernel<F: Float>(
    q: &[F],
    k: &[F],
    v: &[F],
    bias: &[F],
    out: &mut [F],
    batch: usize,
    seq: usize,
    heads: usize,
    bias_batch: usize,
    bias_key: usize,
    scale: f32,
    #[comptime] head_dim: usize,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= batch * heads * seq {
        terminate!();
    }
    let i = pos % seq;
    let h = (pos / seq) % heads;
    let b = pos / (seq * heads);
    let hidden = heads * head_dim;
    let query = (b * seq + i) * hidden + h * head_dim;

    let mut scaled = Array::<f32>::new(head_dim);
    let mut acc = Array::<f32>::new(head_dim);
    #[unroll]
    for d in 0..head_dim {
        scaled[d] = f32::cast_from(q[query + d]) * scale;
        acc[d] = 0.0;
    }
    let mut max = f32::new(-3.0e38);
    let mut total = 0.0f32;
    for j in 0..seq {
        let key = (b * seq + j) * hidden + h * head_dim;
        let mut score = f32::cast_from(bias[b * bias_batch + j * bias_key]);
        #[unroll]
        for d in 0..head_dim {
            score += scaled[d] * f32::cast_from(k[key + d]);
        }
        let mut next = max;
        if score > max {
            next = score;
        }
        let rescale = f32::exp(max - next);
        let weight = f32::exp(score - next);
        total = total * rescale + weight;
        #[unroll]
        for d in 0..head_dim {
            acc[d] = acc[d] * rescale + weight * f32::cast_from(v[key + d]);
        }
        max = next;
    }
    #[unroll]
    for d in 0..head_dim {
        out[query + d] = F::cast_from(acc[d] / total);
    }
}

/// Whether the fused kernels can take `x` beside operands of `dtype`: `x` in `dtype`, which is
/// `f32` or `f16`, on a cubecl device without autodiff, contiguous.
pub fn applies<const D: usize>(x: &Tensor<D>, dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16) && is_cube(x, dtype)
}

/// The kernels' float type for tensors of `dtype` (one [`applies`] accepted).
fn elem(dtype: DType) -> ElemType {
    ElemType::Float(if dtype == DType::F16 { FloatKind::F16 } else { FloatKind::F32 })
}

/// An output of `shape` in the same float type and on the same device as `like`.
fn output<const D: usize>(shape: [usize; D], like: &Tensor<D>) -> CubeTensor {
    cube_tensor(Tensor::<D>::empty(shape, (&like.device(), like.dtype())))
}

fn back<const D: usize>(t: CubeTensor) -> Tensor<D> {
    Tensor::from_primitive::<Cube>(t)
}

/// `x·weight + bias` (`[rows, k]` × `[k, n]`), then the exact GELU when `gelu`: one launch.
pub fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, gelu: bool) -> Tensor<2> {
    let [rows, k] = x.dims();
    let [_, n] = weight.dims();
    let y = output([rows, n], &x);
    let dtype = elem(x.dtype());
    let (x, weight, bias) = (cube_tensor(x), cube_tensor(weight), cube_tensor(bias));
    // As many columns per unit as divide `n` into whole cubes (384 = 3 × 64 × 2; 1,536 = 6 × 64 × 4).
    let cols = (1..=DENSE_COLS).rev().find(|c| n % (DENSE_UNITS * c) == 0).unwrap_or(1);
    let count = CubeCount::Static(n.div_ceil(DENSE_UNITS * cols) as u32, rows.div_ceil(DENSE_ROWS) as u32, 1);
    dense_kernel::launch(
        &x.client.clone(),
        count,
        CubeDim::new_1d(DENSE_UNITS as u32),
        x.into_buffer_arg(),
        weight.into_buffer_arg(),
        bias.into_buffer_arg(),
        y.clone().into_buffer_arg(),
        rows,
        k,
        n,
        DENSE_ROWS,
        cols,
        gelu,
        dtype,
    );
    back(y)
}

/// `LayerNorm(x + residual)` (or of `x` alone) over the last dimension of `[rows, n]`: one launch.
pub fn add_norm(x: Tensor<2>, residual: Option<Tensor<2>>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> Tensor<2> {
    let [rows, n] = x.dims();
    let y = output([rows, n], &x);
    let dtype = elem(x.dtype());
    let add = residual.is_some();
    let x = cube_tensor(x);
    let residual = residual.map(cube_tensor).unwrap_or_else(|| x.clone());
    add_norm_kernel::launch(
        &x.client.clone(),
        CubeCount::Static(rows.min(MAX_CUBES) as u32, rows.div_ceil(MAX_CUBES) as u32, 1),
        CubeDim::new_1d(NORM_UNITS as u32),
        x.into_buffer_arg(),
        residual.into_buffer_arg(),
        cube_tensor(gamma).into_buffer_arg(),
        cube_tensor(beta).into_buffer_arg(),
        y.clone().into_buffer_arg(),
        rows,
        n,
        epsilon as f32,
        add,
        dtype,
    );
    back(y)
}

/// Self-attention of `heads` heads over the projections `q`, `k`, `v` (`[batch, seq, hidden]`),
/// with BERT's padding bias `mask_bias` (`[batch, 1, seq, seq]`, the same for every query; read
/// through its strides, so the broadcast view [`crate::model::mask_bias`] makes costs nothing):
/// one launch.
pub fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, mask_bias: Tensor<4>, heads: usize, scale: f32) -> Tensor<3> {
    let [batch, seq, hidden] = q.dims();
    let out = output([batch, seq, hidden], &q);
    let dtype = elem(q.dtype());
    let bias = mask_bias.try_into_primitive::<Cube>().expect("the mask on the model's cubecl device");
    let strides = bias.meta.strides().to_vec();
    let (q, k, v) = (cube_tensor(q), cube_tensor(k), cube_tensor(v));
    let client = q.client.clone();
    let cube_dim = CubeDim::new_1d(ATTENTION_UNITS);
    attention_kernel::launch(
        &client,
        cubecl::calculate_cube_count_elemwise(&client, batch * heads * seq, cube_dim),
        cube_dim,
        q.into_buffer_arg(),
        k.into_buffer_arg(),
        v.into_buffer_arg(),
        bias.into_buffer_arg(),
        out.clone().into_buffer_arg(),
        batch,
        seq,
        heads,
        strides[0],
        strides[3],
        scale,
        hidden / heads,
        dtype,
    );
    back(out)
}
