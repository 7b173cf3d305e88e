//! The one module that parses YAML text. Everything else sees [`Node`], a YAML value with
//! the span of every scalar, sequence, map and map key, so that swapping the YAML library
//! touches this file only.
//!
//! Scalars resolve with the YAML 1.2 core schema (`yes`/`no` stay strings; quoted scalars
//! are always strings). Anchors and aliases are supported: an alias is a copy of the
//! anchored node, spans included. A stack file holds exactly one document.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::diag::{Diagnostic, Span};
use crate::value::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys in source order; each key is a node so it has its own span.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Parses one YAML document. Errors name file:line:column.
    pub fn parse(file: &Arc<PathBuf>, text: &str) -> Result<Node, Diagnostic> {
        Builder::new(file, text).document()
    }

    /// The plain value, with `${...}` strings left as they are.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Int(*i),
            NodeKind::Float(f) => Value::Float(*f),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::List(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_value()))
                    .collect::<Map>(),
            ),
        }
    }

    /// A map's entry by key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// A map's entry by key, with the key node (for spans that point at the key).
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_str() == key)
            .map(|(k, v)| (k, v))
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// A key's text: map keys are scalars, rendered as written (`1`, `true`, `name`).
    pub fn key_text(&self) -> String {
        self.key_str().into_owned()
    }

    /// [`Node::key_text`] without copying a string key: keys are compared in hot loops.
    pub fn key_str(&self) -> Cow<'_, str> {
        match &self.kind {
            NodeKind::String(s) => Cow::Borrowed(s),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => Cow::Borrowed(""),
            NodeKind::Bool(b) => Cow::Owned(b.to_string()),
            NodeKind::Int(i) => Cow::Owned(i.to_string()),
            NodeKind::Float(f) => Cow::Owned(f.to_string()),
        }
    }

    /// Name of the node's type, for messages (matches [`Value::type_name`]).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "bool",
            NodeKind::Int(_) | NodeKind::Float(_) => "number",
            NodeKind::String(_) => "string",
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "map",
        }
    }

    /// An empty map node at `span` (an absent `properties:` block).
    pub fn empty_map(span: Span) -> Node {
        Node {
            kind: NodeKind::Map(Vec::new()),
            span,
        }
    }
}

