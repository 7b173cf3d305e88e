//! The value model shared by stacks, providers, plans and state.
//!
//! JSON-like, with one extra case: `Unknown`, a value that only exists after apply
//! (a CA's ARN before the CA is created). Maps are ordered by key so that plans,
//! state and diffs are deterministic.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

pub type Map = BTreeMap<String, Value>;

/// Key used to carry `Unknown` through JSON (plan files). Never written to state.
const UNKNOWN_KEY: &str = "$trustplane_unknown";

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
        match self {
            Value::Unknown => true,
            Value::List(items) => items.iter().any(Value::contains_unknown),
            Value::Map(map) => map.values().any(Value::contains_unknown),
            _ => false,
        }
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
        let mut cur = self;
        for step in path {
            cur = match (step, cur) {
                (PathStep::Key(k), Value::Map(m)) => m.get(k)?,
                (PathStep::Index(i), Value::List(l)) => l.get(*i)?,
                (_, Value::Unknown) => return Some(&Value::Unknown),
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets the value at a dotted path (`a.b.c`), creating maps on the way.
    pub fn set_path(&mut self, path: &str, value: Value) {
        let mut cur = self;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            if !matches!(cur, Value::Map(_)) {
                *cur = Value::map();
            }
            let Value::Map(m) = cur else { unreachable!() };
            if keys.peek().is_none() {
                m.insert(key.to_string(), value);
                return;
            }
            cur = m.entry(key.to_string()).or_insert_with(Value::map);
        }
    }

    /// Removes the value at a dotted path, if any.
    pub fn remove_path(&mut self, path: &str) -> Option<Value> {
        let (parent, last) = match path.rsplit_once('.') {
            Some((p, l)) => (Some(p), l),
            None => (None, path),
        };
        let target = match parent {
            Some(p) => self.lookup_mut(p)?,
            None => self,
        };
        target.as_map_mut()?.remove(last)
    }

    fn lookup_mut(&mut self, dotted: &str) -> Option<&mut Value> {
        let mut cur = self;
        for key in dotted.split('.') {
            cur = cur.as_map_mut()?.get_mut(key)?;
        }
        Some(cur)
    }

    /// The value as text for interpolation into a longer string.
    pub fn to_interpolated(&self) -> Option<String> {
        match self {
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
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("values always serialize")
    }

    pub fn from_json(json: serde_json::Value) -> Value {
        serde_json::from_value(json).expect("json always deserializes into a value")
    }

    /// Compact single-line rendering used in plans and messages.
    pub fn render(&self) -> String {
        match self {
            Value::Unknown => "(known after apply)".to_string(),
            Value::String(s) => format!("{s:?}"),
            other => serde_json::to_string(&other.to_json()).unwrap_or_default(),
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

/// One step of an attribute path: `subject.names[0]` is Key, Key, Index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Renders a path as `a.b[0].c`.
pub fn path_to_string(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Parses `a.b[0].c` into steps. Returns `None` on malformed input.
pub fn parse_path(text: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    for part in text.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && steps.is_empty() {
            return None;
        }
        if !key.is_empty() {
            steps.push(PathStep::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?.parse().ok()?;
            steps.push(PathStep::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
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
                if map.len() == 1 && map.get(UNKNOWN_KEY) == Some(&Value::Bool(true)) {
                    return Ok(Value::Unknown);
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
    fn paths_parse_and_render() {
        let p = parse_path("a.b[0][2].c").unwrap();
        assert_eq!(path_to_string(&p), "a.b[0][2].c");
        assert_eq!(p.len(), 5);
        assert!(parse_path("a[x]").is_none());
        assert!(parse_path("a[0]b").is_none());
    }

    #[test]
    fn lookup_walks_maps_and_lists() {
        let v: Value =
            serde_json::from_str(r#"{"a":{"b":[{"c":1},{"c":2}]}}"#).unwrap();
        let p = parse_path("a.b[1].c").unwrap();
        assert_eq!(v.lookup(&p), Some(&Value::Int(2)));
        assert_eq!(v.lookup(&parse_path("a.x").unwrap()), None);
    }

    #[test]
    fn set_and_remove_dotted_paths() {
        let mut v = Value::map();
        v.set_path("a.b.c", Value::from("x"));
        assert_eq!(v.get("a").unwrap().get("b").unwrap().get_str("c"), Some("x"));
        assert_eq!(v.remove_path("a.b.c"), Some(Value::from("x")));
        assert_eq!(v.remove_path("a.zz"), None);
    }
}
