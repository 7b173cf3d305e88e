//! Opening a stack's state for an operation: where it is, taking its lock (waiting up to
//! a timeout), and vouching for it after an unclean stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Hooks, OpsError, OpsResult};
use crate::diag::Diagnostic;
use crate::provider::Registry;
use crate::state::lock::{self, LockGuard};
use crate::state::sled_store::SledState;
use crate::state::{default_location, StateRead};

/// The workspace used when none is named.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Where a state is and how long to wait for its lock.
#[derive(Debug, Clone, Default)]
pub struct StateSpec {
    /// The state directory; by default `state/<stack>/<workspace>`.
    pub dir: Option<PathBuf>,
    /// The workspace named (flag or environment), if any.
    pub workspace: Option<String>,
    pub lock_timeout: Duration,
}

impl StateSpec {
    /// The workspace to use: the one named, else `default`.
    pub fn workspace(&self) -> &str {
        self.workspace.as_deref().unwrap_or(DEFAULT_WORKSPACE)
    }

    /// The state directory of `stack`.
    pub fn dir_of(&self, stack: &str) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| default_location(Path::new("state"), stack, self.workspace()))
    }
}

/// A state found without needing every variable: by a stack file or a state directory.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub stack_file: Option<PathBuf>,
    pub state: StateSpec,
}

/// An open, locked state. The lock is released when this is dropped.
pub struct OpenState {
    pub store: Arc<SledState>,
    pub dir: PathBuf,
    _lock: LockGuard,
}

impl OpenState {
    /// Resource types recorded in state, so their providers get configured too.
    pub fn types(&self) -> Vec<String> {
        self.store
            .resources()
            .map(|r| r.values().map(|r| r.type_name.clone()).collect())
            .unwrap_or_default()
    }
}

/// Takes the lock of `stack`'s state (waiting up to the timeout), then opens it.
/// `command` is recorded in the lock, for whoever finds it held.
pub fn open(spec: &StateSpec, stack: &str, command: &str, hooks: &Hooks) -> OpsResult<OpenState> {
    let dir = spec.dir_of(stack);
    let guard = take_lock(&dir, command, spec.lock_timeout, hooks)?;
    let store = SledState::open(&dir, stack, spec.workspace())?;
    vouch(&store, &dir, command, hooks)?;
    Ok(OpenState {
        store: Arc::new(store),
        dir,
        _lock: guard,
    })
}

/// Opens (creating if needed) the state in `dir` for `state import`, locked.
pub fn open_new(
    dir: &Path,
    stack: &str,
    workspace: &str,
    timeout: Duration,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    let guard = take_lock(dir, "state import", timeout, hooks)?;
    let store = SledState::open(dir, stack, workspace)?;
    Ok(OpenState {
        store: Arc::new(store),
        dir: dir.to_path_buf(),
        _lock: guard,
    })
}

/// Opens the state a [`Location`] names, locked.
pub fn open_location(
    loc: &Location,
    registry: &Registry,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    let stack = match (&loc.stack_file, &loc.state.dir) {
        (Some(file), _) => super::stack::stack_name(file, registry)?,
        (None, Some(dir)) => return open_existing(dir, loc.state.lock_timeout, command, hooks),
        (None, None) => {
            return Err(Diagnostic::error(
                "cli::no_state",
                "which state? no stack file or state directory was given",
            )
            .with_help(
                "pass the stack file with -f STACK.yaml, or a state directory with --state DIR",
            )
            .into())
        }
    };
    open(&loc.state, &stack, command, hooks)
}

/// The lock directory of a location, without opening anything (force-unlock).
pub fn location_dir(loc: &Location, registry: &Registry) -> OpsResult<PathBuf> {
    match (&loc.stack_file, &loc.state.dir) {
        (_, Some(dir)) => Ok(dir.clone()),
        (Some(file), None) => Ok(loc.state.dir_of(&super::stack::stack_name(file, registry)?)),
        (None, None) => Err(OpsError::message(
            "which state? pass the stack file with -f STACK.yaml, or a state directory with --state DIR",
        )),
    }
}

/// Opens whatever state is in `dir`, locked.
fn open_existing(
    dir: &Path,
    timeout: Duration,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    let guard = take_lock(dir, command, timeout, hooks)?;
    let store = SledState::open_existing(dir)?;
    vouch(&store, dir, command, hooks)?;
    Ok(OpenState {
        store: Arc::new(store),
        dir: dir.to_path_buf(),
        _lock: guard,
    })
}

/// Commands that report on a damaged state themselves, instead of being refused.
const REPORT_THEMSELVES: [&str; 2] = ["state check", "state export"];

/// After an unclean stop (a killed or crashed run), checks the state before it is used:
/// a sound state gets a note, a damaged one stops the operation with the report.
fn vouch(store: &SledState, dir: &Path, command: &str, hooks: &Hooks) -> OpsResult<()> {
    if !store.opened_after_unclean_stop() || REPORT_THEMSELVES.contains(&command) {
        return Ok(());
    }
    let report = store.check();
    if report.is_clean() {
        hooks.note(
            "note: the last run on this state did not finish cleanly (killed or crashed); \
             `state check` found no problems",
        );
        return Ok(());
    }
    Err(Diagnostic::error(
        "state::damaged",
        format!(
            "the last run on this state did not finish cleanly, and the state has problems:\n{}",
            report.render(dir)
        ),
    )
    .with_help(
        "save what can be read with `trustplane state export FILE`, move the state \
         directory aside, then `trustplane state import FILE` and `trustplane plan` to \
         see what differs from what is live",
    )
    .into())
}

/// Waits for the lock in short slices, so a stop request ends the wait.
const LOCK_WAIT_SLICE: Duration = Duration::from_millis(200);

fn take_lock(dir: &Path, command: &str, timeout: Duration, hooks: &Hooks) -> OpsResult<LockGuard> {
    let deadline = Instant::now() + timeout;
    let acquired = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = lock::acquire(dir, command, left.min(LOCK_WAIT_SLICE));
        if result.is_err() && (hooks.stopping)() {
            return Err(OpsError::Stopped("while waiting for the state lock"));
        }
        match result {
            Err(lock::LockError::Held(_)) if Instant::now() < deadline => continue,
            other => break other,
        }
    };
    match acquired {
        Ok((guard, broken)) => {
            if let Some(lock::BrokenLock(old)) = broken {
                hooks.note(&format!(
                    "warning: broke a stale state lock {} left by `{}` (pid {} on {}), which no longer runs",
                    old.id, old.command, old.pid, old.host
                ));
            }
            Ok(guard)
        }
        Err(lock::LockError::Held(held)) => Err(Diagnostic::error(
            "state::locked",
            lock::LockError::Held(held.clone()).to_string(),
        )
        .with_detail(format!(
            "the lock was not broken automatically: {}; state directory: {}",
            lock::why_kept(&held),
            dir.display()
        ))
        .with_help(format!(
            "wait for that run to finish (or pass --lock-timeout 5m to wait), or, if it is gone for good, \
             run `trustplane state force-unlock {}`",
            held.id
        ))
        .into()),
        Err(e) => Err(e.into()),
    }
}
