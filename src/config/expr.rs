//! `${...}` references. A string that is only one reference takes the referenced value
//! with its type (list, map, number); a reference inside a longer string interpolates.
//! `$${` writes a literal `${`.

use super::yaml::{Node, NodeKind};
use crate::diag::{did_you_mean, Diagnostic, Span};
use crate::value::{path_to_string, PathStep, Value};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefTarget {
    /// `${var.NAME}`
    Variable(String),
    /// `${NAME.attr...}`
    Resource(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub target: RefTarget,
    /// Steps after the target: `${ca.subject.names[0]}` → subject, names, [0].
    pub path: Vec<PathStep>,
    /// The text between `${` and `}`.
    pub text: String,
    pub span: Span,
}

/// What references resolve against. Implemented by the planner.
pub trait Scope {
    fn variable(&self, name: &str) -> Option<Value>;
    /// A resource's properties and attributes merged in one map; `Unknown` where not known yet.
    fn resource(&self, name: &str) -> Option<Value>;
}

/// A scope in which every name exists and every value is unknown: evaluating through it
/// yields the shape of a node with references as `Unknown` (what validation hands providers).
pub struct UnknownScope;

impl Scope for UnknownScope {
    fn variable(&self, _name: &str) -> Option<Value> {
        Some(Value::Unknown)
    }
    fn resource(&self, _name: &str) -> Option<Value> {
        Some(Value::Unknown)
    }
}

/// One piece of a string: literal text or a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Text(String),
    Ref(Reference),
}

/// Splits a string scalar into text and references. `span` is the scalar's span; reference
/// spans are exact when the scalar is written on one line, else the scalar's own span.
pub fn parse_template(text: &str, span: &Span) -> Result<Vec<Segment>, Diagnostic> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut consumed = 0usize;
    while let Some(i) = rest.find('$') {
        let after = &rest[i..];
        if let Some(escaped_rest) = after.strip_prefix("$${") {
            literal.push_str(&rest[..i]);
            literal.push_str("${");
            rest = escaped_rest;
            consumed += i + 3;
        } else if let Some(inner_and_more) = after.strip_prefix("${") {
            literal.push_str(&rest[..i]);
            let start = consumed + i;
            let Some(close) = inner_and_more.find('}') else {
                return Err(
                    Diagnostic::error("stack::invalid_reference", "unterminated `${`")
                        .with_span(sub_span(span, text, start, text.len() - start))
                        .with_detail("a reference is written `${name.attribute}` or `${var.name}`")
                        .with_help("add the closing `}`, or write `$${` for a literal `${`"),
                );
            };
            let inner = &inner_and_more[..close];
            let ref_span = sub_span(span, text, start, close + 3);
            let reference = parse_reference(inner, ref_span)?;
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Ref(reference));
            rest = &inner_and_more[close + 1..];
            consumed = start + close + 3;
        } else {
            literal.push_str(&rest[..=i]);
            rest = &after[1..];
            consumed += i + 1;
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() || segments.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(segments)
}

/// True when the text holds a reference (a `${` that is not escaped).
pub fn has_reference(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(1))
        .any(|i| bytes[i] == b'$' && bytes[i + 1] == b'{' && (i == 0 || bytes[i - 1] != b'$'))
}