/// Parses YAML text with no spans (var files, `--var` values given as YAML/JSON).
pub fn parse_plain(text: &str) -> Result<Value, String> {
    serde_yaml::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Maps with this many keys check duplicates with an index rather than a scan (a stack's
/// `resources` map can hold thousands of keys).
const INDEX_KEYS_FROM: usize = 16;

/// Builds the node tree from the parser's event stream.
struct Builder<'a> {
    file: &'a Arc<PathBuf>,
    text: &'a str,
    parser: Parser<std::str::Chars<'a>>,
    /// Byte offset of each char index: the parser's marks count chars.
    char_bytes: Vec<usize>,
    anchors: HashMap<usize, Node>,
    /// Keys from the root to the node being built, for error field paths.
    path: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Arc<PathBuf>, text: &'a str) -> Self {
        let mut char_bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_bytes.push(text.len());
        Builder {
            file,
            text,
            parser: Parser::new_from_str(text),
            char_bytes,
            anchors: HashMap::new(),
            path: Vec::new(),
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        let i = mark.index().min(self.char_bytes.len() - 1);
        self.char_bytes[i]
    }

    fn span(&self, mark: &Marker, len: usize) -> Span {
        Span::new(
            self.file.clone(),
            mark.line().max(1),
            mark.col() + 1,
            self.offset(mark),
            len,
        )
    }

    fn syntax_error(&self, e: &ScanError) -> Diagnostic {
        Diagnostic::error("stack::yaml_syntax", format!("invalid YAML: {}", e.info()))
            .with_span(self.span(e.marker(), 1))
            .with_detail("the file must be a YAML document (a map of `stack`, `variables`, `providers`, `resources`, `outputs`)")
            .with_help("check indentation and quoting near this place")
    }

    fn next(&mut self) -> Result<(Event, Marker), Diagnostic> {
        self.parser.next_token().map_err(|e| self.syntax_error(&e))
    }

    fn document(mut self) -> Result<Node, Diagnostic> {
        let (ev, mark) = self.next()?;
        debug_assert_eq!(ev, Event::StreamStart);
        let (ev, mark) = match self.next()? {
            (Event::StreamEnd, _) => {
                return Ok(Node {
                    kind: NodeKind::Null,
                    span: self.span(&mark, 0),
                })
            }
            (Event::DocumentStart, _) => self.next()?,
            other => other,
        };
        let root = self.node(ev, mark)?;
        match self.next()? {
            (Event::DocumentEnd, _) => {}
            (_, mark) => {
                return Err(
                    self.syntax_error(&ScanError::new(mark, "expected the end of the document"))
                )
            }
        }
        match self.next()? {
            (Event::StreamEnd, _) => Ok(root),
            (_, mark) => Err(Diagnostic::error(
                "stack::yaml_syntax",
                "the file holds more than one YAML document",
            )
            .with_span(self.span(&mark, 3))
            .with_detail("a stack file holds exactly one document")
            .with_help("put each stack in its own file")),
        }
    }

    fn node(&mut self, ev: Event, mark: Marker) -> Result<Node, Diagnostic> {
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let len = self.scalar_len(&mark, &text, style);
                let kind = resolve_scalar(text, style, tag.as_ref());
                (
                    Node {
                        kind,
                        span: self.span(&mark, len),
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    self.syntax_error(&ScanError::new(mark, "alias to an unknown anchor"))
                })?;
                return Ok(node);
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let end = loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break m;
                    }
                    self.path.push(format!("[{}]", items.len()));
                    let item = self.node(ev, m);
                    self.path.pop();
                    items.push(item?);
                };
                let len = self.offset(&end).saturating_sub(self.offset(&mark)).max(1);
                (
                    Node {
                        kind: NodeKind::Seq(items),
                        span: self.span(&mark, len),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                // Key → entry, for the duplicate check once a map is too big to scan.
                let mut index: HashMap<String, usize> = HashMap::new();
                let end = loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::MappingEnd {
                        break m;
                    }
                    let key = self.node(ev, m)?;
                    if matches!(key.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                        return Err(Diagnostic::error(
                            "stack::yaml_syntax",
                            "a map key must be a plain name",
                        )
                        .with_span(key.span)
                        .with_detail(
                            "complex keys (lists or maps used as keys) are not supported",
                        ));
                    }
                    let name = key.key_text();
                    let seen = if entries.len() < INDEX_KEYS_FROM {
                        entries.iter().position(|(k, _)| k.key_str() == name)
                    } else {
                        if index.is_empty() {
                            for (i, (k, _)) in entries.iter().enumerate() {
                                index.insert(k.key_text(), i);
                            }
                        }
                        index.get(&name).copied()
                    };
                    if let Some((first, _)) = seen.map(|i| &entries[i]) {
                        let mut field = self.field();
                        if !field.is_empty() {
                            field.push('.');
                        }
                        field.push_str(&name);
                        return Err(Diagnostic::error(
                            "stack::duplicate_key",
                            format!("duplicate key `{name}`"),
                        )
                        .with_span(key.span.clone())
                        .with_field(field)
                        .with_detail(format!(
                            "`{name}` is already set at line {}, column {}",
                            first.span.line, first.span.column
                        ))
                        .with_help("remove one of the two entries or merge them"));
                    }
                    if !index.is_empty() {
                        index.insert(name.clone(), entries.len());
                    }
                    let (ev, m) = self.next()?;
                    self.path.push(name);
                    let value = self.node(ev, m);
                    self.path.pop();
                    entries.push((key, value?));
                };
                // A block map's start event is marked after its first key: start at the key.
                let mut span = self.span(&mark, 0);
                if let Some((first, _)) = entries.first() {
                    if first.span.offset < span.offset {
                        span = first.span.clone();
                    }
                }
                span.len = self.offset(&end).saturating_sub(span.offset).max(1);
                (
                    Node {
                        kind: NodeKind::Map(entries),
                        span,
                    },
                    anchor,
                )
            }
            other => {
                return Err(self.syntax_error(&ScanError::new(
                    mark,
                    &format!("unexpected YAML event {other:?}"),
                )))
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// The dotted path of the node being built (`resources.a.properties`).
    fn field(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            if !out.is_empty() && !step.starts_with('[') {
                out.push('.');
            }
            out.push_str(step);
        }
        out
    }

    /// Length in bytes of a scalar as written: the exact text for a one-line plain scalar,
    /// quotes included for a quoted one, the first line otherwise.
    fn scalar_len(&self, mark: &Marker, value: &str, style: TScalarStyle) -> usize {
        let start = self.offset(mark);
        let rest = &self.text[start..];
        let line = rest.split('\n').next().unwrap_or("");
        match style {
            TScalarStyle::Plain if line.starts_with(value) => value.len(),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let quote = if style == TScalarStyle::SingleQuoted {
                    '\''
                } else {
                    '"'
                };
                let mut chars = rest.char_indices().skip(1);
                while let Some((i, c)) = chars.next() {
                    if c == '\\' && quote == '"' {
                        chars.next();
                    } else if c == quote {
                        if quote == '\'' && rest[i + 1..].starts_with('\'') {
                            chars.next();
                            continue;
                        }
                        return i + 1;
                    }
                }
                line.trim_end().len()
            }
            _ => line.trim_end().len().max(1),
        }
    }
}

