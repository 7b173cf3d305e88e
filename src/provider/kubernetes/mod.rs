//! The `kubernetes` provider: Kubernetes objects applied with server-side apply under the
//! field manager `trustplane`.
//!
//! - `k8s.namespace`, `k8s.service_account`: typed core objects;
//! - `k8s.manifest`: any object, inline or from a multi-document file, found through API
//!   discovery (so CRD kinds work once their CRD exists);
//! - `certmanager.certificate`, `awspca.issuer`: typed cert-manager and
//!   aws-privateca-issuer objects, validated at plan time.
//!
//! Drift compares only the fields trustplane applied: a live object is projected onto the
//! shape of the applied one, so server defaults and other managers' fields never show.

pub mod apply;
pub mod client;
pub mod connection;
pub mod discovery;
pub mod kinds;
pub mod manifest;
pub mod names;
pub mod object;
pub mod proxy;
pub mod wait;

use std::time::Instant;

use async_trait::async_trait;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::Client;

use super::{
    default_diff, Attribute, DiffResult, OpContext, Property, ProviderError, ProviderResult,
    ResourceSchema, ResourceType, Snapshot, Type, TypedProvider,
};
use crate::diag::Diagnostic;
use crate::value::{PropertyPath, Value};
use apply::FIELD_MANAGER;
use client::{api_error, is_not_found, Cluster, Settings};
use kinds::TypedKind;
use manifest::MANIFEST;
use object::{managers, ObjectRef};

#[derive(Default)]
pub struct KubernetesProvider {
    cluster: Cluster,
    builtin: discovery::BuiltinKinds,
}

impl KubernetesProvider {
    /// A provider sharing its cluster connections with the registry's other providers.
    pub fn sharing(clusters: std::sync::Arc<client::SharedClusters>) -> KubernetesProvider {
        KubernetesProvider {
            cluster: Cluster::sharing(clusters),
            builtin: discovery::BuiltinKinds::default(),
        }
    }
}

/// Properties every `k8s` type has.
fn common_properties() -> Vec<Property> {
    vec![
        Property::new("force", Type::Bool).describe(
            "Take over fields another field manager owns instead of failing on the conflict.",
        ),
        Property::new(
            "wait_for",
            Type::Object(vec![
                Property::new("condition", Type::String)
                    .describe("A status condition to wait for, Type=Status (Ready=True)."),
                Property::new("rollout", Type::Bool)
                    .describe("Wait for a Deployment, StatefulSet or DaemonSet to roll out."),
                Property::new("timeout", Type::Duration).describe("Default 5m."),
            ]),
        )
        .describe("After create or update, wait until the object is ready."),
        Property::new("wait_for_deletion", Type::Bool)
            .describe("On delete, wait until the object is gone (finalizers have run)."),
        // Kept in the schema so that validate can say where it went.
        Property::new("adopt", Type::Bool)
            .describe("Replaced by `lifecycle.adopt` and `lifecycle.retain_on_destroy`."),
    ]
}

/// The `adopt` property became the lifecycle settings every type has.
fn moved_adopt(props: &Value) -> Vec<Diagnostic> {
    if props.get("adopt").is_none_or(Value::is_null) {
        return Vec::new();
    }
    vec![Diagnostic::error(
        "stack::moved_setting",
        "the `adopt` property is now the lifecycle setting `lifecycle.adopt`",
    )
    .with_field("adopt")
    .with_detail(
        "every resource type can adopt an existing object; `lifecycle.retain_on_destroy` \
         leaves it in place on destroy, as `adopt: true` did",
    )
    .with_help(
        "remove `adopt: true` from properties and add `lifecycle: {adopt: true, \
         retain_on_destroy: true}` to the resource",
    )]
}

/// The import id a create of `object` would give it, when it names one object.
fn adopt_id_of(shape: Shape<'_>, object: &Value) -> Option<String> {
    ObjectRef::of(object).map(|r| import_id(shape, &r))
}

fn manifest_schema() -> ResourceSchema {
    let mut properties = vec![
        Property::new("manifest", Type::Any)
            .describe("One object, inline: apiVersion, kind, metadata.name and the rest."),
        Property::new("file", Type::String).describe(
            "A YAML file of one or more objects, all managed by this resource (path relative \
             to the working directory).",
        ),
    ];
    properties.extend(common_properties());
    ResourceSchema {
        type_name: MANIFEST,
        description: "Any Kubernetes object, or every object of a YAML file.",
        properties,
        attributes: vec![
            Attribute::new("uid", "metadata.uid of the (first) object."),
            Attribute::new(
                "resource_version",
                "metadata.resourceVersion of the (first) object.",
            ),
            Attribute::new(
                "objects",
                "Ids of the objects managed, apiVersion/Kind/namespace/name.",
            ),
        ],
        data_source: false,
        managed: true,
    }
}

/// How a type's properties become objects: one typed kind, or manifests (inline or a
/// file of them).
#[derive(Clone, Copy)]
enum Shape<'k> {
    Typed(&'k TypedKind),
    Manifest,
}

