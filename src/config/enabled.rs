//! `enabled:` on a resource or an output: whether it is part of the stack at all, decided
//! from variables alone before anything is planned. A disabled resource is left out of the
//! graph (and, if state holds it, destroyed like a removed one); an enabled one that needs a
//! value of a disabled one is an error naming both.
//!
//! The condition is `true`, `false`, or one `${...}` holding a variable reference, alone (a
//! bool variable) or compared with a literal: `${var.workload_identity == "pod_identity"}`.

use std::collections::{BTreeMap, BTreeSet};

use super::expr::{references, RefTarget};
use super::model::{Stack, VarType};
use super::yaml::{Node, NodeKind};
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::value::Value;

/// When a resource or an output is part of the stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Enabled {
    /// `enabled: true` (the default) or `false`.
    Fixed(bool),
    /// `enabled: ${var.NAME}` or `${var.NAME == LITERAL}` / `!=`.
    When(Condition),
}

impl Default for Enabled {
    fn default() -> Self {
        Enabled::Fixed(true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Equal,
    NotEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub variable: String,
    /// `None`: the variable itself, a bool.
    pub test: Option<(Compare, Value)>,
    /// The `${...}` text, for messages.
    pub text: String,
    pub span: Span,
}

impl Enabled {
    /// The variable the condition reads, if any.
    pub fn variable(&self) -> Option<&str> {
        match self {
            Enabled::Fixed(_) => None,
            Enabled::When(c) => Some(&c.variable),
        }
    }

    /// `Some(enabled)`, or `None` when the variable has no value (validate without one).
    pub fn evaluate(&self, variables: &BTreeMap<String, Value>) -> Option<bool> {
        let c = match self {
            Enabled::Fixed(b) => return Some(*b),
            Enabled::When(c) => c,
        };
        let value = variables.get(&c.variable)?.unmarked();
        match &c.test {
            None => value.as_bool(),
            Some((op, literal)) => {
                let same = value.to_interpolated()? == literal.to_interpolated()?;
                Some(same == (*op == Compare::Equal))
            }
        }
    }
}

fn invalid(node: &Node, field: &str, why: &str) -> Diagnostic {
    Diagnostic::error(
        "stack::invalid_value",
        format!("`{field}` must be true, false or a condition on a variable"),
    )
    .with_span(node.span.clone())
    .with_field(field)
    .with_detail(why.to_string())
    .with_help(
        "write `enabled: true`, `enabled: ${var.flag}` (a bool variable), or \
         `enabled: ${var.mode == \"value\"}` (also `!=`)",
    )
}

/// Decodes an `enabled:` node. Whether the variable exists is checked by [`check`].
pub fn parse(node: &Node, field: &str) -> Result<Enabled, Diagnostic> {
    let text = match &node.kind {
        NodeKind::Bool(b) => return Ok(Enabled::Fixed(*b)),
        NodeKind::String(s) => s.trim(),
        _ => {
            return Err(invalid(
                node,
                field,
                &format!("found a {}", node.type_name()),
            ))
        }
    };
    let inner = text
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .filter(|t| !t.contains("${") && !t.contains('}'))
        .ok_or_else(|| {
            invalid(
                node,
                field,
                &format!("{text:?} is not one `${{...}}` condition"),
            )
        })?;
    let (reference, test) = match ["==", "!="]
        .iter()
        .find_map(|op| inner.split_once(op).map(|(l, r)| (*op, l, r)))
    {
        None => (inner.trim(), None),
        Some((op, left, right)) => {
            let op = if op == "==" {
                Compare::Equal
            } else {
                Compare::NotEqual
            };
            (left.trim(), Some((op, literal(right.trim()).ok_or_else(|| {
                invalid(
                    node,
                    field,
                    &format!(
                        "{:?} is not a literal: compare with a quoted string, a number, true or false",
                        right.trim()
                    ),
                )
            })?)))
        }
    };
    let variable = reference
        .strip_prefix("var.")
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && !n.is_empty()
        })
        .ok_or_else(|| {
            invalid(
                node,
                field,
                &format!(
                    "`{reference}` is not a variable reference: whether something exists is decided \
                     from variables alone, before any resource is read"
                ),
            )
        })?;
    Ok(Enabled::When(Condition {
        variable: variable.to_string(),
        test,
        text: text.to_string(),
        span: node.span.clone(),
    }))
}

fn literal(text: &str) -> Option<Value> {
    for q in ['"', '\''] {
        if let Some(s) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return (!s.contains(q)).then(|| Value::from(s));
        }
    }
    match text {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => text
            .parse::<i64>()
            .map(Value::Int)
            .ok()
            .or_else(|| text.parse::<f64>().ok().map(Value::Float)),
    }
}

