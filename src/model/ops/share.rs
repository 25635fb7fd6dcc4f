//! One forward pass shared out by columns over workers that all run it: each worker computes its
//! share of every dense layer's outputs and the workers exchange the shares.
//!
//! Why: the page's CPU path splits a batch over its workers by rows, a share of the sentences
//! each, as the native trainer splits a batch over threads; one sentence cannot be split that
//! way, and at 1 × 16 tokens two workers ran no faster than one (12.9 against 13.1 ms, where
//! ONNX Runtime Web's two threads take 9.7). A sentence's dense layers are three quarters of its
//! pass (V8's profile), and they split by output columns: every worker runs the same pass on the
//! same input, computes columns `share(part)` of each dense layer (reading only those columns of
//! the weights), publishes them and reads the others' (on the page through a
//! `SharedArrayBuffer`, `web::share`), so each holds the whole output for the next operation.
//! Attention, LayerNorm and GELU (the other quarter) run whole in every worker.
//!
//! The workers must run the same dense layers in the same order, which the same model on the
//! same input does. A peer that stops answering does not lose the pass: the worker computes
//! every later layer whole by itself, and [`Sharing::finish`] reports what went wrong.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// The workers sharing a pass, as one of them sees them.
pub trait Peers {
    /// This worker's share, `0..parts()`.
    fn part(&self) -> usize;
    /// How many workers share the pass.
    fn parts(&self) -> usize;
    /// Publishes `all[part·block..(part+1)·block]` (this worker's share, `block =
    /// all.len() / parts` values) and fills the other shares' blocks of `all` with the peers'
    /// — waiting for them. An error ends the sharing (see [`Sharing`]).
    fn exchange(&self, all: &mut [f32]) -> Result<(), String>;
}

/// The output columns of `part` of `parts` shares of `d_out`: consecutive, on multiples of 8
/// (whole tiles of the dense kernel), the last shares possibly shorter or empty.
pub fn share(d_out: usize, part: usize, parts: usize) -> Range<usize> {
    let width = share_width(d_out, parts);
    let start = (part * width).min(d_out);
    start..(start + width).min(d_out)
}

/// The widest share of `d_out` over `parts` (every block of an exchange is this wide).
pub fn share_width(d_out: usize, parts: usize) -> usize {
    d_out.div_ceil(parts.max(1)).div_ceil(8) * 8
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

struct Active {
    peers: Rc<dyn Peers>,
    /// The first exchange that failed; from there on every layer runs whole here.
    failure: Option<String>,
}

/// While alive, this thread's dense layers on the CPU (up to 128 rows at inference) are shared
/// with `peers`. One per thread at a time.
#[must_use = "the sharing ends when this is dropped; `finish` says whether it held"]
pub struct Sharing(());

impl Sharing {
    /// Shares this thread's dense layers with `peers` until [`Sharing::finish`] (or drop).
    ///
    /// # Panics
    /// When this thread already shares its layers.
    pub fn start(peers: Rc<dyn Peers>) -> Sharing {
        ACTIVE.with_borrow_mut(|active| {
            assert!(active.is_none(), "a pass is already shared on this thread");
            *active = Some(Active { peers, failure: None });
        });
        Sharing(())
    }

    /// Ends the sharing: `Err` with the first failed exchange, after which this worker computed
    /// every layer whole (its outputs are right; its timing is not a shared pass's).
    pub fn finish(self) -> Result<(), String> {
        ACTIVE.with_borrow_mut(|active| active.take()).and_then(|a| a.failure).map_or(Ok(()), Err)
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        ACTIVE.with_borrow_mut(|active| *active = None);
    }
}

/// Whether this thread shares its dense layers now.
pub fn is_active() -> bool {
    ACTIVE.with_borrow(|active| active.as_ref().is_some_and(|a| a.failure.is_none()))
}

/// The output (`[rows, d_out]`, row-major) of a dense layer shared with this thread's peers:
/// `columns(range, out)` computes columns `range` into `out` (`[rows, range.len()]`). Without
/// peers, or after a failed exchange, every column is computed here.
pub fn dense_shared(rows: usize, d_out: usize, mut columns: impl FnMut(Range<usize>, &mut [f32])) -> Vec<f32> {
    let mut out = vec![0f32; rows * d_out];
    let Some(peers) = ACTIVE.with_borrow(|active| active.as_ref().filter(|a| a.failure.is_none()).map(|a| a.peers.clone())) else {
        columns(0..d_out, &mut out);
        return out;
    };
    let (part, parts) = (peers.part(), peers.parts());
    let block = rows * share_width(d_out, parts);
    let mut all = vec![0f32; parts * block];
    let mine = share(d_out, part, parts);
    columns(mine.clone(), &mut all[part * block..part * block + rows * mine.len()]);
    if let Err(e) = peers.exchange(&mut all) {
        ACTIVE.with_borrow_mut(|active| {
            if let Some(a) = active.as_mut() {
                a.failure = Some(e);
            }
        });
        columns(0..d_out, &mut out);
        return out;
    }
    for p in 0..parts {
        let cols = share(d_out, p, parts);
        let block = &all[p * block..p * block + rows * cols.len()];
        for (row, values) in out.chunks_exact_mut(d_out).zip(block.chunks_exact(cols.len().max(1))) {
            row[cols.clone()].copy_from_slice(&values[..cols.len()]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_columns_once_on_whole_tiles() {
        for (d_out, parts) in [(384, 2), (1536, 2), (384, 3), (1536, 4), (20, 2), (8, 3), (3072, 5)] {
            let mut next = 0;
            for p in 0..parts {
                let s = share(d_out, p, parts);
                assert_eq!(s.start, next, "{d_out}/{parts}: share {p} starts where the last ended");
                assert!(s.start.is_multiple_of(8) || s.is_empty(), "{d_out}/{parts}: share {p} {s:?} starts on a tile");
                assert!(s.len() <= share_width(d_out, parts));
                next = s.end;
            }
            assert_eq!(next, d_out, "{d_out}/{parts}: the shares cover every column");
        }
    }

    /// Peers that fail at once: the layer is still computed whole, and `finish` reports why.
    struct Gone;
    impl Peers for Gone {
        fn part(&self) -> usize {
            1
        }
        fn parts(&self) -> usize {
            2
        }
        fn exchange(&self, _: &mut [f32]) -> Result<(), String> {
            Err("the peer worker did not answer in 10 s".into())
        }
    }

    #[test]
    fn a_failed_exchange_computes_the_layer_here_and_is_reported() {
        let fill = |cols: Range<usize>, out: &mut [f32]| {
            let width = cols.len();
            for (i, v) in out.iter_mut().enumerate() {
                *v = (i / width * 100 + cols.start + i % width) as f32;
            }
        };
        let sharing = Sharing::start(Rc::new(Gone));
        assert!(is_active());
        let first = dense_shared(3, 20, fill);
        assert!(!is_active(), "a failed exchange ends the sharing");
        let second = dense_shared(3, 20, fill);
        let whole: Vec<f32> = (0..60).map(|i| (i / 20 * 100 + i % 20) as f32).collect();
        assert_eq!(first, whole);
        assert_eq!(second, whole);
        assert_eq!(sharing.finish(), Err("the peer worker did not answer in 10 s".to_string()));
        assert!(!is_active());
    }
}
