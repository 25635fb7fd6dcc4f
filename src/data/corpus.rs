//! A pre-training corpus: a folder of UTF-8 text shards (one paragraph a line) read as a stream,
//! its tokens **packed** into full sequences across paragraph boundaries, so that no compute goes
//! to padding.
//!
//! A sequence is `[CLS] body [SEP]`; paragraphs follow each other in the body with a `[SEP]`
//! between them, and a paragraph longer than a sequence simply continues in the next one (split,
//! never dropped). Only the last sequence of a shard can be short (padded).
//!
//! Memory is bounded whatever the corpus size: one shard is read at a time, line by line, and
//! its sequences are shuffled in windows of [`WINDOW`] sequences. The order — shards per pass,
//! sequences per window — comes from the seed alone, so a [`StreamPosition`] saved in a run's
//! `last/` is enough to continue with the very sequence an uninterrupted run would take next.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::text::{Batch, BertTokenizer};

/// Sequences shuffled together; about 0.5 M tokens at length 128.
pub const WINDOW: usize = 4096;

/// A line longer than this is not read (counted and reported as skipped): no paragraph of prose
/// comes near it, and a binary file read as text must not grow without bound.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The most bytes skipped of one over-long line before the file is refused.
pub const MAX_SKIP_BYTES: usize = 64 << 20;

/// What is wrong with a corpus folder or one of its files.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: no text shards (expected files ending in .txt, one paragraph a line)")]
    NoShards { dir: PathBuf },
    #[error("{path}:{line}: not UTF-8 text (a binary file?); expected one paragraph of UTF-8 text a line")]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{path}:{line}: contains a NUL byte (a binary file?); expected one paragraph of UTF-8 text a line")]
    Binary { path: PathBuf, line: usize },
    #[error("{path}: no text (every line is empty or skipped)")]
    Empty { path: PathBuf },
    #[error("{path}:{line}: tokenizing failed: {reason}")]
    Tokenize { path: PathBuf, line: usize, reason: String },
    #[error("the tokenizer has no `{0}` token, which packed sequences need")]
    MissingToken(&'static str),
    #[error("--max-len {0}: expected at least 8 tokens for packed sequences")]
    MaxLen(usize),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError + '_ {
    move |source| CorpusError::Io { path: path.to_path_buf(), source }
}

/// The shards of a corpus folder: every `*.txt` file, sorted by name, less the validation file.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub dir: PathBuf,
    pub shards: Vec<PathBuf>,
}

impl Corpus {
    /// The text shards in `dir`, leaving out `exclude` (the held-out file, when it lies there).
    pub fn open(dir: &Path, exclude: Option<&Path>) -> Result<Self, CorpusError> {
        let excluded = exclude.and_then(|p| p.canonicalize().ok());
        let mut shards = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let is_text = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) && path.is_file();
            if is_text && (excluded.is_none() || path.canonicalize().ok() != excluded) {
                shards.push(path);
            }
        }
        if shards.is_empty() {
            return Err(CorpusError::NoShards { dir: dir.to_path_buf() });
        }
        shards.sort();
        Ok(Self { dir: dir.to_path_buf(), shards })
    }

    /// Bytes in all shards (for the run's report).
    pub fn bytes(&self) -> u64 {
        self.shards.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum()
    }
}

/// The token ids packing needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub mask: u32,
}

impl SpecialIds {
    pub fn of(tokenizer: &BertTokenizer) -> Result<Self, CorpusError> {
        let id = |t: &'static str| tokenizer.inner().token_to_id(t).ok_or(CorpusError::MissingToken(t));
        Ok(Self { cls: id("[CLS]")?, sep: id("[SEP]")?, pad: tokenizer.pad_id(), mask: id("[MASK]")? })
    }
}

/// One packed sequence: `len` real tokens (the rest of `max_len` is padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub ids: Vec<u32>,
}

