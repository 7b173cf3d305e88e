//! Property paths: `a.b[0].c`, with `["..."]` for keys holding dots, brackets or quotes
//! (`metadata.annotations["cert-manager.io/issuer"]`). One type serves diff,
//! `ignore_changes`, redaction and the checks.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// One step of a path: `subject.names[0]` is Key, Key, Index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// A path into a value. The empty path is the value itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropertyPath(pub Vec<PathStep>);

impl PropertyPath {
    pub fn root() -> PropertyPath {
        PropertyPath(Vec::new())
    }

    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// This path followed by one more step.
    pub fn child(&self, step: PathStep) -> PropertyPath {
        let mut steps = self.0.clone();
        steps.push(step);
        PropertyPath(steps)
    }

    pub fn key(&self, key: &str) -> PropertyPath {
        self.child(PathStep::Key(key.to_string()))
    }

    pub fn index(&self, i: usize) -> PropertyPath {
        self.child(PathStep::Index(i))
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &PropertyPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// Parses `a.b[0].c` and `a["x.y"]`. `None` on malformed input or an empty path.
    pub fn parse(text: &str) -> Option<PropertyPath> {
        let mut steps = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut expect_key = true;
        while i < chars.len() {
            match chars[i] {
                '[' => {
                    i += 1;
                    if chars.get(i) == Some(&'"') {
                        let (key, next) = quoted(&chars, i)?;
                        steps.push(PathStep::Key(key));
                        i = next;
                    } else {
                        let start = i;
                        while chars.get(i).is_some_and(char::is_ascii_digit) {
                            i += 1;
                        }
                        let digits: String = chars[start..i].iter().collect();
                        steps.push(PathStep::Index(digits.parse().ok()?));
                    }
                    if chars.get(i) != Some(&']') {
                        return None;
                    }
                    i += 1;
                    expect_key = false;
                }
                '.' if !expect_key => {
                    i += 1;
                    expect_key = true;
                    if i == chars.len() {
                        return None;
                    }
                }
                c if expect_key && is_bare(c) => {
                    let start = i;
                    while chars.get(i).is_some_and(|c| is_bare(*c)) {
                        i += 1;
                    }
                    steps.push(PathStep::Key(chars[start..i].iter().collect()));
                    expect_key = false;
                }
                _ => return None,
            }
        }
        (!steps.is_empty()).then_some(PropertyPath(steps))
    }

    /// The value at this path, if any. Below an unknown value everything is unknown.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut cur = value;
        for step in &self.0 {
            cur = match (step, cur) {
                (PathStep::Key(k), Value::Map(m)) => m.get(k)?,
                (PathStep::Index(i), Value::List(l)) => l.get(*i)?,
                (_, Value::Unknown) => return Some(&Value::Unknown),
                _ => return None,
            };
        }
        Some(cur)
    }

