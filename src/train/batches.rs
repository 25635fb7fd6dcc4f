//! Length-bucketed batches: examples of similar length share a batch, so dynamic padding wastes
//! little compute, while the order still changes every epoch.

use super::rng::Rng;

/// How many batches' worth of examples are sorted by length together. Larger windows pad less
/// but make batches less random; 50 is the usual compromise (fairseq, AllenNLP).
const WINDOW_BATCHES: usize = 50;

/// The batches of one epoch, as lists of example indices. Deterministic in `(seed, epoch)`.
pub fn epoch_batches(lengths: &[usize], batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    assert!(batch_size > 0);
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::with_capacity(lengths.len().div_ceil(batch_size));
    for window in order.chunks_mut(batch_size * WINDOW_BATCHES) {
        window.sort_by_key(|&i| lengths[i]); // stable: ties keep their shuffled order
        batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Batches in file order (for evaluation), `batch_size` at a time, sorted by length within each
/// window to pad less; the returned indices say where each prediction belongs.
pub fn eval_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_once_and_deterministic() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 37) % 61 + 3).collect();
        let a = epoch_batches(&lengths, 32, 7, 0);
        let mut seen: Vec<usize> = a.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, epoch_batches(&lengths, 32, 7, 0));
        assert_ne!(a, epoch_batches(&lengths, 32, 7, 1), "a new order each epoch");
        // Bucketing: the average spread of lengths inside a batch is small.
        let spread: usize = a
            .iter()
            .map(|b| {
                let l: Vec<usize> = b.iter().map(|&i| lengths[i]).collect();
                l.iter().max().unwrap() - l.iter().min().unwrap()
            })
            .sum();
        assert!(spread / a.len() < 10, "{}", spread / a.len());
    }
}