/// The span of `text[start..start+len]` inside a scalar written at `span`.
fn sub_span(span: &Span, text: &str, start: usize, len: usize) -> Span {
    // A one-line scalar's span covers exactly its text (plain) or its text in quotes
    // (quoted, no escapes); otherwise the source and the value differ and we keep the node's.
    let base = if span.len == text.len() {
        0
    } else if span.len == text.len() + 2 {
        1
    } else {
        return span.clone();
    };
    Span {
        column: span.column + base + text[..start].chars().count(),
        offset: span.offset + base + start,
        len,
        ..span.clone()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_reference(inner: &str, span: Span) -> Result<Reference, Diagnostic> {
    let text = inner.trim();
    let invalid = |why: &str| {
        Diagnostic::error(
            "stack::invalid_reference",
            format!("invalid reference `${{{inner}}}`"),
        )
        .with_span(span.clone())
        .with_detail(why.to_string())
        .with_help("write `${resource.attribute}`, `${resource.attr.nested[0]}` or `${var.name}`")
    };
    let steps = if text.contains("..") || text.ends_with('.') || text.starts_with('[') {
        None
    } else {
        crate::value::parse_path(text)
    };
    let Some(mut steps) = steps else {
        return Err(invalid(
            "the text between `${` and `}` is not a name followed by attributes",
        ));
    };
    let Some(PathStep::Key(head)) = steps.first().cloned() else {
        return Err(invalid("a reference starts with a resource name or `var`"));
    };
    steps.remove(0);
    let target = if head == "var" {
        match steps.first().cloned() {
            Some(PathStep::Key(name)) => {
                steps.remove(0);
                RefTarget::Variable(name)
            }
            _ => {
                return Err(invalid(
                    "`var` must be followed by a variable name: `${var.name}`",
                ))
            }
        }
    } else {
        RefTarget::Resource(head)
    };
    let name = match &target {
        RefTarget::Variable(n) | RefTarget::Resource(n) => n,
    };
    if !valid_name(name) {
        return Err(invalid(&format!(
            "`{name}` is not a valid name: names use letters, digits, `_` and `-`, starting with a letter"
        )));
    }
    if matches!(target, RefTarget::Resource(_)) && steps.is_empty() {
        return Err(invalid(
            "a resource reference names an attribute: `${resource.attribute}`",
        ));
    }
    Ok(Reference {
        target,
        path: steps,
        text: text.to_string(),
        span,
    })
}

/// Every reference in a node, in source order. Malformed ones are diagnostics.
pub fn references(node: &Node) -> (Vec<Reference>, Vec<Diagnostic>) {
    let mut refs = Vec::new();
    let mut diags = Vec::new();
    collect(node, &mut refs, &mut diags);
    (refs, diags)
}

fn collect(node: &Node, refs: &mut Vec<Reference>, diags: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::String(s) if s.contains("${") => match parse_template(s, &node.span) {
            Ok(segments) => refs.extend(segments.into_iter().filter_map(|seg| match seg {
                Segment::Ref(r) => Some(r),
                Segment::Text(_) => None,
            })),
            Err(d) => diags.push(d),
        },
        NodeKind::Seq(items) => items.iter().for_each(|i| collect(i, refs, diags)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                if let Err(d) = map_key(k) {
                    diags.push(d);
                }
                collect(v, refs, diags);
            }
        }
        _ => {}
    }
}

/// A map key's text: references are not allowed there, `$${` unescapes.
fn map_key(key: &Node) -> Result<String, Diagnostic> {
    let text = key.key_text();
    if has_reference(&text) {
        return Err(Diagnostic::error(
            "stack::invalid_reference",
            "references are not supported in map keys",
        )
        .with_span(key.span.clone())
        .with_detail(format!("the key `{text}` holds `${{`"))
        .with_help("use a fixed key, or write `$${` for a literal `${`"));
    }
    Ok(text.replace("$${", "${"))
}

