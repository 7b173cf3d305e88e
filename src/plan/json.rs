//! The machine-readable plan printed by `plan --json` (schema in docs/json-plan.md).
//! Sensitive values print as "(sensitive)"; unknown values as null, listed in
//! `after_unknown`.

use serde_json::{json, Value as Json};

use super::{Plan, PlannedChange};
use crate::state::is_digest;
use crate::value::Value;

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
        "changes": plan.changes.iter().map(change_json).collect::<Vec<_>>(),
        "outputs": plan.outputs.iter().map(|(k, o)| (k.clone(), json!({
            "value": if o.sensitive { json!("(sensitive)") } else { known(&o.value) },
            "sensitive": o.sensitive,
            "known": !o.value.contains_unknown(),
        }))).collect::<serde_json::Map<_, _>>(),
        "warnings": plan.warnings.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

fn change_json(c: &PlannedChange) -> Json {
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
            "properties": masked(&p.properties, &c.sensitive_paths, ""),
            "attributes": known(&p.attributes),
        })),
        "after": {
            "properties": masked(&c.properties, &c.sensitive_paths, ""),
            "attributes": known(&c.planned_attributes),
        },
        "after_unknown": unknown.into_iter().chain(unknown_attrs).collect::<Vec<_>>(),
        "sensitive_paths": c.sensitive_paths,
        "details": c.details,
    })
}

fn known(v: &Value) -> Json {
    match v {
        Value::Unknown => Json::Null,
        Value::List(l) => Json::Array(l.iter().map(known).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), known(v))).collect()),
        other => other.to_json(),
    }
}

fn masked(v: &Value, sensitive: &[String], path: &str) -> Json {
    if sensitive.iter().any(|s| s == path) || is_digest(v) {
        return json!("(sensitive)");
    }
    match v {
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    (k.clone(), masked(v, sensitive, &p))
                })
                .collect(),
        ),
        other => known(other),
    }
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
