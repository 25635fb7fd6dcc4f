//! The GLUE metrics: accuracy, F1, Matthews correlation, Pearson and Spearman correlation.

use serde::{Deserialize, Serialize};

/// A GLUE metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Accuracy,
    /// F1 of the positive class (label 1), as GLUE reports it for MRPC and QQP.
    F1,
    /// Matthews correlation coefficient (CoLA).
    Matthews,
    Pearson,
    Spearman,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Matthews => "matthews",
            Metric::Pearson => "pearson",
            Metric::Spearman => "spearman",
        }
    }

    /// Computes the metric of class predictions (`Accuracy`, `F1`, `Matthews`).
    pub fn of_classes(self, predicted: &[usize], gold: &[usize]) -> f64 {
        match self {
            Metric::Accuracy => accuracy(predicted, gold),
            Metric::F1 => f1(predicted, gold),
            Metric::Matthews => matthews(predicted, gold),
            Metric::Pearson | Metric::Spearman => {
                let p: Vec<f64> = predicted.iter().map(|&v| v as f64).collect();
                let g: Vec<f64> = gold.iter().map(|&v| v as f64).collect();
                self.of_scores(&p, &g)
            }
        }
    }

    /// Computes the metric of real-valued predictions (`Pearson`, `Spearman`).
    pub fn of_scores(self, predicted: &[f64], gold: &[f64]) -> f64 {
        match self {
            Metric::Spearman => spearman(predicted, gold),
            _ => pearson(predicted, gold),
        }
    }
}

pub fn accuracy(predicted: &[usize], gold: &[usize]) -> f64 {
    assert_eq!(predicted.len(), gold.len());
    if gold.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

fn confusion(predicted: &[usize], gold: &[usize]) -> (f64, f64, f64, f64) {
    assert_eq!(predicted.len(), gold.len());
    let (mut tp, mut tn, mut fp, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1.0,
            (false, false) => tn += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    (tp, tn, fp, fn_)
}

/// F1 of class 1; 0 when there are no true positives.
pub fn f1(predicted: &[usize], gold: &[usize]) -> f64 {
    let (tp, _, fp, fn_) = confusion(predicted, gold);
    if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
}

/// Matthews correlation of binary predictions; 0 when a marginal is empty (as scikit-learn).
pub fn matthews(predicted: &[usize], gold: &[usize]) -> f64 {
    let (tp, tn, fp, fn_) = confusion(predicted, gold);
    let denom = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    if denom == 0.0 { 0.0 } else { (tp * tn - fp * fn_) / denom }
}

pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len());
    let n = x.len() as f64;
    if x.len() < 2 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[order[k]] = avg;
        }
        i = j + 1;
    }
    r
}

pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let pred = [1, 1, 0, 1, 0, 0, 1, 0];
        let gold = [1, 0, 0, 1, 1, 0, 1, 0];
        // tp=3 tn=3 fp=1 fn=1
        assert!((accuracy(&pred, &gold) - 0.75).abs() < 1e-12);
        assert!((f1(&pred, &gold) - 0.75).abs() < 1e-12);
        assert!((matthews(&pred, &gold) - 0.5).abs() < 1e-12); // (9-1)/sqrt(4*4*4*4)
        assert_eq!(matthews(&[1, 1, 1], &[1, 0, 1]), 0.0);
        assert_eq!(f1(&[0, 0], &[1, 0]), 0.0);
    }

    #[test]
    fn correlations() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        // numpy: np.corrcoef(x, y)[0,1] = 0.7745966692414834
        assert!((pearson(&x, &y) - 0.7745966692414834).abs() < 1e-12);
        // scipy.stats.spearmanr(x, y) = 0.7378647873726218 (ties averaged)
        assert!((spearman(&x, &y) - 0.7378647873726218).abs() < 1e-12);
        assert!((spearman(&x, &[10.0, 20.0, 30.0, 40.0, 50.0]) - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
    }
}
