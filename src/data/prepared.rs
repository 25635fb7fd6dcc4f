//! A dataset tokenized once: what every run, evaluation and analysis batches from.

use crate::data::{Dataset, Example, Label, Task};
use crate::error::TextError;
use crate::text::{Batch, BertTokenizer, Encoded, TextInput};

/// A dataset tokenized once: unpadded rows and their labels.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub task: Task,
    pub rows: Vec<Encoded>,
    pub labels: Vec<Label>,
}

impl Prepared {
    pub fn new(tokenizer: &BertTokenizer, dataset: &Dataset) -> Result<Self, TextError> {
        let inputs: Vec<TextInput> = dataset.examples.iter().map(|e| TextInput::new(e.text_a.clone(), e.text_b.clone())).collect();
        Ok(Self { task: dataset.task, rows: tokenizer.encode_each(&inputs)?, labels: dataset.examples.iter().map(|e| e.label).collect() })
    }

    /// One sentence or pair to classify, as a one-row set of `task` (its label is a placeholder).
    pub fn single(tokenizer: &BertTokenizer, task: Task, input: &TextInput) -> Result<Self, TextError> {
        let (text_a, text_b) = match input {
            TextInput::Single(a) => (a.clone(), None),
            TextInput::Pair(a, b) => (a.clone(), Some(b.clone())),
        };
        let label = if task.is_regression() { Label::Score(0.0) } else { Label::Class(0) };
        Self::new(tokenizer, &Dataset { task, examples: vec![Example { text_a, text_b, label }], skipped: vec![] })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.rows.iter().map(|r| r.input_ids.len()).collect()
    }

    /// The padded batch of the rows at `indices`.
    pub fn batch(&self, indices: &[usize], pad_id: u32) -> Batch {
        let rows: Vec<&Encoded> = indices.iter().map(|&i| &self.rows[i]).collect();
        Batch::from_rows(&rows, pad_id)
    }
}
