//! `fleet apply`: the trust tier first, then wave by wave, at most `max_parallel` members
//! of a wave at once, each member's gates right after its apply. The first failure stops
//! the rollout: no member starts after it (members already running finish) and no later
//! wave starts. Every step is written to the rollout [`Record`], so a rerun skips members
//! that finished (same state serial, nothing pending, or the same saved plan) and goes on
//! from where the last run stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::file::Gate;
use super::member::{self, Unit, TRUST};
use super::plan::{member_hooks, plan_unit, Planned};
use super::record::{Entry, Record, Status, Step, VerifyResult};
use super::{FleetParams, Loaded};
use crate::apply::Progress;
use crate::diag::Diagnostic;
use crate::graph::walk::Cancel;
use crate::ops::apply::{ApplySummary, ExecuteParams};
use crate::ops::locked::Backend;
use crate::ops::verify::{verify_with, VerifyParams};
use crate::ops::{saved, Hooks, OpsError};
use crate::provider::Registry;
use crate::value::Value;

/// What to roll out for one member (or the trust tier).
pub enum Work {
    /// Planned from the fleet file (state locked since); planned again first when its
    /// inputs waited on the trust tier.
    Planned(Box<Planned>),
    /// A plan saved by `fleet plan --out`, applied exactly.
    Saved { unit: Box<Unit>, file: PathBuf },
    /// Its plan failed: the rollout stops when its turn comes.
    Failed(OpsError),
}

/// One member's place in the rollout.
pub struct Slot {
    pub name: String,
    pub wave: usize,
    pub max_parallel: usize,
    pub work: Work,
}

/// How a member's rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (`changed`: something was changed) and every gate passed.
    Done {
        changed: bool,
        serial: u64,
    },
    /// Finished in an earlier run and unchanged since.
    AlreadyDone {
        serial: Option<u64>,
    },
    Failed {
        step: Step,
        cause: String,
    },
    /// The rollout stopped before its turn.
    NotStarted,
}

pub struct MemberOutcome {
    pub name: String,
    pub wave: usize,
    pub outcome: Outcome,
}

pub struct RolloutReport {
    pub fleet: String,
    pub trust: Outcome,
    pub members: Vec<MemberOutcome>,
    pub record: PathBuf,
}

impl RolloutReport {
    /// The first failure: (member, step, cause).
    pub fn stopped_at(&self) -> Option<(&str, Step, &str)> {
        std::iter::once((TRUST, &self.trust))
            .chain(self.members.iter().map(|m| (m.name.as_str(), &m.outcome)))
            .find_map(|(name, o)| match o {
                Outcome::Failed { step, cause } => Some((name, *step, cause.as_str())),
                _ => None,
            })
    }
}

/// Makes the apply progress of one member, by its name.
pub type ProgressFor = Arc<dyn Fn(&str) -> Arc<dyn Progress> + Send + Sync>;

/// How the rollout reports and stops.
#[derive(Clone)]
pub struct RolloutParams {
    /// Apply progress for one member.
    pub progress: ProgressFor,
    /// Stops new work (signals).
    pub cancel: Cancel,
    pub hooks: Hooks,
    /// Unix seconds, for the verify gate.
    pub now: i64,
}

/// Shared by the members of a rollout.
struct Shared {
    loaded: Arc<Loaded>,
    params: FleetParams,
    rollout: RolloutParams,
    record: Mutex<Record>,
    record_at: Backend,
    trust_outputs: BTreeMap<String, Value>,
    stop: AtomicBool,
}

impl Shared {
    fn note(&self, name: &str, entry: Entry) {
        let mut record = self.record.lock().expect("record lock");
        record.members.insert(name.to_string(), entry);
        if let Err(e) = record.save(&self.record_at) {
            self.rollout.hooks.note(&format!("warning: {e}"));
        }
    }

    fn entry(&self, name: &str) -> Option<Entry> {
        self.record
            .lock()
            .expect("record lock")
            .members
            .get(name)
            .cloned()
    }
}

