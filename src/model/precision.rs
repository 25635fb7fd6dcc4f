//! Half precision at inference: weights and activations in f16 on GPU adapters with
//! `shader-f16`, for half the memory traffic of every kernel; training stays in f32.
//!
//! Why only on a GPU: burn-flex has no f16 arithmetic of its own worth using (it would widen
//! every value), and the point of f16 is the GPU's memory bandwidth. The model's outputs are
//! widened back to f32 ([`BertModel::forward`](super::BertModel::forward) and the classifier's
//! logits), so everything that reads them is unchanged; `docs/benchmarks.md` gives the accuracy
//! against f32.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Device, Tensor};

/// The precision a model computes in, as chosen with `--precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Precision {
    #[default]
    F32,
    /// Half precision (IEEE binary16): inference on GPU adapters with `shader-f16`.
    F16,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

/// A precision the device cannot compute in.
#[derive(Debug, thiserror::Error)]
pub enum PrecisionError {
    #[error("--precision f16 runs on a GPU (--device wgpu); the CPU backend computes in f32")]
    NotOnCpu,
    #[error("--precision f16: this GPU adapter has no f16 arithmetic (WebGPU's `shader-f16`, Vulkan's `shaderFloat16`); use f32")]
    Unsupported,
}

/// Checks that `device` can compute in `precision`.
pub fn check(precision: Precision, device: &Device) -> Result<(), PrecisionError> {
    match precision {
        Precision::F32 => Ok(()),
        Precision::F16 if crate::device::is_flex(device) => Err(PrecisionError::NotOnCpu),
        Precision::F16 if !device.supports_dtype(DType::F16) => Err(PrecisionError::Unsupported),
        Precision::F16 => Ok(()),
    }
}

struct Cast(DType);

impl ModuleMapper for Cast {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// `model` with every float parameter in `precision` (checked with [`check`] first).
pub fn cast<M: Module>(model: M, precision: Precision, device: &Device) -> Result<M, PrecisionError> {
    check(precision, device)?;
    Ok(match precision {
        Precision::F32 => model,
        p => model.map(&mut Cast(p.dtype())),
    })
}

/// `t` in `dtype`, untouched (no kernel) when it already is.
pub fn to_dtype<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// `t` in f32: what a model in another precision hands back to its callers.
pub fn to_f32<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    to_dtype(t, DType::F32)
}
