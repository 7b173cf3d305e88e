//! Checks of a decoded stack against provider schemas, with no I/O: resource names,
//! types, properties (unknown names with suggestions, required, literal types), provider
//! validation, references and `depends_on` targets. Cycles are found by the graph.

use super::expr::{
    evaluate, has_reference, parse_template, RefTarget, Reference, Segment, UnknownScope,
};
use super::model::{Mode, OutputDecl, ResourceDecl, Stack};
use super::yaml::{Node, NodeKind};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::provider::{Property, Registry, Type};
use crate::value::{parse_path, PathStep};

pub fn validate(stack: &Stack, registry: &Registry) -> Diagnostics {
    let mut v = Validator {
        stack,
        registry,
        diags: Diagnostics::new(),
    };
    v.names();
    v.providers();
    for decl in stack.resources.values() {
        v.resource(decl);
    }
    for (name, out) in &stack.outputs {
        v.references(&out.value, &format!("outputs.{name}"), None, true);
        if !out.sensitive && secret_node(stack, registry, &out.value, &mut Vec::new()) {
            v.diags.push(unmarked_sensitive_output(name, out));
        }
    }
    v.diags
}

/// Longest resource, variable or output name: names become state keys and addresses.
pub const MAX_NAME_LEN: usize = 128;

/// An output whose value is made from a secret but is not declared `sensitive: true`.
pub fn unmarked_sensitive_output(name: &str, out: &OutputDecl) -> Diagnostic {
    Diagnostic::error(
        "stack::sensitive_output",
        format!("output `{name}` is made from a sensitive value but is not marked sensitive"),
    )
    .with_span(out.value.span.clone())
    .with_field(format!("outputs.{name}"))
    .with_detail("its value derives from a sensitive variable or a secret property, which would be shown and stored in the clear")
    .with_help(format!(
        "declare it `{name}: {{value: ..., sensitive: true}}`, or output something that is not secret"
    ))
}

/// True when a node's value is made from a secret: a sensitive variable, a property the
/// schema declares sensitive, or a property that is itself made from one. `seen` guards
/// against reference cycles (reported elsewhere).
fn secret_node(stack: &Stack, registry: &Registry, node: &Node, seen: &mut Vec<String>) -> bool {
    let (refs, _) = super::expr::references(node);
    refs.iter()
        .any(|r| secret_reference(stack, registry, r, seen))
}

fn secret_reference(
    stack: &Stack,
    registry: &Registry,
    r: &Reference,
    seen: &mut Vec<String>,
) -> bool {
    let name = match &r.target {
        RefTarget::Variable(v) => return stack.variables.get(v).is_some_and(|d| d.sensitive),
        RefTarget::Resource(name) => name,
    };
    let Some(decl) = stack.resources.get(name) else {
        return false;
    };
    let Some(PathStep::Key(first)) = r.path.first() else {
        return false;
    };
    let schema_secret = registry
        .schema(&decl.type_name)
        .and_then(|s| s.property(first))
        .is_some_and(|p| p.sensitive);
    if schema_secret {
        return true;
    }
    let key = format!("{name}.{}", crate::value::path_to_string(&r.path));
    if seen.contains(&key) {
        return false;
    }
    seen.push(key);
    // The deepest property node the path reaches: a reference into it reads its value.
    let mut node = &decl.properties;
    for step in &r.path {
        let next = match step {
            PathStep::Key(k) => node.get(k),
            PathStep::Index(i) => node.as_seq().and_then(|items| items.get(*i)),
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    if std::ptr::eq(node, &decl.properties) {
        return false;
    }
    secret_node(stack, registry, node, seen)
}

/// Names use letters, digits, `_` and `-`, starting with a letter, at most
/// [`MAX_NAME_LEN`] characters.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn suggest(
    d: Diagnostic,
    input: &str,
    candidates: impl IntoIterator<Item = impl AsRef<str>>,
) -> Diagnostic {
    let candidates: Vec<String> = candidates
        .into_iter()
        .map(|c| c.as_ref().to_string())
        .collect();
    match did_you_mean(input, candidates.iter().map(String::as_str)) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d,
    }
}

struct Validator<'a> {
    stack: &'a Stack,
    registry: &'a Registry,
    diags: Diagnostics,
}

