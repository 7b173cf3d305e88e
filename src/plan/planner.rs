//! Desired (the stack) vs refreshed (state read back from providers) → a [`Plan`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;

use super::diff::{keep_ignored, keep_ignored_live};
use super::eval::{self, desired_properties, resource_value, snapshot, Resources};
use super::ownership::{check_create_before_destroy, Claims};
use super::refresh::Refreshed;
use super::{Action, Plan, PlannedChange, PLAN_FORMAT_VERSION};
use crate::config::{Mode, ResourceDecl, Stack};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::walk::{walk_values, Cancel, DEFAULT_PARALLELISM};
use crate::graph::DependencyGraph;
use crate::provider::{
    mark_secret_attributes, mark_secrets, unknown_attributes, OpContext, Provider, Registry,
    ResourceSchema, Snapshot,
};
use crate::state::{redact, ResourceState, StateMeta};
use crate::value::Value;

/// Options of one planning run.
#[derive(Debug, Clone)]
pub struct PlanParams {
    /// Plan the destruction of everything in state.
    pub destroy: bool,
    /// Limit the plan to these resources and their dependencies.
    pub targets: Vec<String>,
    /// Force replacement of these resources.
    pub replace: Vec<String>,
    pub workspace: String,
    /// Reach no provider: data sources are read during apply (`plan --offline`).
    pub offline: bool,
    /// Hears of retried data source reads.
    pub notify: Option<crate::retry::Notify>,
    /// Resources planned at once (data source reads and provider plan details, such as a
    /// Helm release's rendered manifests, run concurrently).
    pub parallelism: usize,
}

impl Default for PlanParams {
    fn default() -> Self {
        PlanParams {
            destroy: false,
            targets: Vec::new(),
            replace: Vec::new(),
            workspace: String::new(),
            offline: false,
            notify: None,
            parallelism: DEFAULT_PARALLELISM,
        }
    }
}

/// Plans a stack against refreshed state.
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    stack: &Stack,
    graph: &DependencyGraph,
    variables: &BTreeMap<String, Value>,
    registry: &Registry,
    meta: &StateMeta,
    refreshed: &Refreshed,
    params: &PlanParams,
) -> Result<Plan, Diagnostics> {
    let mut diags = Diagnostics::new();
    let targets: Option<BTreeSet<String>> = if params.targets.is_empty() {
        None
    } else {
        for t in &params.targets {
            if !graph.contains(t) && !refreshed.resources.contains_key(t) {
                diags.push(unknown_address(
                    "plan::unknown_target",
                    "--target",
                    t,
                    stack,
                    refreshed,
                ));
            }
        }
        Some(graph.with_dependencies(params.targets.iter().map(String::as_str)))
    };
    for r in &params.replace {
        if !stack.resources.contains_key(r) {
            diags.push(unknown_address(
                "plan::unknown_replace",
                "--replace",
                r,
                stack,
                refreshed,
            ));
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let inputs = Inputs {
        stack,
        graph,
        registry,
        refreshed,
        params,
        targets,
    };
    let in_scope = |address: &str| inputs.in_scope(address);

    let planning = Arc::new(Planning {
        stack: stack.name.clone(),
        lineage: meta.lineage.clone(),
        variables: variables.clone(),
        resources: Resources::default(),
        offline: params.offline,
        notify: params.notify.clone(),
    });
    let mut changes = Vec::new();

    if params.destroy {
        changes = plan_deletions(
            refreshed.resources.keys().cloned().collect(),
            refreshed,
            stack,
            &in_scope,
            &mut diags,
            "destroy requested",
        );
    } else {
        let order = graph.topo_order();
        let planned = plan_declared(&inputs, &order, &planning).await;
        // Claims are checked in graph order, whatever order the walk finished in, so the
        // same stack always names the same second owner.
        let mut claims = Claims::default();
        for (name, planned) in order.iter().zip(planned) {
            let decl = &stack.resources[name];
            match planned.map(|p| p.and_then(|change| claim(&mut claims, registry, decl, change))) {
                Some(Ok(change)) => changes.push(change),
                Some(Err(d)) => diags.push(d),
                None => {}
            }
        }
        let orphans: Vec<String> = refreshed
            .resources
            .keys()
            .filter(|a| !stack.resources.contains_key(*a))
            .cloned()
            .collect();
        changes.extend(plan_deletions(
            orphans,
            refreshed,
            stack,
            &in_scope,
            &mut diags,
            "no longer in the stack",
        ));
        super::restart::mark_istiod_restarts(&mut changes);
    }
    if diags.has_errors() {
        return Err(diags);
    }

    let outputs = if params.destroy {
        BTreeMap::new()
    } else {
        eval::outputs(stack, &planning.values(), &mut diags)
    };
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: stack.name.clone(),
        file: stack.file.as_ref().clone(),
        source: stack.source.as_ref().clone(),
        workspace: params.workspace.clone(),
        lineage: meta.lineage.clone(),
        serial: meta.serial,
        destroy: params.destroy,
        variables: variables.clone(),
        changes,
        outputs,
        warnings: diags,
        created_at: chrono::Utc::now(),
    })
}