pub async fn rollout(
    loaded: Arc<Loaded>,
    params: &FleetParams,
    trust: Work,
    members: Vec<Slot>,
    rp: RolloutParams,
) -> Result<RolloutReport, OpsError> {
    let record_at = params.fleet_location(&loaded.fleet);
    let record = Record::load(&record_at, &loaded.fleet.name)?;
    let mut shared = Shared {
        loaded: loaded.clone(),
        params: params.clone(),
        rollout: rp,
        record: Mutex::new(record),
        record_at: record_at.clone(),
        trust_outputs: BTreeMap::new(),
        stop: AtomicBool::new(false),
    };
    let (trust_outcome, outputs) = run_trust(&shared, trust).await;
    shared.trust_outputs = outputs;
    let shared = Arc::new(shared);
    let mut report = RolloutReport {
        fleet: loaded.fleet.name.clone(),
        trust: trust_outcome.clone(),
        members: Vec::new(),
        record: record_at.display_path().join(super::record::FILE),
    };
    if matches!(trust_outcome, Outcome::Failed { .. }) {
        shared.stop.store(true, Ordering::SeqCst);
    }
    let mut waves: Vec<(usize, usize, Vec<Slot>)> = Vec::new();
    for slot in members {
        match waves.last_mut() {
            Some((w, _, slots)) if *w == slot.wave => slots.push(slot),
            _ => waves.push((slot.wave, slot.max_parallel, vec![slot])),
        }
    }
    for (wave, max_parallel, slots) in waves {
        let limit = Arc::new(tokio::sync::Semaphore::new(max_parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let count = slots.len();
        for (i, slot) in slots.into_iter().enumerate() {
            let shared = shared.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("never closed");
                let outcome =
                    if shared.stop.load(Ordering::SeqCst) || shared.rollout.cancel.is_cancelled() {
                        Outcome::NotStarted
                    } else {
                        let outcome = run_member(&shared, &slot.name, slot.work).await;
                        if matches!(outcome, Outcome::Failed { .. }) {
                            shared.stop.store(true, Ordering::SeqCst);
                        }
                        outcome
                    };
                (
                    i,
                    MemberOutcome {
                        name: slot.name,
                        wave,
                        outcome,
                    },
                )
            });
        }
        let mut done: Vec<(usize, MemberOutcome)> = Vec::with_capacity(count);
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(d) => done.push(d),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        done.sort_by_key(|(i, _)| *i);
        report.members.extend(done.into_iter().map(|(_, m)| m));
    }
    Ok(report)
}

/// Applies the trust tier; returns its outputs for the members.
async fn run_trust(shared: &Shared, work: Work) -> (Outcome, BTreeMap<String, Value>) {
    let hooks = shared.rollout.hooks.clone();
    let progress = (shared.rollout.progress)(TRUST);
    let execute = |parallelism| ExecuteParams {
        parallelism,
        cancel: shared.rollout.cancel.clone(),
        progress: progress.clone(),
    };
    let mut plan_digest = None;
    let (summary, serial, outputs) =
        match work {
            Work::Failed(e) => {
                return (
                    failed(shared, TRUST, Step::Plan, e.to_string()),
                    BTreeMap::new(),
                )
            }
            Work::Planned(p) => {
                let summary = if p.pending.nothing() {
                    None
                } else {
                    Some(
                        crate::ops::apply::apply(
                            &p.prepared,
                            &p.plan,
                            p.registry.clone(),
                            execute(shared.params.parallelism),
                        )
                        .await,
                    )
                };
                (
                    summary,
                    serial_of(p.prepared.state.store.as_ref()),
                    outputs_of(p.prepared.state.store.as_ref()),
                )
            }
            Work::Saved { unit, file } => {
                let digest = match std::fs::read(&file) {
                    Ok(b) => super::plan::digest(&b),
                    Err(e) => {
                        let cause = format!("cannot read {}: {e}", file.display());
                        return (failed(shared, TRUST, Step::Plan, cause), BTreeMap::new());
                    }
                };
                let done = shared
                    .record
                    .lock()
                    .expect("record lock")
                    .done_with_plan(TRUST, &digest);
                if done {
                    let serial = shared.entry(TRUST).and_then(|e| e.serial);
                    return (Outcome::AlreadyDone { serial }, BTreeMap::new());
                }
                plan_digest = Some(digest);
                let registry = Arc::new(Registry::builtin());
                let opened =
                    match saved::open_with(&file, &unit.state, &unit.overrides, &registry, &hooks)
                        .await
                    {
                        Ok(o) => o,
                        Err(e) => {
                            return (
                                failed(shared, TRUST, Step::Plan, e.to_string()),
                                BTreeMap::new(),
                            )
                        }
                    };
                let summary = if !crate::ops::apply::pending(&opened.plan, &opened.state).nothing()
                {
                    Some(saved::apply(&opened, registry, execute(shared.params.parallelism)).await)
                } else {
                    None
                };
                (
                    summary,
                    serial_of(opened.state.store.as_ref()),
                    outputs_of(opened.state.store.as_ref()),
                )
            }
        };
    if let Some(s) = &summary {
        if !s.succeeded {
            return (failed(shared, TRUST, Step::Apply, cause_of(s)), outputs);
        }
    }
    let changed = summary.is_some();
    shared.note(
        TRUST,
        Entry {
            status: Status::Done,
            serial: Some(serial),
            plan: plan_digest,
            step: None,
            cause: None,
            applied_at: if changed {
                Some(Utc::now())
            } else {
                shared.entry(TRUST).and_then(|e| e.applied_at)
            },
            verify: None,
            at: Utc::now(),
        },
    );
    (Outcome::Done { changed, serial }, outputs)
}

