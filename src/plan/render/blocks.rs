//! Values as people read them in a plan: one attribute per line with its own marker,
//! nested maps and lists as indented blocks (`+ document = {` … `}`), unchanged siblings
//! counted rather than listed, unknowns as `(known after apply)` and secrets as
//! `(sensitive)` at any depth, multi-line strings diffed line by line.

use std::fmt::Write;

use similar::{capture_diff_slices, Algorithm, ChangeTag, DiffTag, TextDiff};

use super::Style;
use crate::value::{Map, PropertyPath, Value, SENSITIVE_TEXT};

/// What a line says happened to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Add,
    Change,
    Remove,
}

/// How a block of attributes renders: colours, and the paths that hide their values or
/// force a replacement.
pub struct Blocks<'a> {
    pub style: Style,
    /// Values at or below these paths show as `(sensitive)`.
    pub secret: &'a [PropertyPath],
    /// Changes at or below these paths are marked `# forces replacement`.
    pub forces: &'a [PropertyPath],
}

impl Blocks<'_> {
    fn glyph(&self, m: Mark) -> String {
        match m {
            Mark::Add => self.style.green("+"),
            Mark::Change => self.style.yellow("~"),
            Mark::Remove => self.style.red("-"),
        }
    }

    fn is_secret(&self, path: &PropertyPath) -> bool {
        self.secret.iter().any(|s| path.starts_with(s))
    }

    /// `# forces replacement` for a line at `path`: the forcing attribute itself, or a
    /// changed leaf inside it.
    fn note(&self, path: &PropertyPath, leaf: bool) -> String {
        let forces = self
            .forces
            .iter()
            .any(|f| path == f || (leaf && path.starts_with(f)));
        if forces {
            self.style.red("  # forces replacement")
        } else {
            String::new()
        }
    }

    /// The attributes of a map that differ between `before` and `after`, one per line at
    /// `indent`, then how many were left out as unchanged. `extra` lines (attributes known
    /// only after apply) follow, aligned with the rest.
    pub fn map_body(
        &self,
        out: &mut String,
        indent: usize,
        path: &PropertyPath,
        before: &Map,
        after: &Map,
        extra: &[&str],
    ) {
        let present = |m: &Map, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut shown = Vec::new();
        let mut hidden = 0;
        for k in keys {
            let (b, a) = (present(before, k), present(after, k));
            if b == a {
                hidden += usize::from(b.is_some());
            } else {
                shown.push((k, b, a));
            }
        }
        let width = shown
            .iter()
            .map(|(k, _, _)| label(k).chars().count())
            .chain(extra.iter().map(|k| label(k).chars().count()))
            .max()
            .unwrap_or(0);
        for (k, b, a) in &shown {
            let at = path.key(k);
            let name = format!("{:width$}", label(k));
            self.attribute(out, indent, Some(&name), &at, b.as_ref(), a.as_ref(), "");
        }
        for k in extra {
            let _ = writeln!(
                out,
                "{}{} {:width$} = (known after apply)",
                pad(indent),
                self.glyph(Mark::Add),
                label(k)
            );
        }
        hidden_line(out, indent, hidden, "attribute");
    }

    /// A change shown under a label that is no property path, as it is.
    pub fn labelled(
        &self,
        out: &mut String,
        indent: usize,
        label: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) {
        let at = PropertyPath::root();
        self.attribute(out, indent, Some(label), &at, before, after, "");
    }

    /// One attribute (`name` set) or list element (`name` unset) that is added, removed
    /// or changed. `trail` follows the value (`,` for list elements).
    #[allow(clippy::too_many_arguments)]
    fn attribute(
        &self,
        out: &mut String,
        indent: usize,
        name: Option<&str>,
        path: &PropertyPath,
        before: Option<&Value>,
        after: Option<&Value>,
        trail: &str,
    ) {
        match (before, after) {
            (None, Some(a)) => self.whole(out, indent, name, path, a, Mark::Add, trail),
            (Some(b), None) => self.whole(out, indent, name, path, b, Mark::Remove, trail),
            (Some(b), Some(a)) => self.change(out, indent, name, path, b, a, trail),
            (None, None) => {}
        }
    }

    /// A value shown whole, every line under one marker.
    #[allow(clippy::too_many_arguments)]
    fn whole(
        &self,
        out: &mut String,
        indent: usize,
        name: Option<&str>,
        path: &PropertyPath,
        v: &Value,
        mark: Mark,
        trail: &str,
    ) {
        let head = self.head(indent, mark, name);
        match v {
            Value::Map(m) if !m.is_empty() => {
                let _ = writeln!(out, "{head}{{{}", self.note(path, false));
                let entries: Vec<(&String, &Value)> =
                    m.iter().filter(|(_, v)| !v.is_null()).collect();
                let width = entries
                    .iter()
                    .map(|(k, _)| label(k).chars().count())
                    .max()
                    .unwrap_or(0);
                for (k, v) in entries {
                    let name = format!("{:width$}", label(k));
                    self.whole(out, indent + 4, Some(&name), &path.key(k), v, mark, "");
                }
                let _ = writeln!(out, "{}}}{trail}", pad(indent + 2));
            }
            Value::List(items) if !items.is_empty() => {
                let _ = writeln!(out, "{head}[{}", self.note(path, false));
                for (i, item) in items.iter().enumerate() {
                    self.whole(out, indent + 4, None, &path.index(i), item, mark, ",");
                }
                let _ = writeln!(out, "{}]{trail}", pad(indent + 2));
            }
            leaf => {
                let _ = writeln!(
                    out,
                    "{head}{}{trail}{}",
                    self.leaf(path, leaf),
                    self.note(path, true)
                );
            }
        }
    }

    /// A value that differs on both sides: maps and lists compare inside, multi-line text
    /// line by line, other values as `before -> after`.
    #[allow(clippy::too_many_arguments)]
    fn change(
        &self,
        out: &mut String,
        indent: usize,
        name: Option<&str>,
        path: &PropertyPath,
        before: &Value,
        after: &Value,
        trail: &str,
    ) {
        let head = self.head(indent, Mark::Change, name);
        match (before, after) {
            (Value::Map(b), Value::Map(a)) => {
                let _ = writeln!(out, "{head}{{{}", self.note(path, false));
                self.map_body(out, indent + 4, path, b, a, &[]);
                let _ = writeln!(out, "{}}}{trail}", pad(indent + 2));
            }
            (Value::List(b), Value::List(a)) => {
                let _ = writeln!(out, "{head}[{}", self.note(path, false));
                self.list_body(out, indent + 4, path, b, a);
                let _ = writeln!(out, "{}]{trail}", pad(indent + 2));
            }
            (Value::String(b), Value::String(a))
                if !self.is_secret(path) && (b.contains('\n') || a.contains('\n')) =>
            {
                let _ = writeln!(out, "{head}<<-{}", self.note(path, true));
                self.text_diff(out, indent + 4, b, a);
            }
            (b, a) if is_leaf(b) && is_leaf(a) => {
                let _ = writeln!(
                    out,
                    "{head}{} -> {}{trail}{}",
                    self.leaf(path, b),
                    self.leaf(path, a),
                    self.note(path, true)
                );
            }
            // A map became a list, a value, or unknown: the old one goes, the new one comes.
            (b, a) => {
                self.whole(out, indent, name, path, b, Mark::Remove, trail);
                self.whole(out, indent, name, path, a, Mark::Add, trail);
            }
        }
    }

    /// List elements matched by value: unchanged runs counted, added and removed elements
    /// shown whole, and an element replaced by one of the same shape compared inside.
    fn list_body(
        &self,
        out: &mut String,
        indent: usize,
        path: &PropertyPath,
        before: &[Value],
        after: &[Value],
    ) {
        let key = |v: &Value| v.to_json().to_string();
        let b_keys: Vec<String> = before.iter().map(key).collect();
        let a_keys: Vec<String> = after.iter().map(key).collect();
        for op in capture_diff_slices(Algorithm::Myers, &b_keys, &a_keys) {
            let (tag, old, new) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => hidden_line(out, indent, old.len(), "element"),
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    let pairs = if tag == DiffTag::Replace {
                        old.len().min(new.len())
                    } else {
                        0
                    };
                    for k in 0..pairs {
                        let (i, j) = (old.start + k, new.start + k);
                        let (b, a) = (&before[i], &after[j]);
                        if same_shape(b, a) {
                            self.change(out, indent, None, &path.index(j), b, a, ",");
                        } else {
                            self.whole(out, indent, None, &path.index(i), b, Mark::Remove, ",");
                            self.whole(out, indent, None, &path.index(j), a, Mark::Add, ",");
                        }
                    }
                    let removed = old.start + pairs..old.end;
                    for (i, b) in removed.clone().zip(&before[removed]) {
                        self.whole(out, indent, None, &path.index(i), b, Mark::Remove, ",");
                    }
                    let added = new.start + pairs..new.end;
                    for (j, a) in added.clone().zip(&after[added]) {
                        self.whole(out, indent, None, &path.index(j), a, Mark::Add, ",");
                    }
                }
            }
        }
    }

    fn text_diff(&self, out: &mut String, indent: usize, before: &str, after: &str) {
        let diff = TextDiff::from_lines(before, after);
        for change in diff.iter_all_changes() {
            let line = change.value().trim_end_matches('\n');
            let _ = match change.tag() {
                ChangeTag::Delete => {
                    writeln!(
                        out,
                        "{}{}",
                        pad(indent),
                        self.style.red(&format!("- {line}"))
                    )
                }
                ChangeTag::Insert => {
                    writeln!(
                        out,
                        "{}{}",
                        pad(indent),
                        self.style.green(&format!("+ {line}"))
                    )
                }
                ChangeTag::Equal => writeln!(out, "{}{line}", pad(indent + 2)),
            };
        }
    }

    /// The start of a line: indent, marker, and `name = ` for an attribute.
    fn head(&self, indent: usize, mark: Mark, name: Option<&str>) -> String {
        match name {
            Some(name) => format!("{}{} {name} = ", pad(indent), self.glyph(mark)),
            None => format!("{}{} ", pad(indent), self.glyph(mark)),
        }
    }

    fn leaf(&self, path: &PropertyPath, v: &Value) -> String {
        if self.is_secret(path) && !matches!(v, Value::Unknown) {
            SENSITIVE_TEXT.into()
        } else {
            v.render()
        }
    }
}

/// A value that prints on one line: not a non-empty map or list.
fn is_leaf(v: &Value) -> bool {
    match v {
        Value::Map(m) => m.is_empty(),
        Value::List(l) => l.is_empty(),
        _ => true,
    }
}

/// Two maps or two lists: compared inside rather than replaced whole.
fn same_shape(a: &Value, b: &Value) -> bool {
    !is_leaf(a)
        && !is_leaf(b)
        && matches!(
            (a, b),
            (Value::Map(_), Value::Map(_)) | (Value::List(_), Value::List(_))
        )
}

/// A key as written in a block: bare when it is a plain name, quoted otherwise
/// (`"eks.amazonaws.com/role-arn"`).
fn label(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn hidden_line(out: &mut String, indent: usize, n: usize, what: &str) {
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        let _ = writeln!(out, "{}# ({n} unchanged {what}{s} hidden)", pad(indent + 2));
    }
}
