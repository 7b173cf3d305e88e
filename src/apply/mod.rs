//! Executes a plan: every change is a node of the graph walk, started as soon as its
//! dependencies are done, at most `parallelism` at once. Each finished change is committed
//! to state at once (durably), so a failure, Ctrl-C or a crash loses nothing that was done.
//! A failure skips only the changes that depend on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Mode, Stack};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::walk::{walk, Cancel, Outcome};
use crate::plan::diff::keep_ignored_live;
use crate::plan::eval::{
    self, desired_properties, locate, provider_diag, resource_value, scrub_text, snapshot,
    Resources, Values,
};
use crate::plan::ownership::check_create_before_destroy;
use crate::plan::{Action, Plan, PlannedChange};
use crate::provider::{mark_secret_attributes, mark_secrets, OpContext, Registry, Snapshot};
use crate::state::{redact, redacted, OutputState, ResourceState, Store, HISTORY_KEEP};
use crate::value::Value;

/// Receives progress events; the CLI turns them into lines or a live view.
pub trait Progress: Send + Sync {
    fn started(&self, change: &PlannedChange);
    fn message(&self, address: &str, text: &str);
    fn finished(&self, change: &PlannedChange, elapsed: Duration, error: Option<&Diagnostic>);
}

/// Progress that goes nowhere.
pub struct Silent;
impl Progress for Silent {
    fn started(&self, _: &PlannedChange) {}
    fn message(&self, _: &str, _: &str) {}
    fn finished(&self, _: &PlannedChange, _: Duration, _: Option<&Diagnostic>) {}
}

pub struct ApplyParams {
    pub parallelism: usize,
    pub cancel: Cancel,
    pub progress: Arc<dyn Progress>,
    /// Recorded in state history (`apply`, `destroy`).
    pub command: String,
}

/// What happened to each change.
#[derive(Debug)]
pub struct ApplyReport {
    pub outcomes: Vec<(String, Action, Outcome<Diagnostic>)>,
    pub diagnostics: Diagnostics,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        !self.diagnostics.has_errors()
            && self
                .outcomes
                .iter()
                .all(|(_, _, o)| matches!(o, Outcome::Done))
    }

    pub fn cancelled(&self) -> bool {
        self.outcomes
            .iter()
            .any(|(_, _, o)| matches!(o, Outcome::NotStarted | Outcome::Aborted))
    }

    pub fn count(&self, pred: impl Fn(&Outcome<Diagnostic>) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, _, o)| pred(o)).count()
    }

    /// Changes of one of `actions` that were done.
    pub fn done(&self, actions: &[Action]) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, a, o)| actions.contains(a) && matches!(o, Outcome::Done))
            .count()
    }
}

struct Context {
    plan: Plan,
    stack: Stack,
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    progress: Arc<dyn Progress>,
    /// Resource values for references: as planned, then as applied.
    values: Resources,
}

impl Context {
    fn values(&self) -> Values<'_> {
        Values {
            variables: &self.plan.variables,
            resources: self.values.clone(),
        }
    }
}

pub async fn apply(
    plan: &Plan,
    stack: &Stack,
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    params: ApplyParams,
) -> ApplyReport {
    let values: HashMap<String, Value> = plan
        .changes
        .iter()
        .filter(|c| !c.action.removes())
        .map(|c| {
            (
                c.address.clone(),
                resource_value(&c.properties, &c.planned_attributes),
            )
        })
        .collect();
    // Resources outside a targeted plan are referenced as they stand in state.
    let mut all_values = HashMap::new();
    if let Ok(stored) = store.resources() {
        for (a, r) in stored {
            all_values.insert(a, resource_value(&r.properties, &r.attributes));
        }
    }
    all_values.extend(values);

    let ctx = Arc::new(Context {
        plan: plan.clone(),
        stack: stack.clone(),
        registry,
        store,
        progress: params.progress.clone(),
        values: all_values.into_iter().collect(),
    });
    let deps = change_dependencies(&plan.changes, |c| change_identity(&ctx.registry, c));
    let outcomes = walk(&deps, params.parallelism, &params.cancel, |i| {
        let ctx = ctx.clone();
        async move { run_change(&ctx, i).await }
    })
    .await;

    let mut diagnostics = Diagnostics::new();
    let mut report = Vec::new();
    for (change, outcome) in plan.changes.iter().zip(outcomes) {
        if let Outcome::Failed(d) = &outcome {
            diagnostics.push(d.clone());
        }
        report.push((change.address.clone(), change.action, outcome));
    }
    if let Err(d) = write_outputs(&ctx, plan.destroy) {
        diagnostics.push(d);
    }
    if let Err(e) = ctx.store.record(&params.command, HISTORY_KEEP) {
        diagnostics.push(Diagnostic::error("state::write_failed", e.to_string()));
    }
    ApplyReport {
        outcomes: report,
        diagnostics,
    }
}

