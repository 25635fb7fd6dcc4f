//! One forward pass shared over workers that all run it, as tensor parallelism splits a layer
//! (Megatron-LM): each worker computes its share of every attention block's heads and of every
//! intermediate block's columns, and the workers add up their parts of the two output layers.
//!
//! Why: the page's CPU path splits a batch over its workers by rows, a share of the sentences
//! each, as the native trainer splits a batch over threads; one sentence cannot be split that
//! way, and at 1 × 16 tokens two workers ran no faster than one (12.9 against 13.1 ms, where
//! ONNX Runtime Web's two threads take 9.7). A sentence's dense layers and attention are most of
//! its pass, and they split without talking between them:
//!
//! - attention: every worker projects the input to the queries, keys and values of its own heads
//!   (reading only those columns of the weights), attends over them, and multiplies its heads'
//!   context by its rows of `output.dense`: a partial sum of that layer's output;
//! - intermediate block: every worker computes its share of `intermediate.dense`'s columns and
//!   their activation, and multiplies them by its rows of `output.dense`: again a partial sum.
//!
//! The workers exchange the two partial sums (`[rows, hidden]` each) and add them in the same
//! order, so every worker holds the same output, bit for bit, for the residual and LayerNorm,
//! which run whole in every worker. That is two exchanges per layer (one for a layer without its
//! intermediate block). The first version shared every dense layer by columns and exchanged
//! after each of them, six times a layer: on a 2-vCPU VM each exchange cost 0.12–0.55 ms of
//! waiting, and two workers were only 1.2–1.3× as fast as one.
//!
//! The workers must run the same blocks in the same order, which the same model on the same
//! input does. A peer that stops answering does not lose the pass: the worker computes every
//! later block whole by itself, and [`Sharing::finish`] reports what went wrong.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use burn::nn::Linear;
use burn::tensor::{Bytes, Tensor};
use undivided_kernels::attention::{AttentionShape, self_attention};
use undivided_kernels::dense::Part;

use crate::device::{f32_buffer, from_f32_buffer};

/// Rows up to which a pass is shared (a sentence of up to 128 tokens): the size of the
/// partial sums the workers exchange, and so of the page's shared buffer.
pub const MAX_SHARED_ROWS: usize = 128;

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

/// The intermediate columns of `part` of `parts` shares of `d_out`: consecutive, on multiples
/// of 8 (whole tiles of the dense kernel), the last shares possibly shorter or empty.
pub fn share(d_out: usize, part: usize, parts: usize) -> Range<usize> {
    let width = d_out.div_ceil(parts.max(1)).div_ceil(8) * 8;
    let start = (part * width).min(d_out);
    start..(start + width).min(d_out)
}

