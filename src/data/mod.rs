//! Labelled data: GLUE readers ([`glue`]), the GLUE metrics ([`metrics`]), datasets tokenized
//! once ([`Prepared`]), train/dev and held-out splits ([`split`]), and a small built-in
//! sentiment sample that the default main job and the page use when no GLUE files are present.

pub mod corpus;
pub mod glue;
pub mod metrics;
pub mod prepared;
pub mod split;
#[cfg(not(target_arch = "wasm32"))]
pub mod text;

use std::path::Path;

pub use glue::{DataError, Dataset, Example, Label, RowError, Task, parse_tsv, parse_tsv_bytes, visible};
pub use metrics::Metric;
pub use prepared::Prepared;
pub use split::{split_held_out, split_user_tsv};

/// The built-in sample: 295 short movie-review sentences written for this project, labelled
/// 0 (negative) / 1 (positive), in the SST-2 layout, split 236 train / 59 dev.
pub mod sample {
    pub const TRAIN_TSV: &str = include_str!("../../data/sample/train.tsv");
    pub const DEV_TSV: &str = include_str!("../../data/sample/dev.tsv");
}

/// Reads a whole file of at most `cap` bytes, refusing a larger one before reading it; a file
/// whose size the file system does not report (a pipe, `/dev/zero`) is read up to the cap and
/// no further. `what` names the kind of file in the error.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_capped(path: &Path, cap: u64, what: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_large = |len: String| std::io::Error::other(format!("{len} bytes; a {what} is read whole, and at most {cap} bytes are accepted"));
    let len = std::fs::metadata(path)?.len();
    if len > cap {
        return Err(too_large(len.to_string()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(format!("more than {cap}")));
    }
    Ok(bytes)
}

/// The most bytes of a GLUE TSV file (MNLI's train set, the largest, is about 90 MB).
pub const MAX_TSV_BYTES: u64 = 512 << 20;
/// The most bytes of a healing text file (SST-2's sentences are 4 MB; pre-training streams its
/// corpus instead).
pub const MAX_TEXT_BYTES: u64 = 256 << 20;
/// The most bytes of a study, comparison or results JSON file.
pub const MAX_JSON_BYTES: u64 = 16 << 20;

/// The built-in sample's `train` or `dev` split, as an SST-2 dataset.
pub fn sample(split: &str) -> Dataset {
    let text = if split == "train" { sample::TRAIN_TSV } else { sample::DEV_TSV };
    parse_tsv(Task::Sst2, text, Path::new(&format!("builtin-sample/{split}.tsv")), false).expect("the built-in sample is well formed")
}