/// YAML 1.2 core schema resolution of a scalar.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> NodeKind {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return NodeKind::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            if let Ok(i) = i64::from_str_radix(hex, 16) {
                return NodeKind::Int(i);
            }
        }
        return NodeKind::String(text);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c)) {
            if let Ok(i) = i64::from_str_radix(oct, 8) {
                return NodeKind::Int(i);
            }
        }
        return NodeKind::String(text);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(i) => NodeKind::Int(i),
            Err(_) => NodeKind::Float(text.parse().unwrap_or(f64::NAN)),
        };
    }
    if is_core_float(unsigned) {
        if let Ok(f) = text.parse::<f64>() {
            return NodeKind::Float(f);
        }
    }
    NodeKind::String(text)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` — stricter than Rust's float parser,
/// which would also accept `inf` or `NaN`.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    };
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Diagnostic> {
        Node::parse(&Arc::new(PathBuf::from("t.yaml")), text)
    }

    fn scalar(text: &str) -> NodeKind {
        parse(&format!("k: {text}\n"))
            .unwrap()
            .get("k")
            .unwrap()
            .kind
            .clone()
    }

    #[test]
    fn resolves_core_schema_scalars() {
        assert_eq!(scalar("~"), NodeKind::Null);
        assert_eq!(scalar("null"), NodeKind::Null);
        assert_eq!(scalar(""), NodeKind::Null);
        assert_eq!(scalar("true"), NodeKind::Bool(true));
        assert_eq!(scalar("FALSE"), NodeKind::Bool(false));
        assert_eq!(scalar("yes"), NodeKind::String("yes".into()));
        assert_eq!(scalar("42"), NodeKind::Int(42));
        assert_eq!(scalar("-7"), NodeKind::Int(-7));
        assert_eq!(scalar("0x1F"), NodeKind::Int(31));
        assert_eq!(scalar("0o17"), NodeKind::Int(15));
        assert_eq!(scalar("0644"), NodeKind::Int(644));
        assert_eq!(scalar("1.5"), NodeKind::Float(1.5));
        assert_eq!(scalar("1e3"), NodeKind::Float(1000.0));
        assert_eq!(scalar(".5"), NodeKind::Float(0.5));
        assert_eq!(scalar("-.inf"), NodeKind::Float(f64::NEG_INFINITY));
        assert!(matches!(scalar(".nan"), NodeKind::Float(f) if f.is_nan()));
        assert_eq!(scalar("inf"), NodeKind::String("inf".into()));
        assert_eq!(scalar("1.2.3"), NodeKind::String("1.2.3".into()));
        assert_eq!(scalar("0xZZ"), NodeKind::String("0xZZ".into()));
        assert_eq!(scalar("5s"), NodeKind::String("5s".into()));
    }

    #[test]
    fn quoted_scalars_are_strings() {
        assert_eq!(scalar("\"42\""), NodeKind::String("42".into()));
        assert_eq!(scalar("'true'"), NodeKind::String("true".into()));
        assert_eq!(scalar("!!str 12"), NodeKind::String("12".into()));
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "stack: demo\nresources:\n  a:\n    type: \"core.null\"\n";
        let root = parse(text).unwrap();
        let (key, a) = root.get("resources").unwrap().get_entry("a").unwrap();
        assert_eq!((key.span.line, key.span.column), (3, 3));
        let ty = a.get("type").unwrap();
        assert_eq!((ty.span.line, ty.span.column), (4, 11));
        assert_eq!(
            &text[ty.span.offset..ty.span.offset + ty.span.len],
            "\"core.null\""
        );
        assert_eq!((root.span.line, root.span.column), (1, 1));
        let props = root.get("resources").unwrap();
        assert_eq!((props.span.line, props.span.column), (3, 3));
        let name = root.get("stack").unwrap();
        assert_eq!(
            &text[name.span.offset..name.span.offset + name.span.len],
            "demo"
        );
    }

    #[test]
    fn offsets_are_bytes_after_multibyte_text() {
        let text = "a: \"é€\"\nb: x\n";
        let root = parse(text).unwrap();
        let b = root.get("b").unwrap();
        assert_eq!(&text[b.span.offset..b.span.offset + b.span.len], "x");
        assert_eq!((b.span.line, b.span.column), (2, 4));
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let err = parse("a:\n  b: 1\n  b: 2\n").unwrap_err();
        assert_eq!(err.code, "stack::duplicate_key");
        assert_eq!(err.field.as_deref(), Some("a.b"));
        let span = err.span.unwrap();
        assert_eq!((span.line, span.column), (3, 3));
        assert!(err.detail.unwrap().contains("line 2, column 3"));
    }

    #[test]
    fn syntax_errors_and_multiple_documents() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.code, "stack::yaml_syntax");
        assert!(err.span.unwrap().line >= 1);
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.summary.contains("more than one"), "{err}");
        assert_eq!(err.span.unwrap().line, 2);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = parse("base: &b {x: 1}\nother: *b\n").unwrap();
        assert_eq!(
            root.get("other").unwrap().to_value(),
            root.get("base").unwrap().to_value()
        );
    }

    #[test]
    fn empty_text_is_null_and_plain_parsing_works() {
        assert!(parse("").unwrap().is_null());
        let v = parse_plain("{\"a\": [1, true]}").unwrap();
        assert_eq!(v.get("a").unwrap().as_list().unwrap()[1], Value::Bool(true));
        assert!(parse_plain("a: [").is_err());
    }
}
