//! Opening a stack's state for an operation: where it is (a local directory or an S3
//! prefix), taking its lock (waiting up to a timeout), and vouching for it after an
//! unclean stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use super::{Hooks, OpsError, OpsResult};
use crate::config::expr::evaluate;
use crate::config::vars::{resolve, VarInputs};
use crate::config::{load_file, Stack};
use crate::diag::Diagnostic;
use crate::plan::eval::Values;
use crate::provider::Registry;
use crate::state::lock;
use crate::state::locker::{FileLocker, HeldLock, Locker};
use crate::state::s3::lease::S3Locker;
use crate::state::s3::{S3Client, S3Location, S3State};
use crate::state::sled_store::SledState;
use crate::state::{default_location, PersistentStore};
use crate::value::Value;

/// The workspace used when none is named.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Where a state is and how long to wait for its lock.
#[derive(Debug, Clone, Default)]
pub struct StateSpec {
    /// The state directory; by default `state/<stack>/<workspace>`.
    pub dir: Option<PathBuf>,
    /// The state in S3 (`--state s3://BUCKET/PREFIX`): the prefix is the state's own.
    pub s3: Option<S3Location>,
    /// The stack file's `state.s3`, used when neither `dir` nor `s3` is given: its `key`
    /// is the stack's prefix, under which each workspace has its own.
    pub stack_s3: Option<S3Location>,
    /// The workspace named (flag or environment), if any.
    pub workspace: Option<String>,
    pub lock_timeout: Duration,
}

/// Where one state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Local(PathBuf),
    S3(S3Location),
}

impl Backend {
    /// `--state` / `state migrate --to` text: `s3://BUCKET/PREFIX` or a directory.
    pub fn parse(text: &str) -> Result<Backend, String> {
        match S3Location::parse_url(text) {
            Some(parsed) => parsed.map(Backend::S3),
            None => Ok(Backend::Local(PathBuf::from(text))),
        }
    }

    /// For messages, and for `state check`'s report.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Backend::Local(dir) => dir.clone(),
            Backend::S3(at) => PathBuf::from(at.url()),
        }
    }

    /// Its lock.
    pub fn locker(&self) -> OpsResult<Box<dyn Locker>> {
        Ok(match self {
            Backend::Local(dir) => Box::new(FileLocker(dir.clone())),
            Backend::S3(at) => Box::new(S3Locker::new(connect(at)?)),
        })
    }
}

fn connect(at: &S3Location) -> OpsResult<S3Client> {
    S3Client::connect(at).map_err(|e| {
        Diagnostic::error("state::s3", e)
            .with_help(crate::provider::aws::errors::CREDENTIALS_HELP)
            .into()
    })
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

    /// Where `stack`'s state is: `--state` (a directory or an S3 URL), else the stack
    /// file's `state.s3` with the workspace under its key, else the local default.
    pub fn backend_of(&self, stack: &str) -> Backend {
        if let Some(dir) = &self.dir {
            return Backend::Local(dir.clone());
        }
        if let Some(at) = &self.s3 {
            return Backend::S3(at.clone());
        }
        if let Some(at) = &self.stack_s3 {
            return Backend::S3(at.join(self.workspace()));
        }
        Backend::Local(self.dir_of(stack))
    }

    /// The state named with `--state` alone (no stack file), if any.
    fn given(&self) -> Option<Backend> {
        match (&self.dir, &self.s3) {
            (Some(dir), _) => Some(Backend::Local(dir.clone())),
            (None, Some(at)) => Some(Backend::S3(at.clone())),
            _ => None,
        }
    }
}

/// A state found without needing every variable: by a stack file or a state directory.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub stack_file: Option<PathBuf>,
    pub state: StateSpec,
}

