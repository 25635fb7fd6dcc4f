//! The few element-wise loops Undivided writes by hand for the CPU, where burn's composed tensor
//! operations would make many passes over memory: the AdamW update, the GELU, dropout masks and
//! self-attention at inference.
//!
//! They live in their own crate because of how Undivided is built: the dev profile (what
//! `cargo run` and the tests use) compiles every dependency at `opt-level = 3` and Undivided
//! itself at 0, so that it rebuilds in seconds. Unoptimised, these loops were slower than the
//! tensor operations they replace; as a dependency they are compiled like burn's own kernels.
//! Nothing public here is `#[inline]` or generic, so no caller compiles them again unoptimised;
//! inside, each loop is compiled for baseline x86-64 and for AVX2 / AVX-512, chosen at run time.

pub mod adamw;
#[cfg(not(target_arch = "wasm32"))]
pub mod attention;
pub mod dropout;
pub mod gelu;
mod math;