fn serial_of(store: &dyn crate::state::PersistentStore) -> u64 {
    store.meta().map(|m| m.serial).unwrap_or(0)
}

fn outputs_of(store: &dyn crate::state::PersistentStore) -> BTreeMap<String, Value> {
    store
        .outputs()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, o)| (k, o.value))
        .collect()
}

fn cause_of(s: &ApplySummary) -> String {
    let first = s
        .diagnostics
        .errors()
        .next()
        .map(|d: &Diagnostic| d.summary.clone())
        .unwrap_or_else(|| "interrupted".to_string());
    if s.failed.is_empty() {
        first
    } else {
        format!("{} failed: {first}", s.failed.join(", "))
    }
}

fn failed(shared: &Shared, name: &str, step: Step, cause: String) -> Outcome {
    let before = shared.entry(name);
    shared.note(
        name,
        Entry {
            status: Status::Failed,
            serial: before.as_ref().and_then(|e| e.serial),
            plan: None,
            step: Some(step),
            cause: Some(cause.clone()),
            applied_at: before.as_ref().and_then(|e| e.applied_at),
            verify: before.and_then(|e| e.verify),
            at: Utc::now(),
        },
    );
    Outcome::Failed { step, cause }
}

async fn run_member(shared: &Shared, name: &str, work: Work) -> Outcome {
    let hooks = member_hooks(&shared.rollout.hooks, name);
    let progress = (shared.rollout.progress)(name);
    let execute = ExecuteParams {
        parallelism: shared.params.parallelism,
        cancel: shared.rollout.cancel.clone(),
        progress,
    };
    let unit;
    let mut plan_digest = None;
    let (summary, serial) = match work {
        Work::Failed(e) => return failed(shared, name, Step::Plan, e.to_string()),
        Work::Planned(mut p) => {
            if p.unit.unknown_inputs {
                // Planned before the trust tier existed: plan again with its outputs.
                let fresh =
                    member::member(&shared.loaded, &shared.params, name, &shared.trust_outputs);
                let command = "fleet apply".to_string();
                drop(p);
                p = match plan_unit(fresh, &shared.params, &command, &hooks).await {
                    Ok(p) => Box::new(p),
                    Err(e) => return failed(shared, name, Step::Plan, e.to_string()),
                };
            }
            let serial = serial_of(p.prepared.state.store.as_ref());
            if p.pending.nothing()
                && shared
                    .record
                    .lock()
                    .expect("record lock")
                    .done_at(name, serial)
            {
                return Outcome::AlreadyDone {
                    serial: Some(serial),
                };
            }
            let summary = if p.pending.nothing() {
                None
            } else {
                Some(
                    crate::ops::apply::apply(&p.prepared, &p.plan, p.registry.clone(), execute)
                        .await,
                )
            };
            let serial = serial_of(p.prepared.state.store.as_ref());
            unit = p.unit.clone();
            (summary, serial)
        }
        Work::Saved { unit: u, file } => {
            let digest = match std::fs::read(&file) {
                Ok(b) => super::plan::digest(&b),
                Err(e) => {
                    return failed(
                        shared,
                        name,
                        Step::Plan,
                        format!("cannot read {}: {e}", file.display()),
                    )
                }
            };
            if shared
                .record
                .lock()
                .expect("record lock")
                .done_with_plan(name, &digest)
            {
                return Outcome::AlreadyDone {
                    serial: shared.entry(name).and_then(|e| e.serial),
                };
            }
            plan_digest = Some(digest);
            let registry = Arc::new(Registry::builtin());
            let opened =
                match saved::open_with(&file, &u.state, &u.overrides, &registry, &hooks).await {
                    Ok(o) => o,
                    Err(e) => return failed(shared, name, Step::Plan, e.to_string()),
                };
            if opened.plan.variables.values().any(Value::contains_unknown) {
                return failed(
                    shared,
                    name,
                    Step::Plan,
                    "its saved plan was made before the trust tier was applied, so some of its \
                     inputs were unknown; run `trustplane fleet plan FLEET --out DIR` again and apply that"
                        .to_string(),
                );
            }
            let summary = Some(saved::apply(&opened, registry, execute).await);
            let serial = serial_of(opened.state.store.as_ref());
            // The gates check what the plan was made with.
            let mut u = u;
            u.vars.given = opened
                .plan
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.unmarked()))
                .collect();
            unit = *u;
            (summary, serial)
        }
    };
    let before = shared.entry(name);
    let applied_at = if summary.is_some() {
        Some(Utc::now())
    } else {
        before.as_ref().and_then(|e| e.applied_at)
    };
    if let Some(s) = &summary {
        if !s.succeeded {
            shared.note(
                name,
                Entry {
                    status: Status::Failed,
                    serial: Some(serial),
                    plan: plan_digest,
                    step: Some(Step::Apply),
                    cause: Some(cause_of(s)),
                    applied_at,
                    verify: before.and_then(|e| e.verify),
                    at: Utc::now(),
                },
            );
            return Outcome::Failed {
                step: Step::Apply,
                cause: cause_of(s),
            };
        }
    }
    let mut verify = before.and_then(|e| e.verify);
    for gate in &shared.loaded.fleet.gates {
        match gate {
            Gate::Verify => {
                let result = verify_gate(shared, &unit, &hooks).await;
                verify = Some(VerifyResult {
                    passed: result.is_ok(),
                    at: Utc::now(),
                });
                if let Err(cause) = result {
                    shared.note(
                        name,
                        Entry {
                            status: Status::Failed,
                            serial: Some(serial),
                            plan: plan_digest,
                            step: Some(Step::Verify),
                            cause: Some(cause.clone()),
                            applied_at,
                            verify,
                            at: Utc::now(),
                        },
                    );
                    return Outcome::Failed {
                        step: Step::Verify,
                        cause,
                    };
                }
            }
        }
    }
    shared.note(
        name,
        Entry {
            status: Status::Done,
            serial: Some(serial),
            plan: plan_digest,
            step: None,
            cause: None,
            applied_at,
            verify,
            at: Utc::now(),
        },
    );
    Outcome::Done {
        changed: summary.is_some(),
        serial,
    }
}

