//! The values a release is installed with: `values_files`, then `values`, then `set`, then
//! `set_sensitive`, merged the way helm merges `-f` files and `--set` flags (maps merge
//! recursively, anything else is overwritten). The merged map goes to helm in one file.

use sha2::{Digest, Sha256};

use crate::value::{Map, Value};

/// One step of a `set` key: `a.b[0]` is Key("a"), Key("b"), Index(0).
#[derive(Debug, Clone, PartialEq)]
pub enum SetStep {
    Key(String),
    Index(usize),
}

/// Parses a `--set` style key: dots separate levels, `\.` is a literal dot (annotations
/// such as `podAnnotations.prometheus\.io/scrape`), `[N]` indexes a list.
pub fn parse_set_key(key: &str) -> Result<Vec<SetStep>, String> {
    let bad = |why: &str| Err(format!("set key {key:?} is not valid: {why}"));
    let mut steps = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars().peekable();
    // True right after `]`: the next character must be `.`, `[` or the end.
    let mut after_index = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                current.push('.');
            }
            '.' => {
                if current.is_empty() && !after_index {
                    return bad("empty segment");
                }
                if !current.is_empty() {
                    steps.push(SetStep::Key(std::mem::take(&mut current)));
                }
                after_index = false;
                if chars.peek().is_none() {
                    return bad("ends with a dot");
                }
                continue;
            }
            '[' => {
                if !current.is_empty() {
                    steps.push(SetStep::Key(std::mem::take(&mut current)));
                } else if steps.is_empty() {
                    return bad("starts with an index");
                }
                let mut digits = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) if d.is_ascii_digit() => digits.push(d),
                        _ => return bad("an index must be [N] with N a number"),
                    }
                }
                let Ok(index) = digits.parse::<usize>() else {
                    return bad("an index must be [N] with N a number");
                };
                if index > 10_000 {
                    return bad("index too large");
                }
                steps.push(SetStep::Index(index));
                after_index = true;
                continue;
            }
            _ => {
                if after_index {
                    return bad("expected '.' or '[' after an index");
                }
                current.push(c);
            }
        }
    }
    if !current.is_empty() {
        steps.push(SetStep::Key(current));
    }
    if steps.is_empty() {
        return bad("empty key");
    }
    Ok(steps)
}

/// Sets `value` at `steps` inside `root`, creating maps and padding lists with nulls.
fn set_at(root: &mut Value, steps: &[SetStep], value: Value) {
    let Some((first, rest)) = steps.split_first() else {
        *root = value;
        return;
    };
    match first {
        SetStep::Key(k) => {
            if !matches!(root, Value::Map(_)) {
                *root = Value::map();
            }
            let Value::Map(m) = root else { unreachable!() };
            let slot = m.entry(k.clone()).or_insert(Value::Null);
            set_at(slot, rest, value);
        }
        SetStep::Index(i) => {
            if !matches!(root, Value::List(_)) {
                *root = Value::List(Vec::new());
            }
            let Value::List(l) = root else { unreachable!() };
            if l.len() <= *i {
                l.resize(*i + 1, Value::Null);
            }
            set_at(&mut l[*i], rest, value);
        }
    }
}

