//! Choosing where tensors live: burn's Flex CPU backend or wgpu (WebGPU/Vulkan/Metal/DX12).

use burn::backend::Cube;
use burn::backend::wgpu::CubeTensor;
use burn::tensor::{Bytes, DType, Device, Shape, Tensor, TensorData};

/// A compute backend, as chosen with `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Backend {
    /// burn-flex: pure-Rust CPU kernels (gemm + SIMD, multi-threaded). The native default: on
    /// CPUs it is the fastest of burn's backends measured here (see docs/benchmarks.md).
    #[default]
    Flex,
    /// burn-wgpu: WGSL kernels on a GPU through Vulkan, Metal, DX12 or (in the browser) WebGPU.
    /// Without a GPU it runs on Mesa's lavapipe, correct but slow.
    Wgpu,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        })
    }
}

/// Whether `device` (with or without autodiff) is burn-flex, the CPU backend.
pub fn is_flex(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// The values of an `f32` tensor on burn-flex as bytes, without a copy when nothing else holds
/// its buffer, for a hand-written loop (`undivided_kernels`) to read or update in place. View
/// them with `bytemuck`, not `TensorData::as_mut_slice`: its check of every value is generic, so
/// it would be compiled into this crate, unoptimised in the dev build (10% of a training step).
/// Also in the browser: burn-flex's data is in memory, so the synchronous read is ready at once.
pub fn f32_buffer<const D: usize>(tensor: Tensor<D>) -> Bytes {
    tensor.into_data().into_bytes()
}

/// An `f32` tensor on burn-flex, contiguous, for a hand-written loop to read in place: a
/// parameter's buffer stays shared with the module (no copy, where [`f32_buffer`] would copy it).
pub fn flex_f32<const D: usize>(tensor: Tensor<D>) -> FlexF32 {
    let tensor = tensor.try_into_primitive::<burn::backend::Flex>().expect("a tensor on burn-flex (checked by is_flex)");
    FlexF32(if tensor.is_contiguous() { tensor } else { tensor.to_contiguous() })
}

/// What [`flex_f32`] returns: the values through [`FlexF32::as_slice`].
pub struct FlexF32(burn::backend::flex::FlexTensor);

impl FlexF32 {
    pub fn as_slice(&self) -> Option<&[f32]> {
        self.0.as_slice::<f32>()
    }

    /// The buffer the values live in, shared with every tensor that views it: a cache of
    /// something derived from the values can hold it weakly (see `model::ops::cpu`).
    pub fn buffer(&self) -> std::sync::Arc<Bytes> {
        self.0.data_arc()
    }
}

/// The tensor of `shape` on `device` over an [`f32_buffer`], without a copy.
pub fn from_f32_buffer<const D: usize>(bytes: Bytes, shape: Shape, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::from_bytes(bytes, shape, DType::F32), device)
}

/// Whether `tensor` is a plain row-major tensor of `dtype` on a cubecl device: value `i` of the
/// tensor is value `i` of its buffer (which may be padded past the end: the kernels stop at the
/// tensor's own count). Under autodiff the primitive is not a cubecl tensor, so this is false.
pub fn is_cube<const D: usize>(tensor: &Tensor<D>, dtype: DType) -> bool {
    tensor.dtype() == dtype && tensor.clone().try_into_primitive::<Cube>().is_ok_and(|t| t.is_contiguous())
}

/// [`is_cube`] for `f32`, the optimizer kernels' type.
pub fn is_cube_f32<const D: usize>(tensor: &Tensor<D>) -> bool {
    is_cube(tensor, DType::F32)
}

/// The cubecl tensor behind a tensor [`is_cube_f32`] accepted.
pub fn cube_tensor<const D: usize>(tensor: Tensor<D>) -> CubeTensor {
    tensor.try_into_primitive::<Cube>().expect("a tensor on a cubecl device (checked by is_cube_f32)")
}

/// The backend could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {backend} backend: {reason}")]
pub struct DeviceError {
    pub backend: Backend,
    pub reason: String,
}

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The constructors the linker collected (cubecl registers its ops through `inventory`).
    fn __wasm_call_ctors();
}

