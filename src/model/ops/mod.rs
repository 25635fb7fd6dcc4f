//! How the model's operations run fast, kept out of the component files so that those read as
//! HF's equations. Each function says why it exists and what it measured.
//!
//! - [`per_token`]: dense layers as one `[batch·seq, d]` product (2-D matmul, not batched); on
//!   the page's CPU path through `undivided_kernels::dense`, over weights packed once;
//! - [`add_norm`]: residual + LayerNorm;
//! - [`gelu`]: the exact GELU with finite, exact gradients (a line through each point on the CPU);
//! - [`multi_head`]: attention over heads, in place from the projections at inference on the CPU;
//! - [`scaled_dot_product`]: fused attention at inference, the explicit form when training;
//! - [`dropout`] / [`with_mask_seed`]: masks from a per-thread generator, so batch slices train
//!   on parallel threads reproducibly;
//! - [`share`]: one pass shared over workers that all run it, attention by heads and the
//!   intermediate block by columns, two exchanges a layer (one sentence on the page's CPU workers);
//! - `cpu`: the page's dense layers (wasm32, shared passes), each weight packed once;
//! - `gpu`: the kernels inference takes on GPUs, nine launches per layer (dense + bias (+ GELU),
//!   residual + LayerNorm, attention from the projections).

mod attention;
mod cpu;
mod dropout;
mod gelu;
mod gpu;
mod linear;
mod norm;
pub mod share;

pub use attention::{multi_head, scaled_dot_product};
pub use dropout::{dropout, with_mask_seed};
pub use gelu::gelu;
pub use linear::{per_token, per_token_gelu};
pub use norm::add_norm;
pub use share::MAX_SHARED_ROWS;