/// An open state, locked unless opened for a read that needs no lock. The lock is
/// released when this is dropped.
pub struct OpenState {
    pub store: Arc<dyn PersistentStore>,
    /// Where it is, for messages (a directory, or `s3://BUCKET/PREFIX`).
    pub dir: PathBuf,
    _lock: Option<Box<dyn HeldLock>>,
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

/// Commands that only read the state: on S3 they read one consistent version without the
/// lock, so they block neither each other nor a run that writes. (`plan --out` records
/// the serial it read, and its apply is refused once the state has moved on.) A local
/// state is open in one process at a time, so there every command takes the lock.
const READ_ONLY_ON_S3: [&str; 2] = ["plan", "drift"];

/// Takes the lock of `stack`'s state (waiting up to the timeout), then opens it.
/// `command` is recorded in the lock, for whoever finds it held.
pub fn open(spec: &StateSpec, stack: &str, command: &str, hooks: &Hooks) -> OpsResult<OpenState> {
    open_backend(
        &spec.backend_of(stack),
        Some((stack, spec.workspace())),
        command,
        spec.lock_timeout,
        hooks,
    )
}

/// Opens (creating if needed) the state at `backend` for `state import`, locked.
pub fn open_new(
    backend: &Backend,
    stack: &str,
    workspace: &str,
    timeout: Duration,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    open_backend(
        backend,
        Some((stack, workspace)),
        "state import",
        timeout,
        hooks,
    )
}

/// Opens the state at `backend`: of this stack and workspace (created if new), or
/// whatever state is there (`None`: it must exist).
pub fn open_backend(
    backend: &Backend,
    identity: Option<(&str, &str)>,
    command: &str,
    timeout: Duration,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    let dir = backend.display_path();
    match backend {
        Backend::Local(path) => {
            let guard = take_lock(&FileLocker(path.clone()), command, timeout, hooks)?;
            let store = match identity {
                Some((stack, workspace)) => SledState::open(path, stack, workspace)?,
                None => SledState::open_existing(path)?,
            };
            vouch(&store, &dir, command, hooks)?;
            Ok(OpenState {
                store: Arc::new(store),
                dir,
                _lock: Some(guard),
            })
        }
        Backend::S3(at) => {
            let client = connect(at)?;
            let guard = if READ_ONLY_ON_S3.contains(&command) {
                None
            } else {
                Some(take_lock(
                    &S3Locker::new(client.clone()),
                    command,
                    timeout,
                    hooks,
                )?)
            };
            let store = match identity {
                Some((stack, workspace)) => S3State::open(client, stack, workspace)?,
                None => S3State::open_existing(client)?,
            };
            Ok(OpenState {
                store: Arc::new(store),
                dir,
                _lock: guard,
            })
        }
    }
}

/// Opens the state a [`Location`] names, locked.
pub fn open_location(
    loc: &Location,
    registry: &Registry,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    if loc.stack_file.is_none() {
        if let Some(backend) = loc.state.given() {
            return open_backend(&backend, None, command, loc.state.lock_timeout, hooks);
        }
    }
    let (stack, spec) = stack_and_spec(loc, registry)?;
    open(&spec, &stack, command, hooks)
}

/// The stack a location's file names, and the spec with the file's `state:` block.
fn stack_and_spec(loc: &Location, registry: &Registry) -> OpsResult<(String, StateSpec)> {
    let Some(file) = &loc.stack_file else {
        return Err(Diagnostic::error(
            "cli::no_state",
            "which state? no stack file or state directory was given",
        )
        .with_help(
            "pass the stack file with -f STACK.yaml, or a state with --state DIR or --state s3://BUCKET/PREFIX",
        )
        .into());
    };
    let (stack, stack_s3) = stack_state(file, registry)?;
    let mut spec = loc.state.clone();
    spec.stack_s3 = stack_s3;
    Ok((stack, spec))
}

/// Opens the state of a loaded stack, honouring its `state:` block, locked.
pub fn open_loaded(
    spec: &StateSpec,
    loaded: &super::stack::Loaded,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<OpenState> {
    let mut spec = spec.clone();
    spec.stack_s3 = stack_s3(&loaded.stack, &loaded.variables)?;
    open(&spec, &loaded.stack.name, command, hooks)
}

/// The evaluated `state.s3` of a stack, if it has one.
pub fn stack_s3(
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
) -> OpsResult<Option<S3Location>> {
    let Some(decl) = &stack.state else {
        return Ok(None);
    };
    let scope = Values {
        variables,
        resources: Default::default(),
    };
    let mut settings = BTreeMap::new();
    for (name, node) in &decl.s3 {
        let field = format!("state.s3.{name}");
        let value = evaluate(node, &scope, &field)?.unmarked();
        let Some(text) = value.as_str().map(str::to_string) else {
            return Err(Diagnostic::error(
                "stack::type_mismatch",
                format!("`{field}` must be a string, found {}", value.type_name()),
            )
            .with_span(node.span.clone())
            .with_field(field)
            .into());
        };
        settings.insert(name.as_str(), text);
    }
    let mut take = |k: &str| settings.remove(k);
    let bucket = take("bucket").unwrap_or_default();
    let key = take("key").unwrap_or_default();
    let parsed = S3Location::parse_url(&format!("s3://{bucket}/{key}"))
        .expect("an s3 URL")
        .map_err(|e| {
            let span = decl.s3.get("bucket").map(|n| n.span.clone());
            let mut d =
                Diagnostic::error("stack::invalid_value", format!("`state.s3.bucket`: {e}"))
                    .with_field("state.s3.bucket")
                    .with_help("name an existing S3 bucket, e.g. `bucket: my-team-state`");
            if let Some(span) = span {
                d = d.with_span(span);
            }
            OpsError::from(d)
        })?;
    Ok(Some(S3Location {
        region: take("region"),
        kms_key_id: take("kms_key_id"),
        profile: take("profile"),
        role_arn: take("role_arn"),
        endpoint: take("endpoint"),
        ..parsed
    }))
}

/// The stack `file` names and its `state.s3`, for commands that need only its state: the
/// block's variables come from their defaults and `TRUSTPLANE_VAR_*`.
fn stack_state(file: &Path, registry: &Registry) -> OpsResult<(String, Option<S3Location>)> {
    let (stack, diags) = load_file(file, registry);
    let stack = stack.ok_or_else(|| OpsError::from(diags))?;
    if stack.state.is_none() {
        return Ok((stack.name, None));
    }
    let variables = resolve(&stack, &VarInputs::default().with_process_env())?;
    let at = stack_s3(&stack, &variables)?;
    Ok((stack.name, at))
}

/// Where a location's state is, without opening anything (force-unlock, import).
pub fn location_backend(loc: &Location, registry: &Registry) -> OpsResult<Backend> {
    if loc.stack_file.is_none() {
        if let Some(backend) = loc.state.given() {
            return Ok(backend);
        }
    }
    let (stack, spec) = stack_and_spec(loc, registry)?;
    Ok(spec.backend_of(&stack))
}

/// Commands that report on a damaged state themselves, instead of being refused.
const REPORT_THEMSELVES: [&str; 2] = ["state check", "state export"];

/// After an unclean stop (a killed or crashed run), checks the state before it is used:
/// a sound state gets a note, a damaged one stops the operation with the report.
fn vouch(store: &dyn PersistentStore, dir: &Path, command: &str, hooks: &Hooks) -> OpsResult<()> {
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

fn take_lock(
    locker: &dyn Locker,
    command: &str,
    timeout: Duration,
    hooks: &Hooks,
) -> OpsResult<Box<dyn HeldLock>> {
    let deadline = Instant::now() + timeout;
    let acquired = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = locker.acquire(command, left.min(LOCK_WAIT_SLICE));
        if result.is_err() && (hooks.stopping)() {
            return Err(OpsError::Stopped("while waiting for the state lock"));
        }
        match result {
            Err(lock::LockError::Held(_)) if Instant::now() < deadline => continue,
            other => break other,
        }
    };
    match acquired {
        Ok(acquired) => {
            if let Some(lock::BrokenLock(old)) = acquired.broken {
                hooks.note(&format!(
                    "warning: broke a stale state lock {} left by `{}` (pid {} on {}), which no longer runs",
                    old.id, old.command, old.pid, old.host
                ));
            }
            Ok(acquired.guard)
        }
        Err(lock::LockError::Held(held)) => Err(Diagnostic::error(
            "state::locked",
            lock::LockError::Held(held.clone()).to_string(),
        )
        .with_detail(format!(
            "the lock was not broken automatically: {}; {}",
            locker.why_kept(&held),
            locker.place()
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
