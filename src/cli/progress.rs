//! Apply progress: one line per resource start and finish with elapsed time, and on a
//! terminal a live view of what is in flight.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::Progress;
use crate::diag::Diagnostic;
use crate::plan::render::Style;
use crate::plan::{Action, PlannedChange};

fn doing(c: &PlannedChange) -> &'static str {
    match c.action {
        Action::NoOp if c.restart.is_some() => "restarting",
        Action::Create => "creating",
        Action::Read => "reading",
        Action::Update => "updating",
        Action::DeleteThenCreate | Action::CreateThenDelete => "replacing",
        Action::Delete => "destroying",
        Action::Adopt => "adopting",
        Action::Forget => "forgetting",
        Action::NoOp => "checking",
    }
}

fn done(c: &PlannedChange) -> &'static str {
    match c.action {
        Action::NoOp if c.restart.is_some() => "restarted",
        Action::Create => "created",
        Action::Read => "read",
        Action::Update => "updated",
        Action::DeleteThenCreate | Action::CreateThenDelete => "replaced",
        Action::Delete => "destroyed",
        Action::Adopt => "adopted",
        Action::Forget => "forgotten",
        Action::NoOp => "checked",
    }
}

fn elapsed(d: Duration) -> String {
    if d.as_secs() >= 60 {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Plain lines on stderr: good for CI logs.
pub struct Lines {
    pub style: Style,
}

impl Progress for Lines {
    fn started(&self, c: &PlannedChange) {
        eprintln!("{}: {}...", c.address, doing(c));
    }
    fn message(&self, address: &str, text: &str) {
        eprintln!("{address}: {text}");
    }
    fn finished(&self, c: &PlannedChange, took: Duration, error: Option<&Diagnostic>) {
        match error {
            None => eprintln!("{}: {} in {}", c.address, done(c), elapsed(took)),
            Some(_) => eprintln!(
                "{}: {} after {}",
                c.address,
                self.style.red(&format!("{} failed", doing(c))),
                elapsed(took)
            ),
        }
        let _ = std::io::stderr().flush();
    }
}

/// A spinner per operation in flight; finished lines scroll above them.
pub struct Live {
    multi: MultiProgress,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
    style: Style,
}

impl Live {
    pub fn new(style: Style) -> Live {
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(Default::default()),
            style,
        }
    }
}

impl Progress for Live {
    fn started(&self, c: &PlannedChange) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
        );
        bar.set_message(format!("{}: {}", c.address, doing(c)));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bars.lock().unwrap().insert(c.address.clone(), bar);
    }
    fn message(&self, address: &str, text: &str) {
        if let Some(bar) = self.bars.lock().unwrap().get(address) {
            bar.set_message(format!("{address}: {text}"));
        }
    }
    fn finished(&self, c: &PlannedChange, took: Duration, error: Option<&Diagnostic>) {
        if let Some(bar) = self.bars.lock().unwrap().remove(&c.address) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let line = match error {
            None => format!("{}: {} in {}", c.address, done(c), elapsed(took)),
            Some(_) => format!(
                "{}: {} after {}",
                c.address,
                self.style.red(&format!("{} failed", doing(c))),
                elapsed(took)
            ),
        };
        let _ = self.multi.println(line);
    }
}
