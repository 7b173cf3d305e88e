//! Field ownership for server-side apply: field sets in the real `FieldsV1`
//! format, per-manager `managedFields`, conflict detection and pruning.
//!
//! Simplification: a list whose items are all objects with a `name` (or,
//! for `conditions`, a `type`) is treated as a map keyed by that field
//! (`k:{"name":"x"}`); every other list is atomic.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One owned path, as FieldsV1 tokens (`f:spec`, `k:{"name":"x"}`).
pub type FPath = Vec<String>;
pub type FieldSet = BTreeSet<FPath>;

fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(|i| i.is_object()) {
        return None;
    }
    if items
        .iter()
        .all(|i| i.get("name").is_some_and(|n| n.is_string()))
    {
        return Some("name");
    }
    if field == "conditions" && items.iter().all(|i| i.get("type").is_some()) {
        return Some("type");
    }
    None
}

fn key_token(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(key.to_string(), item[key].clone());
    format!("k:{}", Value::Object(m))
}

/// Fields the server manages itself and that never appear in field sets.
fn skipped(prefix: &[String], field: &str) -> bool {
    match prefix.len() {
        0 => matches!(field, "apiVersion" | "kind"),
        1 if prefix[0] == "f:metadata" => matches!(
            field,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "selfLink"
        ),
        _ => false,
    }
}

fn collect(v: &Value, prefix: &mut FPath, field: &str, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if skipped(prefix, k) {
                    continue;
                }
                prefix.push(format!("f:{k}"));
                collect(child, prefix, k, out);
                prefix.pop();
            }
        }
        Value::Array(items) => match list_key(field, items) {
            Some(key) => {
                for item in items {
                    prefix.push(key_token(key, item));
                    out.insert(prefix.clone());
                    collect(item, prefix, "", out);
                    prefix.pop();
                }
            }
            None => {
                out.insert(prefix.clone());
            }
        },
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// Every owned path of an object (leaves, atomic lists, keyed list items).
pub fn paths_of(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    collect(v, &mut vec![], "", &mut out);
    out
}

pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut node = &mut root;
        for tok in p {
            node = node
                .entry(tok.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap();
        }
        // A path that is both owned and has owned children carries ".".
        if !node.is_empty() {
            node.insert(".".into(), json!({}));
        }
    }
    // Owned nodes that got children after being inserted need "." too.
    fn mark(node: &mut Map<String, Value>, prefix: &mut FPath, set: &FieldSet) {
        for (k, v) in node.iter_mut() {
            if k == "." {
                continue;
            }
            prefix.push(k.clone());
            let m = v.as_object_mut().unwrap();
            if !m.is_empty() && set.contains(prefix) {
                m.insert(".".into(), json!({}));
            }
            mark(m, prefix, set);
            prefix.pop();
        }
    }
    mark(&mut root, &mut vec![], set);
    Value::Object(root)
}

pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, prefix: &mut FPath, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() {
            out.insert(prefix.clone());
            return;
        }
        for (k, child) in m {
            if k == "." {
                out.insert(prefix.clone());
                continue;
            }
            prefix.push(k.clone());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut vec![], &mut out);
    out.remove(&Vec::new());
    out
}

/// `.spec.containers[name="x"].image`, as in the real conflict messages.
pub fn display(p: &FPath) -> String {
    let mut s = String::new();
    for tok in p {
        if let Some(f) = tok.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = tok.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    s
}

fn find_item(items: &[Value], tok: &str) -> Option<usize> {
    let m: Map<String, Value> = serde_json::from_str(tok.strip_prefix("k:")?).ok()?;
    items
        .iter()
        .position(|i| m.iter().all(|(k, v)| i.get(k) == Some(v)))
}

pub fn get<'a>(v: &'a Value, p: &FPath) -> Option<&'a Value> {
    let mut cur = v;
    for tok in p {
        cur = if let Some(f) = tok.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let items = cur.as_array()?;
            &items[find_item(items, tok)?]
        };
    }
    Some(cur)
}

