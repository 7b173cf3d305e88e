//! Stack files → [`Stack`], collecting every mistake with its place.
//!
//! Decoding keeps going past errors (a resource with a bad `mode` is still decoded with the
//! default) so that one run reports every mistake; the stack is returned only when there
//! are none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::model::{
    Lifecycle, Mode, OutputDecl, ResourceDecl, Stack, StateDecl, VarType, VariableDecl,
};
use super::yaml::{Node, NodeKind};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::input::{InputError, InputKind};
use crate::provider::Registry;

const TOP_LEVEL: &[&str] = &[
    "stack",
    "variables",
    "providers",
    "resources",
    "outputs",
    "state",
];
const VARIABLE_KEYS: &[&str] = &["type", "default", "description", "sensitive", "allowed"];
const RESOURCE_KEYS: &[&str] = &[
    "type",
    "properties",
    "depends_on",
    "mode",
    "lifecycle",
    "enabled",
];
const LIFECYCLE_KEYS: &[&str] = &[
    "prevent_destroy",
    "ignore_changes",
    "create_before_destroy",
    "adopt",
    "retain_on_destroy",
];
const OUTPUT_KEYS: &[&str] = &["value", "description", "sensitive", "enabled"];

/// Loads and validates one stack file. `None` when errors prevent building the model;
/// the diagnostics may also hold warnings when a stack is returned.
pub fn load_file(path: &Path, registry: &Registry) -> (Option<Stack>, Diagnostics) {
    match crate::input::read_text(path, InputKind::Stack) {
        Ok(text) => load_str(path, &text, registry),
        Err(e) => (None, input_error(&e).into()),
    }
}

/// A file that could not be read (missing, too large, not UTF-8) as a diagnostic.
pub fn input_error(e: &InputError) -> Diagnostic {
    let (code, help) = match e {
        InputError::Io {
            kind: InputKind::Stack,
            ..
        } => (
            "stack::read_error",
            "check the path given to --stack (or the stack directory)".to_string(),
        ),
        InputError::Io { .. } => ("stack::read_error", e.help()),
        InputError::TooLarge { .. } => ("input::too_large", e.help()),
        InputError::NotUtf8 { .. } => ("input::not_utf8", e.help()),
    };
    let summary = match e {
        InputError::Io { kind, path, .. } => {
            format!("cannot read {} {}", kind.describe(), path.display())
        }
        _ => e.to_string(),
    };
    let mut d = Diagnostic::error(code, summary)
        .with_span(Span::file_only(e.path()))
        .with_help(help);
    if let InputError::Io { error, .. } = e {
        d = d.with_detail(error.to_string());
    }
    d
}

/// Loads and validates stack text as if read from `path` (spans name `path`).
pub fn load_str(path: &Path, text: &str, registry: &Registry) -> (Option<Stack>, Diagnostics) {
    let file = Arc::new(path.to_path_buf());
    let source = Arc::new(text.to_string());
    let root = match Node::parse_source(&file, &source) {
        Ok(root) => root,
        Err(d) => return (None, d.into()),
    };
    let mut diags = Diagnostics::new();
    let stack = decode(&root, file, source, &mut diags);
    if let Some(stack) = &stack {
        diags.extend(super::enabled::check(stack));
        diags.extend(super::validate::validate(stack, registry));
    }
    if diags.has_errors() {
        (None, diags)
    } else {
        (stack, diags)
    }
}

/// Loads every `*.yaml`/`*.yml` file of a directory (sorted by name), each its own stack.
pub fn load_dir(path: &Path, registry: &Registry) -> Vec<(PathBuf, Option<Stack>, Diagnostics)> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            let d = Diagnostic::error(
                "stack::read_error",
                format!("cannot read stack directory {}", path.display()),
            )
            .with_span(Span::file_only(path))
            .with_detail(e.to_string());
            return vec![(path.to_path_buf(), None, d.into())];
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let (stack, diags) = load_file(&f, registry);
            (f, stack, diags)
        })
        .collect()
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

fn type_mismatch(node: &Node, field: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(
        "stack::type_mismatch",
        format!("`{field}` must be {expected}, found a {}", node.type_name()),
    )
    .with_span(node.span.clone())
    .with_field(field)
    .with_detail(format!("expected {expected}"))
}

/// A map's entries; `null` (an empty `key:`) counts as an empty map.
fn entries<'n>(node: &'n Node, field: &str, diags: &mut Diagnostics) -> &'n [(Node, Node)] {
    match &node.kind {
        NodeKind::Map(entries) => entries,
        NodeKind::Null => &[],
        _ => {
            diags.push(type_mismatch(node, field, "a map"));
            &[]
        }
    }
}