/// Where an error about one object points, in the resource's properties.
fn object_field(shape: Shape<'_>, props: &Value, sub: &str) -> Option<String> {
    if let Shape::Typed(_) = shape {
        return match sub {
            "metadata.namespace" => Some("namespace".into()),
            _ => None,
        };
    }
    if props.get("manifest").is_some_and(|m| !m.is_null()) {
        Some(format!("manifest.{sub}"))
    } else {
        Some("file".into())
    }
}

fn with_field(err: ProviderError, field: Option<String>) -> ProviderError {
    match field {
        Some(f) if err.field.is_none() => err.with_field(f),
        _ => err,
    }
}

fn to_value<T: serde::Serialize>(o: &T) -> Value {
    Value::from_json(serde_json::to_value(o).unwrap_or_default())
}

/// One object's place in the cluster: the API to reach it and its reference.
struct Target {
    api: Api<DynamicObject>,
    r: ObjectRef,
}

impl KubernetesProvider {
    async fn client(&self) -> ProviderResult<Client> {
        self.cluster.client().await
    }

    /// The objects the desired properties describe.
    fn desired_objects(&self, shape: Shape<'_>, props: &Value) -> ProviderResult<Vec<Value>> {
        match shape {
            Shape::Typed(k) => Ok(vec![k.to_object(props)]),
            Shape::Manifest => manifest::objects(props),
        }
    }

    /// The objects a snapshot says were applied.
    fn applied_objects(&self, shape: Shape<'_>, props: &Value) -> Vec<Value> {
        match shape {
            Shape::Typed(k) => vec![k.to_object(props)],
            Shape::Manifest => manifest::applied_objects(props),
        }
    }

    /// Resolves an object's kind and scope. `Ok(None)`: the kind is not served and no
    /// CRD defines it, so the object is gone (only asked for with `gone_if_unserved`,
    /// when reading or deleting). Failing to ask is always an error.
    async fn target(
        &self,
        client: &Client,
        shape: Shape<'_>,
        props: &Value,
        obj: &Value,
        gone_if_unserved: bool,
    ) -> ProviderResult<Option<Target>> {
        let mut r = ObjectRef::of(obj).ok_or_else(|| {
            with_field(
                ProviderError::new("the object has no apiVersion, kind or metadata.name"),
                object_field(shape, props, ""),
            )
        })?;
        let field = || object_field(shape, props, "kind");
        let resolved = match discovery::resolve(client, &self.builtin, &r).await {
            Ok(Some(res)) => res,
            Ok(None) if gone_if_unserved => {
                discovery::unserved_means_gone(client, &r)
                    .await
                    .map_err(|e| with_field(e, field()))?;
                return Ok(None);
            }
            Ok(None) => return Err(with_field(discovery::not_served(&r), field())),
            Err(e) => return Err(with_field(e, field())),
        };
        let api = if resolved.namespaced {
            let Some(ns) = r.namespace.clone() else {
                return Err(with_field(
                    ProviderError::new(format!(
                        "{} is a namespaced kind, but {} {} has no namespace",
                        r.kind, r.kind, r.name
                    ))
                    .with_help("set metadata.namespace"),
                    object_field(shape, props, "metadata.namespace"),
                ));
            };
            Api::namespaced_with(client.clone(), &ns, &resolved.resource)
        } else {
            r.namespace = None;
            Api::all_with(client.clone(), &resolved.resource)
        };
        Ok(Some(Target { api, r }))
    }

    async fn get(&self, t: &Target) -> ProviderResult<Option<Value>> {
        t.api
            .get_opt(&t.r.name)
            .await
            .map(|o| o.as_ref().map(to_value))
            .map_err(|e| api_error(&format!("read {}", t.r.describe()), e))
    }

