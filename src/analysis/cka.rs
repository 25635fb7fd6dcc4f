//! Centered kernel alignment (CKA) between two representations of the same examples: linear CKA
//! (Kornblith et al. 2019, ICML) and debiased linear CKA, whose HSIC is the unbiased estimator
//! (Song et al. 2012; Nguyen, Raghu & Kornblith 2021), which does not drift upwards when
//! examples are few relative to the width.
//!
//! Both are computed in feature space — `‖XᵀY‖²_F` and row sums instead of `n × n` Gram matrices
//! — with the matrix products on the device and the final combination in `f64`. Only scalars are
//! read back, asynchronously, so the same code runs in the browser.

use burn::tensor::Tensor;

use crate::error::{AnalysisError, ReadbackError};

/// Which CKA estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CkaKind {
    Linear,
    Debiased,
}

async fn scalar(t: Tensor<1>) -> Result<f64, AnalysisError> {
    let data = t.into_data_async().await.map_err(ReadbackError::of("a CKA statistic"))?;
    let v: Vec<f32> = data.convert::<f32>().try_into_vec().map_err(ReadbackError::of("a CKA statistic"))?;
    Ok(v.first().copied().unwrap_or(f32::NAN) as f64)
}

/// What one representation `[n, d]` contributes to every CKA it takes part in.
#[derive(Clone)]
pub struct Representation {
    kind: CkaKind,
    n: usize,
    /// Centered features (linear) or raw features (debiased).
    x: Tensor<2>,
    /// Debiased only: `‖x_i‖²` per row `[n, 1]`, and `K̃1 = X(Σ_j x_j) − ‖x_i‖²` `[n, 1]`.
    row_norms: Option<Tensor<2>>,
    k_one: Option<Tensor<2>>,
    /// `1ᵀK̃1` (debiased).
    one_k_one: f64,
    /// `‖XᵀX‖_F` (linear) or `HSIC₁(K, K)` (debiased).
    self_similarity: f64,
}

impl Representation {
    /// Prepares `x` `[n, d]` (n examples; the same examples, in the same order, for every
    /// representation compared with it).
    pub async fn new(x: Tensor<2>, kind: CkaKind) -> Result<Self, AnalysisError> {
        let [n, _] = x.dims();
        let min = if kind == CkaKind::Debiased { 4 } else { 2 };
        if n < min {
            return Err(AnalysisError::TooFewExamples { min, n });
        }
        match kind {
            CkaKind::Linear => {
                let x = x.clone() - x.mean_dim(0);
                let self_similarity = scalar(x.clone().transpose().matmul(x.clone()).square().sum()).await?.sqrt();
                Ok(Self { kind, n, x, row_norms: None, k_one: None, one_k_one: 0.0, self_similarity })
            }
            CkaKind::Debiased => {
                let row_norms = x.clone().square().sum_dim(1);
                let k_one = x.clone().matmul(x.clone().sum_dim(0).transpose()) - row_norms.clone();
                let one_k_one = scalar(k_one.clone().sum()).await?;
                let mut r = Self { kind, n, x, row_norms: Some(row_norms), k_one: Some(k_one), one_k_one, self_similarity: 0.0 };
                r.self_similarity = r.cross(&r).await?;
                Ok(r)
            }
        }
    }

    /// `‖XᵀY‖²_F` (linear) or `HSIC₁(K, L)` (debiased).
    async fn cross(&self, other: &Self) -> Result<f64, AnalysisError> {
        let xy = scalar(self.x.clone().transpose().matmul(other.x.clone()).square().sum()).await?;
        if self.kind == CkaKind::Linear {
            return Ok(xy);
        }
        let n = self.n as f64;
        let (dx, dy) = (self.row_norms.clone().expect("debiased"), other.row_norms.clone().expect("debiased"));
        // Σ_{i≠j} K_ij L_ij = ‖XᵀY‖² − Σ_i K_ii L_ii.
        let trace = scalar((dx * dy).sum()).await?;
        let one_kl_one = scalar((self.k_one.clone().expect("debiased") * other.k_one.clone().expect("debiased")).sum()).await?;
        Ok(((xy - trace) + self.one_k_one * other.one_k_one / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * one_kl_one) / (n * (n - 3.0)))
    }

    /// CKA between this representation and `other` (same examples, same estimator).
    pub async fn cka(&self, other: &Self) -> Result<f64, AnalysisError> {
        if self.n != other.n || self.kind != other.kind {
            return Err(AnalysisError::Mismatch { a: self.n, b: other.n });
        }
        let cross = self.cross(other).await?;
        Ok(match self.kind {
            CkaKind::Linear => cross / (self.self_similarity * other.self_similarity),
            CkaKind::Debiased => cross / (self.self_similarity * other.self_similarity).sqrt(),
        })
    }
}

/// CKA of `x` and `y`, both `[n, d]` for the same `n` examples.
pub async fn cka(x: Tensor<2>, y: Tensor<2>, kind: CkaKind) -> Result<f64, AnalysisError> {
    let (a, b) = (Representation::new(x, kind).await?, Representation::new(y, kind).await?);
    a.cka(&b).await
}

/// The layer-by-layer CKA matrix `[a.len()][b.len()]` between two models' representations of
/// the same examples (e.g. every layer's hidden state, embeddings included).
pub async fn cka_matrix(a: Vec<Tensor<2>>, b: Vec<Tensor<2>>, kind: CkaKind) -> Result<Vec<Vec<f64>>, AnalysisError> {
    let mut ra = Vec::with_capacity(a.len());
    for x in a {
        ra.push(Representation::new(x, kind).await?);
    }
    let mut rb = Vec::with_capacity(b.len());
    for y in b {
        rb.push(Representation::new(y, kind).await?);
    }
    let mut out = Vec::with_capacity(ra.len());
    for x in &ra {
        let mut row = Vec::with_capacity(rb.len());
        for y in &rb {
            row.push(x.cka(y).await?);
        }
        out.push(row);
    }
    Ok(out)
}