/// Counts of what a stream read, for the run's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PackStats {
    /// Sequences produced.
    pub sequences: u64,
    /// Positions that hold a real token (text or `[CLS]` / `[SEP]`).
    pub real_tokens: u64,
    /// All positions, padding included.
    pub positions: u64,
    /// Lines skipped (empty lines are not counted; over-long lines are).
    pub skipped_lines: u64,
}

impl PackStats {
    /// Real tokens over all positions: 1.0 is no padding at all.
    pub fn efficiency(&self) -> f64 {
        self.real_tokens as f64 / self.positions.max(1) as f64
    }
}

/// Packs paragraphs' tokens into sequences of `max_len`.
pub struct Packer {
    max_len: usize,
    special: SpecialIds,
    current: Vec<u32>,
}

impl Packer {
    pub fn new(max_len: usize, special: SpecialIds) -> Result<Self, CorpusError> {
        if max_len < 8 {
            return Err(CorpusError::MaxLen(max_len));
        }
        Ok(Self { max_len, special, current: vec![special.cls] })
    }

    /// Adds one paragraph's tokens (without special tokens); full sequences go to `out`.
    pub fn push(&mut self, tokens: &[u32], out: &mut Vec<Packed>) {
        if tokens.is_empty() {
            return;
        }
        // A separator between paragraphs within a sequence, never right after [CLS].
        if self.current.len() > 1 {
            self.current.push(self.special.sep);
            self.flush_if_full(out);
        }
        for &t in tokens {
            if self.current.len() == 1 && t == self.special.sep {
                continue;
            }
            self.current.push(t);
            self.flush_if_full(out);
        }
    }

    fn flush_if_full(&mut self, out: &mut Vec<Packed>) {
        // Room for the closing [SEP].
        if self.current.len() == self.max_len - 1 {
            let mut ids = std::mem::replace(&mut self.current, vec![self.special.cls]);
            if ids.last() == Some(&self.special.sep) {
                // A paragraph ended exactly here: its separator becomes the closing one.
                ids.pop();
            }
            ids.push(self.special.sep);
            out.push(Packed { ids });
        }
    }

    /// The last, short sequence (if it holds any text).
    pub fn finish(&mut self, out: &mut Vec<Packed>) {
        let mut ids = std::mem::replace(&mut self.current, vec![self.special.cls]);
        if ids.last() == Some(&self.special.sep) {
            ids.pop();
        }
        if ids.len() > 1 {
            ids.push(self.special.sep);
            out.push(Packed { ids });
        }
    }
}

/// A paragraph-per-line reader that checks each line: UTF-8, no NUL, at most
/// [`MAX_LINE_BYTES`] (longer lines are skipped and counted, read in bounded pieces).
pub struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    line: usize,
    buf: Vec<u8>,
    pub skipped: u64,
}

impl Lines {
    pub fn open(path: &Path) -> Result<Self, CorpusError> {
        let file = File::open(path).map_err(io(path))?;
        Ok(Self { reader: BufReader::with_capacity(1 << 16, file), path: path.to_path_buf(), line: 0, buf: Vec::new(), skipped: 0 })
    }

    /// The next non-empty line (trimmed), with its 1-based line number.
    pub fn next_line(&mut self) -> Result<Option<(usize, String)>, CorpusError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut self.buf).map_err(io(&self.path))?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                // Over-long: skip to the end of the line in bounded pieces — but not forever (a
                // device such as /dev/zero, or a binary file, has no line ends).
                self.skipped += 1;
                let mut skipped = self.buf.len();
                loop {
                    if self.buf.contains(&0) {
                        return Err(CorpusError::Binary { path: self.path.clone(), line: self.line });
                    }
                    if skipped > MAX_SKIP_BYTES {
                        return Err(CorpusError::Io {
                            path: self.path.clone(),
                            source: std::io::Error::other(format!(
                                "line {}: over {MAX_SKIP_BYTES} bytes without a line end; expected one paragraph a line",
                                self.line
                            )),
                        });
                    }
                    self.buf.clear();
                    let n = (&mut self.reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut self.buf).map_err(io(&self.path))?;
                    skipped += n;
                    if n == 0 || self.buf.last() == Some(&b'\n') {
                        break;
                    }
                }
                continue;
            }
            if self.buf.contains(&0) {
                return Err(CorpusError::Binary { path: self.path.clone(), line: self.line });
            }
            let text = std::str::from_utf8(&self.buf).map_err(|_| CorpusError::NotUtf8 { path: self.path.clone(), line: self.line })?;
            let text = text.trim();
            if !text.is_empty() {
                return Ok(Some((self.line, text.to_string())));
            }
        }
    }
}

