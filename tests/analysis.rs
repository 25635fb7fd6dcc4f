//! Analysis: CKA against the published oracle case (fixture written by scripts/make_cka_fixture.py with
//! numpy: X = randn(100, 10), Y = X + randn(100, 10) under np.random.seed(1337)), and its
//! invariances; linear probes read a linear signal and not noise.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use undivided::analysis::{CkaKind, cka, cka_matrix};

fn matrix(v: &serde_json::Value) -> (Vec<f32>, [usize; 2]) {
    let rows = v.as_array().unwrap();
    let d = rows[0].as_array().unwrap().len();
    let data: Vec<f32> = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect();
    (data, [rows.len(), d])
}

fn tensor((data, shape): (Vec<f32>, [usize; 2])) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, shape), &Device::flex())
}

fn oracle() -> (Tensor<2>, Tensor<2>) {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::fixtures().join("cka_oracle.json")).unwrap()).unwrap();
    (tensor(matrix(&v["x"])), tensor(matrix(&v["y"])))
}

fn run(x: Tensor<2>, y: Tensor<2>, kind: CkaKind) -> f64 {
    pollster::block_on(cka(x, y, kind)).unwrap()
}

#[test]
fn published_oracle_values() {
    let (x, y) = oracle();
    let linear = run(x.clone(), y.clone(), CkaKind::Linear);
    let debiased = run(x, y, CkaKind::Debiased);
    assert!((linear - 0.55761).abs() < 1e-5, "linear CKA {linear}");
    assert!((debiased - 0.51346).abs() < 1e-5, "debiased CKA {debiased}");
}

#[test]
fn identity_orthogonal_and_scale_invariance() {
    let (x, y) = oracle();
    for kind in [CkaKind::Linear, CkaKind::Debiased] {
        let same = run(x.clone(), x.clone(), kind);
        assert!((same - 1.0).abs() < 1e-5, "{kind:?}: CKA(X, X) = {same}");
        let base = run(x.clone(), y.clone(), kind);
        // An orthogonal map of the features: a rotation in the (0, 1) plane and a swap of 2 and 3.
        let (c, s) = (0.6f32, 0.8f32);
        let mut q = vec![0.0f32; 100];
        for i in 0..10 {
            q[i * 10 + i] = 1.0;
        }
        q[0] = c;
        q[1] = -s;
        q[10] = s;
        q[11] = c;
        q[22] = 0.0;
        q[33] = 0.0;
        q[23] = 1.0;
        q[32] = 1.0;
        let q = Tensor::<2>::from_data(TensorData::new(q, [10, 10]), &Device::flex());
        let rotated = run(x.clone().matmul(q), y.clone(), kind);
        assert!((rotated - base).abs() < 1e-5, "{kind:?}: orthogonal transform changed CKA {base} -> {rotated}");
        let scaled = run(x.clone().mul_scalar(7.5), y.clone().mul_scalar(0.01), kind);
        assert!((scaled - base).abs() < 1e-5, "{kind:?}: isotropic scaling changed CKA {base} -> {scaled}");
    }
}

#[test]
fn the_matrix_has_ones_on_the_diagonal_for_identical_models() {
    let (x, y) = oracle();
    let m = pollster::block_on(cka_matrix(vec![x.clone(), y.clone()], vec![x, y], CkaKind::Linear)).unwrap();
    assert!((m[0][0] - 1.0).abs() < 1e-5 && (m[1][1] - 1.0).abs() < 1e-5);
    assert!((m[0][1] - m[1][0]).abs() < 1e-6 && (m[0][1] - 0.55761).abs() < 1e-5);
    // Too few examples for the debiased estimator is an error, not a NaN.
    let tiny = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]), &Device::flex());
    assert!(pollster::block_on(cka(tiny.clone(), tiny, CkaKind::Debiased)).is_err());
}

#[test]
fn a_probe_reads_a_linear_signal_and_not_noise() {
    use undivided::analysis::{ProbeConfig, probe_accuracy};
    // 500 points in 8 dimensions from a fixed pseudo-random sequence; the label is linear in them.
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let (n, d) = (500, 8);
    let values: Vec<f32> = (0..n * d).map(|_| next()).collect();
    let signal: Vec<usize> = (0..n).map(|i| usize::from(values[i * d] + 0.5 * values[i * d + 1] > 0.0)).collect();
    let noise: Vec<usize> = (0..n).map(|_| usize::from(next() > 0.0)).collect();
    let device = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(values, [n, d]), &device);
    let (train, dev) = (x.clone().narrow(0, 0, 400), x.narrow(0, 400, 100));
    let config = ProbeConfig { steps: 300, lr: 5e-2, ..Default::default() };
    let acc = pollster::block_on(probe_accuracy(train.clone(), &signal[..400], dev.clone(), &signal[400..], 2, &config, &device)).unwrap();
    assert!(acc >= 0.95, "linearly separable labels: {acc}");
    let acc = pollster::block_on(probe_accuracy(train, &noise[..400], dev, &noise[400..], 2, &config, &device)).unwrap();
    assert!(acc < 0.7, "labels unrelated to the features: {acc}");
}
