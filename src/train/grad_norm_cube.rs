//! The gradients' global L2 norm in one GPU kernel launch per parameter, on cubecl devices.
//!
//! Why: clipping by the global norm composed it from a square, a sum and an add per parameter —
//! three launches each, ~315 of a full-model training step's ~2,000 on wgpu (docs/benchmarks.md).
//! Here each parameter's gradient is read once by a kernel that leaves the sums of squares of its
//! slices in a shared buffer, and one sum over that buffer gives the total: one launch per
//! parameter plus two. Without float atomics (WebGPU has none) the slices' sums cannot be added
//! in place, hence the buffer.

use burn::backend::Cube;
use burn::backend::wgpu::CubeTensor;
use burn::tensor::{Device, Tensor};
use cubecl::prelude::*;

/// Threads per cube: one slice's values are summed by this many threads, then in shared memory.
const CUBE_SIZE: usize = 256;
/// At most this many cubes (slices) per parameter: enough to spread the 11.7 M word embeddings
/// over a GPU, few enough that the buffer of partial sums stays small (~100 × 64 values).
const MAX_CUBES: usize = 64;

/// Cube `c` of `cubes` sums `g²` over values `c·256 + t + k·cubes·256` of `grad` with its 256
/// threads `t`, then reduces them in shared memory and writes the sum to `partials[first + c]`.
#[cube(launch)]
fn sum_squares(len: usize, grad: &[f32], partials: &mut [f32], first: usize, cubes: usize) {
    let mut shared = Shared::<[f32]>::new_slice(256usize);
    let unit = UNIT_POS as usize;
    let cube = CUBE_POS;
    let stride = cubes * 256;
    let mut i = cube * 256 + unit;
    let mut sum = 0.0f32;
    while i < len {
        let g = grad[i];
        sum += g * g;
        i += stride;
    }
    shared[unit] = sum;
    sync_cube();
    let mut half = 128usize;
    while half > 0 {
        if unit < half {
            shared[unit] += shared[unit + half];
        }
        sync_cube();
        half /= 2;
    }
    if unit == 0 {
        partials[first + cube] = shared[0];
    }
}

/// How many cubes (slices) sum a gradient of `len` values.
fn cubes_for(len: usize) -> usize {
    len.div_ceil(CUBE_SIZE).clamp(1, MAX_CUBES)
}

/// The global L2 norm of `grads` (plain row-major `f32` tensors on one cubecl device), `[1]`, on
/// the device: nothing is read back.
pub fn global_norm(grads: Vec<CubeTensor>, device: &Device) -> Tensor<1> {
    let total: usize = grads.iter().map(|g| cubes_for(g.meta.shape().num_elements())).sum();
    let partials = Tensor::<1>::empty([total], device).try_into_primitive::<Cube>().expect("a tensor on the gradients' cubecl device");
    let mut first = 0;
    for grad in grads {
        let len = grad.meta.shape().num_elements();
        let cubes = cubes_for(len);
        sum_squares::launch(
            &grad.client.clone(),
            CubeCount::Static(cubes as u32, 1, 1),
            CubeDim::new_1d(CUBE_SIZE as u32),
            len,
            grad.into_buffer_arg(),
            partials.clone().into_buffer_arg(),
            first,
            cubes,
        );
        first += cubes;
    }
    Tensor::<1>::from_primitive::<Cube>(partials).sum().sqrt()
}
