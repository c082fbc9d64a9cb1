//! The `iamstorm` binary: parse arguments, hand them to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    iamstorm::cli::main(iamstorm::cli::Cli::parse())
}
