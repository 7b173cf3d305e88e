//! The value model shared by stacks, providers, plans and state.
//!
//! JSON-like, with three extra cases: `Unknown`, a value that only exists after apply
//! (a CA's ARN before the CA is created); `Sensitive`, a real value marked secret, which
//! evaluation and providers use as it is and every rendering hides; and `Redacted`, what
//! state keeps of a secret (a keyed digest, see [`crate::state::redact`]). Marks sit on
//! leaves only, so a secret inside a map or list leaves the structure readable. Maps are
//! ordered by key so that plans, state and diffs are deterministic.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

pub type Map = BTreeMap<String, Value>;

/// Key used to carry `Unknown` through JSON (plan files). Never written to state.
const UNKNOWN_KEY: &str = "$trustplane_unknown";
/// Key carrying a `Sensitive` value through JSON (plan files, which hold secrets anyway).
const SENSITIVE_KEY: &str = "$trustplane_sensitive";
/// Key carrying a `Redacted` digest through JSON (state).
const REDACTED_KEY: &str = "$trustplane_redacted";

/// How every rendering shows a secret.
pub const SENSITIVE_TEXT: &str = "(sensitive)";
/// How every rendering for people shows a value known only after apply.
pub const UNKNOWN_TEXT: &str = "(known after apply)";

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(Map),
    /// Known only after apply.
    Unknown,
    /// A secret scalar (never a list or map: [`Value::sensitive`] marks leaves).
    Sensitive(Box<Value>),
    /// A secret as state keeps it: the hex digest of its value, enough to tell a change.
    Redacted(String),
}