/// Tokenizes a paragraph without special tokens or truncation.
fn tokenize(tokenizer: &tokenizers::Tokenizer, text: &str, path: &Path, line: usize) -> Result<Vec<u32>, CorpusError> {
    tokenizer.encode(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| CorpusError::Tokenize { path: path.to_path_buf(), line, reason: e.to_string() })
}

/// A tokenizer that neither truncates nor pads (packing does both).
fn plain(tokenizer: &BertTokenizer) -> tokenizers::Tokenizer {
    let mut t = tokenizer.inner().clone();
    t.with_truncation(None).expect("no truncation is always valid");
    t.with_padding(None);
    t
}

/// The first `n` packed sequences of a file (the held-out set), with the packing counts.
pub fn pack_file(path: &Path, tokenizer: &BertTokenizer, max_len: usize, n: usize) -> Result<(Vec<Packed>, PackStats), CorpusError> {
    let special = SpecialIds::of(tokenizer)?;
    let inner = plain(tokenizer);
    let mut packer = Packer::new(max_len, special)?;
    let mut lines = Lines::open(path)?;
    let mut out = Vec::new();
    while out.len() < n {
        let Some((line, text)) = lines.next_line()? else { break };
        packer.push(&tokenize(&inner, &text, path, line)?, &mut out);
    }
    if out.len() < n {
        packer.finish(&mut out);
    }
    out.truncate(n);
    if out.is_empty() {
        return Err(CorpusError::Empty { path: path.to_path_buf() });
    }
    let mut stats = PackStats { skipped_lines: lines.skipped, ..PackStats::default() };
    for p in &out {
        stats.count(p, max_len);
    }
    Ok((out, stats))
}

impl PackStats {
    fn count(&mut self, p: &Packed, max_len: usize) {
        self.sequences += 1;
        self.real_tokens += p.ids.len() as u64;
        self.positions += max_len as u64;
    }
}

/// The largest token budget a run accepts (10¹²: far past any corpus this tool meets, and far
/// from overflowing the step arithmetic).
pub const MAX_TOKENS: u64 = 1_000_000_000_000;

