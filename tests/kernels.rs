//! The hand-written kernels against what they replace: the training GELU's exact derivative on
//! every native backend, the one-pass AdamW against burn's (CPU, and one launch per parameter on
//! wgpu), and the gradient norm and clipping in one launch per parameter.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::Device;

/// burn's random generators are global to the process: tests take turns.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// When gradients are tracked the intermediate block's GELU is written out through `erf` (on
/// burn-flex: as a line through each point, `undivided_kernels::gelu`); on every native backend
/// its values must be the exact GELU's and its derivative the exact one, Φ(x) + x·φ(x), not the
/// tanh approximation that burn's default GELU backward differentiates.
#[test]
fn the_training_gelu_has_the_exact_derivative_on_every_native_backend() {
    use burn::tensor::{Tensor, TensorData};
    use undivided::model::{BertConfig, BertIntermediate};
    let config = BertConfig::from_json(&std::fs::read_to_string(common::tiny_dir().join("config.json")).unwrap()).unwrap();
    let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).chain([-20.0, 12.0, 20.0]).collect();
    // erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
    let erf = |x: f64| {
        let t = 1.0 / (1.0 + 0.3275911 * x.abs());
        let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * (-x * x).exp();
        if x < 0.0 { -y } else { y }
    };
    let exact = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2)) + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // The block's random weights come from burn's process-wide generator: take the turn.
    let _turn = turn();
    for backend in [undivided::device::Backend::Flex, undivided::device::Backend::Wgpu] {
        let device = pollster::block_on(undivided::device::init_device(backend)).unwrap().autodiff();
        let block = BertIntermediate::new(&config, &device);
        let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [1, 1, xs.len()]), &device).require_grad();
        let y = block.activate(x.clone());
        let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
        let grads = y.sum().backward();
        let g = x.grad(&grads).expect("a gradient for x").into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in xs.iter().zip(&values) {
            let want = *x as f64 * 0.5 * (1.0 + erf(*x as f64 / std::f64::consts::SQRT_2));
            assert!((*y as f64 - want).abs() < 1e-5 * want.abs().max(1.0), "{backend}: GELU({x}) = {y}, expected {want}");
        }
        for (x, g) in xs.iter().zip(&g) {
            let want = exact(*x as f64);
            assert!((*g as f64 - want).abs() < 1e-5, "{backend}: GELU gradient at x = {x}: {g}, expected {want}");
        }
    }
}