    /// Applies every object; `previous` are the objects this resource applied last time,
    /// which may exist without a trustplane field manager (just imported), and whose
    /// fields trustplane takes back from another manager that changed them since.
    async fn apply_all(
        &self,
        ctx: &OpContext,
        shape: Shape<'_>,
        props: &Value,
        objects: &[Value],
        previous: &[Value],
    ) -> ProviderResult<Vec<Value>> {
        let known: Vec<String> = previous
            .iter()
            .filter_map(ObjectRef::of)
            .map(|r| r.id())
            .collect();
        let client = self.client().await?;
        let force = props.get("force").and_then(Value::as_bool).unwrap_or(false);
        let mut targets = Vec::new();
        for obj in objects {
            let t = self
                .target(&client, shape, props, obj, false)
                .await?
                .expect("unserved kinds are errors here");
            if !known.contains(&t.r.id()) {
                if let Some(existing) = self.get(&t).await? {
                    if !managers(&existing).iter().any(|m| m == FIELD_MANAGER) {
                        return Err(ProviderError::new(format!(
                            "{} already exists and was not created by trustplane",
                            t.r.describe()
                        ))
                        .with_help(format!(
                            "to manage it from this stack, adopt it first: trustplane import {} {}",
                            ctx.address,
                            import_id(shape, &t.r)
                        )));
                    }
                }
            }
            ctx.progress(&format!("applying {}", t.r.describe()));
            let mut params = PatchParams::apply(FIELD_MANAGER);
            params.force = force;
            let body = apply::ssa_body(obj);
            match t.api.patch(&t.r.name, &params, &Patch::Apply(&body)).await {
                Ok(_) => {}
                Err(e) => {
                    let live = self.get(&t).await?;
                    let Some(taken) = reclaimable(&e, &t.r, previous, live.as_ref()) else {
                        return Err(apply_error(shape, props, &t.r, e));
                    };
                    // Every conflicting field was trustplane's at the last apply: take
                    // those back, and nothing else conflicts, so forcing takes no more.
                    for c in &taken {
                        ctx.progress(&format!(
                            "{}: reclaiming {} from {}",
                            t.r.describe(),
                            apply::describe_field(&c.field),
                            c.manager
                        ));
                    }
                    params.force = true;
                    t.api
                        .patch(&t.r.name, &params, &Patch::Apply(&body))
                        .await
                        .map_err(|e| apply_error(shape, props, &t.r, e))?;
                }
            }
            targets.push(t);
        }
        for t in &targets {
            if t.r.kind == "Certificate" {
                self.renew_failed_certificate(ctx, t).await?;
            }
        }
        let mut live = Vec::new();
        for t in &targets {
            let obj = match wait::spec(props) {
                Some(spec) => self.wait_until(ctx, &client, t, &spec).await?,
                None => self.get(t).await?.unwrap_or(Value::Null),
            };
            live.push(obj);
        }
        Ok(live)
    }

