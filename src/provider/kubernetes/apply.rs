//! Server-side apply: the body trustplane sends, the projection of a live object onto the
//! fields trustplane applied (so server defaults and other managers' fields are never
//! drift), and the reading of apply conflicts.

use crate::value::{Map, Value};

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "trustplane";

/// A label every applied object carries. It gives trustplane a field it always owns:
/// the API server drops a manager whose field set is empty, and an object applied with
/// nothing but a name would otherwise not show trustplane among its managers, which is
/// how trustplane tells its objects from others' before deleting.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "trustplane");

/// The apply body for one object: the object as desired with the [`MANAGED_BY`] label
/// (unless the object sets that label itself), less metadata a client must not send (it
/// would be refused or would pin a stale version).
pub fn ssa_body(object: &Value) -> serde_json::Value {
    let mut body = object.clone();
    if let Some(Value::Map(mut m)) = body.get("metadata").cloned() {
        let labels = m.entry("labels".to_string()).or_insert_with(Value::map);
        if let Value::Map(l) = labels {
            l.entry(MANAGED_BY.0.to_string())
                .or_insert_with(|| MANAGED_BY.1.into());
        }
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
        body.set_path("metadata", Value::Map(m));
    }
    body.to_json()
}

/// The live object restricted to the shape of what was applied. Maps keep only applied
/// keys; lists of maps match items by `name` (the merge key of containers, ports, env)
/// or else by position; scalars and lists of scalars are taken whole from live. A field
/// that is gone from live is absent from the result, so a removal shows as a change.
pub fn project(live: &Value, applied: &Value) -> Value {
    match (live, applied) {
        (Value::Map(l), Value::Map(a)) => {
            let mut out = Map::new();
            for (k, av) in a {
                if let Some(lv) = l.get(k) {
                    out.insert(k.clone(), project(lv, av));
                }
            }
            Value::Map(out)
        }
        (Value::List(l), Value::List(a)) if a.iter().all(|v| matches!(v, Value::Map(_))) => {
            let keyed = a.iter().all(|v| v.get_str("name").is_some());
            let mut out = Vec::new();
            for (i, av) in a.iter().enumerate() {
                let found = if keyed {
                    l.iter().find(|lv| lv.get_str("name") == av.get_str("name"))
                } else {
                    l.get(i)
                };
                if let Some(lv) = found {
                    out.push(project(lv, av));
                }
            }
            Value::List(out)
        }
        // Numbers the server re-encodes (1 vs 1.0) are the same value.
        (Value::Float(f), Value::Int(i)) | (Value::Int(i), Value::Float(f)) if *f == *i as f64 => {
            applied.clone()
        }
        _ => live.clone(),
    }
}

/// The managers named in an apply conflict message, e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl" using v1: .metadata.labels.team`.
pub fn conflict_managers(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find("with \"") {
        rest = &rest[i + 6..];
        if let Some(end) = rest.find('"') {
            let name = rest[..end].to_string();
            if !out.contains(&name) {
                out.push(name);
            }
            rest = &rest[end..];
        }
    }
    out
}

/// One field an apply conflicted on, and the manager that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub manager: String,
    /// As the server writes it: `.metadata.labels.team`, `.spec.containers[name="c"].image`.
    pub field: String,
}

/// The conflicts of an apply conflict message, in both of the server's shapes:
/// `Apply failed with 1 conflict: conflict with "kubectl-label" using v1: .metadata.labels.app`,
/// or a `conflicts with "m" using v1:` line followed by `- .path` lines per manager.
pub fn field_conflicts(message: &str) -> Vec<FieldConflict> {
    let mut out = Vec::new();
    let mut manager: Option<String> = None;
    for line in message.lines() {
        let line = line.trim();
        if let Some(field) = line.strip_prefix("- ") {
            if let Some(m) = &manager {
                out.push(FieldConflict {
                    manager: m.clone(),
                    field: field.trim().to_string(),
                });
            }
            continue;
        }
        let Some(i) = line.find("with \"") else {
            continue;
        };
        let rest = &line[i + 6..];
        let Some(end) = rest.find('"') else {
            continue;
        };
        let m = rest[..end].to_string();
        let after = &rest[end + 1..];
        match after.split_once(": ") {
            Some((_, field)) if !field.trim().is_empty() => {
                out.push(FieldConflict {
                    manager: m.clone(),
                    field: field.trim().to_string(),
                });
            }
            _ => {}
        }
        manager = Some(m);
    }
    out
}

/// The leaf fields an apply body sets, written as the server writes fields in conflict
/// messages. Lists whose items all have a `name` are keyed by it; other lists are atomic.
pub fn field_paths(body: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Map(m) if !m.is_empty() => {
                for (k, child) in m {
                    walk(child, format!("{at}.{k}"), out);
                }
            }
            Value::List(items)
                if !items.is_empty() && items.iter().all(|i| i.get_str("name").is_some()) =>
            {
                for item in items {
                    let name = item.get_str("name").unwrap_or_default();
                    walk(item, format!("{at}[name={name:?}]"), out);
                }
            }
            _ => out.push(at),
        }
    }
    let mut out = Vec::new();
    walk(body, String::new(), &mut out);
    out.retain(|p| !p.is_empty());
    out
}