/// Graph edges between changes: a change waits for the changes of its dependencies; a
/// deletion waits for the deletions of the resources that depended on it; and a change
/// that makes or updates an object waits for the deletion of another resource holding the
/// same object (by `identity`, one name per line), which would otherwise delete it after
/// (a stack switching one Kubernetes object from one resource to another).
fn change_dependencies(
    changes: &[PlannedChange],
    identity: impl Fn(&PlannedChange) -> Option<String>,
) -> Vec<Vec<usize>> {
    let mut live: HashMap<&str, usize> = HashMap::new();
    let mut deleted: HashMap<&str, usize> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        if c.action.removes() {
            deleted.insert(&c.address, i);
        } else {
            live.insert(&c.address, i);
        }
    }
    let mut deps = vec![Vec::new(); changes.len()];
    for (i, c) in changes.iter().enumerate() {
        if c.action.removes() {
            for d in &c.dependencies {
                if let Some(&j) = deleted.get(d.as_str()) {
                    deps[j].push(i);
                }
            }
        } else {
            deps[i].extend(
                c.dependencies
                    .iter()
                    .filter_map(|d| live.get(d.as_str()).copied()),
            );
        }
    }
    // Deletions wait only for deletions, so these edges make no cycle.
    let deleting: Vec<(usize, String)> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.action == Action::Delete)
        .filter_map(|(j, c)| identity(c).map(|id| (j, id)))
        .collect();
    if !deleting.is_empty() {
        for (i, c) in changes.iter().enumerate() {
            if c.action.removes() || !c.has_effect() {
                continue;
            }
            let Some(mine) = identity(c) else { continue };
            deps[i].extend(
                deleting
                    .iter()
                    .filter(|(_, theirs)| {
                        !crate::provider::shared_objects(&mine, theirs).is_empty()
                    })
                    .map(|(j, _)| *j),
            );
        }
    }
    deps
}

/// The objects a change acts on, as its provider names them: the recorded object for a
/// deletion, the desired one otherwise.
fn change_identity(registry: &Registry, change: &PlannedChange) -> Option<String> {
    let properties = if change.action.removes() {
        &change.prior.as_ref()?.properties
    } else {
        &change.properties
    };
    registry
        .provider_for(&change.type_name)?
        .identity(&change.type_name, &properties.unmarked())
}

async fn run_change(ctx: &Context, i: usize) -> Result<(), Diagnostic> {
    let change = &ctx.plan.changes[i];
    if !change.has_effect() {
        return Ok(());
    }
    ctx.progress.started(change);
    let start = Instant::now();
    let result = async {
        if change.action != Action::NoOp {
            perform(ctx, change).await?;
        }
        if change.restart.is_some() {
            restart(ctx, change).await?;
        }
        Ok(())
    }
    .await;
    ctx.progress
        .finished(change, start.elapsed(), result.as_ref().err());
    result
}

/// The provider of a change's type, its calls retried within its limits.
fn provider(
    ctx: &Context,
    change: &PlannedChange,
) -> Result<Arc<dyn crate::provider::Provider>, Diagnostic> {
    ctx.registry
        .provider_for(&change.type_name)
        .cloned()
        .map(|p| Arc::new(crate::retry::Retrying(p)) as Arc<dyn crate::provider::Provider>)
        .ok_or_else(|| {
            Diagnostic::error(
                "apply::unknown_type",
                format!("no provider serves {}", change.type_name),
            )
            .with_address(&change.address)
        })
}

