//! Dropout with masks from a per-thread generator, so that parts of one batch can train on
//! several threads at once and still draw the same masks on every run.
//!
//! burn's `Dropout` draws its masks from one process-wide generator (on the CPU a ChaCha stream
//! per element): two threads drawing from it at once would get masks in whatever order they
//! happen to run, and a seeded run would no longer be reproducible. Inside [`with_mask_seed`]
//! the masks come from a generator owned by the calling thread instead (PCG, drawn on the host
//! and uploaded as a constant, which on the CPU is also cheaper than burn's stream). Outside it,
//! as in the browser and on a GPU, burn's own dropout runs.

use std::cell::RefCell;

use burn::nn::Dropout;
use burn::tensor::{Tensor, TensorData};
use rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;
use undivided_kernels::dropout::mask_values;

thread_local! {
    static MASKS: RefCell<Option<Pcg64Mcg>> = const { RefCell::new(None) };
}

/// Puts the previous generator back when `with_mask_seed` returns or unwinds, so nested calls
/// (rayon may run one batch part inside another's wait) each keep their own stream.
struct Restore(Option<Pcg64Mcg>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        MASKS.with(|m| *m.borrow_mut() = previous);
    }
}

/// Runs `f` with the dropout masks of this thread drawn from a generator seeded with `seed`:
/// the same `seed` and the same forward passes give the same masks, whichever thread runs them.
pub fn with_mask_seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let previous = MASKS.with(|m| m.borrow_mut().replace(Pcg64Mcg::seed_from_u64(seed)));
    let _restore = Restore(previous);
    f()
}

/// `layer.forward(x)`, with the mask from this thread's generator inside [`with_mask_seed`].
/// Like burn's, it is the identity unless `layer` is training on an autodiff device.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let shape = x.shape();
    let mask = MASKS.with(|m| m.borrow_mut().as_mut().map(|rng| mask_values(rng, layer.prob, shape.num_elements())));
    match mask {
        Some(mask) => {
            let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
            x * mask
        }
        None => layer.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_the_asked_share_and_scale_the_rest() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let m = mask_values(&mut rng, 0.1, 100_001);
        assert_eq!(m.len(), 100_001);
        let dropped = m.iter().filter(|v| **v == 0.0).count() as f64 / m.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "dropped share {dropped}");
        assert!(m.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.9).abs() < 1e-6));
    }

    #[test]
    fn the_same_seed_gives_the_same_masks_and_nesting_keeps_each_stream() {
        let draw = || MASKS.with(|m| mask_values(m.borrow_mut().as_mut().unwrap(), 0.5, 64));
        let (a, inner, b) = with_mask_seed(1, || {
            let a = draw();
            let inner = with_mask_seed(2, draw);
            (a, inner, draw())
        });
        let (a2, b2) = with_mask_seed(1, || (draw(), draw()));
        assert_eq!((a.clone(), b), (a2, b2));
        assert_eq!(inner, with_mask_seed(2, draw));
        assert_ne!(a, inner);
        assert!(MASKS.with(|m| m.borrow().is_none()), "the generator is removed afterwards");
    }
}