    /// Polls the object until it satisfies `spec`, or fails at the timeout with its last
    /// conditions and Events.
    async fn wait_until(
        &self,
        ctx: &OpContext,
        client: &Client,
        t: &Target,
        spec: &wait::WaitSpec,
    ) -> ProviderResult<Value> {
        let deadline = Instant::now() + spec.timeout;
        let mut attempt = 0;
        let mut last_note = String::new();
        loop {
            let obj = self.get(t).await?.ok_or_else(|| {
                ProviderError::new(format!(
                    "{} disappeared while waiting for {}",
                    t.r.describe(),
                    spec.describe()
                ))
            })?;
            let why = match wait::check(spec, &obj) {
                Ok(()) => return Ok(obj),
                Err(why) => why,
            };
            let issuing = wait::condition_is(&obj, "Issuing", "True");
            if let Some(failure) = wait::issuance_failure(&obj).filter(|_| !issuing) {
                // cert-manager will not try again before its backoff (an hour or more).
                // The request's reason and message say why; the Certificate only echoes it.
                let why = self.failed_request(client, &t.r).await.unwrap_or(failure);
                return Err(ProviderError::new(format!(
                    "issuance of {} failed: {why}",
                    t.r.describe()
                ))
                .with_help(
                    "fix the cause (often an IAM role or policy of the issuer that has not \
                     propagated yet; `kubectl describe certificaterequest` shows the whole \
                     message); the next apply asks cert-manager to issue again, as \
                     `cmctl renew` does",
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                let events = self.events(client, &t.r).await;
                let mut detail = format!("last conditions: {}", wait::conditions_summary(&obj));
                if let Some(cr) = self.failed_request(client, &t.r).await {
                    detail.push('\n');
                    detail.push_str(&cr);
                }
                if events.is_empty() {
                    detail.push_str("\nno events about it");
                } else {
                    detail.push_str("\nlast events:");
                    for e in events {
                        detail.push_str("\n  ");
                        detail.push_str(&e);
                    }
                }
                return Err(ProviderError::new(format!(
                    "timed out after {} waiting for {} on {}: {why}\n{detail}",
                    crate::duration::format(spec.timeout),
                    spec.describe(),
                    t.r.describe()
                ))
                .with_field("wait_for")
                .with_help("raise wait_for.timeout, or see why the object is not ready with kubectl describe"));
            }
            let note = format!(
                "waiting for {} on {} ({why})",
                spec.describe(),
                t.r.describe()
            );
            if note != last_note {
                ctx.progress(&note);
                last_note = note;
            }
            tokio::time::sleep(wait::backoff(attempt).min(deadline - now)).await;
            attempt += 1;
        }
    }

    /// The current CertificateRequest of a Certificate, summarised, best effort: the
    /// request says why an issuance failed (aws-privateca-issuer's error).
    async fn failed_request(&self, client: &Client, r: &ObjectRef) -> Option<String> {
        if r.kind != "Certificate" {
            return None;
        }
        let gvk = GroupVersionKind::gvk(r.group(), r.version(), "CertificateRequest");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "certificaterequests");
        let ns = r.namespace.as_deref()?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let list = api.list(&ListParams::default()).await.ok()?;
        let requests: Vec<Value> = list.items.iter().map(to_value).collect();
        wait::current_request(&requests, &r.name).map(wait::request_summary)
    }

    /// `cmctl renew` for a Certificate whose last issuance failed: its `Issuing`
    /// condition set True (ManuallyTriggered) by a write of the whole object to the
    /// status subresource, so cert-manager issues now instead of after its backoff.
    async fn renew_failed_certificate(&self, ctx: &OpContext, t: &Target) -> ProviderResult<()> {
        let Some(live) = self.get(t).await? else {
            return Ok(());
        };
        let Some(failure) = wait::issuance_failure(&live) else {
            return Ok(());
        };
        if wait::condition_is(&live, "Issuing", "True") {
            return Ok(());
        }
        ctx.progress(&format!(
            "re-issuing {}: last issuance failed: {failure}",
            t.r.describe()
        ));
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let renewed: DynamicObject =
            serde_json::from_value(wait::with_renew_triggered(&live, &now).to_json())
                .map_err(|e| ProviderError::new(format!("re-issue {}: {e}", t.r.describe())))?;
        t.api
            .replace_status(&t.r.name, &PostParams::default(), &renewed)
            .await
            .map_err(|e| api_error(&format!("trigger re-issuance of {}", t.r.describe()), e))?;
        Ok(())
    }

    /// The plan's notes for one resource, from the cluster, read-only: a Certificate
    /// that will be issued again, the fields an apply will reclaim from other managers,
    /// and the conflicts it would fail on (found by a server-side dry run).
    async fn plan_notes(
        &self,
        shape: Shape<'_>,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        if desired.contains_unknown() {
            return Ok(Vec::new());
        }
        let objects = self.desired_objects(shape, desired)?;
        let previous = self.applied_objects(shape, &prior.properties);
        let force = desired
            .get("force")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // Notes are best effort: a cluster that cannot be reached now is reported by
        // the refresh or the apply, not here.
        let Ok(client) = self.client().await else {
            return Ok(Vec::new());
        };
        let mut notes = Vec::new();
        for obj in &objects {
            // Kinds not served yet (a CRD of the same apply) have nothing to compare.
            let Ok(Some(t)) = self.target(&client, shape, desired, obj, false).await else {
                continue;
            };
            let live = self.get(&t).await.ok().flatten();
            if t.r.kind == "Certificate" {
                if let Some(failure) = live.as_ref().and_then(wait::issuance_failure) {
                    notes.push(format!(
                        "~ {}: re-issue: last issuance failed: {failure}",
                        t.r.describe()
                    ));
                }
            }
            // Only an object this resource applied before can conflict with an apply
            // that the plan shows as a change; a create of an existing object is
            // refused by the apply itself.
            if force || live.is_none() || previous.is_empty() {
                continue;
            }
            let mut params = PatchParams::apply(FIELD_MANAGER);
            params.dry_run = true;
            let body = apply::ssa_body(obj);
            let Err(e) = t.api.patch(&t.r.name, &params, &Patch::Apply(&body)).await else {
                continue;
            };
            // Refused for another reason (a namespace made by the same apply, the cluster
            // unreachable): the apply reports it in its place.
            let kube::Error::Api(status) = &e else {
                continue;
            };
            if status.code != 409 {
                continue;
            }
            match reclaimable(&e, &t.r, &previous, live.as_ref()) {
                Some(taken) => notes.extend(taken.iter().map(|c| {
                    format!(
                        "~ {}: {}: reclaimed from {}",
                        t.r.describe(),
                        apply::describe_field(&c.field),
                        c.manager
                    )
                })),
                None => {
                    let conflicts = apply::field_conflicts(&status.message);
                    let owned = last_applied_fields(&t.r, &previous, live.as_ref());
                    for c in conflicts
                        .iter()
                        .filter(|c| !apply::is_owned(&c.field, &owned))
                    {
                        notes.push(format!(
                            "! {}: {} is owned by {}: apply will fail on this conflict; set \
                             `force: true` to take it over, or stop setting it",
                            t.r.describe(),
                            apply::describe_field(&c.field),
                            c.manager
                        ));
                    }
                    if conflicts.is_empty() {
                        notes.push(format!(
                            "! {}: apply will fail: {}; set `force: true` to take the fields over",
                            t.r.describe(),
                            status.message
                        ));
                    }
                }
            }
        }
        Ok(notes)
    }