/// The restart the plan asked for, of the object as state now records it: run after the
/// change itself and after its dependencies (the certificate that wrote `cacerts`).
async fn restart(ctx: &Context, change: &PlannedChange) -> Result<(), Diagnostic> {
    let address = change.address.as_str();
    let provider = provider(ctx, change)?;
    let recorded = ctx
        .store
        .resource(address)
        .map_err(|e| state_error(address, e))?
        .ok_or_else(|| no_prior(change))?;
    let progress = ctx.progress.clone();
    let addr = address.to_string();
    let op = OpContext::new(address, &ctx.plan.stack, &ctx.plan.lineage)
        .with_progress(Arc::new(move |m: &str| progress.message(&addr, m)));
    provider
        .restart(&op, &change.type_name, &snapshot(&recorded))
        .await
        .map_err(|e| {
            locate(
                provider_diag("apply::restart_failed", "restart", address, e),
                &ctx.stack,
            )
        })
}

async fn perform(ctx: &Context, change: &PlannedChange) -> Result<(), Diagnostic> {
    let address = change.address.as_str();
    let provider = provider(ctx, change)?;
    let progress = ctx.progress.clone();
    let addr = address.to_string();
    let op = OpContext::new(address, &ctx.plan.stack, &ctx.plan.lineage)
        .with_progress(Arc::new(move |m: &str| progress.message(&addr, m)));
    let prior = existing(ctx, change)?;
    let fail = |verb: &str, e| {
        let code = match verb {
            "create" => "apply::create_failed",
            "update" => "apply::update_failed",
            "delete" => "apply::delete_failed",
            "adopt" | "look for the object to adopt of" => "apply::adopt_failed",
            _ => "apply::read_failed",
        };
        locate(provider_diag(code, verb, address, e), &ctx.stack)
    };

    if change.action.removes() {
        // A forget leaves the object: retain_on_destroy.
        if change.mode == Mode::Managed && change.action == Action::Delete {
            let prior = prior.as_ref().ok_or_else(|| no_prior(change))?;
            provider
                .delete(&op, &change.type_name, prior)
                .await
                .map_err(|e| fail("delete", e))?;
        }
        return forget(ctx, address).await;
    }

    // Providers work on real values; the marks are kept to store the result redacted.
    let marked = evaluate(ctx, change)?;
    let desired = marked.unmarked();
    // A provider's messages and progress lines may quote what it was given: secrets are
    // hidden.
    let fail = |verb: &str, mut e: crate::provider::ProviderError| {
        e.message = scrub_text(&e.message, &marked);
        fail(verb, e)
    };
    let (progress, addr, secrets) = (ctx.progress.clone(), address.to_string(), marked.clone());
    let op = OpContext::new(address, &ctx.plan.stack, &ctx.plan.lineage).with_progress(Arc::new(
        move |m: &str| progress.message(&addr, &scrub_text(m, &secrets)),
    ));
    let adopts = ctx
        .stack
        .resources
        .get(address)
        .is_some_and(|d| d.lifecycle.adopt);
    let snapshot = match change.action {
        Action::Adopt | Action::Create if adopts => {
            adopt_or_create(ctx, provider.as_ref(), &op, change, &desired)
                .await
                .map_err(|(verb, e)| fail(verb, e))?
        }
        Action::Create | Action::Adopt => provider
            .create(&op, &change.type_name, &desired)
            .await
            .map_err(|e| fail("create", e))?,
        Action::Update => {
            let prior = prior.as_ref().ok_or_else(|| no_prior(change))?;
            if change.changed.is_empty() {
                // Only a lifecycle setting state records changed: nothing to send.
                return commit(ctx, change, prior, &marked).await;
            }
            provider
                .update(&op, &change.type_name, prior, &desired)
                .await
                .map_err(|e| fail("update", e))?
        }
        Action::DeleteThenCreate => {
            let prior = prior.as_ref().ok_or_else(|| no_prior(change))?;
            provider
                .delete(&op, &change.type_name, prior)
                .await
                .map_err(|e| fail("delete", e))?;
            forget(ctx, address).await?;
            provider
                .create(
                    &op.clone().replacing(&prior.id),
                    &change.type_name,
                    &desired,
                )
                .await
                .map_err(|e| fail("create", e))?
        }
        Action::CreateThenDelete => {
            let prior = prior.as_ref().ok_or_else(|| no_prior(change))?;
            // The plan checked identities with the values it knew; now all are known
            // (and a plan file may predate the check).
            let old = provider.identity(&change.type_name, &prior.properties);
            let new = provider.identity(&change.type_name, &desired);
            if let (Some(old), Some(new)) = (old, new) {
                check_create_before_destroy(address, &old, &new)?;
            }
            let created = provider
                .create(
                    &op.clone().replacing(&prior.id),
                    &change.type_name,
                    &desired,
                )
                .await
                .map_err(|e| fail("create", e))?;
            commit(ctx, change, &created, &marked).await?;
            if !created.id.is_empty() && created.id == prior.id {
                // Deleting the old object would delete the replacement.
                return Err(Diagnostic::error(
                    "apply::replace_same_object",
                    format!(
                        "the replacement of {address} is the object it was to replace ({})",
                        prior.id
                    ),
                )
                .with_address(address)
                .with_detail("the create changed or adopted the old object instead of making a new one, so the old object was not deleted; state records it as the resource")
                .with_help(format!(
                    "give the replacement a different name, or remove create_before_destroy from resources.{address}.lifecycle"
                )));
            }
            provider.delete(&op, &change.type_name, prior).await.map_err(|e| {
                let mut d = fail("delete", e);
                d.detail = Some(format!(
                    "the replacement was created and is in state; the old object (id {}) still exists",
                    prior.id
                ));
                d
            })?;
            created
        }
        Action::Read => {
            let attributes = provider
                .read_data(&op, &change.type_name, &desired)
                .await
                .map_err(|e| fail("read", e))?;
            Snapshot {
                id: String::new(),
                properties: desired.clone(),
                attributes,
            }
        }
        Action::NoOp | Action::Delete | Action::Forget => unreachable!("handled above"),
    };
    commit(ctx, change, &snapshot, &marked).await
}

