//! The one error type of the command line: every error of the engine converts into it
//! with `?`, and `main` renders it once.

use crate::diag::{Diagnostic, Diagnostics};
use crate::ops::OpsError;
use crate::provider::ProviderError;
use crate::state::lock::LockError;
use crate::state::StateError;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Rendered with their spans and advice.
    Diagnostics(Diagnostics),
    /// Rendered as `error: <message>`.
    Message(String),
    /// A signal stopped the command while it waited; `what` says where (rendered as
    /// `Interrupted: <what>.`). Exits 128 + the signal.
    Interrupted(String),
    /// Already reported; exit with this code.
    Exit(i32),
}

impl Failure {
    pub fn message(m: impl Into<String>) -> Failure {
        Failure::Message(m.into())
    }
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Failure::Diagnostics(d)
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Diagnostics(d.into())
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<ProviderError> for Failure {
    fn from(e: ProviderError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Diagnostics(d) => d.into(),
            OpsError::State(e) => e.into(),
            OpsError::Lock(e) => e.into(),
            OpsError::Message(m) => Failure::Message(m),
            verify @ OpsError::Verify(_) => Failure::Message(verify.to_string()),
            stopped @ OpsError::Stopped(_) => Failure::Interrupted(stopped.to_string()),
        }
    }
}

pub type CmdResult = Result<i32, Failure>;
