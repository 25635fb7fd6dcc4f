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

/// The built-in sample's `train` or `dev` split, as an SST-2 dataset.
pub fn sample(split: &str) -> Dataset {
    let text = if split == "train" { sample::TRAIN_TSV } else { sample::DEV_TSV };
    parse_tsv(Task::Sst2, text, Path::new(&format!("builtin-sample/{split}.tsv")), false)
        .expect("the built-in sample is well formed")
}
