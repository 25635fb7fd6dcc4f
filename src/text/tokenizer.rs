//! `BertTokenizer`: HF `tokenizers` with dynamic padding and a max length of our choosing.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{Value, json};
use tokenizers::{EncodeInput, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::TextError;
use crate::model::BertInput;

/// Default maximum sequence length (tokens, special tokens included).
pub const DEFAULT_MAX_LEN: usize = 128;

/// One input: a sentence, or a sentence pair (which gets token type ids 0 / 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    Single(String),
    Pair(String, String),
}

impl TextInput {
    pub fn new(a: impl Into<String>, b: Option<String>) -> Self {
        match b {
            Some(b) => Self::Pair(a.into(), b),
            None => Self::Single(a.into()),
        }
    }
}

/// A tokenized batch, padded to its longest member, on the host (row-major `[batch, seq]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub input_ids: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub batch_size: usize,
    pub seq_len: usize,
    /// How many inputs were cut to the max length.
    pub truncated: usize,
}

/// One tokenized input without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    pub truncated: bool,
}

impl Batch {
    /// Pads already-tokenized rows to the longest of them with `pad_id`.
    pub fn from_rows(rows: &[&Encoded], pad_id: u32) -> Self {
        let seq_len = rows.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
        let n = rows.len() * seq_len;
        let mut batch = Batch {
            input_ids: Vec::with_capacity(n),
            token_type_ids: Vec::with_capacity(n),
            attention_mask: Vec::with_capacity(n),
            batch_size: rows.len(),
            seq_len,
            truncated: rows.iter().filter(|r| r.truncated).count(),
        };
        for r in rows {
            let pad = seq_len - r.input_ids.len();
            batch.input_ids.extend(r.input_ids.iter().map(|&v| v as i64).chain(std::iter::repeat_n(pad_id as i64, pad)));
            batch.token_type_ids.extend(r.token_type_ids.iter().map(|&v| v as i64).chain(std::iter::repeat_n(0, pad)));
            batch.attention_mask.extend(std::iter::repeat_n(1, r.input_ids.len()).chain(std::iter::repeat_n(0, pad)));
        }
        batch
    }

    /// Moves the batch onto `device` as the model's input tensors.
    pub fn to_input(&self, device: &Device) -> BertInput {
        let shape = [self.batch_size, self.seq_len];
        let t = |v: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), shape), device);
        BertInput { input_ids: t(&self.input_ids), token_type_ids: t(&self.token_type_ids), attention_mask: t(&self.attention_mask) }
    }

    /// The rows `rows` of this batch, padded as they are here (`truncated` is counted per batch,
    /// not per row, and is 0 in the slice).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Batch {
        let cells = rows.start * self.seq_len..rows.end * self.seq_len;
        Batch {
            input_ids: self.input_ids[cells.clone()].to_vec(),
            token_type_ids: self.token_type_ids[cells.clone()].to_vec(),
            attention_mask: self.attention_mask[cells].to_vec(),
            batch_size: rows.len(),
            seq_len: self.seq_len,
            truncated: 0,
        }
    }

    /// Number of real (unpadded) tokens in the whole batch.
    pub fn real_tokens(&self) -> usize {
        (0..self.batch_size).map(|i| self.len_of(i)).sum()
    }

    /// Row `i` of a `[batch, seq]` field.
    pub fn row<'a>(&self, field: &'a [i64], i: usize) -> &'a [i64] {
        &field[i * self.seq_len..(i + 1) * self.seq_len]
    }

    /// Number of real (unpadded) tokens in row `i`.
    pub fn len_of(&self, i: usize) -> usize {
        self.row(&self.attention_mask, i).iter().filter(|m| **m != 0).count()
    }
}

/// A BERT WordPiece tokenizer.
///
/// Whatever padding and truncation `tokenizer.json` carries is replaced: the MiniLM file pads
/// every input to 128 tokens, which would make short sentences cost as much as long ones. Here a
/// batch is padded to its longest member and inputs longer than `max_len` are truncated
/// (longest-first for pairs, as HF does).
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    max_len: usize,
    /// The model's `type_vocab_size`: a model with one token type reads no sentence pairs.
    type_vocab_size: usize,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer").field("vocab_size", &self.inner.get_vocab_size(true)).field("max_len", &self.max_len).finish()
    }
}

