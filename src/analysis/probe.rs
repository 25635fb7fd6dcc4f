//! Linear probes: a logistic-regression classifier trained on one layer's frozen sentence
//! representations; its dev accuracy says how much of the task that layer makes linearly
//! readable.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Pooling, layer_representations};
use crate::data::Label;
use crate::data::Prepared;
use crate::error::{AnalysisError, ReadbackError};
use crate::model::BertModel;
use crate::train::batches::eval_batches;

/// Full-batch AdamW on standardized features, with a little weight decay.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeConfig {
    pub steps: usize,
    pub lr: f64,
    pub weight_decay: f32,
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self { steps: 200, lr: 1e-2, weight_decay: 1e-3, seed: 42 }
    }
}

fn labels(y: &[usize], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(y.iter().map(|&c| c as i64).collect::<Vec<_>>(), [y.len()]), device)
}

/// Trains a probe on `train` `[n, d]` / `train_y` and returns its accuracy on `dev` / `dev_y`.
pub async fn probe_accuracy(
    train: Tensor<2>,
    train_y: &[usize],
    dev: Tensor<2>,
    dev_y: &[usize],
    num_labels: usize,
    config: &ProbeConfig,
    device: &Device,
) -> Result<f64, AnalysisError> {
    if train_y.is_empty() || dev_y.is_empty() {
        return Err(AnalysisError::NoExamples);
    }
    let inner = device.clone().without_autodiff();
    let ad = device.clone().autodiff();
    // Standardize with the training statistics (the probe sees no dev information).
    let mean = train.clone().mean_dim(0);
    let std = (train.clone() - mean.clone()).square().mean_dim(0).sqrt() + 1e-6;
    let x = ((train - mean.clone()) / std.clone()).to_device(&inner).detach();
    let x_dev = ((dev - mean) / std).to_device(&inner).detach();
    let [_, d] = x.dims();
    ad.seed(config.seed);
    let mut probe: Linear = LinearConfig::new(d, num_labels).init(&ad);
    let mut optim = AdamWConfig::new().with_weight_decay(config.weight_decay).init();
    let targets = labels(train_y, &ad);
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let x = x.autodiff();
    for _ in 0..config.steps {
        let loss = loss_fn.forward(probe.forward(x.clone()), targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &probe);
        probe = optim.step(config.lr, probe, grads);
    }
    let predicted = probe.valid().forward(x_dev).argmax(1).reshape([dev_y.len()]);
    let data = predicted.into_data_async().await.map_err(ReadbackError::of("probe predictions"))?;
    let predicted: Vec<i64> = data.convert::<i64>().try_into_vec().map_err(ReadbackError::of("probe predictions"))?;
    let correct = predicted.iter().zip(dev_y).filter(|(p, y)| **p as usize == **y).count();
    Ok(correct as f64 / dev_y.len() as f64)
}

/// Class ids of a prepared classification set (probes are for classification tasks).
pub fn class_labels(set: &Prepared) -> Result<Vec<usize>, AnalysisError> {
    set.labels
        .iter()
        .map(|l| match l {
            Label::Class(c) => Ok(*c),
            Label::Score(_) => Err(AnalysisError::Regression { task: set.task.to_string() }),
        })
        .collect()
}

/// One probe per hidden state of `model` (embeddings output first): trained on `train`'s
/// pooled states, scored on `dev`'s. The same code runs natively and in the page (where the
/// hidden states stay on the GPU and only the predictions are read back).
pub async fn probe_layers(
    model: &BertModel,
    train: &Prepared,
    dev: &Prepared,
    pad_id: u32,
    pooling: Pooling,
    config: &ProbeConfig,
    device: &Device,
) -> Result<Vec<f64>, AnalysisError> {
    const BATCH: usize = 32;
    // Representations come out in length-sorted batch order: labels must follow the same order.
    let ordered = |p: &Prepared| -> Result<Vec<usize>, AnalysisError> {
        let y = class_labels(p)?;
        Ok(eval_batches(&p.lengths(), BATCH).concat().into_iter().map(|i| y[i]).collect())
    };
    let (train_y, dev_y) = (ordered(train)?, ordered(dev)?);
    let num_labels = train.task.num_labels();
    let reps_train = layer_representations(model, train, pad_id, BATCH, pooling, device);
    let reps_dev = layer_representations(model, dev, pad_id, BATCH, pooling, device);
    let mut accuracies = Vec::with_capacity(reps_train.len());
    for (x, x_dev) in reps_train.into_iter().zip(reps_dev) {
        accuracies.push(probe_accuracy(x, &train_y, x_dev, &dev_y, num_labels, config, device).await?);
    }
    Ok(accuracies)
}
