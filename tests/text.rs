//! Tokenizer behaviour: dynamic padding, truncation, pairs, bad input.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use undivided::error::TextError;
use undivided::{Checkpoint, TextInput};

fn tokenizer() -> undivided::BertTokenizer {
    Checkpoint::open(common::minilm_dir()).unwrap().tokenizer
}

#[test]
fn pads_to_the_longest_in_the_batch_not_to_128() {
    let t = tokenizer();
    let batch = t.encode_batch(&[TextInput::Single("short".into()), TextInput::Single("a somewhat longer sentence here".into())]).unwrap();
    assert_eq!(batch.seq_len, 7, "[CLS] a somewhat longer sentence here [SEP]");
    assert_eq!(batch.len_of(0), 3);
    assert_eq!(batch.row(&batch.attention_mask, 0), &[1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(batch.row(&batch.input_ids, 0)[3..], [0, 0, 0, 0], "padded with [PAD] = 0");
}

#[test]
fn pairs_get_token_types() {
    let t = tokenizer();
    let b = t.encode(&TextInput::Pair("hello world".into(), "good bye".into())).unwrap();
    assert_eq!(b.input_ids, vec![101, 7592, 2088, 102, 2204, 9061, 102]);
    assert_eq!(b.token_type_ids, vec![0, 0, 0, 0, 1, 1, 1]);
}

#[test]
fn truncates_to_max_len_and_says_so() {
    let mut t = tokenizer();
    let long = "word ".repeat(10_000);
    let b = t.encode(&TextInput::Single(long.clone())).unwrap();
    assert_eq!((b.seq_len, b.truncated), (128, 1));
    t.set_max_len(16, 512).unwrap();
    let b = t.encode(&TextInput::Pair(long.clone(), long)).unwrap();
    assert_eq!(b.seq_len, 16);
    assert_eq!(*b.input_ids.last().unwrap(), 102, "ends with [SEP]");
    assert!(matches!(t.set_max_len(1000, 512), Err(TextError::MaxLen { .. })));
}

#[test]
fn empty_sentences_are_rejected() {
    let t = tokenizer();
    assert!(matches!(t.encode(&TextInput::Single("   ".into())), Err(TextError::Empty)));
    assert!(matches!(t.encode(&TextInput::Pair("fine".into(), "".into())), Err(TextError::Empty)));
}
