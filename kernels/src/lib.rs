//! The few element-wise loops Undivided writes by hand for the CPU, where burn's composed tensor
//! operations would make many passes over memory: the AdamW update, the GELU, dropout masks and
//! self-attention at inference, and the page's dense layers over weights packed once.
//!
//! They live in their own crate because of how Undivided is built: the dev profile (what
//! `cargo run` and the tests use) compiles every dependency at `opt-level = 3` and Undivided
//! itself at 0, so that it rebuilds in seconds. Unoptimised, these loops were slower than the
//! tensor operations they replace; as a dependency they are compiled like burn's own kernels.
//! Nothing public here is `#[inline]` or generic, so no caller compiles them again unoptimised;
//! inside, each loop is compiled for baseline x86-64 and for AVX2 / AVX-512, chosen at run time.

/// Defines `fn NAME(args) BODY` so that the body runs compiled for the widest vectors the CPU
/// has: AVX-512F, else AVX2 + FMA, else the crate's baseline x86-64 (SSE2), chosen at run time.
/// The crate is built for the baseline, where these loops run a quarter as wide. Rust does not
/// contract `a * b + c` into FMA, so every copy gives the same bits.
macro_rules! widest_vectors {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) { body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { body($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub mod adamw;
pub mod attention;
pub mod dense;
pub mod dropout;
pub mod gelu;
mod math;