/// What every resource of one plan is planned against.
struct Planning {
    stack: String,
    lineage: String,
    variables: BTreeMap<String, Value>,
    /// Values of the resources planned so far, for references.
    resources: Resources,
    offline: bool,
    notify: Option<crate::retry::Notify>,
}

impl Planning {
    fn values(&self) -> eval::Values<'_> {
        eval::Values {
            variables: &self.variables,
            resources: self.resources.clone(),
        }
    }
}

/// One declared resource to plan, with what it is planned from.
struct Planned {
    decl: ResourceDecl,
    schema: ResourceSchema,
    provider: Arc<dyn Provider>,
    /// As refreshed; none when it does not exist yet.
    prior: Option<ResourceState>,
    dependencies: Vec<String>,
    /// Replacement requested with `--replace`.
    forced: bool,
}

/// What one plan is made from, as `plan` was given it.
struct Inputs<'a> {
    stack: &'a Stack,
    graph: &'a DependencyGraph,
    registry: &'a Registry,
    refreshed: &'a Refreshed,
    params: &'a PlanParams,
    /// The targets and their dependencies; `None`: everything.
    targets: Option<BTreeSet<String>>,
}

impl Inputs<'_> {
    fn in_scope(&self, address: &str) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(address))
    }

    /// The declared resource `name` to plan; outside the targets, its value for
    /// references instead: as it stands, or unknown.
    fn resource(&self, name: &str) -> Result<Planned, Value> {
        let prior = self.refreshed.resources.get(name);
        if !self.in_scope(name) {
            return Err(prior
                .map(|p| resource_value(&p.properties, &p.attributes))
                .unwrap_or(Value::Unknown));
        }
        let decl = self.stack.resources[name].clone();
        Ok(Planned {
            schema: self
                .registry
                .schema(&decl.type_name)
                .expect("validated type")
                .clone(),
            provider: self
                .registry
                .provider_for(&decl.type_name)
                .expect("validated type")
                .clone(),
            dependencies: self.graph.dependencies(name),
            forced: self.params.replace.iter().any(|r| r == name),
            decl,
            prior: prior.cloned(),
        })
    }
}

