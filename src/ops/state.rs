//! State edits and reports: list, show, rm, mv, history, check, export, import,
//! force-unlock, migrate. Each opens the state a [`Location`] names, locked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::history::{steps, HistoryStep};
use super::locked::{self, open_location, Backend, Location, OpenState};
use super::{Hooks, OpsError, OpsResult};
use crate::diag::Diagnostic;
use crate::input::InputKind;
use crate::provider::Registry;
use crate::state::check::{CheckReport, StateExport};
use crate::state::lock::LockInfo;
use crate::state::{ResourceState, HISTORY_KEEP};

pub fn list(
    loc: &Location,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<BTreeMap<String, ResourceState>> {
    let s = open_location(loc, registry, "state list", hooks)?;
    Ok(s.store.resources()?)
}

pub fn show(
    loc: &Location,
    address: &str,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<ResourceState> {
    let s = open_location(loc, registry, "state show", hooks)?;
    let found = s.store.resource(address)?;
    found.ok_or_else(|| not_in_state(address, &s))
}

/// Forgets a resource; the object itself is left alone.
pub fn rm(loc: &Location, address: &str, registry: &Registry, hooks: &Hooks) -> OpsResult<()> {
    let s = open_location(loc, registry, "state rm", hooks)?;
    if s.store.resource(address)?.is_none() {
        return Err(not_in_state(address, &s));
    }
    s.store.remove_resource(address)?;
    s.store
        .record(&format!("state rm {address}"), HISTORY_KEEP)?;
    Ok(())
}

/// Renames a resource in state.
pub fn mv(
    loc: &Location,
    from: &str,
    to: &str,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<()> {
    let s = open_location(loc, registry, "state mv", hooks)?;
    s.store.move_resource(from, to)?;
    s.store
        .record(&format!("state mv {from} {to}"), HISTORY_KEEP)?;
    Ok(())
}

/// The history, newest first, each snapshot compared with the one before.
pub fn history(loc: &Location, registry: &Registry, hooks: &Hooks) -> OpsResult<Vec<HistoryStep>> {
    let s = open_location(loc, registry, "state history", hooks)?;
    Ok(steps(&s.store.history()?))
}

/// A state checked, and where it is.
pub struct Checked {
    pub report: CheckReport,
    pub dir: PathBuf,
}

pub fn check(loc: &Location, registry: &Registry, hooks: &Hooks) -> OpsResult<Checked> {
    let s = open_location(loc, registry, "state check", hooks)?;
    Ok(Checked {
        report: s.store.check(),
        dir: s.dir.clone(),
    })
}

/// What `export` wrote.
pub struct Exported {
    pub export: StateExport,
    /// Records that did not decode, left out of the export.
    pub skipped: Vec<String>,
}

/// Writes everything that decodes to `file` (mode 0600).
pub fn export(
    loc: &Location,
    file: &Path,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Exported> {
    let s = open_location(loc, registry, "state export", hooks)?;
    let (export, skipped) = s.store.export()?;
    let mut bytes = serde_json::to_vec_pretty(&export).expect("exports serialize");
    bytes.push(b'\n');
    crate::owner_only::write_file(file, &bytes)
        .map_err(|e| OpsError::message(format!("cannot write {}: {e}", file.display())))?;
    Ok(Exported { export, skipped })
}

/// What `import` loaded, and the check of the state it made.
pub struct Imported {
    pub export: StateExport,
    pub dir: PathBuf,
    pub report: CheckReport,
}

/// Loads an export into a new (or empty) state at `loc`, which takes the export's stack,
/// workspace, lineage, serial and history. A stack or workspace named at `loc` must be
/// the export's.
pub fn import(
    loc: &Location,
    file: &Path,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Imported> {
    let bytes = crate::input::read_limited(file, InputKind::StateImport)
        .map_err(|e| OpsError::message(e.to_string()))?;
    let export = StateExport::from_bytes(&bytes)
        .map_err(|e| OpsError::message(format!("{}: {e}", file.display())))?;
    let meta = &export.meta;
    let mismatch = |what: &str, given: &str, theirs: &str| -> OpsError {
        Diagnostic::error(
            "state::import_mismatch",
            format!(
                "{} holds the state of {what} {theirs}, but {what} {given} was given",
                file.display()
            ),
        )
        .with_help("import it with --state DIR, or name the matching stack file and workspace")
        .into()
    };
    let mut loc = loc.clone();
    if let Some(given) = &loc.state.workspace {
        if *given != meta.workspace {
            return Err(mismatch("workspace", given, &meta.workspace));
        }
    }
    loc.state.workspace = Some(meta.workspace.clone());
    if let Some(stack_file) = &loc.stack_file {
        let name = super::stack::stack_name(stack_file, registry)?;
        if name != meta.stack {
            return Err(mismatch("stack", &name, &meta.stack));
        }
    }
    let backend = locked::location_backend(&loc, registry)?;
    let dir = backend.display_path();
    let s = locked::open_new(
        &backend,
        &meta.stack,
        &meta.workspace,
        loc.state.lock_timeout,
        hooks,
    )?;
    s.store.import(&export)?;
    let report = s.store.check();
    Ok(Imported {
        export,
        dir,
        report,
    })
}

/// Removes a lock by its id; returns what it held.
pub fn force_unlock(loc: &Location, id: &str, registry: &Registry) -> OpsResult<LockInfo> {
    let locker = locked::location_backend(loc, registry)?.locker()?;
    Ok(locker.force_unlock(id)?)
}

/// What `migrate` copied, and where.
pub struct Migrated {
    pub from: PathBuf,
    pub to: PathBuf,
    pub resources: usize,
    pub history: usize,
    pub serial: u64,
}

/// Copies the current state and its history to `to` (an S3 prefix or a directory),
/// holding the locks of both. The target must be new, or already hold exactly this
/// state (same lineage and serial: a rerun of a migration that finished); a target with
/// another lineage, or this one at another serial, is refused. The source is left as it
/// was.
pub fn migrate(
    loc: &Location,
    to: &Backend,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Migrated> {
    let source = open_location(loc, registry, "state migrate", hooks)?;
    let (export, skipped) = source.store.export()?;
    if !skipped.is_empty() {
        return Err(Diagnostic::error(
            "state::migrate_damaged",
            format!(
                "the state at {} has records that do not decode: {}",
                source.dir.display(),
                skipped.join("; ")
            ),
        )
        .with_help("run `trustplane state check`, and repair the state before migrating it")
        .into());
    }
    let target_path = to.display_path();
    if target_path == source.dir {
        return Err(OpsError::message(format!(
            "the state is already at {}",
            target_path.display()
        )));
    }
    let meta = &export.meta;
    let target = locked::open_backend(
        to,
        Some((&meta.stack, &meta.workspace)),
        "state migrate",
        loc.state.lock_timeout,
        hooks,
    )?;
    let there = target.store.meta()?;
    let written = there.serial > 0 || !target.store.history()?.is_empty();
    let done = Migrated {
        from: source.dir.clone(),
        to: target_path.clone(),
        resources: export.resources.len(),
        history: export.history.len(),
        serial: meta.serial,
    };
    if written {
        if there.lineage == meta.lineage && there.serial == meta.serial {
            return Ok(done);
        }
        let what = if there.lineage == meta.lineage {
            format!(
                "this state at another serial ({} here, {} there)",
                meta.serial, there.serial
            )
        } else {
            format!(
                "another state (lineage {}, serial {})",
                there.lineage, there.serial
            )
        };
        return Err(Diagnostic::error(
            "state::migrate_target_taken",
            format!("{} already holds {what}", target_path.display()),
        )
        .with_detail(format!(
            "migrating would replace it with the state at {} (lineage {}); states are never \
             merged",
            source.dir.display(),
            meta.lineage
        ))
        .with_help("migrate to an empty prefix or directory, or remove the old state there first")
        .into());
    }
    target.store.import(&export)?;
    let report = target.store.check();
    if !report.is_clean() {
        return Err(OpsError::message(report.render(&target_path)));
    }
    Ok(done)
}

fn not_in_state(address: &str, s: &OpenState) -> OpsError {
    let names: Vec<String> = s
        .store
        .resources()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let mut d = Diagnostic::error(
        "state::not_found",
        format!("no resource {address} in state at {}", s.dir.display()),
    );
    if let Some(n) = crate::diag::did_you_mean(address, names.iter().map(String::as_str)) {
        d = d.with_help(format!("did you mean `{n}`?"));
    }
    d.into()
}