impl BertTokenizer {
    /// From the bytes of a `tokenizer.json`; `source` names the file in errors.
    pub fn from_json_bytes(bytes: &[u8], source: &str) -> Result<Self, TextError> {
        let load_err = |reason: String| TextError::Load { path: source.into(), reason };
        // `tokenizers` panics (an `expect` inside its deserializers) on some malformed files —
        // broken JSON inside a component, a `Precompiled` normalizer with a bad char map — and a
        // panic in the page ends the module. The file is checked first, so those are errors.
        let value: Value = serde_json::from_slice(bytes).map_err(|e| load_err(format!("not valid JSON ({e})")))?;
        check_components(&value).map_err(load_err)?;
        let inner = std::panic::catch_unwind(|| Tokenizer::from_bytes(bytes))
            .map_err(|_| load_err("the tokenizers library could not read this file".into()))?
            .map_err(|e| load_err(e.to_string()))?;
        Self::configure(inner, source, DEFAULT_MAX_LEN)
    }

    /// From a BERT `vocab.txt` (one token per line), for checkpoints without `tokenizer.json`.
    /// Builds the standard BERT pipeline: BertNormalizer, BertPreTokenizer, WordPiece, [CLS]/[SEP].
    pub fn from_vocab_txt(text: &str, lowercase: bool, source: &str) -> Result<Self, TextError> {
        let load_err = |reason: String| TextError::Load { path: source.into(), reason };
        let vocab: serde_json::Map<String, Value> =
            text.lines().map(|l| l.trim_end_matches('\r')).enumerate().filter(|(_, t)| !t.is_empty()).map(|(i, t)| (t.to_string(), Value::from(i))).collect();
        let id = |tok: &str| vocab.get(tok).and_then(Value::as_u64).ok_or_else(|| load_err(format!("vocab.txt has no {tok} token")));
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        id("[UNK]")?;
        let added: Vec<Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .filter_map(|t| vocab.get(*t).map(|id| (t, id)))
            .map(|(t, id)| {
                json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                       "normalized": false, "special": true})
            })
            .collect();
        let spec = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": null, "lowercase": lowercase},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", sep], "cls": ["[CLS]", cls]},
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab},
        });
        let inner = Tokenizer::from_bytes(spec.to_string().as_bytes()).map_err(|e| load_err(e.to_string()))?;
        Self::configure(inner, source, DEFAULT_MAX_LEN)
    }

    fn configure(mut inner: Tokenizer, source: &str, max_len: usize) -> Result<Self, TextError> {
        let pad_token = ["[PAD]", "<pad>"].into_iter().find(|t| inner.token_to_id(t).is_some()).unwrap_or("[PAD]");
        let pad_id = inner.token_to_id(pad_token).unwrap_or(0);
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token: pad_token.to_string(),
        }));
        let mut tokenizer = Self { inner, max_len: 0, type_vocab_size: 2 };
        tokenizer.set_max_len(max_len, usize::MAX).map_err(|e| TextError::Load { path: source.into(), reason: e.to_string() })?;
        Ok(tokenizer)
    }

    /// Sets the truncation length; `limit` is the model's `max_position_embeddings`.
    pub fn set_max_len(&mut self, max_len: usize, limit: usize) -> Result<(), TextError> {
        if !(3..=limit).contains(&max_len) {
            return Err(TextError::MaxLen { max_len, limit });
        }
        self.inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| TextError::Encode { text: String::new(), reason: e.to_string() })?;
        self.max_len = max_len;
        Ok(())
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The largest token id the tokenizer can produce, with its token.
    pub fn max_id(&self) -> Option<(u32, String)> {
        self.inner.get_vocab(true).into_iter().map(|(t, id)| (id, t)).max()
    }

    /// Tells the tokenizer the model's `type_vocab_size`, so that a pair is refused by a model
    /// that has a single token type (its second segment's type id would be out of range).
    pub fn set_type_vocab_size(&mut self, type_vocab_size: usize) {
        self.type_vocab_size = type_vocab_size;
    }

    fn check_pair(&self) -> Result<(), TextError> {
        if self.type_vocab_size < 2 { Err(TextError::NoPairs { type_vocab_size: self.type_vocab_size }) } else { Ok(()) }
    }

    /// The underlying `tokenizers` tokenizer (with our padding and truncation).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Tokenizes a batch, padded to its longest member. Empty sentences are an error.
    pub fn encode_batch(&self, inputs: &[TextInput]) -> Result<Batch, TextError> {
        let mut encode_inputs: Vec<EncodeInput> = Vec::with_capacity(inputs.len());
        for input in inputs {
            match input {
                TextInput::Single(a) => {
                    check_nonempty(a)?;
                    encode_inputs.push(a.as_str().into());
                }
                TextInput::Pair(a, b) => {
                    self.check_pair()?;
                    check_nonempty(a)?;
                    check_nonempty(b)?;
                    encode_inputs.push((a.as_str(), b.as_str()).into());
                }
            }
        }
        let encodings = self
            .inner
            .encode_batch(encode_inputs, true)
            .map_err(|e| TextError::Encode { text: inputs.first().map(|i| format!("{i:?}")).unwrap_or_default(), reason: e.to_string() })?;
        let seq_len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut batch = Batch {
            input_ids: Vec::with_capacity(seq_len * encodings.len()),
            token_type_ids: Vec::with_capacity(seq_len * encodings.len()),
            attention_mask: Vec::with_capacity(seq_len * encodings.len()),
            batch_size: encodings.len(),
            seq_len,
            truncated: encodings.iter().filter(|e| !e.get_overflowing().is_empty()).count(),
        };
        for e in &encodings {
            batch.input_ids.extend(e.get_ids().iter().map(|&v| v as i64));
            batch.token_type_ids.extend(e.get_type_ids().iter().map(|&v| v as i64));
            batch.attention_mask.extend(e.get_attention_mask().iter().map(|&v| v as i64));
        }
        Ok(batch)
    }

    /// Tokenizes each input on its own, unpadded (for datasets: batches are padded later, per batch).
    pub fn encode_each(&self, inputs: &[TextInput]) -> Result<Vec<Encoded>, TextError> {
        let mut tokenizer = self.inner.clone();
        tokenizer.with_padding(None);
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            let encoding = match input {
                TextInput::Single(a) => {
                    check_nonempty(a)?;
                    tokenizer.encode(a.as_str(), true)
                }
                TextInput::Pair(a, b) => {
                    self.check_pair()?;
                    check_nonempty(a)?;
                    check_nonempty(b)?;
                    tokenizer.encode((a.as_str(), b.as_str()), true)
                }
            }
            .map_err(|e| TextError::Encode { text: format!("{input:?}"), reason: e.to_string() })?;
            out.push(Encoded {
                input_ids: encoding.get_ids().to_vec(),
                token_type_ids: encoding.get_type_ids().to_vec(),
                truncated: !encoding.get_overflowing().is_empty(),
            });
        }
        Ok(out)
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.inner.get_padding().map(|p| p.pad_id).unwrap_or(0)
    }

    /// Tokenizes one sentence or pair.
    pub fn encode(&self, input: &TextInput) -> Result<Batch, TextError> {
        self.encode_batch(std::slice::from_ref(input))
    }
}