/// Plans the declared resources (`order` is the graph's) through the graph walk: each
/// starts once its dependencies are planned, `parallelism` at once. Returns, in `order`,
/// each resource's change or error; `None` for resources outside the targets. A failed
/// resource is unknown to its dependents, which are still planned, so every error shows.
async fn plan_declared(
    inputs: &Inputs<'_>,
    order: &[String],
    planning: &Arc<Planning>,
) -> Vec<Option<Result<PlannedChange, Diagnostic>>> {
    let index: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = order
        .iter()
        .map(|n| {
            inputs
                .graph
                .dependencies(n)
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let parallelism = inputs.params.parallelism;
    let walked = walk_values(&deps, parallelism, &Cancel::default(), |i| {
        let resource = inputs.resource(&order[i]);
        let address = order[i].clone();
        let planning = planning.clone();
        async move {
            let resource = match resource {
                Ok(resource) => resource,
                Err(outside) => {
                    planning.resources.insert(&address, outside);
                    return Ok::<_, Infallible>(None);
                }
            };
            let planned = plan_resource(&planning, &resource).await;
            let value = match &planned {
                Ok(change) => resource_value(&change.properties, &change.planned_attributes),
                Err(_) => Value::Unknown,
            };
            planning.resources.insert(&address, value);
            Ok(Some(planned))
        }
    })
    .await;
    walked
        .into_iter()
        .map(|(_, planned)| planned.expect("planning a resource never fails the walk"))
        .collect()
}

fn unknown_address(
    code: &'static str,
    flag: &str,
    address: &str,
    stack: &Stack,
    refreshed: &Refreshed,
) -> Diagnostic {
    let names = stack
        .resources
        .keys()
        .chain(refreshed.resources.keys())
        .map(String::as_str);
    let mut d = Diagnostic::error(
        code,
        format!("{flag} {address}: no such resource in the stack or its state"),
    );
    if let Some(s) = crate::diag::did_you_mean(address, names) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d
}

/// Plans one declared resource: a data source read, a create, an update, a replacement
/// or no change.
async fn plan_resource(planning: &Planning, r: &Planned) -> Result<PlannedChange, Diagnostic> {
    let (decl, schema, provider) = (&r.decl, &r.schema, r.provider.as_ref());
    let key = planning.lineage.as_str();
    let mut desired = desired_properties(decl, schema, provider, &planning.values())?;
    let mut change = PlannedChange {
        address: decl.name.clone(),
        type_name: decl.type_name.clone(),
        provider: provider.name().to_string(),
        mode: decl.mode,
        action: Action::NoOp,
        // As state keeps it: a saved plan holds no secret read back from a live object.
        prior: r.prior.as_ref().map(|p| crate::state::redacted(p, key)),
        properties: Value::Null,
        planned_attributes: Value::Null,
        changed: Vec::new(),
        requires_replace: Vec::new(),
        reason: None,
        dependencies: r.dependencies.clone(),
        sensitive_paths: eval::secret_paths(&desired),
        details: Vec::new(),
        restart: None,
    };

    if decl.mode == Mode::Data {
        change.properties = desired.clone();
        // Deferred only when it cannot be read now on purpose: inputs known only after
        // apply, or an offline plan. A read that fails is an error: a plan that looks
        // healthy must be one.
        let deferred = if desired.contains_unknown() {
            Some("its inputs are known only after apply")
        } else if planning.offline {
            Some("the plan is offline; it is read during apply")
        } else {
            None
        };
        if let Some(reason) = deferred {
            change.action = Action::Read;
            change.planned_attributes = unknown_attributes(schema);
            change.reason = Some(reason.into());
            return Ok(change);
        }
        let ctx = OpContext::new(&decl.name, &planning.stack, &planning.lineage);
        let notify = |m: &str| {
            if let Some(n) = &planning.notify {
                (n.0)(&format!("{}: {m}", decl.name));
            }
        };
        let unmarked = desired.unmarked();
        let attrs = crate::retry::Retry::of(provider, crate::retry::Call::Read, &notify)
            .run(|| provider.read_data(&ctx, &decl.type_name, &unmarked))
            .await
            .map_err(|e| {
                let mut d =
                    eval::provider_diag("plan::read_failed", "read data source", &decl.name, e);
                d.help.get_or_insert_with(|| {
                    "fix what the error names (credentials, network, endpoint), or plan with \
                     `--offline` to read data sources during apply instead"
                        .into()
                });
                eval::locate_in(d, decl)
            })?;
        let same = r.prior.as_ref().is_some_and(|p| {
            p.attributes == attrs && redact(&p.properties, key) == redact(&desired, key)
        });
        change.action = if same { Action::NoOp } else { Action::Read };
        change.planned_attributes = attrs;
        return Ok(change);
    }

    let adopted;
    let prior = match &r.prior {
        Some(prior) => prior,
        None if decl.lifecycle.adopt => match find_to_adopt(planning, r, &desired).await? {
            Adoption::Found(found) => {
                adopted = *found;
                change.prior = Some(crate::state::redacted(&adopted, key));
                change.action = Action::Adopt;
                change.reason = Some(format!(
                    "lifecycle.adopt: {} exists already and is taken into state",
                    adopted.id
                ));
                &adopted
            }
            Adoption::Absent(reason) => {
                change.reason = Some(reason.into());
                return Ok(planned_create(change, provider, decl, schema, desired).await);
            }
        },
        None => return Ok(planned_create(change, provider, decl, schema, desired).await),
    };

    // Ignored paths keep what is live: the value read back (secrets included, in memory
    // only) where the provider could read it.
    let ignore = &decl.lifecycle.ignore_changes;
    keep_ignored_live(&mut desired, &prior.properties, ignore);
    // Compared as state keeps them: a secret is equal when its digest is, and a path
    // state keeps only as a digest is compared by digest.
    let prior_stored = redact(&prior.properties, key);
    let recorded = provider.recorded(&decl.type_name, &desired.unmarked());
    let recorded = mark_secrets(provider, schema, recorded).marked_like(&desired);
    let mut compared = redact(&recorded.marked_like(&prior_stored), key);
    keep_ignored(&mut compared, &prior_stored, ignore);
    let prior_snapshot = Snapshot {
        properties: prior_stored,
        ..snapshot(prior)
    };
    let diff = provider.diff(schema, &prior_snapshot, &compared);
    change.sensitive_paths = eval::secret_paths(&desired);
    change.properties = desired;
    change.changed = diff.changed.clone();
    change.requires_replace = diff.requires_replace.clone();
    change.planned_attributes = diff.planned_attributes;
    if change.action == Action::Adopt {
        if !diff.requires_replace.is_empty() {
            return Err(adopt_replace_error(decl, &prior.id, &diff.requires_replace));
        }
        change.details = details(provider, decl, &prior_snapshot, &change.properties).await;
        return Ok(change);
    }
    if r.forced || !diff.requires_replace.is_empty() {
        change.action = if decl.lifecycle.create_before_destroy {
            Action::CreateThenDelete
        } else {
            Action::DeleteThenCreate
        };
        change.planned_attributes = unknown_attributes(schema);
        change.reason = Some(if r.forced {
            "replacement requested with --replace".to_string()
        } else if let Some(reason) = &diff.replace_reason {
            reason.clone()
        } else {
            format!(
                "{} cannot be changed in place",
                diff.requires_replace.join(", ")
            )
        });
        if decl.lifecycle.prevent_destroy {
            return Err(prevent_destroy_error(decl, "replace"));
        }
        if decl.lifecycle.retain_on_destroy {
            return Err(retain_replace_error(
                decl,
                &change.requires_replace,
                r.forced,
            ));
        }
        if change.action == Action::CreateThenDelete {
            let old = provider.identity(&decl.type_name, &prior.properties.unmarked());
            let new = provider.identity(&decl.type_name, &change.properties.unmarked());
            if let (Some(old), Some(new)) = (old, new) {
                check_create_before_destroy(&decl.name, &old, &new)
                    .map_err(|d| d.with_span(decl.span.clone()))?;
            }
        }
    } else if !diff.changed.is_empty() {
        change.action = Action::Update;
    } else if prior.retain_on_destroy != decl.lifecycle.retain_on_destroy {
        // Kept in state, so that removing the resource from the stack later honours it.
        change.action = Action::Update;
        change.reason = Some(
            "lifecycle.retain_on_destroy changed: recorded in state, the object is not touched"
                .into(),
        );
    }
    if change.action != Action::NoOp {
        change.details = details(provider, decl, &prior_snapshot, &change.properties).await;
    }
    Ok(change)
}

/// A planned create of `desired`.
async fn planned_create(
    mut change: PlannedChange,
    provider: &dyn Provider,
    decl: &ResourceDecl,
    schema: &ResourceSchema,
    desired: Value,
) -> PlannedChange {
    change.action = Action::Create;
    change.planned_attributes = unknown_attributes(schema);
    change.changed = desired
        .as_map()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    change.details = details(provider, decl, &Snapshot::default(), &desired).await;
    change.properties = desired;
    change
}

/// What `lifecycle.adopt` found for a resource state does not hold yet.
enum Adoption {
    /// The existing object, as state would keep it.
    Found(Box<ResourceState>),
    /// Nothing to adopt now: why it is planned as a create.
    Absent(&'static str),
}

/// Looks for the object a create would make. Only a definite "not found" plans a create;
/// any other failure stops the plan.
async fn find_to_adopt(
    planning: &Planning,
    r: &Planned,
    desired: &Value,
) -> Result<Adoption, Diagnostic> {
    let (decl, provider) = (&r.decl, r.provider.as_ref());
    if desired.contains_unknown() {
        return Ok(Adoption::Absent(
            "lifecycle.adopt: its properties are known only after apply; apply adopts the \
             object if it exists by then",
        ));
    }
    if planning.offline {
        return Ok(Adoption::Absent(
            "lifecycle.adopt: the plan is offline; apply adopts the object if it exists",
        ));
    }
    let ctx = OpContext::new(&decl.name, &planning.stack, &planning.lineage);
    let notify = |m: &str| {
        if let Some(n) = &planning.notify {
            (n.0)(&format!("{}: {m}", decl.name));
        }
    };
    let unmarked = desired.unmarked();
    let found = crate::retry::Retry::of(provider, crate::retry::Call::Read, &notify)
        .run(|| provider.find(&ctx, &decl.type_name, &unmarked))
        .await
        .map_err(|e| {
            let d = eval::provider_diag(
                "plan::adopt_failed",
                "look for the object to adopt of",
                &decl.name,
                e,
            );
            eval::locate_in(d, decl)
        })?;
    let Some(found) = found else {
        return Ok(Adoption::Absent(
            "lifecycle.adopt: no such object exists yet, so it is created",
        ));
    };
    let properties = mark_secrets(provider, &r.schema, found.properties);
    let attributes =
        mark_secret_attributes(provider, &decl.type_name, &properties, found.attributes);
    let state = ResourceState {
        address: decl.name.clone(),
        type_name: decl.type_name.clone(),
        mode: decl.mode,
        provider: provider.name().to_string(),
        id: found.id,
        properties,
        attributes,
        dependencies: r.dependencies.clone(),
        sensitive_paths: Vec::new(),
        retain_on_destroy: decl.lifecycle.retain_on_destroy,
        updated_at: chrono::Utc::now(),
    };
    Ok(Adoption::Found(Box::new(state)))
}

fn adopt_replace_error(decl: &ResourceDecl, id: &str, paths: &[String]) -> Diagnostic {
    Diagnostic::error(
        "plan::adopt_needs_replace",
        format!(
            "{} would adopt {id}, but its {} differ and cannot be changed in place",
            decl.name,
            paths.join(", ")
        ),
    )
    .with_span(decl.span.clone())
    .with_field(format!("resources.{}.lifecycle.adopt", decl.name))
    .with_address(&decl.name)
    .with_detail("adopting it would mean deleting an object this stack did not create")
    .with_help(format!(
        "set {} in the stack to what the existing object has, or remove lifecycle.adopt and \
         give the resource another name",
        paths.join(", ")
    ))
}

fn retain_replace_error(decl: &ResourceDecl, paths: &[String], forced: bool) -> Diagnostic {
    let why = if forced {
        "--replace was requested".to_string()
    } else {
        format!("{} cannot be changed in place", paths.join(", "))
    };
    Diagnostic::error(
        "plan::retain_on_destroy",
        format!(
            "the plan would replace {} ({why}), which has lifecycle.retain_on_destroy set",
            decl.name
        ),
    )
    .with_span(decl.span.clone())
    .with_field(format!(
        "resources.{}.lifecycle.retain_on_destroy",
        decl.name
    ))
    .with_address(&decl.name)
    .with_detail("a replacement deletes the old object, which retain_on_destroy promises to leave")
    .with_help(
        "undo the change that forces the replacement; or, to leave the old object and start \
         anew, remove the resource from the stack and apply (it is forgotten), then add it back",
    )
}

/// The provider's extra lines for a change (a Helm manifest diff); a failure to produce
/// them is shown in their place rather than failing the plan.
async fn details(
    provider: &dyn Provider,
    decl: &ResourceDecl,
    prior: &Snapshot,
    desired: &Value,
) -> Vec<String> {
    let lines = match provider
        .plan_details(&decl.type_name, prior, &desired.unmarked())
        .await
    {
        Ok(lines) => lines,
        Err(e) => vec![format!(
            "(the rendered objects could not be compared: {})",
            e.message
        )],
    };
    scrub_secrets(lines, desired)
}

/// The provider renders real values: any secret of `marked` that still shows in its lines
/// (a sensitive variable placed in a chart's values) is hidden.
fn scrub_secrets(lines: Vec<String>, marked: &Value) -> Vec<String> {
    lines.iter().map(|l| eval::scrub_text(l, marked)).collect()
}

/// Records the objects a planned resource manages; a second owner is an error.
fn claim(
    claims: &mut Claims,
    registry: &Registry,
    decl: &ResourceDecl,
    change: PlannedChange,
) -> Result<PlannedChange, Diagnostic> {
    if decl.mode == Mode::Managed && !change.properties.contains_unknown() {
        let provider = registry
            .provider_for(&decl.type_name)
            .expect("validated type");
        if let Some(identity) = provider.identity(&decl.type_name, &change.properties.unmarked()) {
            claims.claim(decl, &identity)?;
        }
    }
    Ok(change)
}

fn prevent_destroy_error(decl: &ResourceDecl, verb: &str) -> Diagnostic {
    Diagnostic::error(
        "plan::prevent_destroy",
        format!(
            "the plan would {verb} {}, which has lifecycle.prevent_destroy set",
            decl.name
        ),
    )
    .with_span(decl.span.clone())
    .with_field(format!("resources.{}.lifecycle.prevent_destroy", decl.name))
    .with_address(&decl.name)
    .with_help("remove prevent_destroy from the stack first if destroying it is really intended")
}

/// Deletions in a safe order: a resource before the resources it depended on.
fn plan_deletions(
    addresses: Vec<String>,
    refreshed: &Refreshed,
    stack: &Stack,
    in_scope: &dyn Fn(&str) -> bool,
    diags: &mut Diagnostics,
    reason: &str,
) -> Vec<PlannedChange> {
    let set: BTreeSet<&String> = addresses.iter().collect();
    let mut g = DependencyGraph::default();
    for a in &addresses {
        g.add_node(a);
        for d in &refreshed.resources[a].dependencies {
            if set.contains(d) {
                // Reverse edge: the dependency is deleted after its dependent.
                g.add_dependency(d, a);
            }
        }
    }
    let mut out = Vec::new();
    for address in g.topo_order() {
        if !in_scope(&address) {
            continue;
        }
        let prior = &refreshed.resources[&address];
        let decl = stack.resources.get(&address);
        if let Some(decl) = decl {
            if decl.lifecycle.prevent_destroy {
                diags.push(prevent_destroy_error(decl, "destroy"));
                continue;
            }
        }
        // The stack's setting when it still declares the resource, else the one applied.
        let retain = decl.map_or(prior.retain_on_destroy, |d| d.lifecycle.retain_on_destroy);
        let (action, reason) = if retain && prior.mode == Mode::Managed {
            (
                Action::Forget,
                format!("{reason}; lifecycle.retain_on_destroy leaves the object in place"),
            )
        } else {
            (Action::Delete, reason.to_string())
        };
        let prior = crate::state::redacted(prior, &refreshed.lineage);
        out.push(PlannedChange {
            address: address.clone(),
            type_name: prior.type_name.clone(),
            provider: prior.provider.clone(),
            mode: prior.mode,
            action,
            properties: Value::Null,
            planned_attributes: Value::Null,
            changed: Vec::new(),
            requires_replace: Vec::new(),
            reason: Some(reason),
            dependencies: prior.dependencies.clone(),
            sensitive_paths: prior.sensitive_paths.clone(),
            details: Vec::new(),
            restart: None,
            prior: Some(prior),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::eval::scrub_text;

    #[test]
    fn provider_text_never_shows_a_secret() {
        let mut marked = Value::map();
        marked.set_path("password", Value::sensitive("hunter2-long".into()));
        marked.set_path("part", Value::sensitive("hunter2".into()));
        marked.set_path("user", "app".into());
        assert_eq!(
            scrub_text("login app:hunter2-long failed; hint hunter2", &marked),
            "login app:(sensitive) failed; hint (sensitive)"
        );
        assert_eq!(
            scrub_secrets(vec!["  PASSWORD: hunter2".into()], &marked),
            ["  PASSWORD: (sensitive)"]
        );
    }

    use crate::plan::testing::{actions, change, Rig};

    const TWO: &str = "stack: s\nresources:\n  a:\n    type: core.null\n    properties: {triggers: {v: \"1\"}}\n  f:\n    type: core.file\n    properties: {path: \"{dir}/f.txt\", content: \"${a.id}\"}\n";

    fn with(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "{from}");
        text.replace(from, to)
    }

    #[tokio::test]
    async fn actions_follow_what_changed() {
        let rig = Rig::new();
        let plan = rig.plan(TWO, &PlanParams::default()).await.unwrap();
        assert_eq!(
            actions(&plan),
            [("a", Action::Create), ("f", Action::Create)]
        );
        rig.converge(TWO).await;

        let plan = rig.plan(TWO, &PlanParams::default()).await.unwrap();
        assert_eq!(actions(&plan), [("a", Action::NoOp), ("f", Action::NoOp)]);
        assert!(!plan.has_changes());

        let edited = with(TWO, "content: \"${a.id}\"", "content: \"${a.id}!\"");
        let plan = rig.plan(&edited, &PlanParams::default()).await.unwrap();
        assert_eq!(actions(&plan), [("a", Action::NoOp), ("f", Action::Update)]);
        assert_eq!(change(&plan, "f").changed, ["content"]);

        let dropped = "stack: s\nresources:\n  a:\n    type: core.null\n    properties: {triggers: {v: \"1\"}}\n";
        let plan = rig.plan(dropped, &PlanParams::default()).await.unwrap();
        assert_eq!(actions(&plan), [("a", Action::NoOp), ("f", Action::Delete)]);
        assert_eq!(
            change(&plan, "f").reason.as_deref(),
            Some("no longer in the stack")
        );

        let plan = rig
            .plan(
                TWO,
                &PlanParams {
                    destroy: true,
                    ..PlanParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            actions(&plan),
            [("f", Action::Delete), ("a", Action::Delete)],
            "a dependent is destroyed before what it depends on"
        );
    }

    #[tokio::test]
    async fn a_force_new_change_replaces_in_the_declared_order_with_its_reason() {
        let rig = Rig::new();
        rig.converge(TWO).await;
        let retriggered = with(TWO, "v: \"1\"", "v: \"2\"");
        let plan = rig
            .plan(&retriggered, &PlanParams::default())
            .await
            .unwrap();
        let a = change(&plan, "a");
        assert_eq!(a.action, Action::DeleteThenCreate);
        assert_eq!(a.requires_replace, ["triggers"]);
        assert_eq!(
            a.reason.as_deref(),
            Some("triggers cannot be changed in place")
        );
        assert_eq!(a.planned_attributes.get("id"), Some(&Value::Unknown));
        // The new id is not known yet, so the file that holds it changes too.
        let f = change(&plan, "f");
        assert_eq!(f.action, Action::Update);
        assert_eq!(f.properties.get("content"), Some(&Value::Unknown));

        let before_first = with(
            &retriggered,
            "    properties: {triggers: {v: \"2\"}}\n",
            "    properties: {triggers: {v: \"2\"}}\n    lifecycle: {create_before_destroy: true}\n",
        );
        let plan = rig
            .plan(&before_first, &PlanParams::default())
            .await
            .unwrap();
        assert_eq!(change(&plan, "a").action, Action::CreateThenDelete);

        let forced = PlanParams {
            replace: vec!["f".into()],
            ..PlanParams::default()
        };
        let plan = rig.plan(TWO, &forced).await.unwrap();
        assert_eq!(
            actions(&plan),
            [("a", Action::NoOp), ("f", Action::DeleteThenCreate)]
        );
        assert_eq!(
            change(&plan, "f").reason.as_deref(),
            Some("replacement requested with --replace")
        );
    }

    #[tokio::test]
    async fn unknown_values_flow_to_dependents_outputs_and_data_reads() {
        let rig = Rig::new();
        let text = format!(
            "{TWO}  later:\n    type: core.file\n    mode: data\n    properties: {{path: \"{{dir}}/${{a.id}}\"}}\noutputs:\n  id: ${{a.id}}\n"
        );
        let plan = rig.plan(&text, &PlanParams::default()).await.unwrap();
        assert_eq!(
            change(&plan, "f").properties.get("content"),
            Some(&Value::Unknown)
        );
        let later = change(&plan, "later");
        assert_eq!(later.action, Action::Read);
        assert_eq!(
            later.reason.as_deref(),
            Some("its inputs are known only after apply")
        );
        assert_eq!(
            later.planned_attributes.get("sha256"),
            Some(&Value::Unknown)
        );
        assert_eq!(plan.outputs["id"].value, Value::Unknown);
    }

    #[tokio::test]
    async fn data_sources_with_known_inputs_are_read_while_planning() {
        let rig = Rig::new();
        rig.converge(TWO).await;
        let text = format!(
            "{TWO}  d:\n    type: core.file\n    mode: data\n    properties: {{path: \"{{dir}}/f.txt\"}}\n"
        );
        let plan = rig.plan(&text, &PlanParams::default()).await.unwrap();
        let d = change(&plan, "d");
        assert_eq!(d.action, Action::Read);
        assert_eq!(
            d.planned_attributes.get_str("content"),
            change(&plan, "a").planned_attributes.get_str("id")
        );
        // Gone: the read fails the plan, on the line of the path it could not read.
        std::fs::remove_file(rig.dir.path().join("f.txt")).unwrap();
        let diags = rig.plan(&text, &PlanParams::default()).await.unwrap_err();
        let d = diags.iter().next().unwrap();
        assert_eq!(d.code, "plan::read_failed");
        assert_eq!(d.span.as_ref().map(|s| s.line), Some(12));
        let offline = PlanParams {
            offline: true,
            ..PlanParams::default()
        };
        let plan = rig.plan(&text, &offline).await.unwrap();
        assert_eq!(
            change(&plan, "d").reason.as_deref(),
            Some("the plan is offline; it is read during apply")
        );
    }

    #[tokio::test]
    async fn ignored_paths_are_neither_planned_nor_compared() {
        let rig = Rig::new();
        let text = with(
            TWO,
            "content: \"${a.id}\"}\n",
            "content: one}\n    lifecycle: {ignore_changes: [content]}\n",
        );
        rig.converge(&text).await;
        let edited = with(&text, "content: one", "content: two");
        let plan = rig.plan(&edited, &PlanParams::default()).await.unwrap();
        assert_eq!(change(&plan, "f").action, Action::NoOp);
        assert_eq!(
            change(&plan, "f").properties.get_str("content"),
            Some("one"),
            "keeps what is live"
        );
    }

    #[tokio::test]
    async fn two_resources_claiming_one_object_fail_naming_the_second() {
        let rig = Rig::new();
        let text = "stack: s\nresources:\n  b:\n    type: core.file\n    properties: {path: \"{dir}/same.txt\"}\n  a:\n    type: core.file\n    properties: {path: \"{dir}/./same.txt\"}\n";
        for parallelism in [1, 8] {
            let diags = rig
                .plan(
                    text,
                    &PlanParams {
                        parallelism,
                        ..PlanParams::default()
                    },
                )
                .await
                .unwrap_err();
            let d = diags
                .iter()
                .find(|d| d.code == "plan::duplicate_object")
                .unwrap();
            assert_eq!(
                d.address.as_deref(),
                Some("b"),
                "claims go in graph order: a, then b"
            );
            assert_eq!(d.span.as_ref().map(|s| s.line), Some(3));
        }
    }

    #[tokio::test]
    async fn prevent_destroy_refuses_a_replacement() {
        let rig = Rig::new();
        let kept = with(
            TWO,
            "    properties: {triggers: {v: \"1\"}}\n",
            "    properties: {triggers: {v: \"1\"}}\n    lifecycle: {prevent_destroy: true}\n",
        );
        rig.converge(&kept).await;
        let diags = rig
            .plan(&with(&kept, "v: \"1\"", "v: \"2\""), &PlanParams::default())
            .await
            .unwrap_err();
        assert_eq!(diags.iter().next().unwrap().code, "plan::prevent_destroy");
    }

    const ADOPTED_FILE: &str = "stack: s\nresources:\n  f:\n    type: core.file\n    lifecycle: {adopt: true}\n    properties: {path: \"{dir}/f.txt\", content: new}\n";

    #[tokio::test]
    async fn adopt_plans_adopt_for_an_existing_object_and_create_for_a_missing_one() {
        let rig = Rig::new();
        let plan = rig
            .plan(ADOPTED_FILE, &PlanParams::default())
            .await
            .unwrap();
        assert_eq!(actions(&plan), [("f", Action::Create)]);
        assert!(change(&plan, "f")
            .reason
            .as_deref()
            .unwrap()
            .contains("no such object"));

        std::fs::write(rig.dir.path().join("f.txt"), "old").unwrap();
        let plan = rig
            .plan(ADOPTED_FILE, &PlanParams::default())
            .await
            .unwrap();
        assert_eq!(actions(&plan), [("f", Action::Adopt)]);
        let f = change(&plan, "f");
        assert_eq!(f.changed, ["content"]);
        assert!(f.prior.as_ref().unwrap().id.ends_with("f.txt"));
        let report = rig.apply(ADOPTED_FILE, &plan).await;
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        let content = std::fs::read_to_string(rig.dir.path().join("f.txt")).unwrap();
        assert_eq!(content, "new");
        let again = rig
            .plan(ADOPTED_FILE, &PlanParams::default())
            .await
            .unwrap();
        assert_eq!(actions(&again), [("f", Action::NoOp)]);
    }

    #[tokio::test]
    async fn retain_on_destroy_set_later_is_recorded_and_then_honoured() {
        use crate::state::StateRead as _;
        let rig = Rig::new();
        rig.converge(TWO).await;
        let retained = with(
            TWO,
            "    properties: {path:",
            "    lifecycle: {retain_on_destroy: true}\n    properties: {path:",
        );
        let plan = rig.plan(&retained, &PlanParams::default()).await.unwrap();
        assert_eq!(change(&plan, "f").action, Action::Update);
        assert!(change(&plan, "f").changed.is_empty());
        let report = rig.apply(&retained, &plan).await;
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        assert!(rig.store.resource("f").unwrap().unwrap().retain_on_destroy);

        // Removed from the stack: forgotten, the file left.
        let only_a = "stack: s\nresources:\n  a:\n    type: core.null\n    properties: {triggers: {v: \"1\"}}\n";
        let plan = rig.plan(only_a, &PlanParams::default()).await.unwrap();
        assert_eq!(change(&plan, "f").action, Action::Forget);
        rig.apply(only_a, &plan).await;
        assert!(rig.store.resource("f").unwrap().is_none());
        assert!(rig.dir.path().join("f.txt").exists());
    }

    #[tokio::test]
    async fn prevent_destroy_refuses_a_forget_too() {
        let rig = Rig::new();
        let both = with(
            TWO,
            "    properties: {path:",
            "    lifecycle: {retain_on_destroy: true, prevent_destroy: true}\n    properties: {path:",
        );
        rig.converge(&both).await;
        let destroy = PlanParams {
            destroy: true,
            ..PlanParams::default()
        };
        let diags = rig.plan(&both, &destroy).await.unwrap_err();
        assert_eq!(diags.iter().next().unwrap().code, "plan::prevent_destroy");
    }

    #[tokio::test]
    async fn the_order_of_changes_does_not_depend_on_parallelism() {
        let rig = Rig::new();
        let mut text = String::from("stack: s\nresources:\n  root:\n    type: core.null\n");
        for i in 0..30 {
            let dep = if i % 3 == 0 {
                "root".to_string()
            } else {
                format!("n{}", i - 1)
            };
            text.push_str(&format!("  n{i}:\n    type: core.null\n    properties: {{triggers: {{up: \"${{{dep}.id}}\"}}}}\n"));
        }
        let serial = rig
            .plan(
                &text,
                &PlanParams {
                    parallelism: 1,
                    ..PlanParams::default()
                },
            )
            .await
            .unwrap();
        let parallel = rig
            .plan(
                &text,
                &PlanParams {
                    parallelism: 16,
                    ..PlanParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(actions(&serial), actions(&parallel));
        assert_eq!(serial.changes.len(), 31);
    }
}