/// Evaluates a node into a value, resolving references through `scope`.
/// `field` is the node's field path, used in diagnostics.
pub fn evaluate(node: &Node, scope: &dyn Scope, field: &str) -> Result<Value, Diagnostic> {
    match &node.kind {
        NodeKind::Null => Ok(Value::Null),
        NodeKind::Bool(b) => Ok(Value::Bool(*b)),
        NodeKind::Int(i) => Ok(Value::Int(*i)),
        NodeKind::Float(f) => Ok(Value::Float(*f)),
        NodeKind::String(s) => evaluate_string(s, node, scope, field),
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| evaluate(item, scope, &format!("{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        NodeKind::Map(entries) => {
            let mut map = crate::value::Map::new();
            for (k, v) in entries {
                let key = map_key(k).map_err(|d| d.with_field(field.to_string()))?;
                let child = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                map.insert(key, evaluate(v, scope, &child)?);
            }
            Ok(Value::Map(map))
        }
    }
}

fn evaluate_string(
    text: &str,
    node: &Node,
    scope: &dyn Scope,
    field: &str,
) -> Result<Value, Diagnostic> {
    if !text.contains('$') {
        return Ok(Value::String(text.to_string()));
    }
    let segments = parse_template(text, &node.span).map_err(|d| d.with_field(field))?;
    if let [Segment::Ref(r)] = segments.as_slice() {
        return resolve(r, scope, field);
    }
    let mut out = String::new();
    let mut unknown = false;
    // A string built from a secret is a secret.
    let mut secret = false;
    for seg in &segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Ref(r) => {
                let value = resolve(r, scope, field)?;
                secret |= value.contains_sensitive();
                // A digest's value is not known here: like a value known only later.
                if matches!(value, Value::Unknown | Value::Redacted(_)) {
                    unknown = true;
                    continue;
                }
                match value.to_interpolated() {
                    Some(s) => out.push_str(&s),
                    None if value.contains_unknown() => unknown = true,
                    None => {
                        return Err(Diagnostic::error(
                            "stack::type_mismatch",
                            format!("cannot insert a {} into a string", value.type_name()),
                        )
                        .with_span(r.span.clone())
                        .with_field(field)
                        .with_detail(format!(
                            "`${{{}}}` is a {}; only strings, numbers and booleans can be part of a longer string",
                            r.text,
                            value.type_name()
                        ))
                        .with_help(format!(
                            "use the reference alone as the whole value: \"${{{}}}\"",
                            r.text
                        )))
                    }
                }
            }
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else if secret {
        Value::sensitive(Value::String(out))
    } else {
        Value::String(out)
    })
}

/// Resolves one reference to its value.
pub fn resolve(r: &Reference, scope: &dyn Scope, field: &str) -> Result<Value, Diagnostic> {
    let (kind, name, root) = match &r.target {
        RefTarget::Variable(name) => ("variable", name, scope.variable(name)),
        RefTarget::Resource(name) => ("resource", name, scope.resource(name)),
    };
    let Some(root) = root else {
        let code = match r.target {
            RefTarget::Variable(_) => "stack::unknown_variable",
            RefTarget::Resource(_) => "stack::unknown_reference",
        };
        return Err(
            Diagnostic::error(code, format!("reference to an undeclared {kind} `{name}`"))
                .with_span(r.span.clone())
                .with_field(field),
        );
    };
    let mut cur = &root;
    for (i, step) in r.path.iter().enumerate() {
        let next = match (step, cur) {
            (_, Value::Unknown) => return Ok(Value::Unknown),
            (PathStep::Key(k), Value::Map(m)) => m.get(k),
            (PathStep::Index(n), Value::List(l)) => l.get(*n),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Err(missing_step(r, i, cur, kind, name, field)),
        }
    }
    Ok(cur.clone())
}

fn missing_step(
    r: &Reference,
    i: usize,
    at: &Value,
    kind: &str,
    name: &str,
    field: &str,
) -> Diagnostic {
    let parent = if i == 0 {
        format!("{kind} `{name}`")
    } else {
        format!("`{name}.{}`", path_to_string(&r.path[..i]))
    };
    let d = Diagnostic::error(
        "stack::unknown_attribute",
        format!(
            "`${{{}}}`: {parent} has no `{}`",
            r.text,
            step_text(&r.path[i])
        ),
    )
    .with_span(r.span.clone())
    .with_field(field);
    match (&r.path[i], at) {
        (PathStep::Key(k), Value::Map(m)) => {
            let d = d.with_detail(format!(
                "available: {}",
                m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            ));
            match did_you_mean(k, m.keys().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d,
            }
        }
        (PathStep::Index(n), Value::List(l)) => d.with_detail(format!(
            "index {n} is out of range: the list has {} items",
            l.len()
        )),
        (_, other) => d.with_detail(format!("it is a {}", other.type_name())),
    }
}