/// Merges `overlay` into `base` like helm: maps recursively, anything else replaced.
pub fn merge_into(base: &mut Map, overlay: &Map) {
    for (k, v) in overlay {
        match (base.get_mut(k), v) {
            (Some(Value::Map(b)), Value::Map(o)) => merge_into(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Turns a map of `set` keys into nested values. Keys are applied in sorted order, so a
/// deeper key (`a.b`) lands inside a shallower one (`a`) set before it.
pub fn set_to_nested(set: &Map) -> Result<Map, String> {
    let mut root = Value::map();
    for (key, value) in set {
        let steps = parse_set_key(key)?;
        set_at(&mut root, &steps, value.clone());
    }
    Ok(match root {
        Value::Map(m) => m,
        _ => Map::new(),
    })
}

/// The merged user-supplied values: files (already parsed, in order), inline `values`,
/// `set`, `set_sensitive`.
pub fn merge_values(
    files: &[Map],
    values: Option<&Map>,
    set: Option<&Map>,
    set_sensitive: Option<&Map>,
) -> Result<Map, String> {
    let mut out = Map::new();
    for f in files {
        merge_into(&mut out, f);
    }
    if let Some(v) = values {
        merge_into(&mut out, v);
    }
    for s in [set, set_sensitive].into_iter().flatten() {
        merge_into(&mut out, &set_to_nested(s)?);
    }
    Ok(out)
}

/// Numbers as helm holds them: it reads values through JSON into float64, so `3` and
/// `3.0` are the same value. Whole floats become integers so digests agree.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(*f as i64),
        Value::List(l) => Value::List(l.iter().map(canonical).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        other => other.clone(),
    }
}

/// HMAC-SHA256 of the canonical JSON of a values map (keys sorted), keyed by the state
/// lineage like every digest of a secret: the values may hold `set_sensitive` ones.
pub fn values_digest(values: &Map, lineage: &str) -> String {
    crate::state::secret_digest(lineage, &canonical(&Value::Map(values.clone())))
}

/// The plain SHA-256 earlier versions recorded, still recognised so that an upgrade of
/// trustplane does not read every release as changed outside it.
pub fn legacy_values_digest(values: &Map) -> String {
    let json = serde_json::to_vec(&canonical(&Value::Map(values.clone()))).expect("serializes");
    hex::encode(Sha256::digest(json))
}

/// Every string leaf of a value: the secrets to mask wherever they show up in a diff.
pub fn string_leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Int(i) => out.push(i.to_string()),
        Value::List(l) => l.iter().for_each(|x| string_leaves(x, out)),
        Value::Map(m) => m.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> Map {
        match serde_json::from_str::<Value>(json).unwrap() {
            Value::Map(m) => m,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn set_keys_parse_dots_escapes_and_indices() {
        assert_eq!(
            parse_set_key("a.b[0].c").unwrap(),
            vec![
                SetStep::Key("a".into()),
                SetStep::Key("b".into()),
                SetStep::Index(0),
                SetStep::Key("c".into())
            ]
        );
        assert_eq!(
            parse_set_key(r"podAnnotations.prometheus\.io/scrape").unwrap(),
            vec![
                SetStep::Key("podAnnotations".into()),
                SetStep::Key("prometheus.io/scrape".into())
            ]
        );
        for bad in ["", ".a", "a.", "a..b", "[0]", "a[x]", "a[0]b", "a[1"] {
            assert!(parse_set_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn set_merges_over_values_as_nested_maps() {
        let values = map(r#"{"crds":{"enabled":false,"keep":true},"replicas":1}"#);
        let set = map(r#"{"crds.enabled":true,"image.tag":"v2","args[1]":"x"}"#);
        let secret = map(r#"{"auth.password":"hunter2"}"#);
        let merged = merge_values(&[], Some(&values), Some(&set), Some(&secret)).unwrap();
        assert_eq!(
            Value::Map(merged),
            Value::Map(map(
                r#"{"crds":{"enabled":true,"keep":true},"replicas":1,"image":{"tag":"v2"},
                    "args":[null,"x"],"auth":{"password":"hunter2"}}"#
            ))
        );
    }

    #[test]
    fn files_come_first_and_later_sources_win() {
        let f1 = map(r#"{"a":{"x":1,"y":1},"l":[1,2]}"#);
        let f2 = map(r#"{"a":{"y":2},"l":[3]}"#);
        let inline = map(r#"{"a":{"z":3}}"#);
        let merged = merge_values(&[f1, f2], Some(&inline), None, None).unwrap();
        assert_eq!(
            Value::Map(merged),
            Value::Map(map(r#"{"a":{"x":1,"y":2,"z":3},"l":[3]}"#)),
            "maps merge, lists are replaced"
        );
    }

    #[test]
    fn digest_ignores_number_spelling_and_key_order() {
        let a = map(r#"{"b":3,"a":{"x":1.5}}"#);
        let b = map(r#"{"a":{"x":1.5},"b":3.0}"#);
        assert_eq!(values_digest(&a, "l"), values_digest(&b, "l"));
        assert_ne!(
            values_digest(&a, "l"),
            values_digest(&map(r#"{"b":4}"#), "l")
        );
        assert_ne!(values_digest(&a, "l"), values_digest(&a, "other lineage"));
        assert_ne!(values_digest(&a, "l"), legacy_values_digest(&a));
    }
}
