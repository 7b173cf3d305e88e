//! Attribute-level differences between two values, for plans and drift reports.

use crate::value::{parse_path, Value};

/// One changed leaf: its dotted path, and the value before and after (`None` = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Differences between two values, descending into maps (lists compare whole, as one
/// field, so a reordered list shows as one change).
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Map(b)), Some(Value::Map(a))) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, b.get(k), a.get(k), out);
            }
        }
        (b, a) if b == a => {}
        (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
        (b, a) => out.push(FieldChange {
            path: if path.is_empty() {
                "(value)".into()
            } else {
                path.to_string()
            },
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// Copies the prior value of each `ignore_changes` path into `desired`, so changes there
/// are neither planned nor applied.
pub fn keep_ignored(desired: &mut Value, prior: &Value, ignore_changes: &[String]) {
    for path in ignore_changes {
        let steps = parse_path(path).unwrap_or_default();
        match prior.lookup(&steps) {
            Some(v) => desired.set_path(path, v.clone()),
            None => {
                desired.remove_path(path);
            }
        }
    }
}

/// True when `path` is one of the ignored paths or lies below one.
pub fn is_ignored(path: &str, ignore_changes: &[String]) -> bool {
    ignore_changes
        .iter()
        .any(|i| path == i || path.starts_with(&format!("{i}.")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn descends_into_maps_and_reports_leaves() {
        let changes = field_changes(
            &v(r#"{"a":1,"m":{"x":"1","y":"2"},"l":[1,2]}"#),
            &v(r#"{"a":1,"m":{"x":"1","y":"3","z":"4"},"l":[2,1]}"#),
        );
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["l", "m.y", "m.z"]);
        assert_eq!(changes[2].before, None);
        assert_eq!(changes[2].after, Some(Value::from("4")));
    }

    #[test]
    fn null_and_absent_are_the_same() {
        assert!(field_changes(&v(r#"{"a":null}"#), &v("{}")).is_empty());
    }

    #[test]
    fn ignored_paths_keep_prior_values() {
        let mut desired = v(r#"{"tags":{"a":"new"},"name":"x"}"#);
        keep_ignored(
            &mut desired,
            &v(r#"{"tags":{"a":"old"},"name":"x"}"#),
            &["tags".into()],
        );
        assert_eq!(desired, v(r#"{"tags":{"a":"old"},"name":"x"}"#));
        assert!(is_ignored("tags.a", &["tags".into()]));
        assert!(!is_ignored("tagsx", &["tags".into()]));
    }
}
