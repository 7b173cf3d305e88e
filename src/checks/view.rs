//! A read-only view of a stack for the checks: property nodes by path, their values with
//! variables substituted, and the links between resources (`${name.arn}`). Anything that
//! depends on a value known only after apply reads as absent, so checks skip it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::expr::{evaluate, parse_template, RefTarget, Scope, Segment};
use crate::config::{Node, ResourceDecl, Stack};
use crate::diag::{Diagnostic, Span};
use crate::value::{PathStep, Value};

pub const CA: &str = "aws.pca.certificate_authority";
pub const ISSUER: &str = "awspca.issuer";
pub const CERTIFICATE: &str = "certmanager.certificate";
pub const ROLE: &str = "aws.iam.role";
pub const POLICY: &str = "aws.iam.policy";
pub const RELEASE: &str = "helm.release";
pub const SERVICE_ACCOUNT: &str = "k8s.service_account";
pub const POD_IDENTITY: &str = "aws.eks.pod_identity_association";

/// What a string in a stack stands for, as far as it can be known before apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// Exactly `${resource.attr}`: a link to another resource.
    Link {
        resource: String,
        attr: String,
    },
    /// A literal, or a string whose references were all variables with known values.
    Literal(String),
    Unknown,
}

/// Variables resolve from the map given; resources are unknown (no I/O before apply).
struct VarScope<'a>(&'a BTreeMap<String, Value>);

impl Scope for VarScope<'_> {
    fn variable(&self, name: &str) -> Option<Value> {
        Some(self.0.get(name).cloned().unwrap_or(Value::Unknown))
    }
    fn resource(&self, _name: &str) -> Option<Value> {
        Some(Value::Unknown)
    }
}

pub struct View<'a> {
    pub stack: &'a Stack,
    vars: &'a BTreeMap<String, Value>,
}

impl<'a> View<'a> {
    pub fn new(stack: &'a Stack, vars: &'a BTreeMap<String, Value>) -> Self {
        View { stack, vars }
    }

    pub fn of_type(&self, type_name: &'static str) -> impl Iterator<Item = &'a ResourceDecl> {
        self.stack
            .resources
            .values()
            .filter(move |r| r.type_name == type_name)
    }

    pub fn resource(&self, name: &str) -> Option<&'a ResourceDecl> {
        self.stack.resources.get(name)
    }

    /// The property node at `path` (map keys; a key may itself hold dots).
    pub fn node(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<&'a Node> {
        path.iter()
            .try_fold(&decl.properties, |node, key| match node.as_seq() {
                Some(items) => items.get(key.parse::<usize>().ok()?),
                None => node.get(key),
            })
    }

    /// A node's value with variables substituted; `None` when any part is unknown.
    pub fn eval(&self, node: &Node) -> Option<Value> {
        evaluate(node, &VarScope(self.vars), "")
            .ok()
            .map(|v| v.unmarked())
            .filter(|v| !v.contains_unknown() && !v.is_null())
    }