/// Load-time checks of every condition against the declared variables: the variable
/// exists, is not sensitive (whether a resource exists would reveal it), a bare one is a
/// bool, and a literal compared with a variable that declares `allowed` is one of them.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let conditions = stack
        .resources
        .values()
        .map(|r| (&r.enabled, format!("resources.{}.enabled", r.name)))
        .chain(
            stack
                .outputs
                .values()
                .map(|o| (&o.enabled, format!("outputs.{}.enabled", o.name))),
        );
    let mut out = Vec::new();
    for (enabled, field) in conditions {
        let Enabled::When(c) = enabled else { continue };
        let at = |d: Diagnostic| d.with_span(c.span.clone()).with_field(field.clone());
        let Some(decl) = stack.variables.get(&c.variable) else {
            let mut d = at(Diagnostic::error(
                "stack::unknown_variable",
                format!("`{}` uses the undeclared variable `{}`", c.text, c.variable),
            ));
            if let Some(s) =
                crate::diag::did_you_mean(&c.variable, stack.variables.keys().map(String::as_str))
            {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            out.push(d);
            continue;
        };
        if decl.sensitive {
            out.push(
                at(Diagnostic::error(
                    "stack::invalid_value",
                    format!(
                        "`{field}` depends on the sensitive variable `{}`",
                        c.variable
                    ),
                ))
                .with_detail(
                    "whether a resource exists would show the plan's reader what the secret is",
                )
                .with_help("decide with a variable that is not sensitive"),
            );
        }
        match &c.test {
            None if decl.var_type != VarType::Bool => out.push(
                at(Diagnostic::error(
                    "stack::type_mismatch",
                    format!("`{}` is a {}, not a bool", c.variable, decl.var_type.name()),
                ))
                .with_help(format!(
                    "compare it: `${{var.{} == \"value\"}}`",
                    c.variable
                )),
            ),
            Some((_, literal)) => {
                if let Some(allowed) = &decl.allowed {
                    let text = literal.to_interpolated();
                    if !allowed.iter().any(|a| a.to_interpolated() == text) {
                        out.push(
                            at(Diagnostic::error(
                                "stack::invalid_value",
                                format!(
                                    "`{}` compares `{}` with {}, which it never holds",
                                    c.text,
                                    c.variable,
                                    literal.render()
                                ),
                            ))
                            .with_detail(format!(
                                "`{}` allows: {}",
                                c.variable,
                                render_list(allowed)
                            )),
                        );
                    }
                }
            }
            None => {}
        }
    }
    out
}

