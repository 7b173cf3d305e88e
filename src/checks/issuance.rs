//! Who issues what: a certificate names an issuer (`issuer: {name, kind}`), an issuer names
//! a CA (`arn: ${sub_ca.arn}`). Also the one wiring check that lives on that link: a
//! namespaced issuer serves certificates of its own namespace only.

use super::view::{at, field, View, CA, CERTIFICATE, ISSUER};
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;

pub const ISSUER_NAMESPACE_MISMATCH: &str = "pki::issuer_namespace_mismatch";

const GROUP: &str = "awspca.cert-manager.io";
const NAMESPACED: &str = "AWSPCAIssuer";
const CLUSTER: &str = "AWSPCAClusterIssuer";

/// A certificate issued through a stack issuer by a stack CA.
pub struct Issuance<'a> {
    pub cert: &'a ResourceDecl,
    pub issuer: &'a ResourceDecl,
    pub ca: Option<&'a ResourceDecl>,
}

enum Found<'a> {
    Issuer(&'a ResourceDecl),
    /// Namespaced issuers of that name exist, but none in the certificate's namespace.
    ElsewhereOnly(Vec<&'a ResourceDecl>),
    Nothing,
}

fn find<'a>(view: &View<'a>, cert: &'a ResourceDecl) -> Found<'a> {
    let Some(name) = view.string(cert, &["issuer", "name"]) else {
        return Found::Nothing;
    };
    let kind = match view.node(cert, &["issuer", "kind"]) {
        None => NAMESPACED.to_string(),
        Some(_) => match view.string(cert, &["issuer", "kind"]) {
            Some(k) => k,
            None => return Found::Nothing,
        },
    };
    if view.node(cert, &["issuer", "group"]).is_some()
        && view.string(cert, &["issuer", "group"]).as_deref() != Some(GROUP)
    {
        return Found::Nothing;
    }
    let named: Vec<&ResourceDecl> = view
        .of_type(ISSUER)
        .filter(|i| view.string(i, &["name"]).as_deref() == Some(name.as_str()))
        .collect();
    match kind.as_str() {
        CLUSTER => named
            .into_iter()
            .find(|i| view.node(i, &["namespace"]).is_none())
            .map_or(Found::Nothing, Found::Issuer),
        NAMESPACED => {
            let Some(ns) = view.string(cert, &["namespace"]) else {
                return Found::Nothing;
            };
            let mut elsewhere = Vec::new();
            for i in named {
                if view.node(i, &["namespace"]).is_none() {
                    continue;
                }
                match view.string(i, &["namespace"]) {
                    Some(ins) if ins == ns => return Found::Issuer(i),
                    Some(_) => elsewhere.push(i),
                    // An issuer whose namespace is not known yet might be the one.
                    None => return Found::Nothing,
                }
            }
            if elsewhere.is_empty() {
                Found::Nothing
            } else {
                Found::ElsewhereOnly(elsewhere)
            }
        }
        _ => Found::Nothing,
    }
}

/// Every certificate whose issuer is in the stack, with the CA behind it when that is too.
pub fn issuances<'a>(view: &View<'a>) -> Vec<Issuance<'a>> {
    view.of_type(CERTIFICATE)
        .filter_map(|cert| match find(view, cert) {
            Found::Issuer(issuer) => Some(Issuance {
                cert,
                issuer,
                ca: view.node(issuer, &["arn"]).and_then(|n| view.linked(n, CA)),
            }),
            _ => None,
        })
        .collect()
}

pub fn check_namespaces(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for cert in view.of_type(CERTIFICATE) {
        let Found::ElsewhereOnly(issuers) = find(view, cert) else {
            continue;
        };
        let ns = view.string(cert, &["namespace"]).unwrap_or_default();
        let name = view.string(cert, &["issuer", "name"]).unwrap_or_default();
        let places: Vec<String> = issuers
            .iter()
            .map(|i| {
                format!(
                    "issuer {} is in namespace {}",
                    i.name,
                    view.string(i, &["namespace"]).unwrap_or_default()
                )
            })
            .collect();
        let first = issuers[0];
        out.push(
            at(
                Diagnostic::error(
                    ISSUER_NAMESPACE_MISMATCH,
                    format!(
                        "certificate {} in namespace {ns} uses AWSPCAIssuer {name}, but {}",
                        cert.name,
                        places.join(" and "),
                    ),
                ),
                view,
                cert,
                &["issuer", "name"],
            )
            .with_detail(format!(
                "a namespaced AWSPCAIssuer only serves certificates in its own namespace ({}); cert-manager would wait for an issuer {name} in {ns} that never appears",
                field(first, &["namespace"])
            ))
            .with_help(format!(
                "set namespace: {ns} on issuer {}, or drop its namespace and use kind: AWSPCAClusterIssuer",
                first.name
            )),
        );
    }
}
