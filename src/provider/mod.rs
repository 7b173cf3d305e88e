//! The provider contract. A provider owns a family of resource types (`core.*`, `aws.*`,
//! `k8s.*`, `helm.*`) and knows nothing of stacks, graphs or plans: it is handed property
//! values and prior snapshots, and talks to the system it manages.
//!
//! Inside, each built-in provider is a table of resource types, one value per type
//! ([`resource_type`]), and declares its settings like a type declares its properties
//! ([`settings`]).

pub mod aws;
pub mod core;
pub mod helm;
pub mod kubernetes;
pub mod limits;
pub mod resource_type;
pub mod schema;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::diag::Diagnostic;
use crate::value::{Map, PropertyPath, Value};
pub use limits::Limits;
pub use resource_type::{ResourceType, TypedProvider};
pub use schema::{Attribute, Property, ResourceSchema, Type};

/// What the provider knows of one resource instance: its id, the properties as applied,
/// and its computed attributes.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub properties: Value,
    pub attributes: Value,
}

/// Per-operation context: who is asking, so providers can make creates idempotent
/// (PCA idempotency tokens, ownership tags) and report progress.
#[derive(Clone)]
pub struct OpContext {
    /// Resource address in the stack, e.g. `root_ca`.
    pub address: String,
    pub stack: String,
    /// Stack state lineage: stable across runs of the same stack and workspace.
    pub lineage: String,
    /// For the create of a replacement: the id of the object being replaced, which a
    /// create must never adopt as its result (the replace then deletes it).
    pub replacing: Option<String>,
    progress: Option<ProgressFn>,
}

/// Receives progress messages of a long operation.
pub type ProgressFn = Arc<dyn Fn(&str) + Send + Sync>;

impl OpContext {
    pub fn new(
        address: impl Into<String>,
        stack: impl Into<String>,
        lineage: impl Into<String>,
    ) -> Self {
        OpContext {
            address: address.into(),
            stack: stack.into(),
            lineage: lineage.into(),
            replacing: None,
            progress: None,
        }
    }

    #[must_use]
    pub fn replacing(mut self, id: impl Into<String>) -> Self {
        self.replacing = Some(id.into());
        self
    }

    #[must_use]
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// Reports what a long operation is doing ("waiting for PENDING_CERTIFICATE").
    pub fn progress(&self, message: &str) {
        if let Some(f) = &self.progress {
            f(message);
        }
    }

    /// The progress receiver as a function (one that drops messages when none is set).
    pub fn progress_fn(&self) -> &(dyn Fn(&str) + Send + Sync) {
        match &self.progress {
            Some(f) => f.as_ref(),
            None => &|_: &str| {},
        }
    }
}

/// The outcome of comparing a prior snapshot with desired properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiffResult {
    /// Property paths whose value changes.
    pub changed: Vec<String>,
    /// The subset of `changed` that cannot be updated in place.
    pub requires_replace: Vec<String>,
    /// Why the object must be replaced when no property change says so (display only).
    pub replace_reason: Option<String>,
    /// Attributes as they will be after apply (`Unknown` where not known yet).
    pub planned_attributes: Value,
}