impl Value {
    pub fn map() -> Value {
        Value::Map(Map::new())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True when this value or anything inside it is unknown.
    pub fn contains_unknown(&self) -> bool {
        self.any_leaf(&|v| matches!(v, Value::Unknown))
    }

    /// `value` marked secret: every scalar inside it is wrapped, so the structure stays
    /// readable. Unknown values and digests stay as they are.
    pub fn sensitive(value: Value) -> Value {
        match value {
            Value::List(items) => Value::List(items.into_iter().map(Value::sensitive).collect()),
            Value::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| (k, Value::sensitive(v)))
                    .collect(),
            ),
            v @ (Value::Unknown | Value::Sensitive(_) | Value::Redacted(_)) => v,
            scalar => Value::Sensitive(Box::new(scalar)),
        }
    }

    /// True for a secret leaf, in the clear or as a digest.
    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Sensitive(_) | Value::Redacted(_))
    }

    /// True when any leaf is secret.
    pub fn contains_sensitive(&self) -> bool {
        self.any_leaf(&Value::is_sensitive)
    }

    /// True when any leaf is a digest, whose value is not known here.
    pub fn contains_redacted(&self) -> bool {
        self.any_leaf(&|v| matches!(v, Value::Redacted(_)))
    }

    fn any_leaf(&self, pred: &dyn Fn(&Value) -> bool) -> bool {
        match self {
            Value::List(items) => items.iter().any(|v| v.any_leaf(pred)),
            Value::Map(map) => map.values().any(|v| v.any_leaf(pred)),
            leaf => pred(leaf),
        }
    }

    /// The real value, marks removed: what providers receive. Digests stay.
    pub fn unmarked(&self) -> Value {
        match self {
            Value::Sensitive(v) => (**v).clone(),
            Value::List(items) => Value::List(items.iter().map(Value::unmarked).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.unmarked())).collect()),
            other => other.clone(),
        }
    }

    /// This value with each leaf that is secret in `like` (same path) marked secret.
    pub fn marked_like(self, like: &Value) -> Value {
        if !like.contains_sensitive() {
            return self; // nothing to mark: keep the maps rather than rebuild them
        }
        self.marked_like_walk(like)
    }

    fn marked_like_walk(self, like: &Value) -> Value {
        match (self, like) {
            (v, l) if l.is_sensitive() => Value::sensitive(v),
            (Value::Map(m), Value::Map(l)) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = match l.get(&k) {
                            Some(lv) => v.marked_like_walk(lv),
                            None => v,
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            (Value::List(items), Value::List(l)) => Value::List(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match l.get(i) {
                        Some(lv) => v.marked_like_walk(lv),
                        None => v,
                    })
                    .collect(),
            ),
            (v, _) => v,
        }
    }

    /// Marks the value at `path` (if present) secret.
    pub fn mark_at(&mut self, path: &PropertyPath) {
        if let Some(v) = path.lookup_mut(self) {
            *v = Value::sensitive(std::mem::take(v));
        }
    }

    /// Paths of the secret leaves, in order.
    pub fn sensitive_paths(&self) -> Vec<PropertyPath> {
        fn walk(v: &Value, at: &PropertyPath, out: &mut Vec<PropertyPath>) {
            match v {
                Value::Map(m) => m.iter().for_each(|(k, v)| walk(v, &at.key(k), out)),
                Value::List(l) => l
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| walk(v, &at.index(i), out)),
                v if v.is_sensitive() => out.push(at.clone()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &PropertyPath::root(), &mut out);
        out
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A map's field, or `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// A field as a string, or `None`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Follows a path of map keys and list indices.
    pub fn lookup(&self, path: &[PathStep]) -> Option<&Value> {
        PropertyPath(path.to_vec()).lookup(self)
    }

    /// Sets the value at a path (`a.b.c`, `a["x.y"]`), creating maps on the way.
    /// Panics on a malformed path: callers pass fixed paths.
    pub fn set_path(&mut self, path: &str, value: Value) {
        let parsed = PropertyPath::parse(path).expect("a well-formed property path");
        parsed.set(self, value);
    }

    /// Removes the value at a path, if any.
    pub fn remove_path(&mut self, path: &str) -> Option<Value> {
        PropertyPath::parse(path)?.remove(self)
    }

    /// The value as text for interpolation into a longer string.
    pub fn to_interpolated(&self) -> Option<String> {
        match self {
            Value::Sensitive(v) => v.to_interpolated(),
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            _ => None,
        }
    }

    /// Name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Sensitive(v) => v.type_name(),
            Value::Redacted(_) => "secret",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("values always serialize")
    }

    pub fn from_json(json: serde_json::Value) -> Value {
        serde_json::from_value(json).expect("json always deserializes into a value")
    }

    /// Compact single-line rendering used in messages and for plan leaves: JSON-like,
    /// with secrets as `(sensitive)` and unknowns as `(known after apply)` at any depth.
    pub fn render(&self) -> String {
        match self {
            Value::Unknown => UNKNOWN_TEXT.to_string(),
            Value::String(s) => format!("{s:?}"),
            v if v.is_sensitive() => SENSITIVE_TEXT.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(Value::render).collect();
                format!("[{}]", items.join(","))
            }
            Value::Map(m) => {
                let entries: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{}", v.render()))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            other => serde_json::to_string(&other.to_json()).unwrap_or_default(),
        }
    }

    /// JSON for people and scripts: secrets as `"(sensitive)"`, unknowns as null.
    pub fn to_masked_json(&self) -> serde_json::Value {
        match self {
            Value::Unknown => serde_json::Value::Null,
            v if v.is_sensitive() => serde_json::Value::String(SENSITIVE_TEXT.into()),
            Value::List(l) => l.iter().map(Value::to_masked_json).collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.to_masked_json()))
                .collect(),
            other => other.to_json(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

pub use crate::property_path::{PathStep, PropertyPath};

/// Renders a path as `a.b[0].c`.
pub fn path_to_string(path: &[PathStep]) -> String {
    PropertyPath(path.to_vec()).to_string()
}

/// Parses `a.b[0].c` (or `a["x.y"]`) into steps. Returns `None` on malformed input.
pub fn parse_path(text: &str) -> Option<Vec<PathStep>> {
    PropertyPath::parse(text).map(|p| p.0)
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Unknown => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(UNKNOWN_KEY, &true)?;
                map.end()
            }
            Value::Sensitive(v) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(SENSITIVE_KEY, v)?;
                map.end()
            }
            Value::Redacted(digest) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(REDACTED_KEY, digest)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
                Ok(i64::try_from(u)
                    .map(Value::Int)
                    .unwrap_or(Value::Float(u as f64)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Value::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
                let mut map = Map::new();
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    map.insert(k, v);
                }
                if map.len() == 1 {
                    if map.get(UNKNOWN_KEY) == Some(&Value::Bool(true)) {
                        return Ok(Value::Unknown);
                    }
                    if let Some(v) = map.remove(SENSITIVE_KEY) {
                        return Ok(Value::sensitive(v.unmarked()));
                    }
                    if let Some(Value::String(d)) = map.get(REDACTED_KEY) {
                        return Ok(Value::Redacted(d.clone()));
                    }
                }
                Ok(Value::Map(map))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_survives_a_json_round_trip() {
        let mut m = Map::new();
        m.insert("arn".into(), Value::Unknown);
        m.insert("n".into(), Value::Int(3));
        let v = Value::Map(m);
        let json = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert!(back.contains_unknown());
    }

    #[test]
    fn marks_sit_on_leaves_and_keep_the_structure() {
        let v: Value = serde_json::from_str(r#"{"a":{"b":["x",1]},"u":null}"#).unwrap();
        let mut v = Value::sensitive(v);
        v.set_path("later", Value::Unknown);
        assert!(v.get("a").unwrap().as_map().is_some(), "maps stay maps");
        assert_eq!(
            v.lookup(&parse_path("a.b[0]").unwrap()),
            Some(&Value::Sensitive(Box::new("x".into())))
        );
        assert_eq!(
            v.get("later"),
            Some(&Value::Unknown),
            "unknown stays unknown"
        );
        assert_eq!(
            v.sensitive_paths()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["a.b[0]", "a.b[1]", "u"]
        );
        assert_eq!(
            v.unmarked().get("a"),
            Some(&serde_json::from_str::<Value>(r#"{"b":["x",1]}"#).unwrap())
        );
        assert_eq!(
            Value::sensitive(v.clone()),
            v,
            "marking twice changes nothing"
        );
    }

    #[test]
    fn renderings_never_show_a_secret() {
        let mut v = Value::map();
        v.set_path("user", "app".into());
        v.set_path("password", Value::sensitive("canary-pw".into()));
        v.set_path("old", Value::Redacted("d1g".into()));
        for text in [
            v.render(),
            v.to_masked_json().to_string(),
            v.get("password").unwrap().render(),
        ] {
            assert!(
                !text.contains("canary-pw") && !text.contains("d1g"),
                "{text}"
            );
            assert!(text.contains(SENSITIVE_TEXT), "{text}");
        }
        assert!(v.render().contains("app"));
    }

    #[test]
    fn unknowns_render_as_known_after_apply_at_any_depth() {
        let v: Value =
            serde_json::from_str(r#"{"arns":[{"$trustplane_unknown":true}],"m":{"r":{"$trustplane_unknown":true},"n":1}}"#)
                .unwrap();
        assert_eq!(
            v.render(),
            r#"{"arns":[(known after apply)],"m":{"n":1,"r":(known after apply)}}"#
        );
    }

    #[test]
    fn marks_survive_a_json_round_trip() {
        let mut v = Value::map();
        v.set_path("s", Value::sensitive(Value::Int(3)));
        v.set_path("r", Value::Redacted("abc".into()));
        let back: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn marked_like_copies_marks_by_path() {
        let like: Value = serde_json::from_str(r#"{"a":"x","l":["p","q"],"m":{"k":1}}"#).unwrap();
        let mut like = like;
        like.set_path("a", Value::Redacted("d".into()));
        like.set_path("m.k", Value::sensitive(1.into()));
        let live: Value =
            serde_json::from_str(r#"{"a":"live","l":["p","q"],"m":{"k":2,"j":3},"n":4}"#).unwrap();
        let marked = live.marked_like(&like);
        assert!(marked.get("a").unwrap().is_sensitive());
        assert!(marked.get("m").unwrap().get("k").unwrap().is_sensitive());
        assert_eq!(marked.get("m").unwrap().get("j"), Some(&Value::Int(3)));
        assert_eq!(marked.get("n"), Some(&Value::Int(4)));
        assert!(!marked.get("l").unwrap().contains_sensitive());
    }

    #[test]
    fn paths_parse_and_render() {
        let p = parse_path("a.b[0][2].c").unwrap();
        assert_eq!(path_to_string(&p), "a.b[0][2].c");
        assert_eq!(p.len(), 5);
        assert!(parse_path("a[x]").is_none());
        assert!(parse_path("a[0]b").is_none());
    }

    #[test]
    fn lookup_walks_maps_and_lists() {
        let v: Value = serde_json::from_str(r#"{"a":{"b":[{"c":1},{"c":2}]}}"#).unwrap();
        let p = parse_path("a.b[1].c").unwrap();
        assert_eq!(v.lookup(&p), Some(&Value::Int(2)));
        assert_eq!(v.lookup(&parse_path("a.x").unwrap()), None);
    }

    #[test]
    fn set_and_remove_dotted_paths() {
        let mut v = Value::map();
        v.set_path("a.b.c", Value::from("x"));
        assert_eq!(
            v.get("a").unwrap().get("b").unwrap().get_str("c"),
            Some("x")
        );
        assert_eq!(v.remove_path("a.b.c"), Some(Value::from("x")));
        assert_eq!(v.remove_path("a.zz"), None);
    }
}