/// The budget in words: `16M`, `512k`, `1.5M`, or a plain count.
pub fn tokens_label(tokens: u64) -> String {
    let (value, unit) = if tokens >= 1_000_000_000 {
        (tokens as f64 / 1e9, "G")
    } else if tokens >= 1_000_000 {
        (tokens as f64 / 1e6, "M")
    } else if tokens >= 1000 {
        (tokens as f64 / 1e3, "k")
    } else {
        return tokens.to_string();
    };
    let text = format!("{value:.3}");
    format!("{}{unit}", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Reads a token count as [`tokens_label`] writes it (`16M`, `512k`, `1.5M`, `2G`, `4096`).
pub fn parse_tokens(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}`: expected a token count such as 16M, 512k or 4096"))?;
    let tokens = value * scale;
    if !(tokens.is_finite() && tokens >= 1.0 && tokens <= MAX_TOKENS as f64) {
        return Err(format!("`{text}`: expected a token count from 1 to 1000G"));
    }
    Ok(tokens.round() as u64)
}

/// Where a stream is: the pass over the corpus, the shard within the pass's order and the
/// sequences of that shard already taken. Saved in `last/state.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    pub pass: usize,
    pub shard: usize,
    pub taken: usize,
}

/// The corpus as an endless stream of packed sequences in a seeded order.
pub struct CorpusStream {
    corpus: Corpus,
    inner: tokenizers::Tokenizer,
    special: SpecialIds,
    max_len: usize,
    seed: u64,
    pub position: StreamPosition,
    /// The current shard's reader and its packed sequences not yet shuffled out.
    lines: Option<Lines>,
    packer: Packer,
    /// The current window, shuffled; `window_next` is the next to hand out.
    window: Vec<Packed>,
    window_index: usize,
    window_next: usize,
    /// Shards in the current pass that held no text (reported, then skipped).
    pub empty_shards: Vec<PathBuf>,
    pub stats: PackStats,
}

impl CorpusStream {
    /// A stream over `corpus` starting at `position` (the start: `StreamPosition::default()`).
    pub fn new(corpus: Corpus, tokenizer: &BertTokenizer, max_len: usize, seed: u64, position: StreamPosition) -> Result<Self, CorpusError> {
        let special = SpecialIds::of(tokenizer)?;
        let mut stream = Self {
            corpus,
            inner: plain(tokenizer),
            special,
            max_len,
            seed,
            position: StreamPosition { taken: 0, ..position },
            lines: None,
            packer: Packer::new(max_len, special)?,
            window: Vec::new(),
            window_index: 0,
            window_next: 0,
            empty_shards: Vec::new(),
            stats: PackStats::default(),
        };
        // Fast-forward within the shard: the same sequences in the same order, not counted.
        for _ in 0..position.taken {
            stream.next_sequence()?;
        }
        stream.stats = PackStats::default();
        Ok(stream)
    }

    /// The shard order of pass `pass` (a permutation of the shards, from the seed).
    pub fn shard_order(&self, pass: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.corpus.shards.len()).collect();
        shuffle(&mut order, mix(self.seed, &[0x0053_4841_5244, pass as u64]));
        order
    }

    /// The next packed sequence.
    pub fn next_sequence(&mut self) -> Result<Packed, CorpusError> {
        let mut shards_without_text = 0;
        loop {
            if self.window_next < self.window.len() {
                let p = std::mem::replace(&mut self.window[self.window_next], Packed { ids: Vec::new() });
                self.window_next += 1;
                self.position.taken += 1;
                self.stats.count(&p, self.max_len);
                return Ok(p);
            }
            if self.fill_window()? {
                continue;
            }
            // The shard is used up: on to the next (and the next pass after the last).
            let path = self.current_shard();
            if self.position.taken == 0 {
                self.empty_shards.push(path);
                shards_without_text += 1;
                if shards_without_text >= self.corpus.shards.len() {
                    return Err(CorpusError::Empty { path: self.corpus.dir.clone() });
                }
            }
            self.position.shard += 1;
            self.position.taken = 0;
            if self.position.shard >= self.corpus.shards.len() {
                self.position.shard = 0;
                self.position.pass += 1;
            }
            self.lines = None;
            self.window_index = 0;
        }
    }

    fn current_shard(&self) -> PathBuf {
        self.corpus.shards[self.shard_order(self.position.pass)[self.position.shard]].clone()
    }

    /// Reads the current shard until a window is full or the shard ends; `false` when the shard
    /// had nothing left.
    fn fill_window(&mut self) -> Result<bool, CorpusError> {
        let path = self.current_shard();
        if self.lines.is_none() {
            self.lines = Some(Lines::open(&path)?);
            self.packer = Packer::new(self.max_len, self.special)?;
        }
        let lines = self.lines.as_mut().expect("opened above");
        let mut window = Vec::with_capacity(WINDOW);
        while window.len() < WINDOW {
            match lines.next_line()? {
                Some((line, text)) => self.packer.push(&tokenize(&self.inner, &text, &path, line)?, &mut window),
                None => {
                    self.packer.finish(&mut window);
                    break;
                }
            }
        }
        self.stats.skipped_lines += std::mem::take(&mut lines.skipped);
        if window.is_empty() {
            return Ok(false);
        }
        let key = mix(self.seed, &[0x5749_4e44_4f57, self.position.pass as u64, self.position.shard as u64, self.window_index as u64]);
        shuffle(&mut window, key);
        self.window = window;
        self.window_next = 0;
        self.window_index += 1;
        Ok(true)
    }

    /// `n` sequences as a batch (padded to `max_len` where a shard's last one is short).
    pub fn next_batch(&mut self, n: usize) -> Result<Batch, CorpusError> {
        let rows: Vec<Packed> = (0..n).map(|_| self.next_sequence()).collect::<Result<_, _>>()?;
        Ok(to_batch(&rows, self.max_len, self.special.pad))
    }
}