    pub fn lookup_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        let mut cur = value;
        for step in &self.0 {
            cur = match (step, cur) {
                (PathStep::Key(k), Value::Map(m)) => m.get_mut(k)?,
                (PathStep::Index(i), Value::List(l)) => l.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets the value at this path, creating maps for missing keys. An index must already
    /// exist; returns false when the path cannot be reached.
    pub fn set(&self, target: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.0.split_last() else {
            *target = value;
            return true;
        };
        let mut cur = target;
        for step in parents {
            cur = match step {
                PathStep::Key(k) => {
                    if !matches!(cur, Value::Map(_)) {
                        *cur = Value::map();
                    }
                    let Value::Map(m) = cur else { unreachable!() };
                    m.entry(k.clone()).or_insert_with(Value::map)
                }
                PathStep::Index(i) => match cur {
                    Value::List(l) if *i < l.len() => &mut l[*i],
                    _ => return false,
                },
            };
        }
        match last {
            PathStep::Key(k) => {
                if !matches!(cur, Value::Map(_)) {
                    *cur = Value::map();
                }
                let Value::Map(m) = cur else { unreachable!() };
                m.insert(k.clone(), value);
                true
            }
            PathStep::Index(i) => match cur {
                Value::List(l) if *i < l.len() => {
                    l[*i] = value;
                    true
                }
                _ => false,
            },
        }
    }

    /// Removes the value at this path: a map key is dropped, a list item becomes null (so
    /// the indices of the others stay put).
    pub fn remove(&self, target: &mut Value) -> Option<Value> {
        let (last, parents) = self.0.split_last()?;
        let parent = PropertyPath(parents.to_vec()).lookup_mut(target)?;
        match (last, parent) {
            (PathStep::Key(k), Value::Map(m)) => m.remove(k),
            (PathStep::Index(i), Value::List(l)) if *i < l.len() => {
                Some(std::mem::take(&mut l[*i]))
            }
            _ => None,
        }
    }
}

fn is_bare(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '"') && !c.is_whitespace()
}

/// A `"..."` key starting at `chars[start]`; `\"` and `\\` escape. Returns the key and the
/// index after the closing quote.
fn quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut key = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i)? {
            '"' => return Some((key, i + 1)),
            '\\' => {
                key.push(*chars.get(i + 1)?);
                i += 2;
            }
            c => {
                key.push(*c);
                i += 1;
            }
        }
    }
}

impl fmt::Display for PropertyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Key(k) if !k.is_empty() && k.chars().all(is_bare) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                PathStep::Key(k) => {
                    let escaped = k.replace('\\', "\\\\").replace('"', "\\\"");
                    write!(f, "[\"{escaped}\"]")?;
                }
                PathStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for PropertyPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PropertyPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PropertyPath::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a property path: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn p(text: &str) -> PropertyPath {
        PropertyPath::parse(text).unwrap()
    }

    #[test]
    fn parses_and_renders_keys_indices_and_quoted_keys() {
        for text in [
            "a",
            "a.b[0][2].c",
            "hosts[0]",
            r#"metadata.annotations["cert-manager.io/issuer"]"#,
            r#"["x.y"].z"#,
            r#"m["say \"hi\""]"#,
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        assert_eq!(p("a.b[1]").0.len(), 3);
        assert_eq!(
            p(r#"a["x.y"]"#).0,
            vec![PathStep::Key("a".into()), PathStep::Key("x.y".into())]
        );
        for bad in [
            "", "a[x]", "a[0]b", "a..b", "a.", ".a", "a[\"x", "a[1", "a b",
        ] {
            assert!(PropertyPath::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn lookup_set_and_remove_follow_maps_and_lists() {
        let mut value = v(r#"{"a":{"b":[{"c":1},{"c":2}]},"hosts":["x","y"],"m":{"x.y":1}}"#);
        assert_eq!(p("a.b[1].c").lookup(&value), Some(&Value::Int(2)));
        assert_eq!(p(r#"m["x.y"]"#).lookup(&value), Some(&Value::Int(1)));
        assert_eq!(p("a.nope").lookup(&value), None);
        assert!(p("hosts[0]").set(&mut value, "z".into()));
        assert_eq!(p("hosts").lookup(&value), Some(&v(r#"["z","y"]"#)));
        assert!(!p("hosts[5]").set(&mut value, "z".into()), "no index 5");
        assert!(p("new.deep.key").set(&mut value, 1.into()));
        assert_eq!(p("new.deep.key").lookup(&value), Some(&Value::Int(1)));
        assert_eq!(p(r#"m["x.y"]"#).remove(&mut value), Some(Value::Int(1)));
        assert_eq!(p("hosts[1]").remove(&mut value), Some("y".into()));
        assert_eq!(p("hosts").lookup(&value), Some(&v(r#"["z",null]"#)));
        assert!(p("a.b[1]").starts_with(&p("a.b")));
        assert!(!p("ab").starts_with(&p("a")));
    }
}