impl Validator<'_> {
    fn names(&mut self) {
        let stack = self.stack;
        let groups = [
            (
                "variable",
                "variables",
                stack
                    .variables
                    .iter()
                    .map(|(n, d)| (n, &d.span))
                    .collect::<Vec<_>>(),
            ),
            (
                "resource",
                "resources",
                stack.resources.iter().map(|(n, d)| (n, &d.span)).collect(),
            ),
            (
                "output",
                "outputs",
                stack.outputs.iter().map(|(n, d)| (n, &d.span)).collect(),
            ),
        ];
        for (what, section, names) in groups {
            for (name, span) in names {
                if !valid_name(name) || (what == "resource" && name == "var") {
                    self.diags.push(
                        Diagnostic::error("stack::invalid_name", format!("invalid {what} name `{name}`"))
                            .with_span(span.clone())
                            .with_field(format!("{section}.{name}"))
                            .with_detail(format!("names use letters, digits, `_` and `-`, start with a letter, are at most {MAX_NAME_LEN} characters, and `var` is reserved"))
                            .with_help(format!("rename it, for example `{}`", sanitize(name))),
                    );
                }
            }
        }
    }

    fn providers(&mut self) {
        for (name, settings) in &self.stack.providers {
            let field = format!("providers.{name}");
            match self.registry.provider(name) {
                // Settings are checked against what the provider declares, as properties
                // are against a schema; nothing (`aws:`) means no settings.
                Some(provider) if !settings.is_null() => self.object(
                    settings,
                    &provider.settings(),
                    &field,
                    &format!("provider `{name}`"),
                    "setting",
                ),
                Some(_) => {}
                None => {
                    let names: Vec<&str> = self.registry.provider_names().collect();
                    let d = Diagnostic::error(
                        "stack::unknown_provider",
                        format!("unknown provider `{name}`"),
                    )
                    .with_span(self.key_span_of_provider(name, settings))
                    .with_field(field.clone())
                    .with_detail(format!("this build has providers: {}", names.join(", ")));
                    self.diags.push(suggest(d, name, names));
                }
            }
            // Providers are configured before any resource exists.
            self.references(settings, &field, None, false);
        }
    }

    fn key_span_of_provider(&self, _name: &str, settings: &Node) -> crate::diag::Span {
        settings.span.clone()
    }

    fn resource(&mut self, decl: &ResourceDecl) {
        let field = format!("resources.{}", decl.name);
        let before = self.diags.0.len();
        self.references(
            &decl.properties,
            &format!("{field}.properties"),
            Some(&decl.name),
            true,
        );
        self.depends_on(decl, &field);
        if decl.type_name.is_empty() {
            return; // reported while decoding
        }
        let Some(schema) = self.registry.schema(&decl.type_name) else {
            let d = Diagnostic::error(
                "stack::unknown_type",
                format!("unknown resource type `{}`", decl.type_name),
            )
            .with_span(decl.type_span.clone())
            .with_field(format!("{field}.type"))
            .with_address(decl.name.clone())
            .with_detail("types are written `<provider>.<kind>`, such as `core.null`");
            self.diags
                .push(suggest(d, &decl.type_name, self.registry.type_names()));
            return;
        };
        let mode_problem = match decl.mode {
            Mode::Data if !schema.data_source => Some("cannot be read with `mode: data`"),
            Mode::Managed if !schema.managed => Some("is a data source only: use `mode: data`"),
            _ => None,
        };
        if let Some(problem) = mode_problem {
            self.diags.push(
                Diagnostic::error(
                    "stack::invalid_value",
                    format!("`{}` {problem}", decl.type_name),
                )
                .with_span(decl.type_span.clone())
                .with_field(format!("{field}.mode"))
                .with_address(decl.name.clone()),
            );
        }
        if decl.mode == Mode::Data {
            let lc = &decl.lifecycle;
            for (set, name) in [
                (lc.adopt, "adopt"),
                (lc.retain_on_destroy, "retain_on_destroy"),
            ] {
                if set {
                    self.diags.push(
                        Diagnostic::error(
                            "stack::invalid_value",
                            format!("`lifecycle.{name}` does not apply to a data source"),
                        )
                        .with_span(decl.span.clone())
                        .with_field(format!("{field}.lifecycle.{name}"))
                        .with_address(decl.name.clone())
                        .with_detail("a data source only reads an object; it never creates or deletes one")
                        .with_help(format!("remove `{name}` from the lifecycle, or manage the object (`mode: managed`)")),
                    );
                }
            }
        }
        let props_field = format!("{field}.properties");
        self.object(
            &decl.properties,
            &schema.properties,
            &props_field,
            &format!("`{}`", decl.type_name),
            "property",
        );
        if self.diags.0[before..].iter().any(Diagnostic::is_error) {
            return; // the provider's checks assume well-typed properties
        }
        let Ok(value) = evaluate(&decl.properties, &UnknownScope, &props_field) else {
            return;
        };
        let Some(provider) = self.registry.provider_for(&decl.type_name) else {
            return;
        };
        for mut d in provider.validate(&decl.type_name, &value) {
            let rel = d.field.take().unwrap_or_default();
            let node = node_at(&decl.properties, &rel);
            if d.span.is_none() {
                d.span = Some(node.span.clone());
            }
            d.field = Some(if rel.is_empty() {
                props_field.clone()
            } else {
                format!("{props_field}.{rel}")
            });
            if d.address.is_none() {
                d.address = Some(decl.name.clone());
            }
            self.diags.push(d);
        }
    }

    fn depends_on(&mut self, decl: &ResourceDecl, field: &str) {
        for (i, (target, span)) in decl.depends_on.iter().enumerate() {
            let f = format!("{field}.depends_on[{i}]");
            if target == &decl.name {
                self.diags.push(
                    Diagnostic::error(
                        "stack::self_reference",
                        format!("resource `{target}` depends on itself"),
                    )
                    .with_span(span.clone())
                    .with_field(f)
                    .with_help("remove it from `depends_on`"),
                );
            } else if !self.stack.resources.contains_key(target) {
                let d = Diagnostic::error(
                    "stack::unknown_reference",
                    format!("`depends_on` names an unknown resource `{target}`"),
                )
                .with_span(span.clone())
                .with_field(f)
                .with_detail("`depends_on` lists resources declared under `resources`");
                self.diags
                    .push(suggest(d, target, self.stack.resources.keys()));
            }
        }
    }

    /// Checks every reference under `node`. `owner` is the resource being declared (a
    /// reference to itself is an error); `allow_resources` is false in provider settings.
    fn references(&mut self, node: &Node, field: &str, owner: Option<&str>, allow_resources: bool) {
        match &node.kind {
            NodeKind::String(s) if s.contains("${") => match parse_template(s, &node.span) {
                Ok(segments) => {
                    for seg in segments {
                        if let Segment::Ref(r) = seg {
                            self.reference(&r, field, owner, allow_resources);
                        }
                    }
                }
                Err(d) => self.diags.push(d.with_field(field)),
            },
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.references(item, &format!("{field}[{i}]"), owner, allow_resources);
                }
            }
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let key = k.key_text();
                    let f = format!("{field}.{key}");
                    if has_reference(&key) {
                        self.diags.push(
                            Diagnostic::error(
                                "stack::invalid_reference",
                                "references are not supported in map keys",
                            )
                            .with_span(k.span.clone())
                            .with_field(f.clone())
                            .with_help("use a fixed key, or write `$${` for a literal `${`"),
                        );
                    }
                    self.references(v, &f, owner, allow_resources);
                }
            }
            _ => {}
        }
    }

    fn reference(
        &mut self,
        r: &Reference,
        field: &str,
        owner: Option<&str>,
        allow_resources: bool,
    ) {
        let base = |code, summary: String| {
            Diagnostic::error(code, summary)
                .with_span(r.span.clone())
                .with_field(field)
        };
        match &r.target {
            RefTarget::Variable(name) => {
                if !self.stack.variables.contains_key(name) {
                    let d = base(
                        "stack::unknown_variable",
                        format!(
                            "`${{{}}}` refers to an undeclared variable `{name}`",
                            r.text
                        ),
                    )
                    .with_detail("variables are declared under `variables:`");
                    let d =
                        match did_you_mean(name, self.stack.variables.keys().map(String::as_str)) {
                            Some(s) => d.with_help(format!("did you mean `var.{s}`?")),
                            None => d.with_help(format!(
                                "declare it: `variables: {{{name}: {{type: string}}}}`"
                            )),
                        };
                    self.diags.push(d);
                }
            }
            RefTarget::Resource(name) => {
                if !allow_resources {
                    self.diags.push(
                        base("stack::invalid_reference", format!("`${{{}}}`: provider settings cannot refer to resources", r.text))
                            .with_detail("providers are configured before any resource is created; only `${var.name}` is allowed here"),
                    );
                    return;
                }
                let Some(target) = self.stack.resources.get(name) else {
                    let d = base(
                        "stack::unknown_reference",
                        format!("`${{{}}}` refers to an unknown resource `{name}`", r.text),
                    )
                    .with_detail(
                        "a reference names a resource declared under `resources:`, or `var`",
                    );
                    self.diags
                        .push(suggest(d, name, self.stack.resources.keys()));
                    return;
                };
                if owner == Some(name.as_str()) {
                    self.diags.push(
                        base(
                            "stack::self_reference",
                            format!("`${{{}}}`: resource `{name}` refers to itself", r.text),
                        )
                        .with_detail("a resource's properties cannot depend on its own attributes"),
                    );
                    return;
                }
                let Some(schema) = self.registry.schema(&target.type_name) else {
                    return;
                };
                if let Some(PathStep::Key(attr)) = r.path.first() {
                    if !schema.readable_names().any(|n| n == attr) {
                        let names: Vec<&str> = schema.readable_names().collect();
                        let d = base(
                            "stack::unknown_attribute",
                            format!(
                                "`${{{}}}`: `{}` ({}) has no attribute `{attr}`",
                                r.text, name, target.type_name
                            ),
                        )
                        .with_detail(format!("readable names: {}", names.join(", ")));
                        self.diags.push(suggest(d, attr, names));
                    }
                }
            }
        }
    }

    /// A map node against fixed fields: unknown names, required ones, each field's type.
    /// `noun` is what a field is called to the user (`property`, `setting`).
    fn object(&mut self, node: &Node, props: &[Property], field: &str, what: &str, noun: &str) {
        let Some(entries) = node.as_map() else {
            return self.mismatch(node, field, &Type::Object(props.to_vec()));
        };
        for (k, v) in entries {
            let key = k.key_text();
            let f = format!("{field}.{key}");
            match props.iter().find(|p| p.name == key) {
                Some(p) => self.value(v, &p.ty, &f),
                None => {
                    let names: Vec<&str> = props.iter().map(|p| p.name).collect();
                    let d = Diagnostic::error(
                        "stack::unknown_field",
                        format!("unknown {noun} `{key}` for {what}"),
                    )
                    .with_span(k.span.clone())
                    .with_field(f)
                    .with_detail(format!("{what} has: {}", names.join(", ")));
                    self.diags.push(suggest(d, &key, names));
                }
            }
        }
        for p in props.iter().filter(|p| p.required) {
            if node.get(p.name).is_none_or(Node::is_null) {
                self.diags.push(
                    Diagnostic::error(
                        "stack::missing_field",
                        format!("missing required {noun} `{}` for {what}", p.name),
                    )
                    .with_span(node.span.clone())
                    .with_field(format!("{field}.{}", p.name))
                    .with_detail(format!("`{}` must be {}", p.name, p.ty.describe()))
                    .with_help(format!("add `{}: ...`", p.name)),
                );
            }
        }
    }

    fn value(&mut self, node: &Node, ty: &Type, field: &str) {
        if let NodeKind::String(s) = &node.kind {
            if has_reference(s) {
                // A whole reference has the type of what it refers to, known later; an
                // interpolation is a string whose content is known later.
                match parse_template(s, &node.span) {
                    Ok(segs) if matches!(segs.as_slice(), [Segment::Ref(_)]) => return,
                    Ok(_)
                        if matches!(
                            ty,
                            Type::String | Type::Duration | Type::Enum(_) | Type::Any
                        ) =>
                    {
                        return
                    }
                    Ok(_) => return self.mismatch(node, field, ty),
                    Err(_) => return, // reported with the references
                }
            }
        }
        if node.is_null() {
            return;
        }
        match ty {
            Type::Any => {}
            Type::String if matches!(node.kind, NodeKind::String(_)) => {}
            Type::Number if matches!(node.kind, NodeKind::Int(_) | NodeKind::Float(_)) => {}
            Type::Bool if matches!(node.kind, NodeKind::Bool(_)) => {}
            Type::Duration => match &node.kind {
                NodeKind::String(s) => {
                    if let Err(why) = crate::duration::parse(s) {
                        self.diags.push(
                            Diagnostic::error("stack::invalid_value", format!("invalid duration {s:?}"))
                                .with_span(node.span.clone())
                                .with_field(field)
                                .with_detail(why)
                                .with_help("write a number and a unit: ms, s, m, h, d, w or y (e.g. `3650d`, `10y`)"),
                        );
                    }
                }
                _ => self.mismatch(node, field, ty),
            },
            Type::Enum(values) => match &node.kind {
                NodeKind::String(s) if values.contains(&s.as_str()) => {}
                NodeKind::String(s) => {
                    let d = Diagnostic::error(
                        "stack::invalid_value",
                        format!("{s:?} is not an accepted value"),
                    )
                    .with_span(node.span.clone())
                    .with_field(field)
                    .with_detail(format!("expected {}", ty.describe()));
                    self.diags.push(suggest(d, s, values.iter()));
                }
                _ => self.mismatch(node, field, ty),
            },
            Type::List(inner) => match &node.kind {
                NodeKind::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.value(item, inner, &format!("{field}[{i}]"));
                    }
                }
                _ => self.mismatch(node, field, ty),
            },
            Type::Map(inner) => match &node.kind {
                NodeKind::Map(entries) => {
                    for (k, v) in entries {
                        self.value(v, inner, &format!("{field}.{}", k.key_text()));
                    }
                }
                _ => self.mismatch(node, field, ty),
            },
            Type::Object(props) => {
                let what = format!("`{}`", field.rsplit('.').next().unwrap_or(field));
                self.object(node, props, field, &what, "property")
            }
            _ => self.mismatch(node, field, ty),
        }
    }

    fn mismatch(&mut self, node: &Node, field: &str, ty: &Type) {
        let found = match &node.kind {
            NodeKind::Seq(_) | NodeKind::Map(_) => format!("a {}", node.type_name()),
            NodeKind::String(s) if has_reference(s) => "a string with references".to_string(),
            _ => format!("{} {}", node.type_name(), node.to_value().render()),
        };
        let mut d = Diagnostic::error(
            "stack::type_mismatch",
            format!("wrong type: expected {}, found {found}", ty.describe()),
        )
        .with_span(node.span.clone())
        .with_field(field)
        .with_detail(format!(
            "`{}` must be {}",
            field.rsplit('.').next().unwrap_or(field),
            ty.describe()
        ));
        if matches!(ty, Type::String | Type::Duration | Type::Enum(_))
            && matches!(
                node.kind,
                NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_)
            )
        {
            d = d.with_help(format!(
                "quote it to make it a string: \"{}\"",
                node.key_text()
            ));
        }
        self.diags.push(d);
    }
}