/// The attention heads of `part` of `parts`: consecutive, as many each as whole heads allow,
/// the last shares possibly fewer or none.
pub fn heads_share(heads: usize, part: usize, parts: usize) -> Range<usize> {
    let each = heads.div_ceil(parts.max(1));
    let start = (part * each).min(heads);
    start..(start + each).min(heads)
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

struct Active {
    peers: Rc<dyn Peers>,
    /// The first exchange that failed; from there on every block runs whole here.
    failure: Option<String>,
}

/// While alive, this thread's attention and intermediate blocks on the CPU (up to [`MAX_SHARED_ROWS`] rows at
/// inference) are shared with `peers`. One per thread at a time.
#[must_use = "the sharing ends when this is dropped; `finish` says whether it held"]
pub struct Sharing(());

impl Sharing {
    /// Shares this thread's blocks with `peers` until [`Sharing::finish`] (or drop).
    ///
    /// # Panics
    /// When this thread already shares its blocks.
    pub fn start(peers: Rc<dyn Peers>) -> Sharing {
        ACTIVE.with_borrow_mut(|active| {
            assert!(active.is_none(), "a pass is already shared on this thread");
            *active = Some(Active { peers, failure: None });
        });
        Sharing(())
    }

    /// Ends the sharing: `Err` with the first failed exchange, after which this worker computed
    /// every block whole (its outputs are right; its timing is not a shared pass's).
    pub fn finish(self) -> Result<(), String> {
        ACTIVE.with_borrow_mut(|active| active.take()).and_then(|a| a.failure).map_or(Ok(()), Err)
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        ACTIVE.with_borrow_mut(|active| *active = None);
    }
}

/// Whether this thread shares its blocks now.
pub fn is_active() -> bool {
    ACTIVE.with_borrow(|active| active.as_ref().is_some_and(|a| a.failure.is_none()))
}

/// The peers of this thread's shared pass, when `x` goes through `linears` on the CPU path
/// (inference on burn-flex, `f32`, with biases, up to [`MAX_SHARED_ROWS`] rows).
fn peers_for(x: &Tensor<3>, linears: &[&Linear]) -> Option<Rc<dyn Peers>> {
    let peers = ACTIVE.with_borrow(|active| active.as_ref().filter(|a| a.failure.is_none()).map(|a| a.peers.clone()))?;
    linears.iter().all(|linear| super::cpu::applies(linear, x, MAX_SHARED_ROWS)).then_some(peers)
}

/// The attention block's `output.dense(MultiHead(query(x), key(x), value(x)))`, before its
/// dropout and residual, in a shared pass: this worker's heads, its part of `output`, summed
/// over the workers. `None` when this thread shares no pass (or `x` does not take the CPU
/// path), or when the exchange failed: the caller then computes the block itself.
pub fn attention(query: &Linear, key: &Linear, value: &Linear, output: &Linear, x: &Tensor<3>, mask_bias: &Tensor<4>, heads: usize) -> Option<Tensor<3>> {
    let peers = peers_for(x, &[query, key, value, output])?;
    let [batch, seq, hidden] = x.dims();
    let (rows, head_dim) = (batch * seq, hidden / heads);
    let mine = heads_share(heads, peers.part(), peers.parts());
    let cols = mine.start * head_dim..mine.end * head_dim;
    let input = f32_buffer(x.clone());
    let project = |linear: &Linear| columns_of(linear, bytemuck::cast_slice(&input), rows, cols.clone());
    let (q, k, v) = (project(query), project(key), project(value));
    let mut context = vec![0f32; rows * cols.len()];
    if !mine.is_empty() {
        let key_bias = f32_buffer(mask_bias.clone().slice([0..batch, 0..1, 0..1, 0..seq]));
        let shape = AttentionShape { batch, seq, heads: mine.len(), head_dim };
        self_attention(&q, &k, &v, bytemuck::cast_slice(&key_bias), shape, (head_dim as f32).sqrt().recip(), &mut context);
    }
    let partial = rows_of(output, &context, rows, cols, peers.part() == 0);
    let sum = all_reduce(&*peers, partial)?;
    Some(from_f32_buffer(Bytes::from_elems(sum), [batch, seq, hidden].into(), &x.device()))
}

/// The intermediate block's `output.dense(act(intermediate.dense(h)))`, before its dropout and
/// residual, in a shared pass: this worker's share of the intermediate columns, activated by
/// `act`, times its rows of `output`, summed over the workers. `None` as for [`attention`].
pub fn feed_forward(intermediate: &Linear, output: &Linear, h: &Tensor<3>, act: impl FnOnce(Tensor<3>) -> Tensor<3>) -> Option<Tensor<3>> {
    let peers = peers_for(h, &[intermediate, output])?;
    let [batch, seq, hidden] = h.dims();
    let rows = batch * seq;
    let [_, d_ff] = intermediate.weight.dims();
    let cols = share(d_ff, peers.part(), peers.parts());
    let input = f32_buffer(h.clone());
    let pre = columns_of(intermediate, bytemuck::cast_slice(&input), rows, cols.clone());
    let activated = if cols.is_empty() {
        pre
    } else {
        let pre = from_f32_buffer::<3>(Bytes::from_elems(pre), [1, rows, cols.len()].into(), &h.device());
        bytemuck::cast_slice(&f32_buffer(act(pre))).to_vec()
    };
    let partial = rows_of(output, &activated, rows, cols, peers.part() == 0);
    let sum = all_reduce(&*peers, partial)?;
    Some(from_f32_buffer(Bytes::from_elems(sum), [batch, seq, hidden].into(), &h.device()))
}

/// Columns `cols` of `linear` over `rows` inputs `x` (`[rows, d_in]`): `[rows, cols.len()]`,
/// reading only those columns' panels of the packed weights.
fn columns_of(linear: &Linear, x: &[f32], rows: usize, cols: Range<usize>) -> Vec<f32> {
    let [d_in, _] = linear.weight.dims();
    super::cpu::dense_part(linear, x, Part { rows, cols, inputs: 0..d_in }, true)
}

/// `x · W[inputs] (+ bias)`: this worker's part of `linear`'s output from its inputs `inputs`
/// (`x`: `[rows, inputs.len()]`). One worker (`with_bias`) adds the bias, so that the parts sum
/// to the layer's output.
fn rows_of(linear: &Linear, x: &[f32], rows: usize, inputs: Range<usize>, with_bias: bool) -> Vec<f32> {
    let [_, d_out] = linear.weight.dims();
    super::cpu::dense_part(linear, x, Part { rows, cols: 0..d_out, inputs }, with_bias)
}

/// Every worker's `partial` (the same length in each) summed in the order of their parts, so
/// that every worker holds the same sum, bit for bit. `None`, and the sharing ends here, when
/// the exchange fails.
fn all_reduce(peers: &dyn Peers, partial: Vec<f32>) -> Option<Vec<f32>> {
    let (part, parts, block) = (peers.part(), peers.parts(), partial.len());
    let mut all = vec![0f32; parts * block];
    all[part * block..(part + 1) * block].copy_from_slice(&partial);
    if let Err(e) = peers.exchange(&mut all) {
        ACTIVE.with_borrow_mut(|active| {
            if let Some(a) = active.as_mut() {
                a.failure.get_or_insert(e);
            }
        });
        return None;
    }
    let (sum, others) = all.split_at_mut(block);
    for other in others.chunks_exact(block) {
        sum.iter_mut().zip(other).for_each(|(s, v)| *s += v);
    }
    all.truncate(block);
    Some(all)
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
                next = s.end;
            }
            assert_eq!(next, d_out, "{d_out}/{parts}: the shares cover every column");
        }
    }

    #[test]
    fn heads_shares_cover_the_heads_once() {
        for (heads, parts, widest) in [(12, 2, 6), (12, 5, 3), (4, 3, 2), (1, 2, 1)] {
            let shares: Vec<_> = (0..parts).map(|p| heads_share(heads, p, parts)).collect();
            assert_eq!(shares.iter().map(|s| s.len()).sum::<usize>(), heads, "{heads}/{parts}: {shares:?}");
            assert!(shares.windows(2).all(|w| w[0].end == w[1].start), "{heads}/{parts}: consecutive, {shares:?}");
            assert_eq!(shares.iter().map(|s| s.len()).max(), Some(widest), "{heads}/{parts}: {shares:?}");
        }
    }

    /// Worker 1 of 3, whose peers hold `1e8` (worker 0) and `-1e8` (worker 2) everywhere.
    struct Opposites;
    impl Peers for Opposites {
        fn part(&self) -> usize {
            1
        }
        fn parts(&self) -> usize {
            3
        }
        fn exchange(&self, all: &mut [f32]) -> Result<(), String> {
            let block = all.len() / 3;
            all[..block].fill(1e8);
            all[2 * block..].fill(-1e8);
            Ok(())
        }
    }

    /// Every worker must end with the same sum, bit for bit, so the parts are added in one
    /// order: `(1e8 + 1) − 1e8` is 0 in `f32`, where any other order gives 1.
    #[test]
    fn partial_sums_add_up_in_the_order_of_the_parts() {
        assert_eq!(all_reduce(&Opposites, vec![1.0, 0.0]), Some(vec![0.0, 0.0]));
    }

    /// Peers that fail at once: the block is left to the caller, the sharing ends, `finish` says why.
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
    fn a_failed_exchange_ends_the_sharing_and_is_reported() {
        let sharing = Sharing::start(Rc::new(Gone));
        assert!(is_active());
        assert_eq!(all_reduce(&Gone, vec![1.0; 6]), None);
        assert!(!is_active(), "a failed exchange ends the sharing");
        assert_eq!(sharing.finish(), Err("the peer worker did not answer in 10 s".to_string()));
        assert!(!is_active());
    }
}
