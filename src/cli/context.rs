//! Resolving the environment of a command: the stack, its variables, configured providers,
//! and the locked state. Everything here may fail, with diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{StateArgs, StateLocation, VarArgs};
use super::Failure;
use crate::config::expr::evaluate;
use crate::config::vars::{resolve, VarInputs};
use crate::config::{load_file, Stack};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::DependencyGraph;
use crate::plan::planner::Values;
use crate::provider::Registry;
use crate::state::lock::{self, LockGuard};
use crate::state::sled_store::SledState;
use crate::state::{default_location, StateRead};
use crate::value::Value;

/// A loaded, valid stack with its variables and graph.
pub struct Loaded {
    pub stack: Stack,
    pub graph: DependencyGraph,
    pub variables: BTreeMap<String, Value>,
    pub warnings: Diagnostics,
}

/// Whether PKI check errors stop the command. They guard what a stack would build; a
/// command that only reads or tears down (drift, destroy, verify) must still work on a
/// stack that fails them, so there they are warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiChecks {
    Enforce,
    Warn,
}

/// Loads and validates a stack, resolves its variables, and checks the graph.
pub fn load(
    file: &Path,
    vars: &VarArgs,
    registry: &Registry,
    pki: PkiChecks,
) -> Result<Loaded, Failure> {
    let (stack, mut diags) = load_file(file, registry);
    let Some(stack) = stack else {
        return Err(Failure::Diagnostics(diags));
    };
    let (graph, graph_diags) = DependencyGraph::from_stack(&stack);
    diags.extend(graph_diags);
    if diags.has_errors() {
        return Err(Failure::Diagnostics(diags));
    }
    let inputs = VarInputs {
        cli: vars.vars.clone(),
        files: vars.var_files.clone(),
        env: Vec::new(),
    }
    .with_process_env();
    let variables = resolve(&stack, &inputs).map_err(Failure::Diagnostics)?;
    let mut checks = crate::checks::run(&stack, &variables);
    if pki == PkiChecks::Warn {
        for d in checks.0.iter_mut() {
            d.severity = crate::diag::Severity::Warning;
        }
    }
    diags.extend(checks);
    if diags.has_errors() {
        return Err(Failure::Diagnostics(diags));
    }
    Ok(Loaded {
        stack,
        graph,
        variables,
        warnings: diags,
    })
}

/// Configures every provider the stack or its state uses, with `providers.<name>` settings.
pub async fn configure_providers(
    registry: &Registry,
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
    state_types: impl Iterator<Item = String>,
) -> Result<(), Failure> {
    let mut names: std::collections::BTreeSet<&'static str> = std::collections::BTreeSet::new();
    for t in stack
        .resources
        .values()
        .map(|r| r.type_name.clone())
        .chain(state_types)
    {
        if let Some(p) = registry.provider_for(&t) {
            names.insert(p.name());
        }
    }
    let scope = Values {
        variables,
        resources: Default::default(),
    };
    let mut diags = Diagnostics::new();
    for name in names {
        let settings = match stack.providers.get(name) {
            Some(node) => match evaluate(node, &scope, &format!("providers.{name}")) {
                // Providers are configured with real values.
                Ok(v) => v.unmarked(),
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            },
            None => Value::map(),
        };
        let provider = registry
            .provider(name)
            .expect("provider listed by the registry");
        if let Err(e) = provider.configure(&settings).await {
            let mut d = Diagnostic::error(
                "provider::configure_failed",
                format!("provider {name}: {}", e.message),
            )
            .with_field(format!(
                "providers.{name}{}",
                e.field.map(|f| format!(".{f}")).unwrap_or_default()
            ));
            if let Some(span) = stack.providers.get(name).map(|n| n.span.clone()) {
                d = d.with_span(span);
            }
            if let Some(h) = e.help {
                d = d.with_help(h);
            }
            diags.push(d);
        }
    }
    if diags.has_errors() {
        Err(Failure::Diagnostics(diags))
    } else {
        Ok(())
    }
}

/// An open, locked state. The lock is released when this is dropped.
pub struct OpenState {
    pub store: Arc<SledState>,
    pub dir: PathBuf,
    _lock: LockGuard,
}

pub fn state_dir(args: &StateArgs, stack: &str) -> PathBuf {
    args.state_dir
        .clone()
        .unwrap_or_else(|| default_location(Path::new("state"), stack, args.workspace()))
}

/// Takes the lock (waiting up to `--lock-timeout`), then opens the database.
pub fn open_state(args: &StateArgs, stack: &str, command: &str) -> Result<OpenState, Failure> {
    let dir = state_dir(args, stack);
    let guard = take_lock(&dir, command, args.lock_timeout)?;
    let store = SledState::open(&dir, stack, args.workspace())
        .map_err(|e| Failure::message(e.to_string()))?;
    vouch(&store, &dir, command)?;
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
    timeout: std::time::Duration,
) -> Result<OpenState, Failure> {
    let guard = take_lock(dir, "state import", timeout)?;
    let store =
        SledState::open(dir, stack, workspace).map_err(|e| Failure::message(e.to_string()))?;
    Ok(OpenState {
        store: Arc::new(store),
        dir: dir.to_path_buf(),
        _lock: guard,
    })
}

