//! LayerNorm after a residual connection.

use burn::nn::LayerNorm;
use burn::tensor::Tensor;

use super::gpu;

/// `norm(x + residual)` (`[batch, seq, hidden]`), or `norm(x)` without a residual: at inference
/// on a GPU one kernel launch ([`gpu::add_norm`]) instead of burn's add, two reductions and six
/// element-wise kernels. `epsilon` is the norm's own (burn keeps its field private; the model
/// reads it from the config that made the norm).
pub fn add_norm(norm: &LayerNorm, x: Tensor<3>, residual: Option<Tensor<3>>, epsilon: f64) -> Tensor<3> {
    let [batch, seq, hidden] = x.dims();
    let dtype = x.dtype();
    let fused = gpu::applies(&x, dtype)
        && residual.as_ref().is_none_or(|r| gpu::applies(r, dtype))
        && norm.beta.as_ref().is_some_and(|beta| gpu::applies(&beta.val(), dtype))
        && gpu::applies(&norm.gamma.val(), dtype);
    match (fused, &norm.beta) {
        (true, Some(beta)) => {
            let rows = |t: Tensor<3>| t.reshape([batch * seq, hidden]);
            gpu::add_norm(rows(x), residual.map(rows), norm.gamma.val(), beta.val(), epsilon).reshape([batch, seq, hidden])
        }
        _ => norm.forward(match residual {
            Some(r) => x + r,
            None => x,
        }),
    }
}