    pub fn value(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<Value> {
        self.eval(self.node(decl, path)?)
    }

    pub fn string(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<String> {
        self.value(decl, path)?.as_str().map(str::to_string)
    }

    pub fn int(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<i64> {
        self.value(decl, path)?.as_i64()
    }

    pub fn bool(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<bool> {
        match self.value(decl, path)? {
            Value::Bool(b) => Some(b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    pub fn duration(&self, decl: &'a ResourceDecl, path: &[&str]) -> Option<Duration> {
        crate::duration::parse(&self.string(decl, path)?).ok()
    }

    /// A raw string (refs as written) as a [`Term`].
    pub fn term(&self, raw: &str) -> Term {
        if !raw.contains("${") {
            return Term::Literal(raw.replace("$${", "${"));
        }
        let dummy = Span::new(self.stack.file.clone(), 0, 0, 0, 0);
        let Ok(segments) = parse_template(raw, &dummy) else {
            return Term::Unknown;
        };
        if let [Segment::Ref(r)] = segments.as_slice() {
            if let RefTarget::Resource(name) = &r.target {
                return match r.path.as_slice() {
                    [PathStep::Key(attr)] => Term::Link {
                        resource: name.clone(),
                        attr: attr.clone(),
                    },
                    _ => Term::Unknown,
                };
            }
        }
        let mut out = String::new();
        for seg in segments {
            match seg {
                Segment::Text(t) => out.push_str(&t),
                Segment::Ref(r) => {
                    let RefTarget::Variable(name) = &r.target else {
                        return Term::Unknown;
                    };
                    match self.vars.get(name).and_then(Value::to_interpolated) {
                        Some(s) if r.path.is_empty() => out.push_str(&s),
                        _ => return Term::Unknown,
                    }
                }
            }
        }
        Term::Literal(out)
    }

    /// The term of a string node (a variable holding a non-string is unknown).
    pub fn node_term(&self, node: &Node) -> Term {
        match node.as_str() {
            Some(raw) => self.term(raw),
            None => Term::Unknown,
        }
    }

    /// The resource of type `type_name` that `node` links to through `${name.arn}`.
    pub fn linked(&self, node: &Node, type_name: &str) -> Option<&'a ResourceDecl> {
        match self.node_term(node) {
            Term::Link { resource, attr } if attr == "arn" => self
                .resource(&resource)
                .filter(|r| r.type_name == type_name),
            _ => None,
        }
    }

    /// `providers.aws.region`, when it is a literal or a resolved variable.
    pub fn aws_region(&self) -> Option<String> {
        let node = self.stack.providers.get("aws")?.get("region")?;
        self.eval(node)?.as_str().map(str::to_string)
    }
}

/// Points a diagnostic at a property: its span (or the resource's when the property is
/// absent), the field path `resources.NAME.properties.PATH`, and the resource address.
pub fn at(d: Diagnostic, view: &View<'_>, decl: &ResourceDecl, path: &[&str]) -> Diagnostic {
    let span = view
        .node(decl, path)
        .map(|n| n.span.clone())
        .unwrap_or_else(|| decl.span.clone());
    d.with_span(span)
        .with_field(field(decl, path))
        .with_address(decl.name.clone())
}

/// The field path of a property, for messages that name the other end.
pub fn field(decl: &ResourceDecl, path: &[&str]) -> String {
    let mut field = format!("resources.{}.properties", decl.name);
    for key in path {
        if key.parse::<usize>().is_ok() {
            field.push_str(&format!("[{key}]"));
        } else {
            field.push('.');
            field.push_str(key);
        }
    }
    field
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::provider::Registry;
    use std::path::Path;

    pub fn stack(text: &str) -> Stack {
        let (stack, diags) = load_str(Path::new("t.yaml"), text, &Registry::builtin());
        assert!(!diags.has_errors(), "{diags}");
        stack.unwrap()
    }

    #[test]
    fn terms_tell_links_literals_and_unknowns_apart() {
        let s = stack("stack: t\nvariables:\n  r: {type: string, default: eu-west-1}\n  x: {type: string}\nresources: {}\n");
        let mut vars = BTreeMap::new();
        vars.insert("r".to_string(), Value::String("eu-west-1".into()));
        let v = View::new(&s, &vars);
        assert_eq!(
            v.term("${sub_ca.arn}"),
            Term::Link {
                resource: "sub_ca".into(),
                attr: "arn".into()
            }
        );
        assert_eq!(v.term("plain"), Term::Literal("plain".into()));
        assert_eq!(v.term("${var.r}"), Term::Literal("eu-west-1".into()));
        assert_eq!(
            v.term("arn:aws:acm-pca:${var.r}:1"),
            Term::Literal("arn:aws:acm-pca:eu-west-1:1".into())
        );
        assert_eq!(v.term("${var.x}"), Term::Unknown);
        assert_eq!(v.term("x-${sub_ca.arn}"), Term::Unknown);
    }
}