pub fn render_list(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| v.to_interpolated().unwrap_or_else(|| v.render()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stack as these variable values make it: disabled resources and outputs left out,
/// `depends_on` on a disabled resource dropped (it orders nothing), and an error for every
/// value an enabled resource or output takes from a disabled one. A condition whose
/// variable has no value keeps its resource (validate without `--var`).
pub fn select(stack: &Stack, variables: &BTreeMap<String, Value>) -> Result<Stack, Diagnostics> {
    let disabled: BTreeSet<&str> = stack
        .resources
        .values()
        .filter(|r| r.enabled.evaluate(variables) == Some(false))
        .map(|r| r.name.as_str())
        .collect();
    let mut diags = Diagnostics::new();
    let mut out = stack.clone();
    out.resources
        .retain(|name, _| !disabled.contains(name.as_str()));
    out.outputs
        .retain(|_, o| o.enabled.evaluate(variables) != Some(false));
    let users = out
        .resources
        .values()
        .map(|r| (format!("resource `{}`", r.name), &r.properties))
        .chain(
            out.outputs
                .values()
                .map(|o| (format!("output `{}`", o.name), &o.value)),
        );
    for (user, node) in users {
        for r in references(node).0 {
            let RefTarget::Resource(target) = &r.target else {
                continue;
            };
            if !disabled.contains(target.as_str()) {
                continue;
            }
            let decl = &stack.resources[target];
            let why = match &decl.enabled {
                Enabled::When(c) => format!("{} is false", c.text),
                Enabled::Fixed(_) => "enabled: false".to_string(),
            };
            diags.push(
                Diagnostic::error(
                    "stack::disabled_reference",
                    format!(
                        "{user} refers to `{target}` (${{{}}}), which is disabled",
                        r.text
                    ),
                )
                .with_span(r.span.clone())
                .with_detail(format!(
                    "`{target}` at {} is left out of the stack: {why}",
                    decl.span
                ))
                .with_help(format!(
                    "give {user} the same `enabled:` condition as `{target}`, or refer to a resource \
                     that exists with these variables"
                )),
            );
        }
    }
    for r in out.resources.values_mut() {
        r.depends_on
            .retain(|(name, _)| !disabled.contains(name.as_str()));
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_str;
    use crate::config::validate::tests::test_registry;
    use std::path::Path;

    fn node(text: &str) -> Node {
        let file = std::sync::Arc::new(std::path::PathBuf::from("s.yaml"));
        Node::parse(&file, text).unwrap()
    }

    fn vars(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn conditions_compare_a_variable_with_a_literal() {
        let eq = parse(&node("'${var.mode == \"pod_identity\"}'"), "enabled").unwrap();
        let ne = parse(&node("\"${ var.mode != 'pod_identity' }\""), "enabled").unwrap();
        let bare = parse(&node("'${var.on}'"), "enabled").unwrap();
        let pods = vars(&[("mode", "pod_identity".into()), ("on", Value::Bool(false))]);
        let irsa = vars(&[("mode", "irsa".into()), ("on", Value::Bool(true))]);
        assert_eq!(eq.evaluate(&pods), Some(true));
        assert_eq!(eq.evaluate(&irsa), Some(false));
        assert_eq!(ne.evaluate(&pods), Some(false));
        assert_eq!(bare.evaluate(&pods), Some(false));
        assert_eq!(bare.evaluate(&irsa), Some(true));
        assert_eq!(eq.evaluate(&vars(&[])), None);
        assert_eq!(
            parse(&node("false"), "enabled").unwrap(),
            Enabled::Fixed(false)
        );
    }

    #[test]
    fn anything_but_a_variable_condition_is_refused() {
        for bad in [
            "'${ca.arn == \"x\"}'",
            "'${var.mode == pod_identity}'",
            "'x ${var.on}'",
            "[true]",
            "'${var.a}${var.b}'",
        ] {
            let d = parse(&node(bad), "resources.r.enabled").unwrap_err();
            assert_eq!(d.code, "stack::invalid_value", "{bad}");
            assert_eq!(d.field.as_deref(), Some("resources.r.enabled"));
        }
    }

    const STACK: &str = "stack: s
variables:
  mode: {default: irsa, allowed: [irsa, pod_identity]}
resources:
  a:
    type: core.null
    enabled: ${var.mode == \"irsa\"}
  b:
    type: core.null
    depends_on: [a]
    properties: {triggers: {x: '${a.id}'}}
  c:
    type: core.null
    depends_on: [a]
outputs:
  a_id: {value: '${a.id}', enabled: '${var.mode == \"irsa\"}'}
";

    #[test]
    fn a_disabled_resource_is_left_out_and_a_value_taken_from_it_is_an_error() {
        let (stack, d) = load_str(Path::new("s.yaml"), STACK, &test_registry());
        let stack = stack.unwrap_or_else(|| panic!("{d}"));
        let irsa = select(&stack, &vars(&[("mode", "irsa".into())])).unwrap();
        assert_eq!(irsa.resources.len(), 3);
        assert!(irsa.outputs.contains_key("a_id"));

        let err = select(&stack, &vars(&[("mode", "pod_identity".into())])).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!(e.code, "stack::disabled_reference");
        assert!(e.summary.contains("resource `b`") && e.summary.contains("`a`"));
        assert_eq!(e.span.as_ref().unwrap().line, 11);
        assert!(e.detail.as_deref().unwrap().contains("s.yaml:5:"), "{e:?}");

        let text = STACK.replace("    properties: {triggers: {x: '${a.id}'}}\n", "");
        let (stack, _) = load_str(Path::new("s.yaml"), &text, &test_registry());
        let pods = select(&stack.unwrap(), &vars(&[("mode", "pod_identity".into())])).unwrap();
        assert!(!pods.resources.contains_key("a"));
        assert!(pods.resources["c"].depends_on.is_empty());
        assert!(!pods.outputs.contains_key("a_id"));
    }

    #[test]
    fn conditions_are_checked_against_the_declared_variables() {
        let text = "stack: s
variables:
  mode: {default: irsa, allowed: [irsa, pod_identity]}
  secret: {default: x, sensitive: true}
resources:
  a: {type: core.null, enabled: '${var.mood == \"irsa\"}'}
  b: {type: core.null, enabled: '${var.mode}'}
  c: {type: core.null, enabled: '${var.mode == \"pod-identity\"}'}
  d: {type: core.null, enabled: '${var.secret == \"x\"}'}
";
        let (_, d) = load_str(Path::new("s.yaml"), text, &test_registry());
        let got: Vec<(&str, Option<&str>)> =
            d.iter().map(|d| (d.code, d.field.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("stack::unknown_variable", Some("resources.a.enabled")),
                ("stack::type_mismatch", Some("resources.b.enabled")),
                ("stack::invalid_value", Some("resources.c.enabled")),
                ("stack::invalid_value", Some("resources.d.enabled")),
            ],
            "{d}"
        );
        assert_eq!(d.0[0].help.as_deref(), Some("did you mean `mode`?"));
    }
}