    /// The last few Events about an object, best effort: failures to list them yield none.
    async fn events(&self, client: &Client, r: &ObjectRef) -> Vec<String> {
        let gvk = GroupVersionKind::gvk("", "v1", "Event");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "events");
        let ns = r.namespace.as_deref().unwrap_or("default");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let selector = format!("involvedObject.name={}", r.name);
        let list = match api.list(&ListParams::default().fields(&selector)).await {
            Ok(l) => l,
            // Some servers do not take this field selector: filter here instead.
            Err(_) => match api.list(&ListParams::default()).await {
                Ok(l) => l,
                Err(_) => return Vec::new(),
            },
        };
        let events: Vec<Value> = list
            .items
            .iter()
            .map(to_value)
            .filter(|e| wait::event_is_about(e, &r.kind, &r.name))
            .collect();
        wait::events_summary(&events, 5)
    }

    /// Deletes one object if trustplane manages it, waiting for it to go if asked.
    async fn delete_one(
        &self,
        ctx: &OpContext,
        client: &Client,
        shape: Shape<'_>,
        props: &Value,
        obj: &Value,
    ) -> ProviderResult<()> {
        let Some(t) = self.target(client, shape, props, obj, true).await? else {
            return Ok(());
        };
        let Some(live) = self.get(&t).await? else {
            return Ok(());
        };
        if !managers(&live).iter().any(|m| m == FIELD_MANAGER) {
            ctx.progress(&format!(
                "leaving {} in place: trustplane does not manage it",
                t.r.describe()
            ));
            return Ok(());
        }
        ctx.progress(&format!("deleting {}", t.r.describe()));
        match t.api.delete(&t.r.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(api_error(&format!("delete {}", t.r.describe()), e)),
        }
        if props.get("wait_for_deletion").and_then(Value::as_bool) == Some(true) {
            let timeout = wait::timeout(props);
            let deadline = Instant::now() + timeout;
            let mut attempt = 0;
            while let Some(live) = self.get(&t).await? {
                let now = Instant::now();
                if now >= deadline {
                    let finalizers = live
                        .get("metadata")
                        .and_then(|m| m.get("finalizers"))
                        .map(Value::render)
                        .unwrap_or_else(|| "none".into());
                    return Err(ProviderError::new(format!(
                        "timed out after {} waiting for {} to be deleted (finalizers: {finalizers})",
                        crate::duration::format(timeout),
                        t.r.describe()
                    ))
                    .with_help("a finalizer's controller may be gone; see kubectl describe"));
                }
                ctx.progress(&format!("waiting for {} to be deleted", t.r.describe()));
                tokio::time::sleep(wait::backoff(attempt).min(deadline - now)).await;
                attempt += 1;
            }
        }
        Ok(())
    }

    fn snapshot(&self, shape: Shape<'_>, props: Value, live: &[Value]) -> Snapshot {
        let first = live.first().cloned().unwrap_or(Value::Null);
        let meta = first.get("metadata").cloned().unwrap_or(Value::Null);
        let mut attributes = Value::map();
        attributes.set_path("uid", meta.get_str("uid").unwrap_or_default().into());
        attributes.set_path(
            "resource_version",
            meta.get_str("resourceVersion").unwrap_or_default().into(),
        );
        let id = match shape {
            Shape::Typed(k) => {
                k.extra_attributes(&first, &mut attributes);
                k.id(&props).unwrap_or_default()
            }
            Shape::Manifest => {
                let ids: Vec<Value> = live
                    .iter()
                    .filter_map(ObjectRef::of)
                    .map(|r| Value::from(r.id()))
                    .collect();
                let first_id = ids
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                attributes.set_path("objects", Value::List(ids));
                first_id
            }
        };
        Snapshot {
            id,
            properties: props,
            attributes,
        }
    }

    /// Reads the live objects of a snapshot: `None` when all are gone; a gone object of a
    /// file reads as null.
    async fn read_live(
        &self,
        shape: Shape<'_>,
        props: &Value,
        applied: &[Value],
    ) -> ProviderResult<Option<Vec<Value>>> {
        let client = self.client().await?;
        let mut live = Vec::new();
        for obj in applied {
            let found = match self.target(&client, shape, props, obj, true).await? {
                Some(t) => self.get(&t).await?,
                None => None,
            };
            live.push(found.unwrap_or(Value::Null));
        }
        Ok(live.iter().any(|o| !o.is_null()).then_some(live))
    }
}

/// The import id of an object for a resource type.
fn import_id(shape: Shape<'_>, r: &ObjectRef) -> String {
    match (shape, &r.namespace) {
        (Shape::Manifest, _) => r.id(),
        (_, Some(ns)) => format!("{ns}/{}", r.name),
        (_, None) => r.name.clone(),
    }
}

/// The fields trustplane applied to `r` last time: those of the object recorded in state,
/// provided trustplane is a field manager of the live object (an object only imported
/// was never applied by trustplane, so none of its fields were trustplane's).
fn last_applied_fields(r: &ObjectRef, previous: &[Value], live: Option<&Value>) -> Vec<String> {
    let applied_by_us = live.is_some_and(|l| managers(l).iter().any(|m| m == FIELD_MANAGER));
    let before = previous
        .iter()
        .find(|o| ObjectRef::of(o).is_some_and(|p| p.id() == r.id()));
    match before {
        Some(b) if applied_by_us => apply::field_paths(&Value::from_json(apply::ssa_body(b))),
        _ => Vec::new(),
    }
}

