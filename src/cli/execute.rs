//! Running a reviewed plan from the terminal: asking for confirmation, wiring signals
//! and progress to the engine's apply, and rendering its summary as the exit status.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use super::progress::{Lines, Live};
use super::{out, Failure, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK};
use crate::apply::Progress;
use crate::diag::{render, Diagnostic};
use crate::graph::walk::Cancel;
use crate::ops::apply::{ApplySummary, ExecuteParams};
use crate::plan::render::Style;

/// Asks on the terminal; refuses when there is none.
pub async fn confirm(verb: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Diagnostic::error(
            "cli::needs_approval",
            format!("{verb} needs confirmation, but there is no terminal to ask on"),
        )
        .with_help(format!(
            "review the plan, then run `trustplane {verb} --auto-approve`, or apply a saved plan"
        ))
        .into());
    }
    print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    // Read on a blocking thread, so a signal can still stop the command while it waits.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reading stdin does not panic")
    .map_err(|e| Failure::message(format!("cannot read the answer: {e}")))?;
    Ok(line.trim() == "yes")
}

/// Runs `apply` (one of the engine's apply functions) with progress on stderr and the
/// signals of this process wired to its cancel; renders the summary and returns the
/// exit status: 0 done, 1 incomplete, 128 + the signal when interrupted.
pub async fn run<F, Fut>(style: Style, parallelism: u32, apply: F) -> i32
where
    F: FnOnce(ExecuteParams) -> Fut,
    Fut: std::future::Future<Output = ApplySummary>,
{
    let cancel = Cancel::default();
    let interrupts = super::signals::current();
    let watcher = interrupts.as_ref().map(|i| i.during_apply(cancel.clone()));
    let progress: Arc<dyn Progress> = if std::io::stderr().is_terminal() {
        Arc::new(Live::new(style))
    } else {
        Arc::new(Lines { style })
    };
    let summary = apply(ExecuteParams {
        parallelism: parallelism as usize,
        cancel,
        progress,
    })
    .await;
    drop(watcher);
    // A signalled run exits 128 + the signal, even when all its work got done.
    let interrupted = interrupts.filter(|i| i.received()).map(|i| i.exit_code());
    render_summary(&summary, style);
    match (summary.succeeded, interrupted) {
        (_, Some(code)) => code,
        (true, None) => EXIT_OK,
        (false, None) if summary.cancelled => EXIT_INTERRUPTED,
        (false, None) => EXIT_ERROR,
    }
}

fn render_summary(s: &ApplySummary, style: Style) {
    let mut counts = format!(
        "{} added, {} changed, {} replaced, {} destroyed",
        s.added, s.changed, s.replaced, s.destroyed
    );
    if s.adopted > 0 {
        counts.push_str(&format!(", {} adopted", s.adopted));
    }
    if s.forgotten > 0 {
        counts.push_str(&format!(", {} forgotten", s.forgotten));
    }
    if !s.diagnostics.is_empty() {
        eprint!("{}", render(&s.diagnostics, style.color));
    }
    let title = title(&s.command);
    if s.succeeded {
        out(&format!(
            "\n{}\n",
            style.green(&format!("{title} complete! Resources: {counts}."))
        ));
        render_outputs(s, style);
        return;
    }
    let mut summary = format!(
        "\n{} Resources: {counts}.\n",
        style.red(&format!("{title} incomplete."))
    );
    let lists = [
        ("failed: ", &s.failed),
        ("skipped (a dependency failed):", &s.skipped),
        ("not started (interrupted):", &s.not_started),
        (
            "cancelled in flight (the next plan shows whether they took effect):",
            &s.aborted,
        ),
    ];
    for (label, names) in lists {
        if !names.is_empty() {
            summary.push_str(&format!("  {label} {}\n", names.join(", ")));
        }
    }
    summary.push_str(
        "Everything that was done is saved in state; run the command again to continue.\n",
    );
    eprint!("{summary}");
}

fn title(command: &str) -> String {
    let mut c = command.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn render_outputs(s: &ApplySummary, style: Style) {
    if s.outputs.is_empty() {
        return;
    }
    let mut text = format!("\n{}\n", style.bold("Outputs:"));
    for (k, o) in &s.outputs {
        let v = if o.sensitive {
            "(sensitive)".to_string()
        } else {
            o.value.render()
        };
        text.push_str(&format!("  {k} = {v}\n"));
    }
    out(&text);
}
