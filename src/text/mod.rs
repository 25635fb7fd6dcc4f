//! Text to token ids: the BERT tokenizer and padded batches.

mod tokenizer;

pub use tokenizer::{Batch, BertTokenizer, DEFAULT_MAX_LEN, Encoded, TextInput};
