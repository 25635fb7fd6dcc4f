//! Evaluation of a classifier on a labelled dataset with the task's GLUE metrics.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::batches::eval_batches;
#[cfg(not(target_arch = "wasm32"))]
use super::step::batch_parts;
use crate::data::{Label, Metric, Prepared, Task};
use crate::error::ReadbackError;
use crate::model::BertForSequenceClassification;
#[cfg(not(target_arch = "wasm32"))]
use crate::text::Batch;

/// Metric values by name (`accuracy`, `f1`, ...), plus the loss-free prediction list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub metrics: BTreeMap<String, f64>,
    pub examples: usize,
}

impl EvalResult {
    /// The task's main metric (the first GLUE metric).
    pub fn main(&self, task: Task) -> f64 {
        self.metrics[task.metrics()[0].name()]
    }
}

/// Logits `[n, num_labels]` of every row, in dataset order, read back per batch without
/// blocking (what the browser needs; natively the reads complete at once).
pub async fn predict_logits_async(
    model: &BertForSequenceClassification,
    data: &Prepared,
    pad_id: u32,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let mut out = vec![Vec::new(); data.len()];
    let k = model.num_labels();
    for indices in eval_batches(&data.lengths(), batch_size) {
        let batch = data.batch(&indices, pad_id);
        #[cfg(not(target_arch = "wasm32"))]
        let values: Vec<f32> = {
            // Natively, the batch's rows in slices on parallel threads ([`by_row_parts`]).
            let parts = by_row_parts(&batch, batch_parts(&device), &|slice| read_f32(model.forward(slice.to_input(&device))));
            parts.into_iter().collect::<Result<Vec<_>, _>>()?.concat()
        };
        #[cfg(target_arch = "wasm32")]
        let values: Vec<f32> = {
            let data = model.forward(batch.to_input(&device)).into_data_async().await.map_err(ReadbackError::of("logits"))?;
            data.convert::<f32>().try_into_vec().map_err(ReadbackError::of("logits"))?
        };
        for (row, &i) in indices.iter().enumerate() {
            out[i] = values[row * k..(row + 1) * k].to_vec();
        }
    }
    Ok(out)
}

/// A tensor's values, read back (native: the read completes at once).
#[cfg(not(target_arch = "wasm32"))]
fn read_f32<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>, ReadbackError> {
    t.into_data().convert::<f32>().try_into_vec().map_err(ReadbackError::of("logits"))
}

/// Runs `run` on `parts` row slices of `batch` on parallel threads and returns the results in
/// row order. Inference gets the same two-thread split as a training step
/// ([`super::step::batch_parts`]): most of burn-flex's element-wise kernels run on one thread, so
/// one pass leaves the second core idle outside the matrix products. Rows are independent at
/// inference, so the slices' outputs are exactly the whole batch's.
#[cfg(not(target_arch = "wasm32"))]
pub fn by_row_parts<R: Send>(batch: &Batch, parts: usize, run: &(dyn Fn(&Batch) -> R + Sync)) -> Vec<R> {
    use rayon::prelude::*;
    let n = batch.batch_size;
    let parts = parts.clamp(1, n.max(1));
    if parts == 1 {
        return vec![run(batch)];
    }
    (0..parts).into_par_iter().map(|i| run(&batch.rows(i * n / parts..(i + 1) * n / parts))).collect()
}

/// [`predict_logits_async`], blocking (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn predict_logits(model: &BertForSequenceClassification, data: &Prepared, pad_id: u32, batch_size: usize, device: &Device) -> Vec<Vec<f32>> {
    pollster::block_on(predict_logits_async(model, data, pad_id, batch_size, device)).expect("reading logits")
}

/// The task's metrics from logits and gold labels.
pub fn score(task: Task, logits: &[Vec<f32>], labels: &[Label]) -> EvalResult {
    let mut metrics = BTreeMap::new();
    if task.is_regression() {
        let pred: Vec<f64> = logits.iter().map(|l| l[0] as f64).collect();
        let gold: Vec<f64> = labels.iter().map(|l| if let Label::Score(s) = l { *s as f64 } else { f64::NAN }).collect();
        for m in task.metrics() {
            metrics.insert(m.name().to_string(), m.of_scores(&pred, &gold));
        }
    } else {
        let pred: Vec<usize> = logits.iter().map(|l| argmax(l)).collect();
        let gold: Vec<usize> = labels.iter().map(|l| if let Label::Class(c) = l { *c } else { usize::MAX }).collect();
        for m in task.metrics() {
            metrics.insert(m.name().to_string(), m.of_classes(&pred, &gold));
        }
        metrics.entry(Metric::Accuracy.name().to_string()).or_insert_with(|| Metric::Accuracy.of_classes(&pred, &gold));
    }
    EvalResult { metrics, examples: labels.len() }
}

/// Softmax of one row of logits (a single score, for regression, is returned as is).
pub fn probabilities(logits: &[f32]) -> Vec<f32> {
    if logits.len() == 1 {
        return logits.to_vec();
    }
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// Evaluates `model` on `data` without blocking (the browser).
pub async fn evaluate_async(
    model: &BertForSequenceClassification,
    data: &Prepared,
    pad_id: u32,
    batch_size: usize,
    device: &Device,
) -> Result<EvalResult, ReadbackError> {
    Ok(score(data.task, &predict_logits_async(model, data, pad_id, batch_size, device).await?, &data.labels))
}

/// Evaluates `model` on `data` (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate(model: &BertForSequenceClassification, data: &Prepared, pad_id: u32, batch_size: usize, device: &Device) -> EvalResult {
    score(data.task, &predict_logits(model, data, pad_id, batch_size, device), &data.labels)
}
