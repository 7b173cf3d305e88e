//! The one module that parses YAML text. Everything else sees [`Node`], a YAML value with
//! the span of every scalar, sequence, map and map key, so that swapping the YAML library
//! touches this file only.
//!
//! Scalars resolve with the YAML 1.2 core schema (`yes`/`no` stay strings; quoted scalars
//! are always strings). Anchors and aliases are supported: an alias is a copy of the
//! anchored node, spans included. A stack file holds exactly one document.
//!
//! Every document parsed here, spanned or plain, is held to [`MAX_DEPTH`] levels of
//! nesting and [`MAX_NODES`] values, aliases counted at their expanded size, so that a
//! small hostile document (a "billion laughs" of nested aliases, thousands of `[`) is an
//! error rather than gigabytes of memory or a stack overflow.

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
        Node::parse_source(file, &Arc::new(text.to_string()))
    }

    /// Like [`Node::parse`], with every span pointing into `text`, so a diagnostic shows
    /// its excerpt from the text as loaded.
    pub fn parse_source(file: &Arc<PathBuf>, text: &Arc<String>) -> Result<Node, Diagnostic> {
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

/// Deepest nesting of lists and maps in a document. Kubernetes CRD schemas, the deepest
/// documents trustplane meets, stay well under it; it matches serde_yaml's own limit.
pub const MAX_DEPTH: usize = 128;

/// Most values (scalars, lists, maps, map keys) in a document, each alias counting as the
/// size of what it copies. A 10,000-resource stack holds about 100,000; 250,000 keep
/// what a document can build under 100 MB.
pub const MAX_NODES: usize = 250_000;

/// A limit a document went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitHit {
    Depth,
    Nodes,
    Aliases,
}

impl LimitHit {
    fn code(self) -> &'static str {
        match self {
            LimitHit::Depth => "input::too_deep",
            LimitHit::Nodes => "input::too_many_values",
            LimitHit::Aliases => "input::alias_expansion",
        }
    }

    fn summary(self) -> String {
        match self {
            LimitHit::Depth => format!("lists and maps nest deeper than {MAX_DEPTH} levels"),
            LimitHit::Nodes => format!("the document holds more than {MAX_NODES} values"),
            LimitHit::Aliases => {
                format!("aliases expand the document to more than {MAX_NODES} values")
            }
        }
    }

    fn help(self) -> &'static str {
        match self {
            LimitHit::Depth => "flatten the structure; no stack, values file or manifest needs this depth",
            LimitHit::Nodes => "split the document into several files",
            LimitHit::Aliases => "each `*alias` copies its anchored value, so aliases of aliases grow exponentially; write the values out or use fewer aliases",
        }
    }
}

/// Depth and size of the document read so far.
#[derive(Debug, Default)]
struct Budget {
    depth: usize,
    nodes: usize,
}

impl Budget {
    fn enter(&mut self) -> Result<(), LimitHit> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(LimitHit::Depth);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Counts `n` more values; `aliased` when they are an alias's copy.
    fn add(&mut self, n: usize, aliased: bool) -> Result<(), LimitHit> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(if aliased {
                LimitHit::Aliases
            } else {
                LimitHit::Nodes
            });
        }
        Ok(())
    }
}

/// The first character YAML does not allow in a stream (C0 and C1 controls other than
/// tab, line breaks and NEL; DEL; U+FFFE and U+FFFF), with its 1-based line and column.
/// A NUL inside a name would otherwise pass through to state keys and file names.
fn forbidden_character(text: &str) -> Option<(usize, usize, char)> {
    let mut line = 1;
    let mut column = 0;
    for c in text.chars() {
        column += 1;
        let allowed = match c {
            '\t' | '\r' | '\u{85}' => true,
            '\n' => {
                line += 1;
                column = 0;
                true
            }
            '\u{fffe}' | '\u{ffff}' => false,
            c => !c.is_control(),
        };
        if !allowed {
            return Some((line, column, c));
        }
    }
    None
}

