//! The thin command-line layer: parse arguments, resolve the environment, run one
//! operation, render its result, and map it to an exit code:
//! 0 success, 1 error (a failed write to stdout included), 2 changes or drift present
//! (with --detailed-exitcode / drift), 130 interrupted by SIGINT, 143 by SIGTERM
//! (see [`signals`]).

mod apply;
pub mod args;
mod execute;
mod failure;
mod fleet;
mod inspect;
mod output;
mod params;
mod plan;
mod progress;
pub mod signals;
mod state;
mod verify;

pub use failure::{CmdResult, Failure};

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;

use crate::diag::{render, Diagnostics};
use crate::plan::render::Style;
use crate::provider::aws::pacing::PacerRegistry;
use crate::provider::Registry;
use args::Command;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

/// Entry point of the `trustplane` binary; returns the exit code.
pub fn main() -> i32 {
    // A fleet holds a dozen files and connections per member.
    crate::open_files::raise_to_hard_limit();
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
    // This runtime outlives every AWS call of the process: they may share connections.
    crate::provider::aws::shared::share_for_process();
    let result = runtime.block_on(async {
        let interrupts = match signals::install() {
            Ok(i) => i,
            Err(e) => return Err(Failure::message(format!("cannot handle signals: {e}"))),
        };
        tokio::select! {
            biased;
            result = run(cli.command, style) => result,
            () = interrupts.must_stop() => Err(Failure::Exit(interrupts.exit_code())),
        }
    });
    // State writes still finishing on blocking threads get a bounded wait; a stdin read
    // a signal interrupted does not hold the exit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    if let Some(note) = throttle_note(&PacerRegistry::global().throttled()) {
        eprintln!("{} {note}", style.bold("note:"));
    }
    let code = match result {
        Ok(code) => code,
        Err(Failure::Diagnostics(d)) => {
            eprint!("{}", render(&d, color));
            EXIT_ERROR
        }
        Err(Failure::Message(m)) => {
            eprintln!("{} {m}", style.red("error:"));
            EXIT_ERROR
        }
        Err(Failure::Interrupted(what)) => {
            eprintln!("\nInterrupted: {what}.");
            signals::current().map_or(EXIT_INTERRUPTED, |i| i.exit_code())
        }
        Err(Failure::Exit(code)) => code,
    };
    match STDOUT_FAILED.get() {
        Some(e) => {
            eprintln!(
                "{} cannot write to standard output: {e}",
                style.red("error:")
            );
            if code == EXIT_OK || code == EXIT_CHANGES {
                EXIT_ERROR
            } else {
                code
            }
        }
        None => code,
    }
}

/// Runs one command: its module calls the engine's operations and renders their reports.
async fn run(command: Command, style: Style) -> CmdResult {
    let registry = std::sync::Arc::new(Registry::builtin());
    match command {
        Command::Validate { paths, json } => inspect::validate(&paths, json, &registry, style),
        Command::Graph { file } => inspect::graph(&file, &registry),
        Command::Plan(args) => plan::plan(args, registry, style).await,
        Command::Apply(args) => apply::apply(args, registry, style).await,
        Command::Destroy(args) => apply::destroy(args, registry, style).await,
        Command::Drift(args) => plan::drift(args, registry, style).await,
        Command::Output(args) => output::output(args, &registry),
        Command::Import(args) => state::import(args, registry).await,
        Command::State(cmd) => state::state(cmd, &registry),
        Command::Verify(args) => verify::run(args, &registry, style).await,
        Command::Fleet(cmd) => fleet::run(cmd, registry, style).await,
    }
}

/// What AWS throttled during the command (calls per operation), said once at the end:
/// a slow run then has its reason on screen.
fn throttle_note(throttled: &[(String, u64)]) -> Option<String> {
    if throttled.is_empty() {
        return None;
    }
    let total: u64 = throttled.iter().map(|(_, n)| n).sum();
    let each = throttled
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let calls = if total == 1 { "call" } else { "calls" };
    Some(format!(
        "AWS throttled {total} {calls} ({each}); trustplane slowed those operations down \
         for the account and sent the calls again"
    ))
}

/// Warnings, on stderr.
fn warn(diags: &Diagnostics, style: Style) {
    if !diags.is_empty() {
        eprint!("{}", render(diags, style.color));
    }
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Set once stdout is closed or failed: nothing more is written to it.
static STDOUT_DONE: AtomicBool = AtomicBool::new(false);
/// Why writing to stdout failed (a full disk, an I/O error), for the exit status.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes to stdout. A closed pipe (`trustplane plan | head`) is not an error: output
/// stops quietly and the command runs to its end with its own exit status. Any other
/// failure (`> /dev/full`) makes the command exit 1 once it has finished its work, since
/// its output was lost.
pub(crate) fn out(text: &str) {
    if STDOUT_DONE.load(Ordering::SeqCst) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        STDOUT_DONE.store(true, Ordering::SeqCst);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_FAILED.set(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::throttle_note;

    #[test]
    fn a_throttled_run_says_so_once_with_the_counts() {
        assert_eq!(throttle_note(&[]), None);
        assert_eq!(
            throttle_note(&[("iam:GetRole".into(), 1)]).unwrap(),
            "AWS throttled 1 call (iam:GetRole 1); trustplane slowed those operations down \
             for the account and sent the calls again"
        );
        let note =
            throttle_note(&[("eks:DescribeCluster".into(), 3), ("iam:GetRole".into(), 2)]).unwrap();
        assert!(
            note.starts_with("AWS throttled 5 calls (eks:DescribeCluster 3, iam:GetRole 2);"),
            "{note}"
        );
    }
}
