//! SIGINT (Ctrl-C) and SIGTERM (`timeout`, a CI cancel) stop a run the same way:
//! - outside apply/destroy, the first one stops the command at once: nothing is being
//!   changed, and dropping the command releases the lock;
//! - during apply/destroy, the first one stops new work and lets the operations in flight
//!   finish and be saved; the second cancels the operations in flight (helm gets SIGTERM
//!   and marks its release failed, which the next apply upgrades), saves what was done and
//!   the outputs; a third stops at once.
//!
//! The exit status is 128 + the last signal: 130 for SIGINT, 143 for SIGTERM.

use std::sync::OnceLock;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::graph::walk::Cancel;

/// What has been received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Received {
    count: usize,
    /// Number of the last signal.
    last: i32,
    /// An apply is running and handles the first two signals itself.
    applying: bool,
}

/// The signals of this process, shared by `main` and the commands.
#[derive(Debug, Clone)]
pub struct Interrupts(watch::Sender<Received>);

static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();

/// Starts listening for SIGINT and SIGTERM; call once, inside the runtime.
pub fn install() -> std::io::Result<Interrupts> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let interrupts = INTERRUPTS
        .get_or_init(|| Interrupts(watch::Sender::new(Received::default())))
        .clone();
    let tx = interrupts.0.clone();
    tokio::spawn(async move {
        loop {
            let signo = tokio::select! {
                Some(()) = sigint.recv() => libc::SIGINT,
                Some(()) = sigterm.recv() => libc::SIGTERM,
                else => break,
            };
            tx.send_modify(|r| {
                r.count += 1;
                r.last = signo;
            });
        }
    });
    Ok(interrupts)
}

/// The process's signals, once [`install`]ed.
pub fn current() -> Option<Interrupts> {
    INTERRUPTS.get().cloned()
}

fn name(signo: i32) -> &'static str {
    if signo == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

impl Interrupts {
    /// 128 + the last signal received (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> i32 {
        128 + self.0.borrow().last
    }

    pub fn received(&self) -> bool {
        self.0.borrow().count > 0
    }

    /// Resolves when the command must stop at once.
    pub async fn must_stop(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx
            .wait_for(|r| (r.count >= 1 && !r.applying) || r.count >= 3)
            .await;
        eprintln!("\nInterrupted ({}): stopped.", name(self.0.borrow().last));
    }

    /// While the returned guard lives, the first signal cancels `cancel` (no new work)
    /// and the second aborts it (work in flight is cancelled).
    pub fn during_apply(&self, cancel: Cancel) -> ApplyWatch {
        self.0.send_modify(|r| r.applying = true);
        let mut rx = self.0.subscribe();
        let task = tokio::spawn(async move {
            if rx.wait_for(|r| r.count >= 1).await.is_err() {
                return;
            }
            eprintln!(
                "\nInterrupted ({}): finishing operations in flight and saving state; starting nothing new. \
                 Interrupt again to cancel the operations in flight.",
                name(rx.borrow().last)
            );
            cancel.cancel();
            if rx.wait_for(|r| r.count >= 2).await.is_err() {
                return;
            }
            eprintln!(
                "\nInterrupted again ({}): cancelling operations in flight, then saving state.",
                name(rx.borrow().last)
            );
            cancel.abort();
        });
        ApplyWatch { task }
    }
}

/// Stops watching when dropped. The command keeps handling signals itself from there
/// (it only reports and returns), so a signal during apply never cuts its report short.
pub struct ApplyWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApplyWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
