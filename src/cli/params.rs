//! From arguments to the engine's parameters, and the hooks through which the engine
//! reports to this terminal.

use std::sync::Arc;

use super::args::{StackArgs, StateArgs, StateLocation, VarArgs};
use super::signals;
use crate::config::vars::VarInputs;
use crate::ops::locked::{Backend, Location, StateSpec};
use crate::ops::prepare::PrepareParams;
use crate::ops::stack::PkiChecks;
use crate::ops::Hooks;

/// Notes and retries go to stderr, one line each; a signal ends a wait for the lock.
pub fn hooks() -> Hooks {
    let interrupts = signals::current();
    Hooks {
        notify: Arc::new(|m: &str| eprintln!("{m}")),
        stopping: Arc::new(move || interrupts.as_ref().is_some_and(|i| i.received())),
    }
}

/// Variables from the command line, the files it names and the environment.
pub fn var_inputs(vars: &VarArgs) -> VarInputs {
    VarInputs {
        cli: vars.vars.clone(),
        files: vars.var_files.clone(),
        ..Default::default()
    }
    .with_process_env()
}

pub fn state_spec(args: &StateArgs) -> StateSpec {
    let (dir, s3) = match args.state_dir.as_deref().map(state_backend) {
        Some(Backend::S3(at)) => (None, Some(at)),
        Some(Backend::Local(dir)) => (Some(dir), None),
        None => (None, None),
    };
    StateSpec {
        dir,
        s3,
        workspace: args.workspace_given.clone(),
        lock_timeout: args.lock_timeout,
        ..StateSpec::default()
    }
}

/// `--state` / `--to` as given: checked by the argument parser already.
pub fn state_backend(given: &std::path::Path) -> Backend {
    let text = given.to_string_lossy();
    Backend::parse(&text).unwrap_or_else(|_| Backend::Local(given.to_path_buf()))
}

pub fn location(loc: &StateLocation) -> Location {
    Location {
        stack_file: loc.file.clone(),
        state: state_spec(&loc.state),
    }
}

pub fn prepare(
    stack: &StackArgs,
    command: &str,
    pki: PkiChecks,
    parallelism: u32,
    offline: bool,
) -> PrepareParams {
    PrepareParams {
        file: stack.file.clone(),
        vars: var_inputs(&stack.vars),
        state: state_spec(&stack.state),
        command: command.to_string(),
        pki,
        parallelism: parallelism as usize,
        offline,
    }
}