/// The conflicts of a refused apply, when every one is on a field trustplane applied to
/// this object last time (another manager took it over since); `None` for any other
/// error or when some conflicting field was never trustplane's.
fn reclaimable(
    e: &kube::Error,
    r: &ObjectRef,
    previous: &[Value],
    live: Option<&Value>,
) -> Option<Vec<apply::FieldConflict>> {
    let kube::Error::Api(s) = e else {
        return None;
    };
    if s.code != 409 {
        return None;
    }
    let owned = last_applied_fields(r, previous, live);
    let conflicts = apply::field_conflicts(&s.message);
    let all_ours =
        !conflicts.is_empty() && conflicts.iter().all(|c| apply::is_owned(&c.field, &owned));
    all_ours.then_some(conflicts)
}

/// An apply failure; a conflict names the other field managers.
fn apply_error(shape: Shape<'_>, props: &Value, r: &ObjectRef, e: kube::Error) -> ProviderError {
    if let kube::Error::Api(s) = &e {
        if s.code == 409 {
            let owners = apply::conflict_managers(&s.message);
            let who = if owners.is_empty() {
                "another field manager".to_string()
            } else {
                owners
                    .iter()
                    .map(|o| format!("{o:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return with_field(
                ProviderError::new(format!(
                    "cannot apply {}: fields are owned by {who}: {}",
                    r.describe(),
                    s.message
                ))
                .with_help("set `force: true` on the resource to take these fields over, or stop setting them"),
                object_field(shape, props, ""),
            );
        }
    }
    api_error(&format!("apply {}", r.describe()), e)
}

/// Every `kubernetes` type, in the order `schemas` lists them.
static TYPES: &[&dyn ResourceType<KubernetesProvider>] = &[
    &kinds::KINDS[0],
    &kinds::KINDS[1],
    &manifest::Manifest,
    &kinds::KINDS[2],
    &kinds::KINDS[3],
];

#[async_trait]
impl TypedProvider for KubernetesProvider {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn types(&self) -> &'static [&'static dyn ResourceType<Self>] {
        TYPES
    }

    fn settings(&self) -> Vec<super::Property> {
        client::declared_settings()
    }

    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        self.cluster
            .configure(Settings::from_value(settings)?)
            .await;
        self.builtin.clear();
        Ok(())
    }

    fn limits(&self) -> super::Limits {
        self.cluster.limits()
    }

    fn endpoint(&self) -> Option<String> {
        self.cluster.endpoint()
    }
}

/// The attributes an in-place update changes, unknown until it is made.
fn planned_update(mut d: DiffResult) -> DiffResult {
    if d.requires_replace.is_empty() && !d.changed.is_empty() {
        if let Value::Map(m) = &mut d.planned_attributes {
            for k in ["resource_version", "ready"] {
                if m.contains_key(k) {
                    m.insert(k.into(), Value::Unknown);
                }
            }
        }
    }
    d
}

/// The operations every Kubernetes type shares, given how its properties become objects.
impl KubernetesProvider {
    async fn create_objects(
        &self,
        ctx: &OpContext,
        shape: Shape<'_>,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let objects = self.desired_objects(shape, desired)?;
        let live = self.apply_all(ctx, shape, desired, &objects, &[]).await?;
        let props = manifest::with_objects(desired, &objects);
        Ok(self.snapshot(shape, props, &live))
    }

    async fn read_objects(
        &self,
        _ctx: &OpContext,
        shape: Shape<'_>,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        let applied = self.applied_objects(shape, &prior.properties);
        let Some(live) = self.read_live(shape, &prior.properties, &applied).await? else {
            return Ok(None);
        };
        let projected: Vec<Value> = live
            .iter()
            .zip(&applied)
            .map(|(l, a)| {
                if l.is_null() {
                    Value::Null
                } else {
                    apply::project(l, a)
                }
            })
            .collect();
        let props = match shape {
            Shape::Typed(k) => k.props_from_live(&prior.properties, &projected[0]),
            Shape::Manifest => manifest::props_from_live(&prior.properties, projected),
        };
        let present: Vec<Value> = live.into_iter().filter(|o| !o.is_null()).collect();
        let mut snap = self.snapshot(shape, props, &present);
        if snap.id.is_empty() {
            snap.id = prior.id.clone();
        }
        Ok(Some(snap))
    }

    async fn update_objects(
        &self,
        ctx: &OpContext,
        shape: Shape<'_>,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let objects = self.desired_objects(shape, desired)?;
        let before = self.applied_objects(shape, &prior.properties);
        let live = self
            .apply_all(ctx, shape, desired, &objects, &before)
            .await?;
        // Objects dropped from a file are deleted, newest first.
        let now: Vec<String> = objects
            .iter()
            .filter_map(ObjectRef::of)
            .map(|r| r.id())
            .collect();
        let client = self.client().await?;
        for old in before.iter().rev() {
            if ObjectRef::of(old).is_some_and(|r| !now.contains(&r.id())) {
                self.delete_one(ctx, &client, shape, &prior.properties, old)
                    .await?;
            }
        }
        let props = manifest::with_objects(desired, &objects);
        Ok(self.snapshot(shape, props, &live))
    }