/// Checks the pipeline components of a `tokenizer.json` before `tokenizers` reads it: each is
/// absent, `null` or an object with a string `type` (a `Sequence` holds a list of such), and no
/// normalizer is `Precompiled` (SentencePiece's, which BERT tokenizers never use, and which
/// `tokenizers` reads with an `expect`).
fn check_components(value: &Value) -> Result<(), String> {
    fn check(what: &str, v: &Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let kind = v.get("type").and_then(Value::as_str).ok_or_else(|| format!("`{what}` has no string `type`"))?;
        if what == "normalizer" && kind == "Precompiled" {
            return Err("a `Precompiled` (SentencePiece) normalizer, which BERT tokenizers do not use".into());
        }
        for list in ["normalizers", "pretokenizers", "processors", "decoders"] {
            if let Some(items) = v.get(list) {
                let items = items.as_array().ok_or_else(|| format!("`{what}.{list}` is not a list"))?;
                for item in items {
                    check(what, item)?;
                }
            }
        }
        Ok(())
    }
    let object = value.as_object().ok_or("not a JSON object")?;
    for what in ["normalizer", "pre_tokenizer", "post_processor", "decoder"] {
        if let Some(v) = object.get(what) {
            check(what, v)?;
        }
    }
    match object.get("model") {
        Some(Value::Object(_)) => Ok(()),
        _ => Err("no `model` object (the vocabulary)".into()),
    }
}

fn check_nonempty(s: &str) -> Result<(), TextError> {
    if s.trim().is_empty() { Err(TextError::Empty) } else { Ok(()) }
}