fn forbidden_character_text(c: char) -> String {
    format!(
        "the control character U+{:04X}, which YAML does not allow in a file",
        c as u32
    )
}

/// Checks a plain (unspanned) YAML stream against the limits before serde_yaml builds
/// it: serde_yaml bounds depth but lets aliases expand up to 100 times the document.
/// `Err` holds the 1-based number of the document at fault and why.
fn check_plain(text: &str) -> Result<(), (usize, String)> {
    if let Some((line, column, c)) = forbidden_character(text) {
        let document = text
            .lines()
            .take(line)
            .filter(|l| l.starts_with("---"))
            .count()
            .max(1);
        return Err((document, format!(
            "line {line}, column {column} holds {}; remove it, or write it as an escape (\"\\x{:02x}\") in a double-quoted string",
            forbidden_character_text(c),
            c as u32
        )));
    }
    let mut parser = Parser::new_from_str(text);
    let mut budget = Budget::default();
    // Anchor id → size of the anchored value; open collections with their anchor and the
    // count at their start.
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut document = 1;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            let at = format!(
                "line {}, column {}",
                e.marker().line(),
                e.marker().col() + 1
            );
            (document, format!("{} at {at}", e.info()))
        })?;
        if let Event::Scalar(_, _, _, Some(tag))
        | Event::SequenceStart(_, Some(tag))
        | Event::MappingStart(_, Some(tag)) = &event
        {
            if !is_core_tag(tag) {
                return Err((
                    document,
                    format!(
                    "the YAML tag `{}{}` is not supported (at line {}, column {}); remove the tag",
                    if tag.handle == CORE_TAG_PREFIX { "!!" } else { &tag.handle },
                    tag.suffix,
                    mark.line(),
                    mark.col() + 1
                ),
                ));
            }
        }
        let hit = match event {
            Event::StreamEnd => return Ok(()),
            Event::Scalar(_, _, anchor, _) => {
                if anchor > 0 {
                    sizes.insert(anchor, 1);
                }
                budget.add(1, false)
            }
            Event::Alias(id) => budget.add(sizes.get(&id).copied().unwrap_or(1), true),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((anchor, budget.nodes));
                budget.add(1, false).and_then(|()| budget.enter())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                budget.leave();
                if let Some((anchor, start)) = open.pop() {
                    if anchor > 0 {
                        sizes.insert(anchor, budget.nodes - start);
                    }
                }
                Ok(())
            }
            Event::DocumentEnd => {
                // Each document of a stream has its own anchors and its own budget.
                sizes.clear();
                budget = Budget::default();
                document += 1;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(hit) = hit {
            return Err((
                document,
                format!(
                    "{} (at line {}, column {}); {}",
                    hit.summary(),
                    mark.line(),
                    mark.col() + 1,
                    hit.help()
                ),
            ));
        }
    }
}