    async fn delete_objects(
        &self,
        ctx: &OpContext,
        shape: Shape<'_>,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        let objects = self.applied_objects(shape, &prior.properties);
        let client = self.client().await?;
        // Reverse order: a file lists a namespace or CRD before what lives in it.
        for obj in objects.iter().rev() {
            self.delete_one(ctx, &client, shape, &prior.properties, obj)
                .await?;
        }
        Ok(())
    }

    async fn import_objects(
        &self,
        _ctx: &OpContext,
        shape: Shape<'_>,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        let bad_id = |msg: String| ProviderError::new(msg);
        let (object, typed): (Value, Option<&TypedKind>) = if let Shape::Typed(k) = shape {
            let (ns, name) = object::split_namespaced_id(id).map_err(bad_id)?;
            let needs_ns = k.namespacing == kinds::Namespacing::Required;
            if (needs_ns && ns.is_none())
                || (k.namespacing == kinds::Namespacing::None && ns.is_some())
            {
                return Err(bad_id(format!(
                    "{id:?} is not an id of a {}: expected {}",
                    k.type_name,
                    if needs_ns { "namespace/name" } else { "name" }
                )));
            }
            let mut props = Value::map();
            props.set_path("name", name.into());
            if let Some(ns) = ns {
                props.set_path("namespace", ns.into());
            }
            (k.to_object(&props), Some(k))
        } else {
            let r = ObjectRef::parse_id(id).map_err(bad_id)?;
            let mut o = Value::map();
            o.set_path("apiVersion", r.api_version.clone().into());
            o.set_path("kind", r.kind.clone().into());
            o.set_path("metadata.name", r.name.clone().into());
            if let Some(ns) = &r.namespace {
                o.set_path("metadata.namespace", ns.clone().into());
            }
            (o, None)
        };
        let client = self.client().await?;
        let props = Value::map();
        let Some(t) = self.target(&client, shape, &props, &object, false).await? else {
            return Ok(None);
        };
        let Some(live) = self.get(&t).await? else {
            return Ok(None);
        };
        let props = match typed {
            Some(k) => k.props_from_import(&live),
            None => {
                let mut p = Value::map();
                p.set_path("manifest", manifest::import_manifest(&live));
                p
            }
        };
        Ok(Some(self.snapshot(shape, props, &[live])))
    }
}

/// The identity of the objects a type's properties name, one per line.
fn objects_identity(objects: &[Value]) -> Option<String> {
    let ids: Option<Vec<String>> = objects
        .iter()
        .map(|o| ObjectRef::of(o).map(|r| r.id()))
        .collect();
    Some(ids?.join("\n"))
}

/// A typed kind as a resource type.
#[async_trait]
impl ResourceType<KubernetesProvider> for TypedKind {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> ResourceSchema {
        kinds::schemas(&common_properties())
            .into_iter()
            .find(|s| s.type_name == self.type_name)
            .expect("every typed kind has a schema")
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        let mut out = kinds::validate(self.type_name, properties);
        out.extend(wait::validate(properties));
        out.extend(moved_adopt(properties));
        out
    }

    fn identity(&self, properties: &Value) -> Option<String> {
        objects_identity(&[self.to_object(properties)])
    }

    fn adopt_id(&self, desired: &Value) -> Option<String> {
        adopt_id_of(Shape::Typed(self), &self.to_object(desired))
    }

    /// A Certificate whose last issuance failed is planned as an update: the apply asks
    /// cert-manager to issue again, so a rerun after the cause is fixed is not a no-op.
    fn diff(
        &self,
        _: &KubernetesProvider,
        schema: &ResourceSchema,
        prior: &Snapshot,
        desired: &Value,
    ) -> DiffResult {
        let mut d = default_diff(schema, prior, desired);
        if kinds::issuance_failed(&prior.attributes) && d.changed.is_empty() {
            d.changed.push(kinds::REISSUE.into());
        }
        planned_update(d)
    }

    async fn plan_details(
        &self,
        p: &KubernetesProvider,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        p.plan_notes(Shape::Typed(self), prior, desired).await
    }

    async fn create(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        p.create_objects(ctx, Shape::Typed(self), desired).await
    }

    async fn read(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        p.read_objects(ctx, Shape::Typed(self), prior).await
    }

    async fn update(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        p.update_objects(ctx, Shape::Typed(self), prior, desired)
            .await
    }

    async fn delete(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        p.delete_objects(ctx, Shape::Typed(self), prior).await
    }

    async fn import(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        p.import_objects(ctx, Shape::Typed(self), id).await
    }
}

