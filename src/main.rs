//! The `undivided` command-line tool; see `undivided --help`.

/// burn-flex allocates a new buffer for every tensor op; glibc's allocator unmaps large ones on free,
/// so the next op page-faults them back in. mimalloc keeps and reuses them: the full model trains
/// about a third faster on 2 cores (8.1 → 10.7–11.6 examples/s at 32 × 64 tokens).
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the crate does not export it as a
/// constant; `mimalloc` is pinned so the number cannot move under us).
#[cfg(not(target_arch = "wasm32"))]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    // Never hand freed pages back to the kernel: each step reallocates the same buffers, and
    // mimalloc's default (purge after 10 ms) still faulted them in again on every op.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    undivided::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
