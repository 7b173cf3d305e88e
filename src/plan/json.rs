//! The machine-readable plan printed by `plan --json` (schema in docs/json-plan.md).
//! Secret values print as "(sensitive)", their paths listed in `sensitive_paths`; unknown
//! values as null, listed in `after_unknown`.

use serde_json::{json, Value as Json};

use super::{Plan, PlannedChange};
use crate::state::redact;
use crate::value::{PropertyPath, Value, SENSITIVE_TEXT};

pub const JSON_PLAN_VERSION: u32 = 1;

pub fn plan_json(plan: &Plan) -> Json {
    let summary = plan.summary();
    json!({
        "format_version": JSON_PLAN_VERSION,
        "stack": plan.stack,
        "workspace": plan.workspace,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "destroy": plan.destroy,
        "has_changes": plan.has_changes(),
        "summary": summary,
        "changes": plan.changes.iter().map(|c| change_json(c, &plan.lineage)).collect::<Vec<_>>(),
        "outputs": plan.outputs.iter().map(|(k, o)| (k.clone(), json!({
            "value": if o.sensitive { json!(SENSITIVE_TEXT) } else { o.value.to_masked_json() },
            "sensitive": o.sensitive,
            "known": !o.value.contains_unknown(),
        }))).collect::<serde_json::Map<_, _>>(),
        "warnings": plan.warnings.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

/// One change; `key` (the state's lineage) keys the digests secrets are compared by.
fn change_json(c: &PlannedChange, key: &str) -> Json {
    let before = c.prior.as_ref().map(|p| redact(&p.properties, key));
    let after = match &before {
        Some(b) => redact(&c.properties.clone().marked_like(b), key),
        None => redact(&c.properties, key),
    };
    let sensitive: Vec<String> = before
        .iter()
        .flat_map(Value::sensitive_paths)
        .chain(after.sensitive_paths())
        .map(|p| p.to_string())
        .chain(c.sensitive_paths.iter().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut unknown = Vec::new();
    unknown_paths("", &c.properties, &mut unknown);
    let mut unknown_attrs = Vec::new();
    unknown_paths("", &c.planned_attributes, &mut unknown_attrs);
    json!({
        "address": c.address,
        "type": c.type_name,
        "provider": c.provider,
        "mode": c.mode,
        "action": c.action,
        "reason": c.reason,
        "changed": c.changed,
        "requires_replace": c.requires_replace,
        "dependencies": c.dependencies,
        "before": c.prior.as_ref().map(|p| json!({
            "id": p.id,
            "properties": masked(before.as_ref().unwrap_or(&p.properties), &sensitive),
            "attributes": known(&p.attributes),
        })),
        "after": {
            "properties": masked(&after, &sensitive),
            "attributes": known(&c.planned_attributes),
        },
        "after_unknown": unknown.into_iter().chain(unknown_attrs).collect::<Vec<_>>(),
        "sensitive_paths": sensitive,
        "details": c.details,
        "restart": c.restart,
    })
}

fn known(v: &Value) -> Json {
    v.to_masked_json()
}

/// Properties with every secret (a marked leaf, or anything under a secret path) as
/// "(sensitive)".
fn masked(v: &Value, sensitive: &[String]) -> Json {
    let mut v = v.clone();
    for path in sensitive.iter().filter_map(|p| PropertyPath::parse(p)) {
        if let Some(leaf) = path.lookup_mut(&mut v) {
            *leaf = Value::sensitive(std::mem::take(leaf));
        }
    }
    v.to_masked_json()
}

fn unknown_paths(path: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Unknown => out.push(path.to_string()),
        Value::Map(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                unknown_paths(&p, v, out);
            }
        }
        Value::List(l) => {
            for (i, v) in l.iter().enumerate() {
                unknown_paths(&format!("{path}[{i}]"), v, out);
            }
        }
        _ => {}
    }
}