/// Parses YAML text with no spans (var files, values files, `--var` values given as
/// YAML/JSON), within the limits.
pub fn parse_plain(text: &str) -> Result<Value, String> {
    check_plain(text).map_err(|(_, why)| why)?;
    serde_yaml::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Parses every document of a YAML stream (a Kubernetes manifest file), within the limits;
/// `Err` holds the 1-based number of the failing document and why.
pub fn parse_plain_documents(text: &str) -> Result<Vec<Value>, (usize, String)> {
    use serde::Deserialize;
    check_plain(text)?;
    serde_yaml::Deserializer::from_str(text)
        .enumerate()
        .map(|(i, doc)| Value::deserialize(doc).map_err(|e| (i + 1, e.to_string())))
        .collect()
}

/// Maps with this many keys check duplicates with an index rather than a scan (a stack's
/// `resources` map can hold thousands of keys).
const INDEX_KEYS_FROM: usize = 16;

/// Builds the node tree from the parser's event stream.
struct Builder<'a> {
    file: &'a Arc<PathBuf>,
    text: &'a str,
    /// `text`, shared with every span.
    source: &'a Arc<String>,
    parser: Parser<std::str::Chars<'a>>,
    /// Byte offset of each char index (the parser's marks count chars); `None` for ASCII
    /// text, where the two are equal. `u32` suffices: files are far below 4 GiB.
    char_bytes: Option<Vec<u32>>,
    /// Anchored nodes, with their size in values.
    anchors: HashMap<usize, (Node, usize)>,
    budget: Budget,
    /// Keys from the root to the node being built, for error field paths.
    path: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Arc<PathBuf>, source: &'a Arc<String>) -> Self {
        let text = source.as_str();
        let char_bytes = (!text.is_ascii()).then(|| {
            let mut table: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
            table.push(text.len() as u32);
            table
        });
        Builder {
            file,
            text,
            source,
            parser: Parser::new_from_str(text),
            char_bytes,
            anchors: HashMap::new(),
            budget: Budget::default(),
            path: Vec::new(),
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        match &self.char_bytes {
            Some(table) => table[mark.index().min(table.len() - 1)] as usize,
            None => mark.index().min(self.text.len()),
        }
    }

    fn tag_error(&self, tag: &Tag, mark: &Marker) -> Diagnostic {
        let written = match tag.handle.as_str() {
            CORE_TAG_PREFIX => format!("!!{}", tag.suffix),
            handle => format!("{handle}{}", tag.suffix),
        };
        let mut d = Diagnostic::error(
            "stack::yaml_tag",
            format!("the YAML tag `{written}` is not supported"),
        )
        .with_span(self.span(mark, 1))
        .with_detail("trustplane reads plain YAML values; a tag asks for a type of another program, which is never constructed")
        .with_help("remove the tag (quote the value to make it a string)");
        let field = self.field();
        if !field.is_empty() {
            d = d.with_field(field);
        }
        d
    }

    fn limit_error(&self, hit: LimitHit, mark: &Marker) -> Diagnostic {
        let mut d = Diagnostic::error(hit.code(), hit.summary())
            .with_span(self.span(mark, 1))
            .with_detail(format!(
                "trustplane reads at most {MAX_DEPTH} levels of nesting and {MAX_NODES} values per document"
            ))
            .with_help(hit.help());
        let field = self.field();
        if !field.is_empty() {
            d = d.with_field(field);
        }
        d
    }

    fn span(&self, mark: &Marker, len: usize) -> Span {
        Span::new(
            self.file.clone(),
            mark.line().max(1),
            mark.col() + 1,
            self.offset(mark),
            len,
        )
        .with_source(self.source)
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
        if let Some((line, column, c)) = forbidden_character(self.text) {
            let offset = self
                .text
                .split_inclusive('\n')
                .take(line - 1)
                .map(str::len)
                .sum::<usize>()
                + self.text.lines().nth(line - 1).map_or(0, |l| {
                    l.char_indices().nth(column - 1).map_or(0, |(i, _)| i)
                });
            return Err(Diagnostic::error(
                "input::control_character",
                format!("line {line}, column {column} holds {}", forbidden_character_text(c)),
            )
            .with_span(
                Span::new(self.file.clone(), line, column, offset, c.len_utf8())
                    .with_source(self.source),
            )
            .with_help(format!(
                "remove it; if it is meant as data, write it as an escape (\"\\x{:02x}\") in a double-quoted string",
                c as u32
            )));
        }
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
        let start = self.budget.nodes;
        let counted = match &ev {
            Event::Alias(_) => Ok(()),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.budget.add(1, false).and_then(|()| self.budget.enter())
            }
            _ => self.budget.add(1, false),
        };
        counted.map_err(|hit| self.limit_error(hit, &mark))?;
        let tag = match &ev {
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, tag)
            | Event::MappingStart(_, tag) => tag.as_ref(),
            _ => None,
        };
        if let Some(tag) = tag.filter(|t| !is_core_tag(t)) {
            return Err(self.tag_error(tag, &mark));
        }
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
                let (node, size) = self.anchors.get(&id).cloned().ok_or_else(|| {
                    self.syntax_error(&ScanError::new(mark, "alias to an unknown anchor"))
                })?;
                self.budget
                    .add(size, true)
                    .map_err(|hit| self.limit_error(hit, &mark))?;
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
                self.budget.leave();
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
                self.budget.leave();
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
            let size = self.budget.nodes - start;
            self.anchors.insert(anchor, (node.clone(), size));
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
        // Only when needed: scanning to the end of the line for every scalar would make
        // a document written on one long line quadratic.
        let line = || rest.split('\n').next().unwrap_or("");
        match style {
            TScalarStyle::Plain if rest.starts_with(value) && !value.contains('\n') => value.len(),
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
                line().trim_end().len()
            }
            _ => line().trim_end().len().max(1),
        }
    }
}