/// `lifecycle.adopt`: the object a create would make, looked up again now that every
/// value is known, and brought to `desired` by an update; created when it definitely does
/// not exist.
/// Any failure to look is an error that changes nothing.
async fn adopt_or_create(
    ctx: &Context,
    provider: &dyn crate::provider::Provider,
    op: &OpContext,
    change: &PlannedChange,
    desired: &Value,
) -> Result<Snapshot, (&'static str, crate::provider::ProviderError)> {
    let type_name = change.type_name.as_str();
    let Some(found) = provider
        .find(op, type_name, desired)
        .await
        .map_err(|e| ("look for the object to adopt of", e))?
    else {
        return provider
            .create(op, type_name, desired)
            .await
            .map_err(|e| ("create", e));
    };
    op.progress(&format!("adopting {}", found.id));
    let schema = ctx.registry.schema(type_name).expect("planned type");
    let diff = provider.diff(schema, &found, &provider.recorded(type_name, desired));
    if !diff.requires_replace.is_empty() {
        return Err((
            "adopt",
            crate::provider::ProviderError::new(format!(
                "{} exists, but its {} differ and cannot be changed in place",
                found.id,
                diff.requires_replace.join(", ")
            ))
            .with_help(
                "set them in the stack to what the existing object has; nothing was changed",
            ),
        ));
    }
    // Updated even when nothing differs: the provider then holds the object as one it
    // manages (a Kubernetes object gets trustplane's field manager, so a destroy deletes
    // it rather than leaving an object trustplane does not manage).
    provider
        .update(op, type_name, &found, desired)
        .await
        .map_err(|e| ("update", e))
}

/// The existing object a change acts on. Deletions (replacements included) act on the
/// object state records now, never on one a plan file names; an update keeps the
/// refreshed prior of its plan, once state confirms it is the same object.
fn existing(ctx: &Context, change: &PlannedChange) -> Result<Option<Snapshot>, Diagnostic> {
    let acts_on_existing = matches!(
        change.action,
        Action::Update
            | Action::Delete
            | Action::Forget
            | Action::DeleteThenCreate
            | Action::CreateThenDelete
    );
    if !acts_on_existing {
        return Ok(None);
    }
    let recorded = ctx
        .store
        .resource(&change.address)
        .map_err(|e| state_error(&change.address, e))?
        .ok_or_else(|| {
            Diagnostic::error(
                "apply::stale_plan",
                format!(
                    "the plan would {} {}, but state has no record of it",
                    change.action.verb(),
                    change.address
                ),
            )
            .with_address(&change.address)
            .with_help("make a new plan with `trustplane plan` and review it")
        })?;
    if let Some(p) = &change.prior {
        if p.id != recorded.id {
            return Err(Diagnostic::error(
                "apply::stale_plan",
                format!(
                    "the plan would {} {} as object {:?}, but state records object {:?}",
                    change.action.verb(),
                    change.address,
                    p.id,
                    recorded.id
                ),
            )
            .with_address(&change.address)
            .with_help("make a new plan with `trustplane plan` and review it"));
        }
    }
    Ok(Some(match (&change.prior, change.action) {
        (Some(p), Action::Update) => snapshot(p),
        _ => snapshot(&recorded),
    }))
}