/// Whether `field` is one of `owned`, inside one (an atomic list), or holds some.
pub fn is_owned(field: &str, owned: &[String]) -> bool {
    let under = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    owned.iter().any(|p| under(field, p) || under(p, field))
}

/// A field for people: `label app`, `annotation a.b/c`, else the server's path.
pub fn describe_field(field: &str) -> String {
    if let Some(k) = field.strip_prefix(".metadata.labels.") {
        format!("label {k}")
    } else if let Some(k) = field.strip_prefix(".metadata.annotations.") {
        format!("annotation {k}")
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn body_drops_server_owned_metadata() {
        let body = ssa_body(&v(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","uid":"u",
            "resourceVersion":"3","managedFields":[]},"data":{"k":"v"}}"#,
        ));
        assert_eq!(
            body,
            serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a",
                "labels":{"app.kubernetes.io/managed-by":"trustplane"}},"data":{"k":"v"}})
        );
        let own = ssa_body(&v(
            r#"{"metadata":{"name":"a","labels":{"app.kubernetes.io/managed-by":"Helm","x":"y"}}}"#,
        ));
        assert_eq!(
            own["metadata"]["labels"],
            serde_json::json!({"app.kubernetes.io/managed-by":"Helm","x":"y"})
        );
    }

    #[test]
    fn projection_ignores_defaults_and_other_managers() {
        let applied = v(r#"{"metadata":{"name":"a","labels":{"team":"x"}},
            "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"c","image":"i:1"}]}}}}"#);
        let live = v(
            r#"{"metadata":{"name":"a","uid":"u","labels":{"team":"x","other":"y"}},
            "spec":{"replicas":2,"strategy":{"type":"RollingUpdate"},"template":{"spec":{
            "containers":[{"name":"side","image":"s"},{"name":"c","image":"i:1","imagePullPolicy":"IfNotPresent"}]}}},
            "status":{"readyReplicas":2}}"#,
        );
        assert_eq!(project(&live, &applied), applied);
    }

    #[test]
    fn projection_shows_changes_and_removals_of_our_fields() {
        let applied =
            v(r#"{"metadata":{"labels":{"team":"x","tier":"1"}},"spec":{"dnsNames":["a","b"]}}"#);
        let live = v(r#"{"metadata":{"labels":{"team":"other"}},"spec":{"dnsNames":["a"]}}"#);
        assert_eq!(
            project(&live, &applied),
            v(r#"{"metadata":{"labels":{"team":"other"}},"spec":{"dnsNames":["a"]}}"#)
        );
    }

    #[test]
    fn conflict_messages_name_their_managers() {
        assert_eq!(
            conflict_managers(
                "Apply failed with 1 conflict: conflict with \"kubectl\" using v1: .metadata.labels.team"
            ),
            ["kubectl"]
        );
        assert_eq!(
            conflict_managers(
                "Apply failed with 2 conflicts: conflicts with \"a\":\n- .x\nconflicts with \"b\" with subresource \"status\":\n- .y"
            ),
            ["a", "b"]
        );
    }

    #[test]
    fn conflicts_are_read_in_both_message_shapes() {
        assert_eq!(
            field_conflicts(
                "Apply failed with 1 conflict: conflict with \"kubectl-label\" using v1: .metadata.labels.app"
            ),
            [FieldConflict { manager: "kubectl-label".into(), field: ".metadata.labels.app".into() }]
        );
        let many = field_conflicts(
            "Apply failed with 3 conflicts: conflicts with \"a\" using v1:\n- .data.x\n- .data.y\nconflicts with \"b\" with subresource \"status\":\n- .status.z",
        );
        let pairs: Vec<(&str, &str)> = many
            .iter()
            .map(|c| (c.manager.as_str(), c.field.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("a", ".data.x"), ("a", ".data.y"), ("b", ".status.z")]
        );
    }

    #[test]
    fn owned_fields_are_the_leaves_of_what_was_applied() {
        let body = v(r#"{"metadata":{"name":"a","labels":{"app":"x"}},
            "spec":{"containers":[{"name":"c","image":"i"}],"args":["a","b"]}}"#);
        let owned = field_paths(&body);
        assert_eq!(
            owned,
            [
                ".metadata.labels.app",
                ".metadata.name",
                ".spec.args",
                ".spec.containers[name=\"c\"].image",
                ".spec.containers[name=\"c\"].name",
            ]
        );
        assert!(is_owned(".metadata.labels.app", &owned));
        assert!(is_owned(".spec.containers[name=\"c\"]", &owned));
        assert!(is_owned(".spec.args[0]", &owned));
        assert!(!is_owned(".metadata.labels.team", &owned));
        assert!(!is_owned(".metadata.labels.apple", &owned));
        assert_eq!(describe_field(".metadata.labels.app"), "label app");
        assert_eq!(describe_field(".data.k"), ".data.k");
    }
}