/// The one-pass AdamW the CPU trains with is burn's AdamW: the same weights after several
/// steps, with and without weight decay, for a parameter large enough to be split across
/// threads; and its optimizer record is burn's, so either continues from the other's.
#[test]
fn the_fused_adamw_is_burns_adamw_and_shares_its_record() {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::{Distribution, Tensor};
    use undivided::train::adamw::FusedAdamW;
    // Random weights and inputs come from burn's process-wide generator: take the turn.
    let _turn = turn();
    let device = Device::flex().autodiff();
    let weights = |l: &Linear| {
        let mut w = l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        w.extend(l.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        w
    };
    for weight_decay in [0.0, 0.01] {
        // 300 × 300 weights: above the size at which the update is split into chunks.
        let start = LinearConfig::new(300, 300).init(&device);
        let x = Tensor::<2>::random([4, 300], Distribution::Normal(0.0, 1.0), &device);
        let grads = |l: &Linear, i: usize| GradientsParams::from_grads(l.forward(x.clone().mul_scalar(i as f32 + 1.0)).tanh().sum().backward(), l);
        let fused = || ModuleOptimizer::from(FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay));
        let burns = || AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay).init();
        let steps = |optim: &mut ModuleOptimizer, mut l: Linear, range: std::ops::Range<usize>| {
            for i in range {
                let g = grads(&l, i);
                l = optim.step(1e-2 * (i + 1) as f64, l, g);
            }
            l
        };
        let (mut a, mut b) = (fused(), burns());
        let (la, lb) = (steps(&mut a, start.clone(), 0..5), steps(&mut b, start.clone(), 0..5));
        let (wa, wb) = (weights(&la), weights(&lb));
        assert_ne!(wa, weights(&start), "the weights should have moved");
        let diff = common::max_abs_diff(&wa, &wb);
        assert!(diff <= 1e-6, "weight decay {weight_decay}: fused and burn's AdamW differ by {diff} after 5 steps");
        // Records cross over: three more steps from the other optimizer's saved state.
        let from_bytes = |o: ModuleOptimizer, from: &ModuleOptimizer| o.from_bytes(from.into_bytes().unwrap()).unwrap();
        let (mut a2, mut b2) = (from_bytes(fused(), &b), from_bytes(burns(), &a));
        let (la2, lb2) = (steps(&mut a2, lb.clone(), 5..8), steps(&mut b2, la.clone(), 5..8));
        let (la3, lb3) = (steps(&mut a, la, 5..8), steps(&mut b, lb.clone(), 5..8));
        for (what, x, y) in [("fused from burn's record", &la2, &lb3), ("burn's from the fused record", &lb2, &la3)] {
            let diff = common::max_abs_diff(&weights(x), &weights(y));
            assert!(diff <= 1e-6, "weight decay {weight_decay}: {what} differs by {diff} from the uninterrupted run");
        }
        // A record without state would restart the moments: the steps above would then differ.
        let restarted = steps(&mut fused(), lb.clone(), 5..8);
        assert!(common::max_abs_diff(&weights(&restarted), &weights(&la2)) > 1e-5, "the record should carry the moments");
    }
}

/// On wgpu (lavapipe here) the same AdamW runs as one kernel per parameter instead of burn's
/// fifteen element-wise ones: the weights agree with burn's AdamW after five steps, with and
/// without weight decay, and a step of a weight and a bias launches two kernels, nothing else.
#[test]
fn the_fused_adamw_on_wgpu_is_burns_adamw_in_one_launch_per_parameter() {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::{Distribution, Tensor};
    use undivided::device::LaunchCounter;
    use undivided::train::adamw::FusedAdamW;
    let _turn = turn();
    let device = pollster::block_on(undivided::device::init_device(undivided::device::Backend::Wgpu)).unwrap().autodiff();
    let weights = |l: &Linear| {
        let mut w = l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        w.extend(l.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        w
    };
    let x = Tensor::<2>::random([4, 300], Distribution::Normal(0.0, 1.0), &device);
    let grads = |l: &Linear, i: usize| GradientsParams::from_grads(l.forward(x.clone().mul_scalar(i as f32 + 1.0)).tanh().sum().backward(), l);
    let steps = |optim: &mut ModuleOptimizer, mut l: Linear, range: std::ops::Range<usize>| {
        for i in range {
            let g = grads(&l, i);
            l = optim.step(1e-2 * (i + 1) as f64, l, g);
        }
        l
    };
    for weight_decay in [0.0, 0.01] {
        let start = LinearConfig::new(300, 300).init(&device);
        let w0 = weights(&start);
        let mut fused = ModuleOptimizer::from(FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay));
        let mut burns = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay).init();
        let (la, lb) = (steps(&mut fused, start.clone(), 0..5), steps(&mut burns, start.clone(), 0..5));
        let (wa, wb) = (weights(&la), weights(&lb));
        assert_ne!(wa, w0, "the weights should have moved");
        let diff = common::max_abs_diff(&wa, &wb);
        assert!(diff <= 1e-6, "weight decay {weight_decay}: the kernel and burn's AdamW differ by {diff} after 5 steps");
        // `start` shared its buffers with the trained copy: the kernel wrote into copies.
        assert_eq!(weights(&start), w0, "a model that shares the parameters' buffers must not change");

        let g = grads(&la, 5);
        let counter = LaunchCounter::start();
        let _ = fused.step(1e-2, la, g);
        let launches = counter.finish();
        assert_eq!(launches.by_kernel.get("AdamwUpdate"), Some(&2), "{launches:?}");
        assert_eq!(launches.total, 2, "one launch per parameter: {launches:?}");
    }
}

