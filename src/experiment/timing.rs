//! What `undivided bench` and the page's benchmark share, so that their figures are one
//! measurement: the fixed-shape input ([`BenchInput`]) and the timing loop ([`time_passes`]).
//! Compiled for both targets; the loop is `async` because the page reads every result back
//! without blocking, and the command line drives it with `pollster`.

use std::future::Future;

use web_time::Instant;

use crate::checkpoint::Checkpoint;
use crate::device::{LaunchCounter, Launches};
use crate::text::{Batch, Encoded};

/// The ids a fixed-shape row is made of: `[CLS]`, `[SEP]`, and words spread over the vocabulary
/// (ids 1000..21000 in a BERT-size vocabulary, as the figures in docs/benchmarks.md were measured;
/// the whole vocabulary of a smaller one). Every position is a real token: no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchInput {
    cls: u32,
    sep: u32,
    size: usize,
}

impl BenchInput {
    /// The special tokens from the checkpoint's own tokenizer (BERT's ids where it has none).
    pub fn of(checkpoint: &Checkpoint) -> Self {
        let id = |t: &str, default: u32| checkpoint.tokenizer.inner().token_to_id(t).unwrap_or(default);
        Self { cls: id("[CLS]", 101), sep: id("[SEP]", 102), size: checkpoint.config.vocab_size }
    }

    /// The fixed-shape batch every benchmark times: `batch` rows of `seq_len` real tokens.
    pub fn batch(self, batch: usize, seq_len: usize) -> Batch {
        let rows: Vec<Encoded> =
            (0..batch).map(|r| Encoded { input_ids: self.row(r, seq_len).collect(), token_type_ids: vec![0; seq_len], truncated: false }).collect();
        Batch::from_rows(&rows.iter().collect::<Vec<_>>(), 0)
    }

    /// Token ids of a fixed-shape row `r`: [CLS] w … w [SEP].
    fn row(self, r: usize, seq_len: usize) -> impl Iterator<Item = u32> {
        (0..seq_len).map(move |j| {
            let spread = r * 131 + j * 17;
            if j == 0 {
                self.cls
            } else if j == seq_len - 1 {
                self.sep
            } else if self.size > 21_000 {
                1000 + (spread % 20000) as u32
            } else {
                (spread % self.size) as u32
            }
        })
    }
}

/// What [`time_passes`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The first pass alone: on a GPU it compiles the kernels (reported apart, never averaged in).
    pub first_ms: f64,
    /// Launches of one pass after the warm-up (`None` where not counted: the CPU runs no kernels).
    pub launches: Option<Launches>,
    /// Mean of the timed passes.
    pub ms_per_pass: f64,
}

/// Runs `pass` `warmup` times untimed (at least once: the first is reported as `first_ms`),
/// once more counting GPU kernel launches when `count_launches`, then `iters` times timed. Each
/// pass must read its result back to the host, so that the time covers the work, not its queueing.
pub async fn time_passes<E, F, Fut>(warmup: usize, iters: usize, count_launches: bool, mut pass: F) -> Result<Timing, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let start = Instant::now();
    pass().await?;
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    for _ in 1..warmup {
        pass().await?;
    }
    let launches = if count_launches {
        let counter = LaunchCounter::start();
        pass().await?;
        Some(counter.finish())
    } else {
        None
    };
    let start = Instant::now();
    for _ in 0..iters {
        pass().await?;
    }
    Ok(Timing { first_ms, launches, ms_per_pass: start.elapsed().as_secs_f64() * 1e3 / iters.max(1) as f64 })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Warm-up, launch count and timed passes are each taken the number of times asked, and a
    /// failing pass stops the loop with its error.
    #[test]
    fn the_loop_runs_each_phase_as_asked() {
        let mut n = 0;
        let t = pollster::block_on(time_passes::<(), _, _>(3, 5, false, || {
            n += 1;
            async { Ok(()) }
        }))
        .unwrap();
        assert_eq!(n, 8);
        assert!(t.first_ms >= 0.0 && t.ms_per_pass >= 0.0 && t.launches.is_none());
        let mut m = 0;
        let failed = pollster::block_on(time_passes(1, 5, false, || {
            m += 1;
            let r = if m == 3 { Err("third") } else { Ok(()) };
            async move { r }
        }));
        assert_eq!((failed, m), (Err("third"), 3));
    }

    /// Rows are all real tokens, framed by the model's [CLS] and [SEP], ids inside the vocabulary.
    #[test]
    fn the_fixed_batch_has_no_padding_and_fits_the_vocabulary() {
        let input = BenchInput { cls: 2, sep: 3, size: 1000 };
        let b = input.batch(4, 16);
        assert_eq!((b.batch_size, b.seq_len), (4, 16));
        let ids: Vec<u32> = input.row(1, 16).collect();
        assert_eq!((ids[0], ids[15]), (2, 3));
        assert!(ids.iter().all(|&i| (i as usize) < 1000));
        let big = BenchInput { cls: 101, sep: 102, size: 30522 };
        assert!(big.row(0, 8).skip(1).take(6).all(|i| (1000..21000).contains(&i)));
    }
}