/// Waits this long for the member's state lock, which its apply has just released.
const GATE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The `verify` gate: the member's Istio CA chain up to the shared root; `Err` says why not.
async fn verify_gate(shared: &Shared, unit: &Unit, hooks: &Hooks) -> Result<(), String> {
    let verified = verify_member(unit, shared.rollout.now, hooks).await?;
    if verified.report.valid {
        return Ok(());
    }
    Err(verify_failure(&verified))
}

/// Runs `trustplane verify` for one member.
pub async fn verify_member(
    unit: &Unit,
    now: i64,
    hooks: &Hooks,
) -> Result<crate::verify::Verified, String> {
    let mut state = unit.state.clone();
    state.lock_timeout = state.lock_timeout.max(GATE_LOCK_WAIT);
    let registry = Registry::builtin();
    verify_with(
        &VerifyParams {
            file: unit.stack_file.clone(),
            vars: unit.vars.clone(),
            state,
            certificate: None,
            workload_chain: None,
            refetch: true,
            now,
        },
        &unit.overrides,
        &registry,
        hooks,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The first reason a chain is not valid.
pub fn verify_failure(v: &crate::verify::Verified) -> String {
    let r = &v.report;
    if let Some(e) = r.errors.first() {
        return format!("the chain is not valid: {e}");
    }
    for link in &r.links {
        if let Some(c) = link.checks.iter().find(|c| c.fails()) {
            return format!(
                "the chain is not valid: {} ({}): {}",
                link.role, link.subject_cn, c.detail
            );
        }
    }
    "the chain is not valid".to_string()
}
