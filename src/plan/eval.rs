//! Evaluation, written once for the planner and the executor: what references resolve
//! against, a resource's desired properties (defaults filled in, secrets marked), output
//! values, a stored resource as a provider sees it, and provider errors placed on the
//! stack's line.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::PlannedOutput;
use crate::config::expr::{evaluate, Scope};
use crate::config::{ResourceDecl, Stack};
use crate::diag::{Diagnostic, Diagnostics};
use crate::provider::{mark_secrets, Provider, ProviderError, ResourceSchema, Snapshot};
use crate::state::ResourceState;
use crate::value::Value;

/// What references resolve against while planning and applying: the variables, and the
/// resource values known so far. Cloning shares the resource values, so the nodes of one
/// graph walk see each other's results.
#[derive(Clone)]
pub struct Values<'a> {
    pub variables: &'a BTreeMap<String, Value>,
    pub resources: Resources,
}

/// Resource values by address, shared between the nodes of one walk.
#[derive(Debug, Clone, Default)]
pub struct Resources(Arc<Mutex<HashMap<String, Value>>>);

impl Resources {
    pub fn insert(&self, address: &str, value: Value) {
        self.lock().insert(address.to_string(), value);
    }

    pub fn remove(&self, address: &str) {
        self.lock().remove(address);
    }

    pub fn get(&self, address: &str) -> Option<Value> {
        self.lock().get(address).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        // A panicking node must not hide the values of the others.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FromIterator<(String, Value)> for Resources {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Resources(Arc::new(Mutex::new(iter.into_iter().collect())))
    }
}

impl Scope for Values<'_> {
    fn variable(&self, name: &str) -> Option<Value> {
        self.variables.get(name).cloned()
    }
    fn resource(&self, name: &str) -> Option<Value> {
        self.resources.get(name)
    }
}

/// A resource's value as references see it: properties, then attributes on top.
pub fn resource_value(properties: &Value, attributes: &Value) -> Value {
    let mut merged = match properties {
        Value::Map(m) => m.clone(),
        _ => Default::default(),
    };
    if let Value::Map(a) = attributes {
        for (k, v) in a {
            merged.insert(k.clone(), v.clone());
        }
    }
    Value::Map(merged)
}

/// Properties of a declared resource, evaluated, with schema defaults filled in and every
/// secret marked (by the stack's sensitive variables, the schema, or the provider).
pub fn desired_properties(
    decl: &ResourceDecl,
    schema: &ResourceSchema,
    provider: &dyn Provider,
    scope: &dyn Scope,
) -> Result<Value, Diagnostic> {
    let mut value = evaluate(
        &decl.properties,
        scope,
        &format!("resources.{}.properties", decl.name),
    )
    .map_err(|d| d.with_address(&decl.name))?;
    if value.is_null() {
        value = Value::map();
    }
    if let Value::Map(m) = &mut value {
        for p in &schema.properties {
            if let Some(default) = &p.default {
                m.entry(p.name.to_string())
                    .or_insert_with(|| default.clone());
            }
        }
    }
    Ok(mark_secrets(provider, schema, value))
}

/// The secret paths of a value, as listed in plans and state.
pub fn secret_paths(value: &Value) -> Vec<String> {
    value
        .sensitive_paths()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Output values, evaluated with the values known so far.
pub fn outputs(
    stack: &Stack,
    scope: &dyn Scope,
    diags: &mut Diagnostics,
) -> BTreeMap<String, PlannedOutput> {
    let mut out = BTreeMap::new();
    for (name, o) in &stack.outputs {
        match evaluate(&o.value, scope, &format!("outputs.{name}")) {
            Ok(v) if v.contains_sensitive() && !o.sensitive => {
                diags.push(crate::config::validate::unmarked_sensitive_output(name, o))
            }
            Ok(v) => {
                out.insert(
                    name.clone(),
                    PlannedOutput {
                        value: v,
                        sensitive: o.sensitive,
                        description: o.description.clone(),
                    },
                );
            }
            Err(d) => diags.push(d),
        }
    }
    out
}

/// A stored resource as its provider is handed it.
pub fn snapshot(resource: &ResourceState) -> Snapshot {
    Snapshot {
        id: resource.id.clone(),
        properties: resource.properties.clone(),
        attributes: resource.attributes.clone(),
    }
}

/// `text` with every secret of `marked` replaced by `(sensitive)`: for what providers
/// write from real values (rendered manifests, error messages).
pub fn scrub_text(text: &str, marked: &Value) -> String {
    let mut secrets: Vec<String> = marked
        .sensitive_paths()
        .iter()
        .filter_map(|p| p.lookup(marked))
        .filter_map(Value::to_interpolated)
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so a secret containing another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in &secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), crate::value::SENSITIVE_TEXT);
        }
    }
    out
}

/// A provider error as a diagnostic about one resource.
pub fn provider_diag(
    code: &'static str,
    verb: &str,
    address: &str,
    e: ProviderError,
) -> Diagnostic {
    let mut d =
        Diagnostic::error(code, format!("{verb} {address}: {}", e.message)).with_address(address);
    if let Some(field) = e.field {
        d = d.with_field(format!("resources.{address}.properties.{field}"));
    }
    if let Some(help) = e.help {
        d = d.with_help(help);
    }
    d
}

/// `d` placed where the stack declares what it is about (see [`locate_in`]). A diagnostic
/// about a resource the stack no longer declares is returned as it is.
pub fn locate(d: Diagnostic, stack: &Stack) -> Diagnostic {
    match d.address.as_deref().and_then(|a| stack.resources.get(a)) {
        Some(decl) => locate_in(d, decl),
        None => d,
    }
}

/// `d`, about `decl`, placed on the property its field names, or else on the resource's
/// key: provider errors at refresh, plan and apply point at the stack's line as
/// validation's do. A diagnostic that already has a place keeps it.
pub fn locate_in(mut d: Diagnostic, decl: &ResourceDecl) -> Diagnostic {
    if d.span.is_some() {
        return d;
    }
    let prefix = format!("resources.{}.properties", decl.name);
    let node = d
        .field
        .as_deref()
        .and_then(|f| f.strip_prefix(&prefix))
        .map(|rel| crate::config::validate::node_at(&decl.properties, rel.trim_start_matches('.')))
        .filter(|node| node.span.line > 0);
    d.span = Some(node.map_or_else(|| decl.span.clone(), |n| n.span.clone()));
    d
}
