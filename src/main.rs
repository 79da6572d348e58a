//! The `rampart` binary; everything lives in the library.
#![forbid(unsafe_code)]

/// mimalloc: the request path allocates many small, short-lived buffers; glibc malloc spent
/// about 5% of the gateway's CPU on them under load (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rampart::cli::main()
}
