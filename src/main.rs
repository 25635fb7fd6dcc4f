//! The `undivided` command-line tool; see `undivided --help`.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    undivided::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
