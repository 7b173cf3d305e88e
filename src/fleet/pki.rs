//! The PKI check only a fleet can make: the CA that signs each cluster's Istio CA lives in
//! the trust tier, the certificate that asks for it in the cluster tier. A trust-tier CA
//! with path length 0, handed to the cluster tier by an output, cannot sign the Istio CA
//! (`is_ca: true`); each stack alone looks fine. Like [`crate::checks`], this looks only
//! at links written exactly (`${ca.arn}` as an output, `${var.NAME}` as an issuer's ARN,
//! `${issuer.name}` or the issuer's literal name on the certificate); anything else is
//! skipped, never guessed.

use std::collections::BTreeMap;

use crate::config::yaml::{Node, NodeKind};
use crate::config::Stack;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::value::Value;

pub const PATH_LENGTH_EXHAUSTED: &str = "fleet::path_length_exhausted";

const CA_TYPE: &str = "aws.pca.certificate_authority";
const ISSUER_TYPES: &[&str] = &["awspca.issuer", "awspca.cluster_issuer"];
const CERTIFICATE_TYPE: &str = "certmanager.certificate";

/// A trust-tier CA with path length 0, as an output.
struct ExhaustedCa<'a> {
    ca: &'a str,
    path_length: &'a Node,
}

/// Checks the trust stack (with its variables) against the cluster stack.
pub fn check(trust: &Stack, trust_vars: &BTreeMap<String, Value>, cluster: &Stack) -> Diagnostics {
    let mut exhausted: BTreeMap<&str, ExhaustedCa> = BTreeMap::new();
    for (output, decl) in &trust.outputs {
        let Some(ca) = exact_ref(&decl.value, "arn") else {
            continue;
        };
        let Some(r) = trust.resources.get(ca).filter(|r| r.type_name == CA_TYPE) else {
            continue;
        };
        let Some(path_length) = r.properties.get("path_length") else {
            continue;
        };
        let zero = match &path_length.kind {
            NodeKind::Int(0) => true,
            NodeKind::String(s) => s
                .strip_prefix("${var.")
                .and_then(|v| v.strip_suffix('}'))
                .and_then(|v| trust_vars.get(v))
                .is_some_and(|v| matches!(v, Value::Int(0)) || v.as_str() == Some("0")),
            _ => false,
        };
        if zero {
            exhausted.insert(output, ExhaustedCa { ca, path_length });
        }
    }
    let mut out = Diagnostics::new();
    if exhausted.is_empty() {
        return out;
    }
    for (issuer_name, issuer) in cluster
        .resources
        .iter()
        .filter(|(_, r)| ISSUER_TYPES.contains(&r.type_name.as_str()))
    {
        let Some(var) = issuer.properties.get("arn").and_then(|a| exact_var(a)) else {
            continue;
        };
        let Some(ca) = exhausted.get(var) else {
            continue;
        };
        let literal_name = issuer.properties.get("name").and_then(Node::as_str);
        for (cert_name, cert) in cluster
            .resources
            .iter()
            .filter(|(_, r)| r.type_name == CERTIFICATE_TYPE)
        {
            let Some((is_ca_span, true)) =
                cert.properties.get("is_ca").and_then(|n| match n.kind {
                    NodeKind::Bool(b) => Some((n.span.clone(), b)),
                    _ => None,
                })
            else {
                continue;
            };
            let Some(named) = cert.properties.get("issuer").and_then(|i| i.get("name")) else {
                continue;
            };
            let issued_here = exact_ref(named, "name") == Some(issuer_name.as_str())
                || (named.as_str().is_some() && named.as_str() == literal_name);
            if issued_here {
                out.push(diagnostic(
                    trust,
                    ca,
                    cert_name,
                    issuer_name,
                    var,
                    &is_ca_span,
                ));
            }
        }
    }
    out
}