fn step_text(step: &PathStep) -> String {
    match step {
        PathStep::Key(k) => k.clone(),
        PathStep::Index(i) => format!("[{i}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    struct TestScope {
        vars: BTreeMap<String, Value>,
        resources: BTreeMap<String, Value>,
    }

    impl Scope for TestScope {
        fn variable(&self, name: &str) -> Option<Value> {
            self.vars.get(name).cloned()
        }
        fn resource(&self, name: &str) -> Option<Value> {
            self.resources.get(name).cloned()
        }
    }

    fn scope() -> TestScope {
        let ca: Value = serde_json::from_str(
            r#"{"arn": "arn:aws:acm-pca:ca/1", "days": 3650, "subject": {"names": ["a", "b"]}}"#,
        )
        .unwrap();
        TestScope {
            vars: [
                ("region".to_string(), Value::from("eu-west-1")),
                (
                    "zones".to_string(),
                    Value::List(vec!["a".into(), "b".into()]),
                ),
            ]
            .into_iter()
            .collect(),
            resources: [
                ("ca".to_string(), ca),
                ("later".to_string(), Value::Unknown),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn node(yaml: &str) -> Node {
        Node::parse(&Arc::new(PathBuf::from("t.yaml")), &format!("v: {yaml}\n"))
            .unwrap()
            .get("v")
            .unwrap()
            .clone()
    }

    fn eval(yaml: &str) -> Result<Value, Diagnostic> {
        evaluate(&node(yaml), &scope(), "v")
    }

    #[test]
    fn whole_string_references_keep_their_type() {
        assert_eq!(eval("${ca.days}").unwrap(), Value::Int(3650));
        assert_eq!(
            eval("\"${var.zones}\"").unwrap().as_list().unwrap().len(),
            2
        );
        assert_eq!(eval("${ca.subject.names[1]}").unwrap(), Value::from("b"));
        assert!(eval("${ca.subject}").unwrap().as_map().is_some());
        assert_eq!(eval("${ later.arn }").unwrap(), Value::Unknown);
    }

    #[test]
    fn references_inside_text_interpolate() {
        assert_eq!(
            eval("\"${ca.arn} in ${var.region} for ${ca.days}d\"").unwrap(),
            Value::from("arn:aws:acm-pca:ca/1 in eu-west-1 for 3650d")
        );
        assert_eq!(eval("x-${later.arn}").unwrap(), Value::Unknown);
        let err = eval("zones ${var.zones}").unwrap_err();
        assert_eq!(err.code, "stack::type_mismatch");
        assert!(err.help.unwrap().contains("${var.zones}"));
    }

    #[test]
    fn secrets_stay_marked_through_references_and_interpolation() {
        let mut sc = scope();
        sc.vars.insert(
            "token".into(),
            Value::sensitive(Value::from("canary-secret")),
        );
        let db: Value = serde_json::from_str(r#"{"user": "app"}"#).unwrap();
        let mut db = db;
        db.set_path("password", Value::sensitive(Value::from("pw")));
        sc.resources.insert("db".into(), db);
        let eval = |yaml: &str| evaluate(&node(yaml), &sc, "v").unwrap();
        assert_eq!(
            eval("${var.token}"),
            Value::sensitive(Value::from("canary-secret"))
        );
        let joined = eval("\"Bearer ${var.token} for ${var.region}\"");
        assert_eq!(
            joined,
            Value::sensitive(Value::from("Bearer canary-secret for eu-west-1"))
        );
        assert!(!joined.render().contains("canary"), "{}", joined.render());
        // Marks sit on the leaves that were secret, and only those.
        let m = eval("{a: \"${db.password}\", b: \"${db.user}\"}");
        assert!(m.get("a").unwrap().is_sensitive());
        assert_eq!(m.get("b"), Some(&Value::from("app")));
        assert_eq!(eval("\"u-${db.user}\""), Value::from("u-app"));
        assert!(eval("\"p-${db.password}\"").is_sensitive());
        // Providers get the real value.
        assert_eq!(
            eval("${var.token}").unmarked(),
            Value::from("canary-secret")
        );
    }

    #[test]
    fn dollar_dollar_escapes_and_lone_dollars_stay() {
        assert_eq!(
            eval("\"$${HOME} costs $5\"").unwrap(),
            Value::from("${HOME} costs $5")
        );
        let (refs, diags) = references(&node("\"$${x} ${ca.arn}\""));
        assert!(diags.is_empty());
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].target, RefTarget::Resource("ca".into()));
    }

    #[test]
    fn nested_values_evaluate_and_lists_keep_paths() {
        let v = eval("{a: [\"${var.region}\", 2], b: {c: \"${ca.days}\"}}").unwrap();
        assert_eq!(v.get("b").unwrap().get("c"), Some(&Value::Int(3650)));
        let err = eval("{a: [1, \"${ca.nope}\"]}").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("v.a[1]"));
    }

    #[test]
    fn missing_attributes_are_named_with_a_suggestion() {
        let err = eval("${ca.subjet.names}").unwrap_err();
        assert_eq!(err.code, "stack::unknown_attribute");
        assert!(err.summary.contains("`subjet`"), "{}", err.summary);
        assert_eq!(err.help.as_deref(), Some("did you mean `subject`?"));
        let err = eval("${ca.subject.names[5]}").unwrap_err();
        assert!(err.detail.unwrap().contains("2 items"));
        assert_eq!(
            eval("${nope.x}").unwrap_err().code,
            "stack::unknown_reference"
        );
        assert_eq!(
            eval("${var.nope}").unwrap_err().code,
            "stack::unknown_variable"
        );
    }

    #[test]
    fn malformed_references_are_diagnostics() {
        for bad in [
            "\"${ca.arn\"",
            "\"${}\"",
            "\"${ca}\"",
            "\"${var}\"",
            "\"${1a.b}\"",
            "\"${a..b}\"",
        ] {
            let (_, diags) = references(&node(bad));
            assert_eq!(diags.len(), 1, "{bad}");
            assert_eq!(diags[0].code, "stack::invalid_reference", "{bad}");
        }
        let (_, diags) = references(&node("\"x ${ca.arn\""));
        assert!(diags[0].summary.contains("unterminated"));
    }

    #[test]
    fn reference_spans_point_inside_the_scalar() {
        let text = "v: \"pre ${ca.arn} post\"\n";
        let n = Node::parse(&Arc::new(PathBuf::from("t.yaml")), text).unwrap();
        let (refs, _) = references(n.get("v").unwrap());
        let s = &refs[0].span;
        assert_eq!(s.column, 9);
        assert_eq!(&text[s.offset..s.offset + s.len], "${ca.arn}");
    }

    #[test]
    fn references_in_map_keys_are_rejected() {
        let (_, diags) = references(&node("{\"${var.region}\": 1}"));
        assert_eq!(diags[0].code, "stack::invalid_reference");
        assert!(eval("{\"${var.region}\": 1}").is_err());
        assert_eq!(
            eval("{\"$${k}\": 1}").unwrap().get("${k}"),
            Some(&Value::Int(1))
        );
    }

    #[test]
    fn unknown_scope_turns_references_into_unknowns() {
        let v = evaluate(
            &node("{a: \"${x.y}\", b: \"p-${var.q}\", c: 1}"),
            &UnknownScope,
            "",
        )
        .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Unknown));
        assert_eq!(v.get("b"), Some(&Value::Unknown));
        assert_eq!(v.get("c"), Some(&Value::Int(1)));
    }
}