fn no_prior(change: &PlannedChange) -> Diagnostic {
    Diagnostic::error(
        "apply::stale_plan",
        format!("the plan names no existing object for {}", change.address),
    )
    .with_address(&change.address)
}

/// Properties evaluated again now that upstream values are known.
fn evaluate(ctx: &Context, change: &PlannedChange) -> Result<Value, Diagnostic> {
    let decl = ctx.stack.resources.get(&change.address).ok_or_else(|| {
        Diagnostic::error(
            "apply::stale_plan",
            format!("{} is not in the plan's stack", change.address),
        )
    })?;
    let schema = ctx
        .registry
        .schema(&change.type_name)
        .expect("planned type");
    let provider = ctx
        .registry
        .provider_for(&change.type_name)
        .expect("planned type");
    let mut desired = desired_properties(decl, schema, provider.as_ref(), &ctx.values())?;
    if change.action == Action::Update {
        // The plan already holds what ignored paths keep (the live value, or the desired
        // one where only a digest was known).
        keep_ignored_live(
            &mut desired,
            &change.properties,
            &decl.lifecycle.ignore_changes,
        );
    }
    if desired.contains_redacted() {
        return Err(Diagnostic::error(
            "apply::secret_unavailable",
            format!("{}: a referenced secret is not available: state keeps only its digest", change.address),
        )
        .with_address(&change.address)
        .with_help("plan and apply the resource that holds the secret together with this one (without --target)"));
    }
    if desired.contains_unknown() {
        return Err(Diagnostic::error(
            "apply::unknown_value",
            format!("{}: some properties are still unknown after their dependencies were applied", change.address),
        )
        .with_address(&change.address)
        .with_help("a referenced attribute was not set by its provider; check the references in this resource"));
    }
    Ok(desired)
}

/// Records what a provider returned. `desired` carries the marks: the snapshot's values at
/// the same paths are secret too, as are those the provider declares.
async fn commit(
    ctx: &Context,
    change: &PlannedChange,
    snap: &Snapshot,
    desired: &Value,
) -> Result<(), Diagnostic> {
    let properties = match (
        ctx.registry.provider_for(&change.type_name),
        ctx.registry.schema(&change.type_name),
    ) {
        (Some(p), Some(schema)) => mark_secrets(p.as_ref(), schema, snap.properties.clone()),
        _ => snap.properties.clone(),
    }
    .marked_like(desired);
    let attributes = match ctx.registry.provider_for(&change.type_name) {
        Some(p) => mark_secret_attributes(
            p.as_ref(),
            &change.type_name,
            &properties,
            snap.attributes.clone(),
        ),
        None => snap.attributes.clone(),
    };
    ctx.values
        .insert(&change.address, resource_value(&properties, &attributes));
    let record = redacted(
        &ResourceState {
            address: change.address.clone(),
            type_name: change.type_name.clone(),
            mode: change.mode,
            provider: change.provider.clone(),
            id: snap.id.clone(),
            sensitive_paths: Vec::new(),
            properties,
            attributes,
            dependencies: change.dependencies.clone(),
            retain_on_destroy: ctx
                .stack
                .resources
                .get(&change.address)
                .is_some_and(|d| d.lifecycle.retain_on_destroy),
            updated_at: chrono::Utc::now(),
        },
        &ctx.plan.lineage,
    );
    let store = ctx.store.clone();
    let address = change.address.clone();
    tokio::task::spawn_blocking(move || store.put_resource(&record))
        .await
        .expect("state writes do not panic")
        .map(|_| ())
        .map_err(|e| state_error(&address, e))
}