/// Reports keys outside `allowed`, pointing at the key, with the nearest allowed one.
fn check_keys(
    entries: &[(Node, Node)],
    allowed: &[&str],
    field: &str,
    what: &str,
    diags: &mut Diagnostics,
) {
    for (k, _) in entries {
        let key = k.key_text();
        if !allowed.contains(&key.as_str()) {
            let mut d = Diagnostic::error(
                "stack::unknown_field",
                format!("unknown field `{key}` in {what}"),
            )
            .with_span(k.span.clone())
            .with_field(join(field, &key))
            .with_detail(format!("expected one of: {}", allowed.join(", ")));
            if let Some(s) = did_you_mean(&key, allowed.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
}

fn string(node: &Node, field: &str, diags: &mut Diagnostics) -> Option<String> {
    match &node.kind {
        NodeKind::String(s) => Some(s.clone()),
        _ => {
            diags.push(type_mismatch(node, field, "a string"));
            None
        }
    }
}

fn boolean(node: &Node, field: &str, diags: &mut Diagnostics) -> bool {
    match &node.kind {
        NodeKind::Bool(b) => *b,
        _ => {
            diags.push(type_mismatch(node, field, "true or false"));
            false
        }
    }
}

/// Decodes the document into a stack. `None` only when the document is not a map at all.
fn decode(
    root: &Node,
    file: Arc<PathBuf>,
    source: Arc<String>,
    diags: &mut Diagnostics,
) -> Option<Stack> {
    let Some(top) = root.as_map() else {
        let d = if root.is_null() {
            Diagnostic::error("stack::missing_field", "the stack file is empty")
                .with_span(root.span.clone())
                .with_detail("a stack file declares at least `stack: <name>`")
        } else {
            type_mismatch(root, "", "a map")
                .with_detail("a stack file is a map with `stack`, `variables`, `providers`, `resources` and `outputs`")
        };
        diags.push(
            d.with_field("stack")
                .with_help("start the file with `stack: my-stack`"),
        );
        return None;
    };
    check_keys(top, TOP_LEVEL, "", "the stack file", diags);
    let mut stack = Stack {
        name: String::new(),
        file,
        source,
        variables: IndexMap::new(),
        providers: IndexMap::new(),
        resources: IndexMap::new(),
        outputs: IndexMap::new(),
        state: None,
    };
    match root.get("stack") {
        Some(n) => match string(n, "stack", diags) {
            Some(s) if s.trim().is_empty() => diags.push(
                Diagnostic::error("stack::invalid_value", "the stack name is empty")
                    .with_span(n.span.clone())
                    .with_field("stack"),
            ),
            Some(s) => stack.name = s,
            None => {}
        },
        None => diags.push(
            Diagnostic::error(
                "stack::missing_field",
                "missing `stack`: the stack has no name",
            )
            .with_span(root.span.clone())
            .with_field("stack")
            .with_detail("every stack file names its stack; state is kept per stack name")
            .with_help("add `stack: my-stack` at the top of the file"),
        ),
    }
    if let Some(n) = root.get("variables") {
        for (k, v) in entries(n, "variables", diags) {
            let decl = decode_variable(k, v, diags);
            stack.variables.insert(decl.name.clone(), decl);
        }
    }
    if let Some(n) = root.get("providers") {
        for (k, v) in entries(n, "providers", diags) {
            let name = k.key_text();
            let field = join("providers", &name);
            let settings = match &v.kind {
                NodeKind::Map(_) => v.clone(),
                NodeKind::Null => Node::empty_map(v.span.clone()),
                _ => {
                    diags.push(type_mismatch(v, &field, "a map of settings"));
                    Node::empty_map(v.span.clone())
                }
            };
            stack.providers.insert(name, settings);
        }
    }
    if let Some(n) = root.get("resources") {
        for (k, v) in entries(n, "resources", diags) {
            let decl = decode_resource(k, v, diags);
            stack.resources.insert(decl.name.clone(), decl);
        }
    }
    if let Some(n) = root.get("outputs") {
        for (k, v) in entries(n, "outputs", diags) {
            let decl = decode_output(k, v, diags);
            stack.outputs.insert(decl.name.clone(), decl);
        }
    }
    if let Some(n) = root.get("state") {
        stack.state = decode_state(n, diags);
    }
    Some(stack)
}

/// `state: {s3: {bucket, key, region?, kms_key_id?, profile?, role_arn?, endpoint?}}`.
fn decode_state(node: &Node, diags: &mut Diagnostics) -> Option<StateDecl> {
    let top = entries(node, "state", diags);
    check_keys(top, &["s3"], "state", "`state`", diags);
    let (key, s3) = top.iter().find(|(k, _)| k.key_text() == "s3")?;
    let fields = entries(s3, "state.s3", diags);
    check_keys(fields, StateDecl::S3_KEYS, "state.s3", "`state.s3`", diags);
    let mut decl = StateDecl {
        s3: IndexMap::new(),
        span: key.span.clone(),
    };
    for (k, v) in fields {
        let name = k.key_text();
        if !StateDecl::S3_KEYS.contains(&name.as_str()) {
            continue;
        }
        if string(v, &join("state.s3", &name), diags).is_some() {
            decl.s3.insert(name, v.clone());
        }
    }
    for required in ["bucket", "key"] {
        if !fields.iter().any(|(k, _)| k.key_text() == required) {
            diags.push(
                Diagnostic::error(
                    "stack::missing_field",
                    format!("missing `{required}` in `state.s3`"),
                )
                .with_span(key.span.clone())
                .with_field(join("state.s3", required))
                .with_detail("a state in S3 needs the bucket and the key (prefix) it lives under")
                .with_help(
                    "write `state: {s3: {bucket: my-team-state, key: stacks/mesh, region: eu-west-1}}`",
                ),
            );
        }
    }
    Some(decl)
}

fn decode_variable(key: &Node, node: &Node, diags: &mut Diagnostics) -> VariableDecl {
    let name = key.key_text();
    let field = join("variables", &name);
    let mut decl = VariableDecl {
        name: name.clone(),
        var_type: VarType::String,
        default: None,
        description: None,
        sensitive: false,
        allowed: None,
        span: key.span.clone(),
    };
    let fields = entries(node, &field, diags);
    check_keys(
        fields,
        VARIABLE_KEYS,
        &field,
        &format!("variable `{name}`"),
        diags,
    );
    if let Some(t) = node.get("type") {
        let tf = join(&field, "type");
        if let Some(s) = string(t, &tf, diags) {
            match VarType::parse(&s) {
                Some(ty) => decl.var_type = ty,
                None => {
                    let mut d = Diagnostic::error(
                        "stack::invalid_value",
                        format!("unknown variable type `{s}`"),
                    )
                    .with_span(t.span.clone())
                    .with_field(tf)
                    .with_detail("expected one of: string, number, bool, list, map");
                    if let Some(s) = did_you_mean(&s, VarType::NAMES.iter().copied()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
        }
    }
    if let Some(s) = node.get("sensitive") {
        decl.sensitive = boolean(s, &join(&field, "sensitive"), diags);
    }
    if let Some(d) = node.get("default") {
        // A default is a plain value: it is never evaluated, so a reference in it (to
        // another variable, or to itself) would silently become literal text.
        let (refs, _) = super::expr::references(d);
        if let Some(r) = refs.first() {
            diags.push(
                Diagnostic::error(
                    "stack::invalid_reference",
                    format!(
                        "the default of `{name}` holds the reference `${{{}}}`",
                        r.text
                    ),
                )
                .with_span(r.span.clone())
                .with_field(join(&field, "default"))
                .with_detail(
                    "variable defaults are plain values; references are not evaluated there",
                )
                .with_help("write the value itself, or `$${` for a literal `${`"),
            );
        }
        match super::vars::convert(d.to_value(), decl.var_type) {
            Ok(v) => decl.default = Some(v),
            // A sensitive default is not repeated in the message.
            Err(_) if decl.sensitive => diags.push(
                Diagnostic::error(
                    "stack::type_mismatch",
                    format!("the default of `{name}` is not a {}", decl.var_type.name()),
                )
                .with_span(d.span.clone())
                .with_field(join(&field, "default"))
                .with_detail(format!("expected a {}", decl.var_type.name())),
            ),
            Err(why) => diags.push(
                Diagnostic::error(
                    "stack::type_mismatch",
                    format!("the default of `{name}` is not a {}", decl.var_type.name()),
                )
                .with_span(d.span.clone())
                .with_field(join(&field, "default"))
                .with_detail(why),
            ),
        }
    }
    if let Some(d) = node.get("description") {
        decl.description = string(d, &join(&field, "description"), diags);
    }
    if let Some(a) = node.get("allowed") {
        decl.allowed = decode_allowed(&decl, a, &join(&field, "allowed"), diags);
    }
    decl
}

/// `allowed: [a, b]`: scalars of the variable's type; a default must be one of them.
fn decode_allowed(
    decl: &VariableDecl,
    node: &Node,
    field: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<crate::value::Value>> {
    let Some(items) = node.as_seq().filter(|i| !i.is_empty()) else {
        diags.push(
            type_mismatch(node, field, "a non-empty list of values")
                .with_help("write `allowed: [first, second]`"),
        );
        return None;
    };
    let mut values = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let value = item.to_value();
        let scalar = !matches!(
            value,
            crate::value::Value::List(_) | crate::value::Value::Map(_) | crate::value::Value::Null
        );
        match super::vars::convert(value, decl.var_type) {
            Ok(v) if scalar => values.push(v),
            _ => diags.push(
                Diagnostic::error(
                    "stack::type_mismatch",
                    format!("`{field}[{i}]` is not a {} value", decl.var_type.name()),
                )
                .with_span(item.span.clone())
                .with_field(format!("{field}[{i}]"))
                .with_detail(
                    "allowed values are plain strings, numbers or booleans of the variable's type",
                ),
            ),
        }
    }
    if let Some(default) = &decl.default {
        let text = default.to_interpolated();
        if !default.is_null() && !values.iter().any(|v| v.to_interpolated() == text) {
            diags.push(
                Diagnostic::error(
                    "stack::invalid_value",
                    format!(
                        "the default of `{}` is not one of its allowed values",
                        decl.name
                    ),
                )
                .with_span(node.span.clone())
                .with_field(field)
                .with_detail(format!("allowed: {}", super::enabled::render_list(&values))),
            );
        }
    }
    Some(values)
}

fn decode_resource(key: &Node, node: &Node, diags: &mut Diagnostics) -> ResourceDecl {
    let name = key.key_text();
    let field = join("resources", &name);
    let mut decl = ResourceDecl {
        name: name.clone(),
        type_name: String::new(),
        mode: Mode::Managed,
        properties: Node::empty_map(node.span.clone()),
        depends_on: Vec::new(),
        lifecycle: Lifecycle::default(),
        span: key.span.clone(),
        type_span: key.span.clone(),
        enabled: Default::default(),
    };
    let fields = entries(node, &field, diags);
    check_keys(
        fields,
        RESOURCE_KEYS,
        &field,
        &format!("resource `{name}`"),
        diags,
    );
    match node.get("type") {
        Some(t) => {
            decl.type_span = t.span.clone();
            decl.type_name = string(t, &join(&field, "type"), diags).unwrap_or_default();
        }
        None => diags.push(
            Diagnostic::error(
                "stack::missing_field",
                format!("resource `{name}` has no `type`"),
            )
            .with_span(key.span.clone())
            .with_field(join(&field, "type"))
            .with_detail("every resource names its type, such as `core.null` or `core.file`")
            .with_help("add `type: <provider>.<kind>` under the resource"),
        ),
    }
    if let Some(p) = node.get("properties") {
        match &p.kind {
            NodeKind::Map(_) => decl.properties = p.clone(),
            NodeKind::Null => decl.properties = Node::empty_map(p.span.clone()),
            _ => diags.push(type_mismatch(p, &join(&field, "properties"), "a map")),
        }
    }
    if let Some(d) = node.get("depends_on") {
        let df = join(&field, "depends_on");
        match &d.kind {
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = string(item, &format!("{df}[{i}]"), diags) {
                        decl.depends_on.push((s, item.span.clone()));
                    }
                }
            }
            NodeKind::Null => {}
            _ => diags.push(
                type_mismatch(d, &df, "a list of resource names")
                    .with_help("write `depends_on: [other]`"),
            ),
        }
    }
    if let Some(m) = node.get("mode") {
        let mf = join(&field, "mode");
        if let Some(s) = string(m, &mf, diags) {
            match s.as_str() {
                "managed" => decl.mode = Mode::Managed,
                "data" => decl.mode = Mode::Data,
                _ => {
                    let mut d =
                        Diagnostic::error("stack::invalid_value", format!("invalid mode `{s}`"))
                            .with_span(m.span.clone())
                            .with_field(mf)
                            .with_detail(
                                "expected `managed` (the default) or `data` (a read-only lookup)",
                            );
                    if let Some(s) = did_you_mean(&s, ["managed", "data"]) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
        }
    }
    if let Some(l) = node.get("lifecycle") {
        decl.lifecycle = decode_lifecycle(l, &join(&field, "lifecycle"), diags);
    }
    if let Some(e) = node.get("enabled") {
        match super::enabled::parse(e, &join(&field, "enabled")) {
            Ok(enabled) => decl.enabled = enabled,
            Err(d) => diags.push(d),
        }
    }
    decl
}

fn decode_lifecycle(node: &Node, field: &str, diags: &mut Diagnostics) -> Lifecycle {
    let mut lc = Lifecycle::default();
    let fields = entries(node, field, diags);
    check_keys(fields, LIFECYCLE_KEYS, field, "`lifecycle`", diags);
    if let Some(n) = node.get("prevent_destroy") {
        lc.prevent_destroy = boolean(n, &join(field, "prevent_destroy"), diags);
    }
    if let Some(n) = node.get("create_before_destroy") {
        lc.create_before_destroy = boolean(n, &join(field, "create_before_destroy"), diags);
    }
    if let Some(n) = node.get("adopt") {
        lc.adopt = boolean(n, &join(field, "adopt"), diags);
    }
    if let Some(n) = node.get("retain_on_destroy") {
        lc.retain_on_destroy = boolean(n, &join(field, "retain_on_destroy"), diags);
    }
    if let Some(n) = node.get("ignore_changes") {
        let f = join(field, "ignore_changes");
        match &n.kind {
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let itf = format!("{f}[{i}]");
                    let Some(path) = string(item, &itf, diags) else {
                        continue;
                    };
                    if crate::value::parse_path(&path).is_none() {
                        diags.push(
                            Diagnostic::error(
                                "stack::invalid_value",
                                format!("invalid property path `{path}`"),
                            )
                            .with_span(item.span.clone())
                            .with_field(itf)
                            .with_detail(
                                "expected a property path such as `tags`, `triggers.version`, `hosts[0]` or `metadata.annotations[\"example.io/owner\"]`",
                            ),
                        );
                    } else {
                        lc.ignore_changes.push(path);
                    }
                }
            }
            NodeKind::Null => {}
            _ => diags.push(type_mismatch(n, &f, "a list of property paths")),
        }
    }
    lc
}

fn decode_output(key: &Node, node: &Node, diags: &mut Diagnostics) -> OutputDecl {
    let name = key.key_text();
    let field = join("outputs", &name);
    let mut decl = OutputDecl {
        name: name.clone(),
        value: node.clone(),
        description: None,
        sensitive: false,
        enabled: Default::default(),
        span: key.span.clone(),
    };
    let Some(fields) = node.as_map() else {
        return decl;
    };
    let Some(value) = node.get("value") else {
        return decl;
    };
    // A map holding `value` is the long form; an extra key there is almost surely a typo
    // (`descripton`), so it is reported rather than silently turning the map into the value.
    let before = diags.0.len();
    check_keys(
        fields,
        OUTPUT_KEYS,
        &field,
        &format!("output `{name}`"),
        diags,
    );
    if diags.0.len() > before {
        for d in &mut diags.0[before..] {
            d.detail = Some(
                "an output is a value, or a map of `value` with `description`, `sensitive` and `enabled`"
                    .into(),
            );
            if d.help.is_none() {
                d.help = Some(format!("to output a map with a `value` key, write it under `value:`: `{name}: {{value: {{...}}}}`"));
            }
        }
    }
    decl.value = value.clone();
    if let Some(d) = node.get("description") {
        decl.description = string(d, &join(&field, "description"), diags);
    }
    if let Some(s) = node.get("sensitive") {
        decl.sensitive = boolean(s, &join(&field, "sensitive"), diags);
    }
    if let Some(e) = node.get("enabled") {
        match super::enabled::parse(e, &join(&field, "enabled")) {
            Ok(enabled) => decl.enabled = enabled,
            Err(d) => diags.push(d),
        }
    }
    decl
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::test_registry;

    fn load(text: &str) -> (Option<Stack>, Diagnostics) {
        load_str(Path::new("s.yaml"), text, &test_registry())
    }

    #[test]
    fn decodes_a_full_stack() {
        let (stack, diags) = load(
            r#"
stack: demo
variables:
  region: {default: eu-west-1, description: where}
  count: {type: number}
  token: {sensitive: true}
providers:
  core: {}
resources:
  marker:
    type: core.null
    properties:
      triggers: {v: "${var.region}"}
  out_file:
    type: core.file
    depends_on: [marker]
    lifecycle: {prevent_destroy: true, ignore_changes: [mode], create_before_destroy: true}
    properties: {path: /tmp/x, content: "${marker.id}"}
outputs:
  plain: "${out_file.path}"
  long: {value: "${marker.id}", description: the id, sensitive: true}
  map_value: {a: 1, b: 2}
"#,
        );
        assert!(!diags.has_errors(), "{diags}");
        let stack = stack.unwrap();
        assert_eq!(stack.name, "demo");
        assert_eq!(stack.variables["count"].var_type, VarType::Number);
        assert_eq!(stack.variables["region"].default, Some("eu-west-1".into()));
        assert!(stack.variables["token"].sensitive);
        let f = &stack.resources["out_file"];
        assert_eq!(f.depends_on[0].0, "marker");
        assert!(f.lifecycle.prevent_destroy && f.lifecycle.create_before_destroy);
        assert_eq!(f.lifecycle.ignore_changes, vec!["mode".to_string()]);
        assert_eq!(f.mode, Mode::Managed);
        assert!(stack.outputs["long"].sensitive);
        assert_eq!(stack.outputs["long"].description.as_deref(), Some("the id"));
        assert_eq!(
            stack.outputs["map_value"].value.to_value().get("b"),
            Some(&crate::value::Value::Int(2))
        );
        assert!(stack.providers.contains_key("core"));
    }

    #[test]
    fn collects_several_mistakes_in_one_run() {
        let (stack, diags) =
            load("stack: x\nresorces: {}\nresources:\n  a:\n    type: core.null\n    mode: dta\n");
        assert!(stack.is_none());
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec!["stack::unknown_field", "stack::invalid_value"],
            "{diags}"
        );
        assert_eq!(
            diags.0[0].help.as_deref(),
            Some("did you mean `resources`?")
        );
    }

    #[test]
    fn variable_defaults_must_match_the_type() {
        let (_, diags) =
            load("stack: x\nvariables:\n  n: {type: number, default: abc}\n  t: {type: strng}\n");
        assert_eq!(diags.0[0].code, "stack::type_mismatch", "{diags}");
        assert_eq!(diags.0[1].help.as_deref(), Some("did you mean `string`?"));
    }

    #[test]
    fn missing_file_and_directories() {
        let (s, diags) = load_file(Path::new("no/such/file.yaml"), &test_registry());
        assert!(s.is_none());
        assert!(diags.0[0].summary.contains("no/such/file.yaml"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yml"), "stack: b\n").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "stack: a\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let loaded = load_dir(dir.path(), &test_registry());
        let names: Vec<_> = loaded
            .iter()
            .map(|(_, s, _)| s.as_ref().unwrap().name.clone())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
    }

    #[test]
    fn empty_and_non_map_documents() {
        assert_eq!(load("").1 .0[0].code, "stack::missing_field");
        assert_eq!(load("- a\n").1 .0[0].code, "stack::type_mismatch");
    }

    #[test]
    fn a_state_block_names_its_s3_settings_and_points_at_bad_ones() {
        let (stack, diags) = load(
            "stack: s\nvariables:\n  env: {default: prod}\nstate:\n  s3:\n    bucket: team-state\n    key: \"stacks/${var.env}\"\n    region: eu-west-1\n    kms_key_id: alias/state\n",
        );
        assert!(!diags.has_errors(), "{diags}");
        let state = stack.unwrap().state.unwrap();
        assert_eq!(
            state.s3.keys().collect::<Vec<_>>(),
            ["bucket", "key", "region", "kms_key_id"]
        );

        let (_, diags) = load("stack: s\nstate:\n  s3:\n    bucket: team-state\n    buckett: x\n");
        let unknown = diags
            .0
            .iter()
            .find(|d| d.code == "stack::unknown_field")
            .unwrap();
        assert_eq!(unknown.span.as_ref().unwrap().line, 5);
        assert_eq!(unknown.help.as_deref(), Some("did you mean `bucket`?"));
        let missing = diags
            .0
            .iter()
            .find(|d| d.code == "stack::missing_field")
            .unwrap();
        assert!(missing.summary.contains("`key`"), "{}", missing.summary);
        assert_eq!(missing.span.as_ref().unwrap().line, 3);

        let (_, diags) = load("stack: s\nstate:\n  s3: {bucket: [a], key: k}\n  local: x\n");
        let codes: Vec<&str> = diags.0.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"stack::type_mismatch"), "{codes:?}");
        assert!(codes.contains(&"stack::unknown_field"), "{codes:?}");
    }
}