/// The node at a provider's relative field path, or the deepest one that exists.
pub(crate) fn node_at<'n>(root: &'n Node, rel: &str) -> &'n Node {
    let Some(steps) = parse_path(rel) else {
        return root;
    };
    let mut cur = root;
    for step in steps {
        let next = match (&step, &cur.kind) {
            (PathStep::Key(k), NodeKind::Map(_)) => cur.get(k),
            (PathStep::Index(i), NodeKind::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_NAME_LEN - 1)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'r');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::config::load::{load_file, load_str};
    use crate::provider::{
        Attribute, OpContext, Provider, ProviderError, ProviderResult, ResourceSchema, Snapshot,
    };
    use crate::value::Value;

    /// A provider with the shapes of the built-in `core` types plus one with an object
    /// and an enum, so the validator can be tested without the real providers.
    struct TestProvider {
        name: &'static str,
    }

    fn schema(
        type_name: &'static str,
        properties: Vec<Property>,
        attributes: &[&'static str],
    ) -> ResourceSchema {
        ResourceSchema {
            type_name,
            description: "",
            properties,
            attributes: attributes.iter().map(|a| Attribute::new(a, "")).collect(),
            data_source: false,
            managed: true,
        }
    }

    #[async_trait]
    impl Provider for TestProvider {
        fn name(&self) -> &'static str {
            self.name
        }

        fn schemas(&self) -> Vec<ResourceSchema> {
            if self.name == "test" {
                let mut lookup = schema(
                    "test.lookup",
                    vec![Property::new("name", Type::String).required()],
                    &["id", "value"],
                );
                lookup.data_source = true;
                lookup.managed = false;
                return vec![
                    schema(
                        "test.cert",
                        vec![
                            Property::new(
                                "subject",
                                Type::Object(vec![
                                    Property::new("common_name", Type::String).required(),
                                    Property::new("country", Type::String),
                                ]),
                            )
                            .required(),
                            Property::new(
                                "key_algorithm",
                                Type::Enum(&["RSA_2048", "EC_prime256v1"]),
                            ),
                            Property::new("validity", Type::Duration),
                            Property::new("count", Type::Number),
                            Property::new("enabled", Type::Bool),
                            Property::new("names", Type::List(Box::new(Type::String))),
                        ],
                        &["arn", "certificate"],
                    ),
                    lookup,
                ];
            }
            vec![
                schema(
                    "core.null",
                    vec![Property::new("triggers", Type::Map(Box::new(Type::String)))],
                    &["id"],
                ),
                schema(
                    "core.file",
                    vec![
                        Property::new("path", Type::String).required().force_new(),
                        Property::new("content", Type::String),
                        Property::new("mode", Type::String),
                    ],
                    &["id", "sha256"],
                ),
                schema(
                    "core.sleep",
                    vec![
                        Property::new("create_duration", Type::Duration),
                        Property::new("destroy_duration", Type::Duration),
                    ],
                    &["id"],
                ),
            ]
        }

        fn settings(&self) -> Vec<Property> {
            vec![Property::new("x", Type::String)]
        }

        fn validate(&self, type_name: &str, properties: &Value) -> Vec<Diagnostic> {
            let mut out = Vec::new();
            if type_name == "test.cert" {
                let cn = properties
                    .get("subject")
                    .and_then(|s| s.get_str("common_name"));
                if cn.is_some_and(|cn| cn.len() > 10) {
                    out.push(
                        Diagnostic::error("test::common_name", "common name too long")
                            .with_field("subject.common_name"),
                    );
                }
                if properties.get("count") == Some(&Value::Int(0)) {
                    out.push(
                        Diagnostic::error("test::count", "count must be positive")
                            .with_field("count"),
                    );
                }
            }
            out
        }

        async fn create(&self, _: &OpContext, _: &str, _: &Value) -> ProviderResult<Snapshot> {
            Err(ProviderError::new("test provider does no I/O"))
        }
        async fn read(
            &self,
            _: &OpContext,
            _: &str,
            _: &Snapshot,
        ) -> ProviderResult<Option<Snapshot>> {
            Err(ProviderError::new("test provider does no I/O"))
        }
        async fn update(
            &self,
            _: &OpContext,
            _: &str,
            _: &Snapshot,
            _: &Value,
        ) -> ProviderResult<Snapshot> {
            Err(ProviderError::new("test provider does no I/O"))
        }
        async fn delete(&self, _: &OpContext, _: &str, _: &Snapshot) -> ProviderResult<()> {
            Err(ProviderError::new("test provider does no I/O"))
        }
    }

    pub(crate) fn test_registry() -> Registry {
        Registry::new(vec![
            Arc::new(TestProvider { name: "core" }),
            Arc::new(TestProvider { name: "test" }),
        ])
    }

    fn diags(text: &str) -> Diagnostics {
        let (stack, d) = load_str(Path::new("s.yaml"), text, &test_registry());
        assert_eq!(stack.is_some(), !d.has_errors());
        d
    }

    fn only(text: &str) -> Diagnostic {
        let d = diags(text);
        assert_eq!(d.0.len(), 1, "{d}");
        d.0.into_iter().next().unwrap()
    }

    const CERT: &str = "stack: s\nresources:\n  ca:\n    type: test.cert\n    properties:\n";

    #[test]
    fn a_valid_stack_has_no_diagnostics() {
        let d = diags(&format!(
            "{CERT}      subject: {{common_name: root}}\n      key_algorithm: RSA_2048\n      validity: 10y\n      \
             count: 2\n      enabled: true\n      names: [a, \"${{f.sha256}}\"]\n  f:\n    type: core.file\n    \
             properties: {{path: /x, content: \"${{ca.certificate}}\"}}\n  l:\n    type: test.lookup\n    mode: data\n    \
             properties: {{name: n}}\n"
        ));
        assert!(d.is_empty(), "{d}");
    }

    #[test]
    fn unknown_properties_are_suggested_at_the_key() {
        let d = only(&format!(
            "{CERT}      subject: {{common_name: r}}\n      validty: 1y\n"
        ));
        assert_eq!(d.code, "stack::unknown_field");
        assert_eq!(d.field.as_deref(), Some("resources.ca.properties.validty"));
        assert_eq!(d.help.as_deref(), Some("did you mean `validity`?"));
        assert_eq!(
            (
                d.span.as_ref().unwrap().line,
                d.span.as_ref().unwrap().column
            ),
            (7, 7)
        );
        let d = diags(&format!("{CERT}      subject: {{common_nam: r}}\n"));
        assert_eq!(d.0[0].help.as_deref(), Some("did you mean `common_name`?"));
        assert!(
            d.0[1]
                .to_string()
                .contains("missing required property `common_name`"),
            "{d}"
        );
    }

    #[test]
    fn literal_types_enums_and_durations() {
        let d = only(&format!(
            "{CERT}      subject: {{common_name: r}}\n      count: many\n"
        ));
        assert_eq!(d.code, "stack::type_mismatch");
        assert_eq!(d.span.as_ref().unwrap().column, 14);
        let d = only(&format!(
            "{CERT}      subject: {{common_name: r}}\n      key_algorithm: RSA_2049\n"
        ));
        assert_eq!(d.code, "stack::invalid_value");
        assert_eq!(d.help.as_deref(), Some("did you mean `RSA_2048`?"));
        let d = only(&format!(
            "{CERT}      subject: {{common_name: r}}\n      validity: 10 years\n"
        ));
        assert!(d.detail.unwrap().contains("expected a duration"));
        let d = only(&format!(
            "{CERT}      subject: {{common_name: r}}\n      names: [a, [b]]\n"
        ));
        assert_eq!(d.field.as_deref(), Some("resources.ca.properties.names[1]"));
        let d = only("stack: s\nresources:\n  f:\n    type: core.file\n    properties: {path: /x, mode: 0644}\n");
        assert_eq!(
            d.help.as_deref(),
            Some("quote it to make it a string: \"644\"")
        );
        let d = only("stack: s\nresources:\n  n:\n    type: core.null\n    properties: {triggers: {a: [1]}}\n");
        assert_eq!(
            d.field.as_deref(),
            Some("resources.n.properties.triggers.a")
        );
    }

    #[test]
    fn references_skip_type_checks_but_interpolations_are_strings() {
        let base = "stack: s\nvariables:\n  n: {type: number}\n";
        assert!(diags(&format!("{base}{}", &CERT[9..]).replace(
            "properties:\n",
            "properties:\n      subject: {common_name: r}\n      count: \"${var.n}\"\n"
        ))
        .is_empty());
        let d = only(&format!("{base}{}", &CERT[9..]).replace(
            "properties:\n",
            "properties:\n      subject: {common_name: r}\n      count: \"n${var.n}\"\n",
        ));
        assert_eq!(d.code, "stack::type_mismatch");
    }

    #[test]
    fn provider_diagnostics_get_spans_and_full_fields() {
        let d = only(&format!(
            "{CERT}      subject:\n        common_name: much-too-long-a-name\n"
        ));
        assert_eq!(d.code, "test::common_name");
        assert_eq!(
            d.field.as_deref(),
            Some("resources.ca.properties.subject.common_name")
        );
        let span = d.span.unwrap();
        assert_eq!((span.line, span.column), (7, 22));
        assert_eq!(d.address.as_deref(), Some("ca"));
        // Unknown values reach the provider as Unknown, and it accepts them.
        assert!(diags(&format!("{CERT}      subject: {{common_name: \"${{f.id}}-much-too-long\"}}\n  f: {{type: core.null}}\n")).is_empty());
    }

    #[test]
    fn reference_targets_are_checked() {
        let d = only("stack: s\nresources:\n  ab:\n    type: core.null\n  c:\n    type: core.null\n    properties: {triggers: {x: \"${abc.id}\"}}\n");
        assert_eq!(d.code, "stack::unknown_reference");
        assert_eq!(d.help.as_deref(), Some("did you mean `ab`?"));
        assert_eq!(
            d.field.as_deref(),
            Some("resources.c.properties.triggers.x")
        );
        let d = only("stack: s\nresources:\n  ab:\n    type: core.null\n  c:\n    type: core.null\n    properties: {triggers: {x: \"${ab.idd}\"}}\n");
        assert_eq!(d.code, "stack::unknown_attribute");
        assert_eq!(d.help.as_deref(), Some("did you mean `id`?"));
        let d = only("stack: s\nvariables: {region: {}}\nresources:\n  c:\n    type: core.null\n    properties: {triggers: {x: \"${var.regoin}\"}}\n");
        assert_eq!(d.code, "stack::unknown_variable");
        assert_eq!(d.help.as_deref(), Some("did you mean `var.region`?"));
        let d = only("stack: s\nresources:\n  c:\n    type: core.null\n    properties: {triggers: {x: \"${c.id}\"}}\n");
        assert_eq!(d.code, "stack::self_reference");
        let d =
            only("stack: s\nresources:\n  c:\n    type: core.null\noutputs:\n  o: \"${c.nope}\"\n");
        assert_eq!(d.field.as_deref(), Some("outputs.o"));
    }

    #[test]
    fn depends_on_modes_names_types_and_providers() {
        let d = only("stack: s\nresources:\n  ab:\n    type: core.null\n  c:\n    type: core.null\n    depends_on: [abc]\n");
        assert_eq!(d.help.as_deref(), Some("did you mean `ab`?"));
        let d = only("stack: s\nresources:\n  c:\n    type: core.null\n    depends_on: [c]\n");
        assert_eq!(d.code, "stack::self_reference");
        let d = only("stack: s\nresources:\n  c:\n    type: core.null\n    mode: data\n");
        assert_eq!(d.field.as_deref(), Some("resources.c.mode"));
        let d =
            only("stack: s\nresources:\n  c:\n    type: test.lookup\n    properties: {name: x}\n");
        assert!(d.summary.contains("data source only"));
        let d = only("stack: s\nresources:\n  1c:\n    type: core.null\n");
        assert_eq!(d.code, "stack::invalid_name");
        let d = only("stack: s\nresources:\n  c:\n    type: core.nul\n");
        assert_eq!(d.help.as_deref(), Some("did you mean `core.null`?"));
        let d = only("stack: s\nproviders:\n  cor: {}\n");
        assert_eq!(d.code, "stack::unknown_provider");
        assert_eq!(d.help.as_deref(), Some("did you mean `core`?"));
        let d = only(
            "stack: s\nproviders:\n  core: {x: \"${a.b}\"}\nresources:\n  a: {type: core.null}\n",
        );
        assert_eq!(d.code, "stack::invalid_reference");
    }

    #[test]
    fn provider_settings_are_checked_against_what_each_provider_declares() {
        let registry = Registry::builtin();
        let check = |text: &str| load_str(Path::new("s.yaml"), text, &registry).1;
        for (provider, typo, meant) in [
            ("aws", "regoin", "region"),
            ("kubernetes", "kubeconfg", "kubeconfig"),
            ("helm", "kubeconfg", "kubeconfig"),
        ] {
            let d = check(&format!(
                "stack: s\nproviders:\n  {provider}:\n    {typo}: x\n"
            ));
            assert_eq!(d.0.len(), 1, "{d}");
            let d = &d.0[0];
            assert_eq!(d.code, "stack::unknown_field");
            assert_eq!(
                d.summary,
                format!("unknown setting `{typo}` for provider `{provider}`")
            );
            assert_eq!(d.field, Some(format!("providers.{provider}.{typo}")));
            assert_eq!(d.help, Some(format!("did you mean `{meant}`?")));
            let span = d.span.as_ref().unwrap();
            assert_eq!((span.line, span.column), (4, 5));
        }
        let d = check("stack: s\nproviders:\n  aws: {max_attempts: many, timeout: 10s}\n");
        assert_eq!(d.0.len(), 1, "{d}");
        assert_eq!(d.0[0].code, "stack::type_mismatch");
        assert_eq!(d.0[0].field.as_deref(), Some("providers.aws.max_attempts"));
        // Variables are welcome; no settings at all is fine.
        let ok = "stack: s\nvariables: {r: {}}\nproviders:\n  aws: {region: \"${var.r}\", tags: {a: b}}\n  \
                  kubernetes:\n  helm: {binary: h, kubeconfig: k, context: c, timeout: 1m, max_attempts: 2}\n";
        assert!(check(ok).is_empty(), "{}", check(ok));
    }

    /// Every file in tests/fixtures/bad (except cycle.yaml, found by the graph) fails with
    /// the diagnostic its `.expected` sibling describes.
    #[test]
    fn bad_fixtures_report_the_expected_diagnostic() {
        let dir = Path::new("tests/fixtures/bad");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .filter(|p| p.file_stem().is_some_and(|s| s != "cycle"))
            .collect();
        files.sort();
        // The cycle is the graph's to find: to this module the file is valid.
        let (cycle, diags) = load_file(&dir.join("cycle.yaml"), &test_registry());
        assert!(cycle.is_some(), "{diags}");
        assert!(files.len() >= 15, "only {} fixtures", files.len());
        for file in files {
            let expected = std::fs::read_to_string(file.with_extension("expected")).unwrap();
            let (stack, diags) = load_file(&file, &test_registry());
            assert!(stack.is_none(), "{} loaded without errors", file.display());
            for want in expected.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    diags.iter().any(|d| d.to_string().contains(want.trim())),
                    "{}: no diagnostic contains {want:?}; got:\n{diags}",
                    file.display()
                );
            }
        }
    }
}