/// On wgpu the gradients' global norm (for clipping) is one kernel per parameter plus a sum: the
/// same norm as the sum of squares read back, for a gradient spread over many cubes (300 × 300)
/// and a small one. The clipping factor is applied by the AdamW kernel as it reads each gradient:
/// the same weights as burn's AdamW on gradients scaled beforehand.
#[test]
fn the_gradient_norm_and_clipping_on_wgpu_take_one_launch_per_parameter() {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::{Distribution, Tensor};
    use undivided::device::LaunchCounter;
    use undivided::train::adamw::{FusedAdamW, GradScale};
    use undivided::train::optim::{ParamTable, clip_factor, global_norm};
    let _turn = turn();
    let device = pollster::block_on(undivided::device::init_device(undivided::device::Backend::Wgpu)).unwrap().autodiff();
    let l = LinearConfig::new(300, 300).init(&device);
    let x = Tensor::<2>::random([4, 300], Distribution::Normal(0.0, 1.0), &device);
    let grads = || GradientsParams::from_grads(l.forward(x.clone()).tanh().sum().backward(), &l);
    let (w, b) = (l.weight.id, l.bias.as_ref().unwrap().id);
    let params = ParamTable(vec![(w, 2, true), (b, 1, false)]);
    let values = |grads: &GradientsParams| {
        let mut v = grads.get::<2>(w).unwrap().into_data().try_to_vec::<f32>().unwrap();
        v.extend(grads.get::<1>(b).unwrap().into_data().try_to_vec::<f32>().unwrap());
        v
    };
    let want = values(&grads()).iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    let g = grads();
    let counter = LaunchCounter::start();
    let norm = global_norm(&g, &params).unwrap();
    let launches = counter.finish();
    let got = norm.clone().into_scalar::<f32>() as f64;
    assert!((got - want).abs() <= 1e-5 * want, "norm {got} vs {want}");
    assert_eq!(launches.by_kernel.get("SumSquares"), Some(&2), "{launches:?}");
    assert!(launches.total <= 5, "one launch per parameter, then a sum and a square root: {launches:?}");

    let factor = clip_factor(&norm, want / 2.0);
    let scale = GradScale::default();
    let mut fused = ModuleOptimizer::from(FusedAdamW::new(0.9, 0.999, 1e-8, 0.01).with_grad_scale(scale.clone()));
    scale.set(Some(factor.clone()));
    let counter = LaunchCounter::start();
    let a = fused.step(1e-2, l.clone(), g);
    let launches = counter.finish();
    // (A first step also fills the moments with zeros, and copies the weights `l` still holds.)
    assert_eq!(launches.by_kernel.get("AdamwUpdate"), Some(&2), "{launches:?}");
    assert!(launches.by_kernel.keys().all(|k| !k.contains("Binop")), "the factor costs no multiplication: {launches:?}");
    let mut scaled = grads();
    let g = scaled.remove::<2>(w).unwrap() * factor.clone().reshape([1, 1]);
    scaled.register::<2>(w, g);
    let g = scaled.remove::<1>(b).unwrap() * factor.clone();
    scaled.register::<1>(b, g);
    let burns = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.01).init().step(1e-2, l.clone(), scaled);
    let weights = |l: &Linear| {
        let mut v = l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        v.extend(l.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        v
    };
    let diff = common::max_abs_diff(&weights(&a), &weights(&burns));
    assert!(diff <= 1e-6, "clipped in the kernel vs scaled beforehand: {diff}");
    assert!(factor.into_scalar::<f32>() < 0.6, "the factor should clip");
}