/// Commands that report on a damaged state themselves, instead of being refused.
const REPORT_THEMSELVES: [&str; 2] = ["state check", "state export"];

/// After an unclean stop (a killed or crashed run), checks the state before it is used:
/// a sound state gets a note, a damaged one stops the command with the report.
fn vouch(store: &SledState, dir: &Path, command: &str) -> Result<(), Failure> {
    if !store.opened_after_unclean_stop() || REPORT_THEMSELVES.contains(&command) {
        return Ok(());
    }
    let report = store.check();
    if report.is_clean() {
        eprintln!(
            "note: the last run on this state did not finish cleanly (killed or crashed); \
             `state check` found no problems"
        );
        return Ok(());
    }
    Err(Failure::Diagnostics(
        Diagnostic::error(
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
        .into(),
    ))
}

/// Opens whatever state is in `dir`, locked.
fn open_existing(
    dir: &Path,
    timeout: std::time::Duration,
    command: &str,
) -> Result<OpenState, Failure> {
    let guard = take_lock(dir, command, timeout)?;
    let store = SledState::open_existing(dir).map_err(|e| Failure::message(e.to_string()))?;
    vouch(&store, dir, command)?;
    Ok(OpenState {
        store: Arc::new(store),
        dir: dir.to_path_buf(),
        _lock: guard,
    })
}

/// Waits for the lock in short slices, so a signal stops the wait (the main loop cannot
/// while this thread sleeps).
const LOCK_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(200);

fn take_lock(
    dir: &Path,
    command: &str,
    timeout: std::time::Duration,
) -> Result<LockGuard, Failure> {
    let deadline = std::time::Instant::now() + timeout;
    let interrupts = super::signals::current();
    let acquired = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let result = lock::acquire(dir, command, left.min(LOCK_WAIT_SLICE));
        if let Some(i) = interrupts.as_ref().filter(|i| i.received()) {
            if result.is_err() {
                eprintln!("\nInterrupted: stopped while waiting for the state lock.");
                return Err(Failure::Exit(i.exit_code()));
            }
        }
        match result {
            Err(lock::LockError::Held(_)) if std::time::Instant::now() < deadline => continue,
            other => break other,
        }
    };
    match acquired {
        Ok((guard, broken)) => {
            if let Some(lock::BrokenLock(old)) = broken {
                eprintln!(
                    "warning: broke a stale state lock {} left by `{}` (pid {} on {}), which no longer runs",
                    old.id, old.command, old.pid, old.host
                );
            }
            Ok(guard)
        }
        Err(lock::LockError::Held(held)) => Err(Failure::Diagnostics(
            Diagnostic::error("state::locked", lock::LockError::Held(held.clone()).to_string())
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
                .into(),
        )),
        Err(e) => Err(Failure::message(e.to_string())),
    }
}

/// Opens the state named by `-f STACK` or `--state DIR`, for state and output commands.
pub fn open_location(
    loc: &StateLocation,
    registry: &Registry,
    command: &str,
) -> Result<OpenState, Failure> {
    let stack =
        match (&loc.file, &loc.state.state_dir) {
            (Some(file), _) => {
                let (stack, diags) = load_file(file, registry);
                match stack {
                    Some(s) => s.name,
                    None => return Err(Failure::Diagnostics(diags)),
                }
            }
            (None, Some(dir)) => return open_existing(dir, loc.state.lock_timeout, command),
            (None, None) => return Err(Failure::Diagnostics(
                Diagnostic::error(
                    "cli::no_state",
                    "which state? no stack file or state directory was given",
                )
                .with_help(
                    "pass the stack file with -f STACK.yaml, or a state directory with --state DIR",
                )
                .into(),
            )),
        };
    open_state(&loc.state, &stack, command)
}

/// Resource types recorded in state, so their providers get configured too.
pub fn state_types(store: &SledState) -> Vec<String> {
    store
        .resources()
        .map(|r| r.values().map(|r| r.type_name.clone()).collect())
        .unwrap_or_default()
}

/// The lock directory of a state location, without opening anything (force-unlock).
pub fn location_dir(loc: &StateLocation, registry: &Registry) -> Result<PathBuf, Failure> {
    match (&loc.file, &loc.state.state_dir) {
        (_, Some(dir)) => Ok(dir.clone()),
        (Some(file), None) => {
            let (stack, diags) = load_file(file, registry);
            let stack = stack.ok_or(Failure::Diagnostics(diags))?;
            Ok(state_dir(&loc.state, &stack.name))
        }
        (None, None) => Err(Failure::message(
            "which state? pass the stack file with -f STACK.yaml, or a state directory with --state DIR",
        )),
    }
}