/// The handle `!!` expands to.
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Tags of the YAML core schema, which only restate what a value already is.
fn is_core_tag(tag: &Tag) -> bool {
    matches!(tag.handle.as_str(), "!!" | CORE_TAG_PREFIX)
        && matches!(
            tag.suffix.as_str(),
            "str" | "int" | "float" | "bool" | "null" | "seq" | "map"
        )
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

    fn bomb() -> String {
        let mut text = "a: &a [x, x, x, x, x, x, x, x, x]\n".to_string();
        for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            text.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 9].join(",")
            ));
        }
        text
    }

    #[test]
    fn aliases_count_at_their_expanded_size() {
        let err = parse(&bomb()).unwrap_err();
        assert_eq!(err.code, "input::alias_expansion");
        let err = parse_plain(&bomb()).unwrap_err();
        assert!(err.contains("aliases expand the document"), "{err}");
        // Aliases of a small anchor stay fine.
        let root = parse("a: &a {x: 1}\nb: [*a, *a, *a]\n").unwrap();
        assert_eq!(root.get("b").unwrap().as_seq().unwrap().len(), 3);
    }

    #[test]
    fn nesting_is_bounded_without_recursing_past_the_limit() {
        let deep = "- ".repeat(20_000) + "x\n";
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.code, "input::too_deep");
        assert!(parse_plain(&deep)
            .unwrap_err()
            .contains("nest deeper than 128"));
        let ok = "- ".repeat(MAX_DEPTH) + "x\n";
        parse(&ok).unwrap();
        parse_plain(&ok).unwrap();
        let err = parse_plain_documents(&format!("a: 1\n---\n{deep}")).unwrap_err();
        assert_eq!(err.0, 2, "{err:?}");
    }

    #[test]
    fn tags_and_control_characters_are_refused() {
        let err = parse("k: !!python/object:os.system x\n").unwrap_err();
        assert_eq!(err.code, "stack::yaml_tag");
        assert!(
            err.summary.contains("`!!python/object:os.system`"),
            "{}",
            err.summary
        );
        assert_eq!(scalar("!!int 5"), NodeKind::Int(5));
        assert!(parse_plain("k: !Ref x\n").unwrap_err().contains("`!Ref`"));
        let err = parse("a: 1\nb: x\u{0}y\n").unwrap_err();
        assert_eq!(err.code, "input::control_character");
        let span = err.span.unwrap();
        assert_eq!((span.line, span.column, span.offset), (2, 5, 9));
        assert!(parse_plain("k: \u{1b}[2J\n")
            .unwrap_err()
            .contains("U+001B"));
        // Escapes in double quotes are data, and a leading byte order mark is allowed.
        assert_eq!(scalar("\"\\e\""), NodeKind::String("\u{1b}".into()));
        parse("\u{feff}k: v\n").unwrap();
    }

    #[test]
    fn empty_text_is_null_and_plain_parsing_works() {
        assert!(parse("").unwrap().is_null());
        let v = parse_plain("{\"a\": [1, true]}").unwrap();
        assert_eq!(v.get("a").unwrap().as_list().unwrap()[1], Value::Bool(true));
        assert!(parse_plain("a: [").is_err());
    }
}
