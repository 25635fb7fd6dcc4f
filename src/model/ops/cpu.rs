//! The page's CPU path: dense layers by `undivided_kernels::dense` over weights packed once,
//! on wasm32 and wherever a pass is shared over workers ([`super::share`]). Its own file, as
//! [`super::gpu`] is, because both `linear` and `share` ask whether it applies.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use burn::nn::Linear;
use burn::tensor::{Bytes, DType, Tensor};
use undivided_kernels::dense::{PackedWeights, Part};

use crate::device::flex_f32;

/// Rows up to which [`dense`] runs the page's dense layers: in V8 the packed kernel is ahead of
/// gemm's up to 512 rows (8 × 64 tokens) and level with it at 4,096 (`kernels/src/dense.rs`).
pub const MAX_DENSE_ROWS: usize = 1024;

/// Whether `x` goes through `linear` by [`dense`]: inference on burn-flex, `f32`, with a bias,
/// at most `max_rows` rows.
pub fn applies(linear: &Linear, x: &Tensor<3>, max_rows: usize) -> bool {
    let [batch, seq, _] = x.dims();
    batch * seq <= max_rows
        && !x.device().is_autodiff()
        && crate::device::is_flex(&x.device())
        && x.dtype() == DType::F32
        && linear.weight.val().dtype() == DType::F32
        && linear.bias.as_ref().is_some_and(|b| b.val().dtype() == DType::F32)
}

/// `linear` over `rows` by `undivided_kernels::dense` (wasm SIMD on the page; see there for
/// what it measured), on its weights packed once ([`packed`]).
pub fn dense(linear: &Linear, rows: Tensor<2>) -> Tensor<2> {
    use crate::device::{f32_buffer, from_f32_buffer};
    let [n, d_in] = rows.dims();
    let [_, d_out] = linear.weight.dims();
    let device = rows.device();
    let x = f32_buffer(rows);
    let out = dense_part(linear, bytemuck::cast_slice(&x), Part { rows: n, cols: 0..d_out, inputs: 0..d_in }, true);
    from_f32_buffer(Bytes::from_elems(out), [n, d_out].into(), &device)
}

/// `part` of `linear` over `x` (`[rows, inputs.len()]`) on its packed weights: `[rows,
/// cols.len()]`, with the bias, or without it for a partial sum that another part biases. The
/// whole layer ([`dense`]) and the shares of a pass shared over workers ([`super::share`]).
pub fn dense_part(linear: &Linear, x: &[f32], part: Part, with_bias: bool) -> Vec<f32> {
    let weights = packed(linear);
    // The layer's own bias is read in place; a part without it sums from zeros.
    let own = with_bias.then(|| flex_f32(linear.bias.as_ref().expect("checked by applies").val()));
    let zeros;
    let bias = match &own {
        Some(own) => own.as_slice().expect("contiguous"),
        None => {
            zeros = vec![0f32; weights.d_out()];
            &zeros[..]
        }
    };
    let mut out = vec![0f32; part.rows * part.cols.len()];
    undivided_kernels::dense::dense_part(x, &weights, bias, &part, &mut out);
    out
}

thread_local! {
    /// This thread's packed weights, one per weight buffer seen by [`packed`].
    static PACKED: RefCell<Vec<Packed>> = const { RefCell::new(Vec::new()) };
}

/// The packed copy of one weight buffer, and the buffer it was made from, held weakly.
///
/// Why a weak handle is enough to know the copy is current: burn-flex writes a buffer in place
/// only through `Arc::get_mut` (which refuses while a weak handle exists: burn-flex then copies),
/// `Arc::make_mut` or `Arc::try_unwrap` (which move the values out of this allocation, after
/// which the handle no longer upgrades); and while the handle exists the allocation cannot be
/// reused for another buffer. So the copy is current exactly when the handle still upgrades to
/// the weight's own buffer. A fine-tuned model's new weights are new buffers, packed at their
/// first pass; a dropped model's copies go at the next packing.
struct Packed {
    buffer: Weak<Bytes>,
    /// Where the weights start in the buffer, and their shape: a buffer may hold more than one.
    at: (*const f32, usize, usize),
    weights: Rc<PackedWeights>,
}

/// `linear`'s weights packed for [`undivided_kernels::dense`]: packed at the first call for a
/// weight buffer (one pass over the weights; 42 MB of copies for all-MiniLM-L6-v2's encoder),
/// then shared by every later call on this thread.
pub fn packed(linear: &Linear) -> Rc<PackedWeights> {
    let [d_in, d_out] = linear.weight.dims();
    let weight = flex_f32(linear.weight.val());
    let buffer = weight.buffer();
    let values = weight.as_slice().expect("contiguous");
    let at = (values.as_ptr(), d_in, d_out);
    PACKED.with_borrow_mut(|cache| {
        if let Some(hit) = cache.iter().find(|p| p.at == at && p.buffer.upgrade().is_some_and(|b| Arc::ptr_eq(&b, &buffer))) {
            return hit.weights.clone();
        }
        cache.retain(|p| p.buffer.strong_count() > 0);
        let weights = Rc::new(PackedWeights::new(values, d_in, d_out));
        cache.push(Packed { buffer: Arc::downgrade(&buffer), at, weights: weights.clone() });
        weights
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{f32_buffer, from_f32_buffer};
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    fn copies() -> usize {
        PACKED.with_borrow_mut(|cache| {
            cache.retain(|p| p.buffer.strong_count() > 0);
            cache.len()
        })
    }

    fn assert_close(got: Tensor<2>, want: Tensor<2>, what: &str) {
        let diff = (got - want).abs().max().into_scalar::<f32>();
        assert!(diff <= 1e-4, "{what}: off by {diff}");
    }

    /// The packed path equals burn's `Linear`, packs a weight once, follows weights written
    /// in place (the moved buffer keeps its address: only the weak handle tells them apart) and
    /// lets a dropped layer's copy go.
    #[test]
    fn packs_once_and_follows_the_weights() {
        let device = Device::flex();
        let linear = LinearConfig::new(40, 20).init(&device);
        let x = Tensor::<2>::random([5, 40], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(copies(), 0);
        assert_close(dense(&linear, x.clone()), linear.forward(x.clone()), "first pass");
        assert_close(dense(&linear, x.clone()), linear.forward(x.clone()), "second pass");
        assert_eq!(copies(), 1, "one copy for one weight");

        // The weight written in place, as the fused AdamW writes a buffer nothing else holds.
        let Linear { weight, bias } = linear;
        let (id, w) = (weight.id, weight.val());
        drop(weight);
        let mut bytes = f32_buffer(w);
        let address = bytes.as_ptr();
        bytemuck::cast_slice_mut::<u8, f32>(&mut bytes).iter_mut().for_each(|v| *v = -2.0 * *v + 0.5);
        assert_eq!(bytes.as_ptr(), address, "written in place");
        let weight = from_f32_buffer::<2>(bytes, [40, 20].into(), &device);
        let linear = Linear { weight: Param::initialized(id, weight), bias };
        assert_close(dense(&linear, x.clone()), linear.forward(x.clone()), "after the write");
        assert_eq!(copies(), 1, "the stale copy went");

        drop(linear);
        assert_eq!(copies(), 0, "a dropped layer's copy goes");
    }
}