pub fn remove(v: &mut Value, p: &FPath) {
    let Some((last, parent)) = p.split_last() else {
        return;
    };
    let mut cur = v;
    for tok in parent {
        cur = if let Some(f) = tok.strip_prefix("f:") {
            match cur.get_mut(f) {
                Some(c) => c,
                None => return,
            }
        } else {
            let Some(items) = cur.as_array_mut() else {
                return;
            };
            let Some(i) = find_item(items, tok) else {
                return;
            };
            &mut items[i]
        };
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(items) = cur.as_array_mut() {
        if let Some(i) = find_item(items, last) {
            items.remove(i);
        }
    }
}

/// Merge an applied configuration into the live object: maps merge,
/// keyed lists merge by key, everything else is replaced.
pub fn merge_applied(live: &Value, applied: &Value, field: &str) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            for (k, av) in a {
                let merged = match l.get(k) {
                    Some(lv) => merge_applied(lv, av, k),
                    None => av.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => {
            let Some(key) = list_key(field, a) else {
                return applied.clone();
            };
            if list_key(field, l) != Some(key) && !l.is_empty() {
                return applied.clone();
            }
            let mut out: Vec<Value> = vec![];
            for ai in a {
                match l.iter().find(|li| li.get(key) == ai.get(key)) {
                    Some(li) => out.push(merge_applied(li, ai, "")),
                    None => out.push(ai.clone()),
                }
            }
            for li in l {
                if !a.iter().any(|ai| ai.get(key) == li.get(key)) {
                    out.push(li.clone());
                }
            }
            Value::Array(out)
        }
        _ => applied.clone(),
    }
}

/// A managedFields entry, keyed by (manager, operation, subresource).
#[derive(Clone, Debug)]
pub struct Manager {
    pub manager: String,
    pub operation: String,
    pub subresource: String,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

impl Manager {
    /// How the real server names a manager in conflict messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

pub fn read_managers(obj: &Value) -> Vec<Manager> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Manager {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or("Update").into(),
            subresource: e["subresource"].as_str().unwrap_or_default().into(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

pub fn write_managers(obj: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    obj["metadata"]["managedFields"] = Value::Array(entries);
}

/// Paths whose value differs between two objects (added or changed), and
/// paths that disappeared.
pub fn diff(old: &Value, new: &Value) -> (FieldSet, FieldSet) {
    let old_paths = paths_of(old);
    let new_paths = paths_of(new);
    let changed = new_paths
        .iter()
        .filter(|p| get(old, p) != get(new, p))
        .cloned()
        .collect();
    let gone = old_paths.difference(&new_paths).cloned().collect();
    (changed, gone)
}

/// Record a non-apply write by `manager`: it takes the changed fields from
/// everyone else; removed fields leave every set.
pub fn record_update(
    managers: &mut Vec<Manager>,
    manager: &str,
    subresource: &str,
    api_version: &str,
    now: &str,
    old: &Value,
    new: &Value,
) {
    let (changed, gone) = diff(old, new);
    if changed.is_empty() && gone.is_empty() {
        return;
    }
    for m in managers.iter_mut() {
        m.fields
            .retain(|p| !changed.contains(p) && !gone.contains(p));
    }
    let pos = managers.iter().position(|m| {
        m.manager == manager && m.operation == "Update" && m.subresource == subresource
    });
    let entry = match pos {
        Some(i) => &mut managers[i],
        None => {
            managers.push(Manager {
                manager: manager.into(),
                operation: "Update".into(),
                subresource: subresource.into(),
                api_version: api_version.into(),
                time: now.into(),
                fields: FieldSet::new(),
            });
            managers.last_mut().unwrap()
        }
    };
    entry.time = now.into();
    entry.api_version = api_version.into();
    entry.fields.extend(changed);
    managers.retain(|m| !m.fields.is_empty());
}

pub struct Conflict {
    pub manager: String,
    pub path: FPath,
}

pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager,
            display(&c.path)
        );
    }
    let mut by: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for c in conflicts {
        by.entry(&c.manager).or_default().push(display(&c.path));
    }
    let mut lines = vec![];
    for (m, paths) in by {
        lines.push(format!("conflicts with {m}:"));
        for p in paths {
            lines.push(format!("- {p}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `applied` by `manager` onto `live` (which may be
/// an empty object when creating). Returns the new object with updated
/// managedFields, or the conflicts.
pub fn apply(
    live: &Value,
    applied: &Value,
    manager: &str,
    subresource: &str,
    force: bool,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut managers = read_managers(live);
    let new_set = paths_of(applied);
    let idx = managers.iter().position(|m| {
        m.manager == manager && m.operation == "Apply" && m.subresource == subresource
    });
    let old_set = idx.map(|i| managers[i].fields.clone()).unwrap_or_default();

    let mut conflicts = vec![];
    for p in &new_set {
        for (i, m) in managers.iter().enumerate() {
            if Some(i) == idx || !m.fields.contains(p) {
                continue;
            }
            let (lv, av) = (get(live, p), get(applied, p));
            let leafish = av.is_some_and(|v| !v.is_object())
                || av.is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()));
            if leafish && lv != av {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts
            .into_iter()
            .map(|(i, path)| Conflict {
                manager: managers[i].describe(),
                path,
            })
            .collect());
    }
    for (i, p) in &conflicts {
        managers[*i].fields.remove(p);
    }

    let mut obj = merge_applied(live, applied, "");
    // Prune what this manager stopped applying, unless someone else owns it.
    let dropped: Vec<&FPath> = old_set.difference(&new_set).collect();
    for p in dropped.iter().rev() {
        let shared = managers
            .iter()
            .enumerate()
            .any(|(i, m)| Some(i) != idx && m.fields.iter().any(|q| q.starts_with(p)));
        let kept_by_self = new_set.iter().any(|q| q.starts_with(p));
        if !shared && !kept_by_self {
            remove(&mut obj, p);
        }
    }
    match idx {
        Some(i) => {
            managers[i].fields = new_set;
            managers[i].time = now.into();
        }
        None => managers.push(Manager {
            manager: manager.into(),
            operation: "Apply".into(),
            subresource: subresource.into(),
            api_version: applied["apiVersion"].as_str().unwrap_or_default().into(),
            time: now.into(),
            fields: new_set,
        }),
    }
    write_managers(&mut obj, &managers);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trip_and_format() {
        let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let set = paths_of(&v);
        let f = to_fields_v1(&set);
        assert_eq!(
            f,
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                   "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
        assert_eq!(from_fields_v1(&f), set);
    }

    #[test]
    fn display_paths() {
        let p = vec![
            "f:spec".to_string(),
            "k:{\"name\":\"c\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(display(&p), ".spec[name=\"c\"].image");
    }
}
