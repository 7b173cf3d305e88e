//! The engine's operations, one per file: prepare a stack, plan, apply (a stack or a saved
//! plan), destroy, drift, refresh-only, import, state edits, history, outputs. Each takes
//! typed parameters and returns a report value; none prints, and none knows of terminals
//! or exit codes. Notes and retries go to the caller's [`Hooks`], apply progress through
//! [`crate::apply::Progress`]. Nothing here is global, so many stacks can run at once.

pub mod apply;
pub mod destroy;
pub mod drift;
pub mod history;
pub mod import;
pub mod locked;
pub mod output;
pub mod plan;
pub mod prepare;
pub mod providers;
pub mod refresh_only;
pub mod saved;
pub mod stack;
pub mod state;
pub mod verify;

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::state::lock::LockError;
use crate::state::StateError;

/// Why an operation did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Bad input or a refused operation, with spans and advice.
    #[error("{0}")]
    Diagnostics(Diagnostics),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    /// A failure whose message already says what to do.
    #[error("{0}")]
    Message(String),
    /// [`Hooks::stopping`] asked to stop during a wait; says which wait.
    #[error("stopped {0}")]
    Stopped(&'static str),
}

impl OpsError {
    pub fn message(m: impl Into<String>) -> OpsError {
        OpsError::Message(m.into())
    }
}

impl From<Diagnostics> for OpsError {
    fn from(d: Diagnostics) -> Self {
        OpsError::Diagnostics(d)
    }
}

impl From<Diagnostic> for OpsError {
    fn from(d: Diagnostic) -> Self {
        OpsError::Diagnostics(d.into())
    }
}

pub type OpsResult<T> = Result<T, OpsError>;

/// Receives notes (a stale lock broken, a state recovered after a crash) and retries
/// (`address: retrying in ...`), one line each.
pub type NotifyFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How an operation reaches whoever runs it.
#[derive(Clone)]
pub struct Hooks {
    pub notify: NotifyFn,
    /// Asked while waiting (for the state lock): true stops the wait with
    /// [`OpsError::Stopped`].
    pub stopping: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Hooks {
    /// Hears nothing and never stops.
    pub fn silent() -> Hooks {
        Hooks {
            notify: Arc::new(|_: &str| {}),
            stopping: Arc::new(|| false),
        }
    }

    pub fn note(&self, line: &str) {
        (self.notify)(line)
    }

    pub(crate) fn retry_notify(&self) -> crate::retry::Notify {
        crate::retry::Notify(self.notify.clone())
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}