async fn forget(ctx: &Context, address: &str) -> Result<(), Diagnostic> {
    ctx.values.remove(address);
    let store = ctx.store.clone();
    let a = address.to_string();
    tokio::task::spawn_blocking(move || store.remove_resource(&a))
        .await
        .expect("state writes do not panic")
        .map(|_| ())
        .or_else(|e| match e {
            crate::state::StateError::NotFound(_) => Ok(()),
            e => Err(state_error(address, e)),
        })
}

fn state_error(address: &str, e: crate::state::StateError) -> Diagnostic {
    Diagnostic::error(
        "state::write_failed",
        format!("{address} was applied but could not be saved: {e}"),
    )
    .with_address(address)
    .with_help(
        "state is kept per resource; rerun apply to reconcile once the state storage is writable",
    )
}

fn write_outputs(ctx: &Context, destroy: bool) -> Result<(), Diagnostic> {
    let mut outputs = BTreeMap::new();
    if !destroy {
        let mut ignored = Diagnostics::new();
        for (name, o) in eval::outputs(&ctx.stack, &ctx.values(), &mut ignored) {
            if !o.value.contains_unknown() {
                // A sensitive output is kept as digests: state never holds secrets.
                let value = if o.sensitive {
                    Value::sensitive(o.value)
                } else {
                    o.value
                };
                outputs.insert(
                    name,
                    OutputState {
                        value: redact(&value, &ctx.plan.lineage),
                        sensitive: o.sensitive,
                        description: o.description,
                    },
                );
            }
        }
    }
    ctx.store.set_outputs(&outputs).map(|_| ()).map_err(|e| {
        Diagnostic::error(
            "state::write_failed",
            format!("outputs could not be saved: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(address: &str, action: Action, deps: &[&str]) -> PlannedChange {
        PlannedChange {
            address: address.into(),
            type_name: "core.null".into(),
            provider: "core".into(),
            mode: Mode::Managed,
            action,
            prior: None,
            properties: Value::map(),
            planned_attributes: Value::map(),
            changed: vec![],
            requires_replace: vec![],
            reason: None,
            dependencies: deps.iter().map(|s| s.to_string()).collect(),
            sensitive_paths: vec![],
            details: vec![],
            restart: None,
        }
    }

    #[test]
    fn creates_follow_dependencies_and_deletes_go_in_reverse() {
        let changes = vec![
            change("net", Action::Create, &[]),
            change("app", Action::Create, &["net"]),
            // Orphans: old_app depended on old_db.
            change("old_app", Action::Delete, &["old_db"]),
            change("old_db", Action::Delete, &[]),
        ];
        let deps = change_dependencies(&changes, |_| None);
        assert_eq!(deps[0], Vec::<usize>::new());
        assert_eq!(deps[1], vec![0]);
        assert_eq!(deps[2], Vec::<usize>::new());
        assert_eq!(deps[3], vec![2], "old_db is deleted after old_app");
    }

    #[test]
    fn a_create_of_an_object_being_deleted_under_another_address_waits_for_the_delete() {
        let changes = vec![
            change("new_account", Action::Create, &[]),
            change("old_account", Action::Delete, &[]),
            change("other", Action::Create, &[]),
            change("kept", Action::Forget, &[]),
            change("taken_back", Action::Create, &[]),
        ];
        let identity = |c: &PlannedChange| match c.address.as_str() {
            "new_account" | "old_account" => Some("v1/ServiceAccount/ns/sa".to_string()),
            "other" => Some("v1/ServiceAccount/ns/other".to_string()),
            "kept" | "taken_back" => Some("v1/Namespace/kept".to_string()),
            _ => None,
        };
        let deps = change_dependencies(&changes, identity);
        assert_eq!(deps[0], vec![1], "the delete goes first");
        assert_eq!(deps[1], Vec::<usize>::new());
        assert_eq!(deps[2], Vec::<usize>::new(), "another object: no wait");
        assert_eq!(deps[4], Vec::<usize>::new(), "a forget leaves the object");
    }

    use crate::plan::testing::{actions, Rig};
    use crate::plan::PlanParams;
    use crate::state::StateRead;

    #[tokio::test]
    async fn applies_dependencies_first_with_their_values() {
        let rig = Rig::new();
        let text = "stack: s\nresources:\n  a:\n    type: core.null\n  f:\n    type: core.file\n    properties: {path: \"{dir}/f.txt\", content: \"${a.id}\"}\noutputs:\n  digest: ${f.sha256}\n";
        rig.converge(text).await;
        let state = rig.store.resources().unwrap();
        let written = std::fs::read_to_string(rig.dir.path().join("f.txt")).unwrap();
        assert_eq!(
            written, state["a"].id,
            "f was written with a's id, known only after a"
        );
        assert_eq!(
            rig.store.outputs().unwrap()["digest"].value,
            state["f"].attributes.get("sha256").cloned().unwrap()
        );
    }

    #[tokio::test]
    async fn a_failure_skips_its_dependents_and_nothing_else() {
        let rig = Rig::new();
        // f's parent directory is a file: its create fails.
        std::fs::write(rig.dir.path().join("blocker"), "").unwrap();
        let text = "stack: s\nresources:\n  f:\n    type: core.file\n    properties: {path: \"{dir}/blocker/f.txt\"}\n  g:\n    type: core.file\n    properties: {path: \"{dir}/g.txt\", content: \"${f.sha256}\"}\n  other:\n    type: core.null\n";
        let plan = rig.plan(text, &PlanParams::default()).await.unwrap();
        assert_eq!(
            actions(&plan),
            [
                ("f", Action::Create),
                ("g", Action::Create),
                ("other", Action::Create)
            ]
        );
        let report = rig.apply(text, &plan).await;
        assert!(!report.succeeded());
        let outcomes: Vec<_> = report
            .outcomes
            .iter()
            .map(|(a, _, o)| (a.as_str(), o))
            .collect();
        assert!(
            matches!(outcomes[0], ("f", Outcome::Failed(d)) if d.code == "apply::create_failed")
        );
        assert_eq!(outcomes[1], ("g", &Outcome::Skipped { root: 0 }));
        assert_eq!(outcomes[2], ("other", &Outcome::Done));
        let failure = &report.diagnostics.iter().next().unwrap();
        assert_eq!(
            failure.field.as_deref(),
            Some("resources.f.properties.path")
        );
        assert_eq!(
            failure.span.as_ref().map(|s| s.line),
            Some(5),
            "on the line of f's path"
        );
        let stored: Vec<String> = rig.store.resources().unwrap().into_keys().collect();
        assert_eq!(stored, ["other"]);
    }

    #[tokio::test]
    async fn replacements_leave_a_new_object_in_state() {
        let rig = Rig::new();
        let text = |v: &str, before: bool| {
            let lifecycle = if before {
                "    lifecycle: {create_before_destroy: true}\n"
            } else {
                ""
            };
            format!("stack: s\nresources:\n  a:\n    type: core.null\n    properties: {{triggers: {{v: \"{v}\"}}}}\n{lifecycle}")
        };
        rig.converge(&text("1", false)).await;
        let first = rig.store.resource("a").unwrap().unwrap().id;
        let plan = rig.converge(&text("2", false)).await;
        assert_eq!(actions(&plan), [("a", Action::DeleteThenCreate)]);
        let second = rig.store.resource("a").unwrap().unwrap().id;
        let plan = rig.converge(&text("3", true)).await;
        assert_eq!(actions(&plan), [("a", Action::CreateThenDelete)]);
        let third = rig.store.resource("a").unwrap().unwrap().id;
        assert!(first != second && second != third && first != third);
    }

    #[tokio::test]
    async fn a_plan_whose_object_changed_in_state_is_refused() {
        let rig = Rig::new();
        let text = |v: &str| {
            format!("stack: s\nresources:\n  f:\n    type: core.file\n    properties: {{path: \"{{dir}}/f.txt\", content: {v}}}\n")
        };
        rig.converge(&text("one")).await;
        let stale = rig
            .plan(&text("two"), &PlanParams::default())
            .await
            .unwrap();
        // State records another object for f since the plan was made: the update would
        // act on an object state no longer names.
        let mut moved = rig.store.resource("f").unwrap().unwrap();
        moved.id = "elsewhere".into();
        crate::state::StateWrite::put_resource(rig.store.as_ref(), &moved).unwrap();
        let report = rig.apply(&text("two"), &stale).await;
        let d = report.diagnostics.iter().next().unwrap();
        assert_eq!(d.code, "apply::stale_plan");
        assert_eq!(
            std::fs::read_to_string(rig.dir.path().join("f.txt")).unwrap(),
            "one"
        );
    }
}
