//! `BertIntermediate`: the feed-forward block that Undivided can remove from a layer.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::activation::{gelu, gelu_approximate, relu};
use burn::tensor::{Device, Tensor};

use super::{BertConfig, HiddenAct, dropout, per_token};

/// HF `intermediate.dense` + `output.{dense,LayerNorm}` of one encoder layer:
/// `LayerNorm(h + Dropout(Dense₂(act(Dense₁(h)))))` with `Dense₁: hidden → intermediate_size`
/// and `Dense₂: intermediate_size → hidden`.
///
/// It holds about two thirds of a layer's weights and FLOPs, which is why removing it is worth asking about.
#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub intermediate_dense: Linear,
    pub output_dense: Linear,
    pub output_layer_norm: LayerNorm,
    pub dropout: Dropout,
    #[module(skip)]
    pub act: HiddenAct,
}

impl BertIntermediate {
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            intermediate_dense: LinearConfig::new(config.hidden_size, config.intermediate_size).init(device),
            output_dense: LinearConfig::new(config.intermediate_size, config.hidden_size).init(device),
            output_layer_norm: config.layer_norm(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            act: config.hidden_act,
        }
    }

    /// `h`: the attention block's output `[batch, seq, hidden]` → the layer output.
    pub fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        let x = self.activate(per_token(&self.intermediate_dense, h.clone()));
        let x = dropout(&self.dropout, per_token(&self.output_dense, x));
        self.output_layer_norm.forward(x + h)
    }

    /// The block's activation function (HF `hidden_act`) on the pre-activations `x`.
    pub fn activate(&self, x: Tensor<3>) -> Tensor<3> {
        match self.act {
            // burn's GELU backward differentiates the tanh approximation, and WGSL `tanh`
            // overflows to NaN for large inputs on some WebGPU implementations (SwiftShader):
            // MiniLM's pre-activations reach that range, and the first training step's
            // gradients became NaN in the browser. When gradients are tracked, the exact
            // GELU is written out, so its backward goes through `erf` (exact, and NaN-free).
            HiddenAct::Gelu if x.device().is_autodiff() => {
                #[cfg(not(target_arch = "wasm32"))]
                if crate::device::is_flex(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
                    return gelu_on_cpu(x);
                }
                x.clone() * (x.div_scalar(std::f64::consts::SQRT_2).erf() + 1.0).mul_scalar(0.5)
            }
            HiddenAct::Gelu => gelu(x),
            HiddenAct::GeluNew => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
        }
    }
}

/// The exact GELU under autodiff on burn-flex, as `x · slope + offset` with both constants
/// computed in one pass at each input (`undivided_kernels::gelu`): the same values and the same
/// derivative as the written-out form, in two element-wise operations forward and one backward
/// instead of about fifteen.
#[cfg(not(target_arch = "wasm32"))]
fn gelu_on_cpu(x: Tensor<3>) -> Tensor<3> {
    use crate::device::{f32_buffer, from_f32_buffer};
    let (shape, device) = (x.shape(), x.device().inner());
    let mut slope = f32_buffer(x.clone().inner());
    let mut offset = vec![0f32; shape.num_elements()];
    undivided_kernels::gelu::gelu_slope_offset(bytemuck::cast_slice_mut(&mut slope), &mut offset);
    // Tensors without autodiff: constants in the products below.
    let slope = from_f32_buffer(slope, shape.clone(), &device);
    let offset = from_f32_buffer(burn::tensor::Bytes::from_elems(offset), shape, &device);
    x * slope + offset
}