/// `k8s.manifest`: any object, or every object of a file.
#[async_trait]
impl ResourceType<KubernetesProvider> for manifest::Manifest {
    fn type_name(&self) -> &'static str {
        MANIFEST
    }

    fn schema(&self) -> ResourceSchema {
        manifest_schema()
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        let mut out = manifest::validate(properties);
        out.extend(wait::validate(properties));
        out.extend(moved_adopt(properties));
        out
    }

    /// An inline manifest names its object; a file's objects are not adopted.
    fn adopt_id(&self, desired: &Value) -> Option<String> {
        let object = desired.get("manifest").filter(|m| !m.is_null())?;
        adopt_id_of(Shape::Manifest, object)
    }

    fn identity(&self, properties: &Value) -> Option<String> {
        let objects = match properties.get("manifest") {
            Some(m) if !m.is_null() => vec![m.clone()],
            // A snapshot records the objects applied from its file.
            _ => match properties.get(manifest::DOCUMENTS).and_then(Value::as_list) {
                Some(applied) => applied.to_vec(),
                None => manifest::read_file(properties.get_str("file")?).ok()?,
            },
        };
        objects_identity(&objects)
    }

    /// A Secret's `data` and `stringData`, wherever a Secret appears (an inline manifest,
    /// a file's documents): each key is a secret of its own.
    fn secret_paths(&self, properties: &Value) -> Vec<PropertyPath> {
        let root = PropertyPath::root();
        let mut objects = vec![(root.key("manifest"), properties.get("manifest"))];
        if let Some(docs) = properties.get(manifest::DOCUMENTS).and_then(Value::as_list) {
            let at = root.key(manifest::DOCUMENTS);
            objects.extend(docs.iter().enumerate().map(|(i, d)| (at.index(i), Some(d))));
        }
        objects
            .into_iter()
            .filter(|(_, obj)| obj.is_some_and(manifest::is_secret))
            .flat_map(|(at, _)| [at.key("data"), at.key("stringData")])
            .collect()
    }

    async fn plan_details(
        &self,
        p: &KubernetesProvider,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        p.plan_notes(Shape::Manifest, prior, desired).await
    }

    /// A file's objects are recorded under `documents`.
    fn recorded(&self, desired: &Value) -> Value {
        if desired.get_str("file").is_some() {
            if let Ok(objs) = manifest::objects(desired) {
                return manifest::with_objects(desired, &objs);
            }
        }
        desired.clone()
    }

    fn diff(
        &self,
        _: &KubernetesProvider,
        schema: &ResourceSchema,
        prior: &Snapshot,
        desired: &Value,
    ) -> DiffResult {
        let mut effective = desired.clone();
        let read_in = desired.get(manifest::DOCUMENTS).is_some();
        if desired.get_str("file").is_some() && !read_in {
            match manifest::objects(desired) {
                Ok(objs) => effective = manifest::with_objects(desired, &objs),
                // Unreadable now: plan an update, which reports the error.
                Err(_) => effective.set_path(manifest::DOCUMENTS, Value::Unknown),
            }
        }
        let mut d = default_diff(schema, prior, &effective);
        if d.changed.iter().any(|c| c == "manifest") {
            let before = prior.properties.get("manifest").and_then(ObjectRef::of);
            let after = desired.get("manifest").and_then(ObjectRef::of);
            if before.is_some() && before != after {
                d.requires_replace.push("manifest".into());
                d.planned_attributes = super::unknown_attributes(schema);
            }
        }
        planned_update(d)
    }

    async fn create(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        p.create_objects(ctx, Shape::Manifest, desired).await
    }

    async fn read(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        p.read_objects(ctx, Shape::Manifest, prior).await
    }

    async fn update(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        p.update_objects(ctx, Shape::Manifest, prior, desired).await
    }

    async fn delete(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        p.delete_objects(ctx, Shape::Manifest, prior).await
    }

    async fn import(
        &self,
        p: &KubernetesProvider,
        ctx: &OpContext,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        p.import_objects(ctx, Shape::Manifest, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{mark_secrets, Provider};

    #[test]
    fn every_key_of_a_secret_is_secret_wherever_the_secret_is() {
        let p = KubernetesProvider::default();
        let schema = p
            .schemas()
            .into_iter()
            .find(|s| s.type_name == MANIFEST)
            .unwrap();
        let props: Value = serde_json::from_str(
            r#"{"manifest": {"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "cacerts", "namespace": "istio-system"},
                 "data": {"ca-key.pem": "a2V5", "ca-cert.pem": "Y2VydA=="}},
                "documents": [{"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1"}},
                              {"apiVersion": "v1", "kind": "Secret", "stringData": {"k": "v"}}]}"#,
        )
        .unwrap();
        let marked = mark_secrets(&p, &schema, props);
        let paths: Vec<String> = marked
            .sensitive_paths()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            paths,
            [
                "documents[1].stringData.k",
                r#"manifest.data["ca-cert.pem"]"#,
                r#"manifest.data["ca-key.pem"]"#,
            ]
        );
        assert_eq!(
            marked
                .get("manifest")
                .unwrap()
                .get("metadata")
                .unwrap()
                .get_str("name"),
            Some("cacerts"),
            "the rest stays readable"
        );
    }
}