fn diagnostic(
    trust: &Stack,
    ca: &ExhaustedCa,
    cert: &str,
    issuer: &str,
    output: &str,
    is_ca: &Span,
) -> Diagnostic {
    Diagnostic::error(
        PATH_LENGTH_EXHAUSTED,
        format!(
            "CA {} of the trust tier has path_length 0 ({}), but the cluster tier's certificate {cert} (is_ca: true, {is_ca}) is issued by it through issuer {issuer}",
            ca.ca, ca.path_length.span
        ),
    )
    .with_span(ca.path_length.span.clone())
    .with_field(format!("resources.{}.properties.path_length", ca.ca))
    .with_detail(format!(
        "the trust tier's output `{output}` reaches the cluster tier as `${{var.{output}}}`; \
         aws-privateca-issuer signs CA certificates with PCA's SubordinateCACertificate_PathLen0/V1 \
         template, which a CA with path_length 0 may not use, so every member's Istio CA would fail"
    ))
    .with_help(format!(
        "set path_length: 1 (or more) on {} in {}; PCA fixes it when the CA is created, so an existing {} will be replaced",
        ca.ca,
        trust.file.display(),
        ca.ca
    ))
}

/// `X` when `node` is exactly `${X.attr}`.
fn exact_ref<'a>(node: &'a Node, attr: &str) -> Option<&'a str> {
    let inner = node.as_str()?.strip_prefix("${")?.strip_suffix('}')?;
    let (name, a) = inner.split_once('.')?;
    (a == attr && !name.contains(['$', '{', '}', ' ']) && name != "var").then_some(name)
}

/// `NAME` when `node` is exactly `${var.NAME}`.
fn exact_var(node: &Node) -> Option<&str> {
    let name = node.as_str()?.strip_prefix("${var.")?.strip_suffix('}')?;
    (!name.contains(['$', '{', '}', ' ', '.'])).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Registry;
    use std::path::Path;

    fn stack(file: &str, text: &str) -> Stack {
        let (s, d) = crate::config::load::load_str(Path::new(file), text, &Registry::builtin());
        s.unwrap_or_else(|| panic!("{d}"))
    }

    fn trust(path_length: &str) -> Stack {
        let text = std::fs::read_to_string(crate::fleet::tests::repo("stacks/mesh-trust.yaml"))
            .unwrap()
            .replace("path_length: 1", &format!("path_length: {path_length}"));
        stack("stacks/mesh-trust.yaml", &text)
    }

    fn cluster() -> Stack {
        let text =
            std::fs::read_to_string(crate::fleet::tests::repo("stacks/mesh-cluster.yaml")).unwrap();
        stack("stacks/mesh-cluster.yaml", &text)
    }

    #[test]
    fn a_trust_subordinate_with_path_length_0_is_caught_naming_both_files() {
        let diags = check(&trust("0"), &BTreeMap::new(), &cluster());
        let d = diags.iter().next().expect("caught");
        assert_eq!(d.code, PATH_LENGTH_EXHAUSTED);
        let span = d.span.as_ref().unwrap();
        assert!(span.file.ends_with("stacks/mesh-trust.yaml"), "{span}");
        assert!(
            d.summary.contains("stacks/mesh-cluster.yaml:"),
            "{}",
            d.summary
        );
        assert!(d.summary.contains("subordinate_ca"), "{}", d.summary);
    }

    #[test]
    fn path_length_1_or_a_variable_set_to_1_passes() {
        assert!(check(&trust("1"), &BTreeMap::new(), &cluster()).is_empty());
        let vars = BTreeMap::from([("pl".to_string(), Value::Int(0))]);
        let text = std::fs::read_to_string(crate::fleet::tests::repo("stacks/mesh-trust.yaml"))
            .unwrap()
            .replace("path_length: 1", "path_length: ${var.pl}")
            .replace(
                "variables:\n",
                "variables:\n  pl:\n    type: number\n    default: 1\n",
            );
        let t = stack("stacks/mesh-trust.yaml", &text);
        let one = BTreeMap::from([("pl".to_string(), Value::Int(1))]);
        assert!(check(&t, &one, &cluster()).is_empty());
        assert_eq!(check(&t, &vars, &cluster()).iter().count(), 1);
    }
}
