//! Attribute-level differences between two values, for plans and drift reports.

use crate::value::{PropertyPath, Value};

/// One changed leaf: its dotted path, and the value before and after (`None` = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Differences between two values, descending into maps (lists compare whole, as one
/// field, so a reordered list shows as one change). Paths are written as
/// [`PropertyPath`]s (`a.b`, `m["x.y"]`).
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(&PropertyPath::root(), Some(before), Some(after), &mut out);
    out
}

fn walk(
    path: &PropertyPath,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Map(b)), Some(Value::Map(a))) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                walk(&path.key(k), b.get(k), a.get(k), out);
            }
        }
        (b, a) if b == a => {}
        (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
        (b, a) => out.push(FieldChange {
            path: if path.is_root() {
                "(value)".into()
            } else {
                path.to_string()
            },
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// Copies the prior value of each `ignore_changes` path into `desired` (or removes it
/// when the prior has none), so changes there are neither planned nor shown. Used on
/// values compared as state keeps them.
pub fn keep_ignored(desired: &mut Value, prior: &Value, ignore_changes: &[String]) {
    for path in ignore_changes.iter().filter_map(|p| PropertyPath::parse(p)) {
        match path.lookup(prior) {
            Some(v) => {
                path.set(desired, v.clone());
            }
            None => {
                path.remove(desired);
            }
        }
    }
}

/// Like [`keep_ignored`], for values handed to a provider: a prior value that is only a
/// digest cannot stand for the real one, so there the desired value is kept (it compares
/// equal through [`keep_ignored`] and is written only if something else changes).
pub fn keep_ignored_live(desired: &mut Value, live: &Value, ignore_changes: &[String]) {
    for path in ignore_changes.iter().filter_map(|p| PropertyPath::parse(p)) {
        match path.lookup(live) {
            Some(v) if v.contains_redacted() || v.contains_unknown() => {}
            Some(v) => {
                path.set(desired, v.clone());
            }
            None => {
                path.remove(desired);
            }
        }
    }
}

/// True when `path` is one of `paths` or lies below one (an ignored or secret path).
pub fn lies_under(path: &str, paths: &[String]) -> bool {
    let Some(path) = PropertyPath::parse(path) else {
        return false;
    };
    paths
        .iter()
        .filter_map(|i| PropertyPath::parse(i))
        .any(|i| path.starts_with(&i))
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
        assert!(lies_under("tags.a", &["tags".into()]));
        assert!(!lies_under("tagsx", &["tags".into()]));
    }

    #[test]
    fn ignored_list_items_and_dotted_keys_keep_prior_values() {
        let mut desired = v(r#"{"hosts":["new","b"],"ann":{"x.io/a":"new"}}"#);
        let prior = v(r#"{"hosts":["old","b"],"ann":{"x.io/a":"old"}}"#);
        keep_ignored(
            &mut desired,
            &prior,
            &["hosts[0]".into(), r#"ann["x.io/a"]"#.into()],
        );
        assert_eq!(desired, prior);
    }

    #[test]
    fn a_digest_never_replaces_the_value_sent_to_a_provider() {
        let mut live = v(r#"{"content":"x"}"#);
        live.set_path("content", Value::Redacted("abc".into()));
        let mut desired = v(r#"{"content":"real"}"#);
        keep_ignored_live(&mut desired, &live, &["content".into()]);
        assert_eq!(desired, v(r#"{"content":"real"}"#));
        let readable = v(r#"{"content":"as live"}"#);
        keep_ignored_live(&mut desired, &readable, &["content".into()]);
        assert_eq!(desired, readable);
    }
}