impl DiffResult {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

/// A provider failure, in words a person can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    /// Property path the error is about, when there is one.
    pub field: Option<String>,
    pub help: Option<String>,
    /// Worth retrying (throttling, a transient network fault).
    pub retryable: bool,
    /// How long the service asked to wait before trying again (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
    /// The service throttled the call (nothing was done): worth more attempts than
    /// other failures, as the caller slows down.
    pub throttled: bool,
}

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            field: None,
            help: None,
            retryable: false,
            retry_after: None,
            throttled: false,
        }
    }
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    #[must_use]
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
    /// Retryable, not before `after`.
    #[must_use]
    pub fn retry_after(mut self, after: Option<std::time::Duration>) -> Self {
        self.retryable = true;
        self.retry_after = after;
        self
    }
    /// Throttled by the service: retryable (not before `after`), with more attempts.
    #[must_use]
    pub fn throttled(mut self, after: Option<std::time::Duration>) -> Self {
        self.throttled = true;
        self.retry_after(after)
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;

#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name, as used under `providers:` in a stack (`core`, `aws`).
    fn name(&self) -> &'static str;

    /// Every resource type this provider serves.
    fn schemas(&self) -> Vec<ResourceSchema>;

    /// Checks that need no I/O, beyond the schema's generic ones. Diagnostics carry a
    /// `field` path relative to the resource's `properties`; the engine adds the span.
    /// Unknown values may appear anywhere and must be accepted.
    fn validate(&self, _type_name: &str, _properties: &Value) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// The settings `providers.<name>` of a stack may hold: names, types, which are
    /// required, docs. `trustplane validate` checks a stack's settings against them.
    fn settings(&self) -> Vec<Property> {
        Vec::new()
    }

    /// Applies the stack's `providers.<name>` settings. Called once before any I/O.
    async fn configure(&self, _settings: &Value) -> ProviderResult<()> {
        Ok(())
    }

    /// How long one attempt may take and how many attempts an operation gets, from the
    /// provider's settings. The engine retries retryable errors within these bounds.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Where the provider's requests go (a URL, a kube context), for error messages.
    fn endpoint(&self) -> Option<String> {
        None
    }

    /// Compares a prior snapshot with desired properties. The default compares values and
    /// marks `force_new` properties as requiring replacement; providers override it to
    /// compare semantically (policy documents) or to plan computed attributes.
    fn diff(&self, schema: &ResourceSchema, prior: &Snapshot, desired: &Value) -> DiffResult {
        default_diff(schema, prior, desired)
    }

    /// Creates the resource; returns what now exists.
    async fn create(
        &self,
        ctx: &OpContext,
        type_name: &str,
        desired: &Value,
    ) -> ProviderResult<Snapshot>;

    /// Reads the live resource: `None` if it no longer exists.
    async fn read(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>>;

    /// Updates in place the properties listed as changed.
    async fn update(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot>;

    /// Deletes the resource. Deleting something already gone is not an error.
    async fn delete(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<()>;

    /// Reads an existing object by its id, to adopt it into state.
    async fn import(
        &self,
        ctx: &OpContext,
        type_name: &str,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        let prior = Snapshot {
            id: id.to_string(),
            ..Snapshot::default()
        };
        self.read(ctx, type_name, &prior).await
    }

    /// Looks up the object a create of `desired` would make, so `lifecycle.adopt` can take
    /// it into state instead of failing. `Ok(None)` only when it definitely does not exist;
    /// any other failure is an error. Defaults to "this type cannot adopt".
    async fn find(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        _desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        Err(cannot_adopt(type_name))
    }
    /// A stable name of the object a resource manages (`apps/v1/Deployment/ns/name`), so
    /// the engine can refuse two resources managing the same object, and a
    /// create-before-destroy replacement whose new object would be the old one. `None`:
    /// no such name (assigned by the system on create, like an ARN; not known before
    /// apply; or nothing nameable). A resource that manages several objects returns one
    /// name per line.
    fn identity(&self, _type_name: &str, _properties: &Value) -> Option<String> {
        None
    }

    /// Extra lines for a planned change, shown under it in the plan: a Helm release's
    /// rendered-manifest diff, object by object. May do read-only I/O. `prior` is empty
    /// (default) for a create; `desired` holds real values, secrets included, and the
    /// lines must not.
    async fn plan_details(
        &self,
        _type_name: &str,
        _prior: &Snapshot,
        _desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        Ok(Vec::new())
    }

    /// The properties as a snapshot would record them, for comparing with state (a
    /// manifest file's objects read in). May read local files; no network. Defaults to
    /// the properties as given.
    fn recorded(&self, _type_name: &str, desired: &Value) -> Value {
        desired.clone()
    }

    /// Paths of properties that hold secrets whatever the stack says (a Kubernetes
    /// Secret's `data`), beyond the schema's `sensitive` properties. The engine marks them
    /// secret: never stored or printed in the clear.
    fn secret_paths(&self, _type_name: &str, _properties: &Value) -> Vec<PropertyPath> {
        Vec::new()
    }

    /// Paths of computed attributes that are secrets because of what they are made from
    /// (the digest of a file whose content is secret). `properties` carry the marks.
    fn secret_attributes(&self, _type_name: &str, _properties: &Value) -> Vec<PropertyPath> {
        Vec::new()
    }

    /// Restarts what an existing object runs, so it reads again what it reads only at
    /// start (istiod and its `cacerts`). Defaults to "cannot restart".
    async fn restart(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        _prior: &Snapshot,
    ) -> ProviderResult<()> {
        Err(cannot_restart(type_name))
    }

    /// Looks up a data source (`mode: data`). Defaults to "not a data source".
    async fn read_data(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        _properties: &Value,
    ) -> ProviderResult<Value> {
        Err(ProviderError::new(format!(
            "{type_name} cannot be used with mode: data"
        )))
    }
}

/// An error and its causes as one sentence (`a: b: c`): a client's own message is often
/// only the outermost ("client error (Connect)"), the reason is in its sources.
pub(crate) fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The error of a type that runs nothing to restart.
pub fn cannot_restart(type_name: &str) -> ProviderError {
    ProviderError::new(format!("{type_name} cannot restart"))
}

/// The error of a type whose objects cannot be found by their properties (the system
/// names them on create): `lifecycle.adopt` has nothing to look for.
pub fn cannot_adopt(type_name: &str) -> ProviderError {
    ProviderError::new(format!(
        "{type_name} cannot adopt an existing object: its properties do not name one"
    ))
    .with_help(
        "remove lifecycle.adopt, and take the existing object into state with          `trustplane import <address> <id>` instead",
    )
}
/// The objects named by both identities (one name per line), in the order of `a`.
pub fn shared_objects<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let theirs: std::collections::BTreeSet<&str> = b.lines().filter(|l| !l.is_empty()).collect();
    a.lines()
        .filter(|l| !l.is_empty() && theirs.contains(l))
        .collect()
}

/// `properties` with every secret marked: the schema's `sensitive` properties and the
/// provider's [`Provider::secret_paths`].
pub fn mark_secrets(
    provider: &dyn Provider,
    schema: &ResourceSchema,
    mut properties: Value,
) -> Value {
    for p in schema.properties.iter().filter(|p| p.sensitive) {
        properties.mark_at(&PropertyPath::root().key(p.name));
    }
    // Providers see clear values; copying them is needed only when some are marked.
    let secret_paths = if properties.contains_sensitive() {
        provider.secret_paths(schema.type_name, &properties.unmarked())
    } else {
        provider.secret_paths(schema.type_name, &properties)
    };
    for path in secret_paths {
        properties.mark_at(&path);
    }
    properties
}

/// `attributes` with the provider's [`Provider::secret_attributes`] marked, given the
/// marked `properties`.
pub fn mark_secret_attributes(
    provider: &dyn Provider,
    type_name: &str,
    properties: &Value,
    mut attributes: Value,
) -> Value {
    for path in provider.secret_attributes(type_name, properties) {
        attributes.mark_at(&path);
    }
    attributes
}

/// Value comparison of top-level properties, honouring `force_new`.
pub fn default_diff(schema: &ResourceSchema, prior: &Snapshot, desired: &Value) -> DiffResult {
    let empty = Map::new();
    let before = prior.properties.as_map().unwrap_or(&empty);
    let after = desired.as_map().unwrap_or(&empty);
    let mut changed = Vec::new();
    let mut requires_replace = Vec::new();
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let b = before.get(key).unwrap_or(&Value::Null);
        let a = after.get(key).unwrap_or(&Value::Null);
        if b != a {
            changed.push(key.clone());
            if schema.property(key).is_some_and(|p| p.force_new) {
                requires_replace.push(key.clone());
            }
        }
    }
    let planned_attributes = if requires_replace.is_empty() {
        prior.attributes.clone()
    } else {
        unknown_attributes(schema)
    };
    DiffResult {
        changed,
        requires_replace,
        replace_reason: None,
        planned_attributes,
    }
}

/// Every attribute of the schema as unknown: what a create plans.
pub fn unknown_attributes(schema: &ResourceSchema) -> Value {
    Value::Map(
        schema
            .attributes
            .iter()
            .map(|a| (a.name.to_string(), Value::Unknown))
            .collect(),
    )
}

/// All providers known to this build, and which one serves each resource type.
pub struct Registry {
    providers: Vec<Arc<dyn Provider>>,
    schemas: BTreeMap<&'static str, (usize, ResourceSchema)>,
}

impl Registry {
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Registry {
        let mut schemas = BTreeMap::new();
        for (i, p) in providers.iter().enumerate() {
            for s in p.schemas() {
                schemas.insert(s.type_name, (i, s));
            }
        }
        Registry { providers, schemas }
    }

    /// The providers this build ships.
    pub fn builtin() -> Registry {
        // The helm and kubernetes providers reach the same clusters: one connection each.
        let clusters = Arc::new(kubernetes::client::SharedClusters::default());
        Registry::new(vec![
            Arc::new(core::CoreProvider),
            Arc::new(aws::AwsProvider::default()),
            Arc::new(helm::HelmProvider::sharing(clusters.clone())),
            Arc::new(kubernetes::KubernetesProvider::sharing(clusters)),
        ])
    }

    pub fn schema(&self, type_name: &str) -> Option<&ResourceSchema> {
        self.schemas.get(type_name).map(|(_, s)| s)
    }

    pub fn provider_for(&self, type_name: &str) -> Option<&Arc<dyn Provider>> {
        self.schemas
            .get(type_name)
            .map(|(i, _)| &self.providers[*i])
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    pub fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.schemas.keys().copied()
    }

    pub fn provider_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.iter().map(|p| p.name())
    }
}
