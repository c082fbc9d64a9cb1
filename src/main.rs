//! The `iamstorm` binary: parse arguments, hand them to the library.

use clap::Parser;

/// mimalloc instead of glibc's malloc: the double and the harness allocate
/// per request on many threads, where glibc spent ~30 % of the double's CPU
/// (`results/bench/profile-double.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    iamstorm::cli::main(iamstorm::cli::Cli::parse())
}