/// Runs the module's constructors, once per instance, before the first model work.
///
/// Without a call to `__wasm_call_ctors` from the code, wasm-ld links the module "command-style"
/// and runs every constructor again at the start of *every* exported function — each call from
/// JS into Rust, every resolved promise of a readback included (a loss chart took 210–460 ms on
/// the page's thread). Calling it here, from the device set-up every model path goes through,
/// makes the module a reactor; and the page's own instance, which only draws charts and reads
/// result files, never pays for cubecl's registrations at all (76 ms of its start-up).
#[cfg(target_arch = "wasm32")]
pub fn run_constructors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker-synthesised constructor list, run once per instance before any cubecl
    // registry is read (init_device calls this first).
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// Starts `backend` and returns its device. wgpu is initialised once per process; later calls
/// return the same device.
pub async fn init_device(backend: Backend) -> Result<Device, DeviceError> {
    #[cfg(target_arch = "wasm32")]
    run_constructors();
    match backend {
        Backend::Flex => Ok(Device::flex()),
        Backend::Wgpu => {
            static WGPU: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
            if let Some(device) = WGPU.get() {
                return Ok(device.clone());
            }
            let device = match Device::wgpu_options().init_async().await {
                Ok(device) => Ok(device),
                // Something in this process already started the default wgpu runtime (burn does so
                // lazily, e.g. when restoring optimizer state): use that one.
                Err(burn::tensor::wgpu::WgpuInitError::Registration { .. }) => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
                Err(e) => Err(e),
            }
            .map_err(|e| DeviceError {
                backend,
                reason: format!(
                    "{e:?}. No WebGPU/Vulkan/Metal/DX12 adapter was found; in a browser enable WebGPU \
                     (Chrome 113+, or --enable-unsafe-webgpu), natively install a GPU driver or Mesa's \
                     lavapipe (mesa-vulkan-drivers)"
                ),
            })?;
            Ok(WGPU.get_or_init(|| device).clone())
        }
    }
}

/// GPU kernel launches (dispatches) counted while a [`LaunchCounter`] lives: what a forward pass
/// or a training step costs in launches, per kernel name. On wgpu without fusion every burn op
/// is one or more dispatches, and on a real GPU a small model's step is bound by them, not by
/// arithmetic — so this is the figure to attack. burn-flex runs no kernels: it counts nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Launches {
    pub total: usize,
    /// Launches per kernel, by the name the kernel gives itself.
    pub by_kernel: std::collections::BTreeMap<String, usize>,
}

impl Launches {
    /// The `n` kernels launched most often, most first.
    pub fn top(&self, n: usize) -> Vec<(&str, usize)> {
        let mut v: Vec<(&str, usize)> = self.by_kernel.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}

#[derive(Default)]
struct Tally(std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>);

impl cubecl::logging::LaunchObserver for Tally {
    fn launched(&self, kernel: &'static str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(kernel).or_default() += 1;
    }
}

/// Counts every kernel the process launches until [`finish`](Self::finish) (cubecl's launch
/// observer: called on the launching thread, before submission, so the count is exact and
/// needs no sync). Works across `.await`s, as the page's readbacks need.
pub struct LaunchCounter {
    tally: std::sync::Arc<Tally>,
    _watching: cubecl::logging::LaunchObservation,
}

impl LaunchCounter {
    pub fn start() -> Self {
        let tally = std::sync::Arc::new(Tally::default());
        let watching = cubecl::logging::LaunchObservation::new(tally.clone());
        Self { tally, _watching: watching }
    }

    pub fn finish(self) -> Launches {
        let by_kernel: std::collections::BTreeMap<String, usize> =
            self.tally.0.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, c)| (short_kernel_name(k), *c)).fold(Default::default(), |mut m, (k, c)| {
                *m.entry(k).or_default() += c;
                m
            });
        Launches { total: by_kernel.values().sum(), by_kernel }
    }
}

/// A kernel's name without its module path and generic arguments: `burn_cubecl::kernel::
/// binary::kernel_scalar_binop<f32, AddOp>` → `kernel_scalar_binop`.
fn short_kernel_name(name: &str) -> String {
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base).trim().to_string()
}