/// Packed sequences as a `[n, max_len]` batch (token type 0, mask 1 on real tokens).
pub fn to_batch(rows: &[Packed], max_len: usize, pad: u32) -> Batch {
    let mut batch = Batch {
        input_ids: Vec::with_capacity(rows.len() * max_len),
        token_type_ids: vec![0; rows.len() * max_len],
        attention_mask: Vec::with_capacity(rows.len() * max_len),
        batch_size: rows.len(),
        seq_len: max_len,
        truncated: 0,
    };
    for r in rows {
        let fill = max_len - r.ids.len();
        batch.input_ids.extend(r.ids.iter().map(|&t| t as i64).chain(std::iter::repeat_n(pad as i64, fill)));
        batch.attention_mask.extend(std::iter::repeat_n(1, r.ids.len()).chain(std::iter::repeat_n(0, fill)));
    }
    batch
}

/// A generator's seed from a run's seed and a path of keys (pass, shard, window).
pub(crate) fn mix(seed: u64, keys: &[u64]) -> u64 {
    keys.iter().fold(seed ^ 0x9E37_79B9_7F4A_7C15, |h, &k| (h ^ k).wrapping_mul(0x0100_0000_01b3).rotate_left(29).wrapping_add(0x9E37_79B9))
}

/// Fisher–Yates with a seeded PCG.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: SpecialIds = SpecialIds { cls: 101, sep: 102, pad: 0, mask: 103 };

    #[test]
    fn packing_fills_sequences_across_paragraphs_and_splits_long_ones() {
        let mut packer = Packer::new(8, SPECIAL).unwrap();
        let mut out = Vec::new();
        packer.push(&[1, 2, 3], &mut out);
        packer.push(&[4, 5, 6, 7, 8, 9, 10, 11, 12, 13], &mut out);
        packer.finish(&mut out);
        let ids: Vec<Vec<u32>> = out.into_iter().map(|p| p.ids).collect();
        assert_eq!(ids, vec![vec![101, 1, 2, 3, 102, 4, 5, 102], vec![101, 6, 7, 8, 9, 10, 11, 102], vec![101, 12, 13, 102]]);
    }

    #[test]
    fn a_paragraph_ending_at_a_sequence_end_closes_it_once() {
        let mut packer = Packer::new(8, SPECIAL).unwrap();
        let mut out = Vec::new();
        packer.push(&[1, 2, 3, 4, 5, 6], &mut out);
        packer.push(&[7], &mut out);
        packer.finish(&mut out);
        let ids: Vec<Vec<u32>> = out.into_iter().map(|p| p.ids).collect();
        assert_eq!(ids, vec![vec![101, 1, 2, 3, 4, 5, 6, 102], vec![101, 7, 102]]);
        assert!(Packer::new(4, SPECIAL).is_err());
    }

    #[test]
    fn shuffles_are_permutations_fixed_by_the_seed() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }
}
