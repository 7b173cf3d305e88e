//! The thin command-line layer: parse arguments, resolve the environment, run one
//! operation, render its result, and map it to an exit code:
//! 0 success, 1 error, 2 changes or drift present (with --detailed-exitcode / drift),
//! 130 interrupted.

pub mod args;
mod commands;
mod context;
mod progress;
mod verify;

use std::io::{IsTerminal, Write};

use clap::Parser;

use crate::diag::{render, Diagnostics};
use crate::plan::render::Style;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    Diagnostics(Diagnostics),
    Message(String),
    /// Already reported; exit with this code.
    Exit(i32),
}

impl Failure {
    pub fn message(m: impl Into<String>) -> Failure {
        Failure::Message(m.into())
    }
}

pub type CmdResult = Result<i32, Failure>;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

/// Entry point of the `trustplane` binary; returns the exit code.
pub fn main() -> i32 {
    let cli = args::Cli::parse();
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let style = Style { color };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match runtime.block_on(commands::run(cli.command, style)) {
        Ok(code) => code,
        Err(Failure::Diagnostics(d)) => {
            eprint!("{}", render(&d, color));
            EXIT_ERROR
        }
        Err(Failure::Message(m)) => {
            eprintln!("{} {m}", style.red("error:"));
            EXIT_ERROR
        }
        Err(Failure::Exit(code)) => code,
    }
}

/// Writes to stdout; a closed pipe (`trustplane plan | head`) is not an error.
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        std::process::exit(EXIT_OK);
    }
}
