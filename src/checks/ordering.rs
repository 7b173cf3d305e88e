//! istiod adopts a plugged-in CA only if the `cacerts` secret exists when it starts: it
//! never switches from its self-signed CA later. So an istiod release must come after the
//! certificate that writes `cacerts` in its namespace, through references or `depends_on`.

use super::view::{field, View, CERTIFICATE, RELEASE};
use super::wiring::is_chart;
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;
use crate::graph::DependencyGraph;

pub const ISTIOD_BEFORE_CACERTS: &str = "pki::istiod_before_cacerts";

pub const CACERTS: &str = "cacerts";
pub const ISTIOD_CHART: &str = "istiod";

/// Certificates writing secret `cacerts`, with their namespace.
pub fn cacerts_certificates<'a>(view: &View<'a>) -> Vec<(&'a ResourceDecl, String)> {
    view.of_type(CERTIFICATE)
        .filter(|c| view.string(c, &["secret_name"]).as_deref() == Some(CACERTS))
        .filter_map(|c| Some((c, view.string(c, &["namespace"])?)))
        .collect()
}

/// istiod releases (chart `istiod`, however referenced), with their namespace.
pub fn istiod_releases<'a>(view: &View<'a>) -> Vec<(&'a ResourceDecl, String)> {
    view.of_type(RELEASE)
        .filter(|r| {
            view.string(r, &["chart"])
                .is_some_and(|c| is_chart(&c, ISTIOD_CHART))
        })
        .filter_map(|r| {
            let namespace = match view.node(r, &["namespace"]) {
                None => "default".to_string(),
                Some(_) => view.string(r, &["namespace"])?,
            };
            Some((r, namespace))
        })
        .collect()
}

pub fn check_istiod_after_cacerts(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    let certs = cacerts_certificates(view);
    if certs.is_empty() {
        return;
    }
    let (graph, _) = DependencyGraph::from_stack(view.stack);
    for (release, namespace) in istiod_releases(view) {
        let before = graph.with_dependencies([release.name.as_str()]);
        for (cert, _) in certs.iter().filter(|(_, ns)| *ns == namespace) {
            if before.contains(&cert.name) {
                continue;
            }
            // At the `depends_on` list the fix goes into, else at the release itself.
            let span = release.depends_on.first().map_or(&release.span, |(_, s)| s);
            let mut fixed: Vec<&str> = release.depends_on.iter().map(|(n, _)| n.as_str()).collect();
            fixed.push(&cert.name);
            let d = Diagnostic::error(
                ISTIOD_BEFORE_CACERTS,
                format!(
                    "helm release {} installs istiod in {namespace} without waiting for certificate {}, which writes its CA to secret cacerts",
                    release.name, cert.name
                ),
            )
            .with_span(span.clone())
            .with_field(format!("resources.{}.depends_on", release.name))
            .with_address(release.name.clone())
            .with_detail(format!(
                "istiod reads cacerts only when it starts; started first, it keeps its self-signed CA and the mesh never chains to PCA (the certificate: {} at {}:{})",
                field(cert, &["secret_name"]),
                cert.span.file.display(),
                cert.span.line
            ))
            .with_help(format!(
                "`depends_on: [{}]` on {}",
                fixed.join(", "),
                release.name
            ));
            out.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::view::tests::stack;
    use std::collections::BTreeMap;

    const STACK: &str = "stack: t
resources:
  ns:
    type: core.null
  istio_ca:
    type: certmanager.certificate
    properties: {name: c, namespace: istio-system, secret_name: cacerts, is_ca: true, issuer: {name: x}}
  base:
    type: core.null
    DEP_BASE
  istiod:
    type: helm.release
    DEP_ISTIOD
    properties: {name: istiod, namespace: NS, chart: CHART}
";

    fn found(dep_base: &str, dep_istiod: &str, ns: &str, chart: &str) -> usize {
        let text = STACK
            .replace("DEP_BASE", dep_base)
            .replace("DEP_ISTIOD", dep_istiod)
            .replace("NS", ns)
            .replace("CHART", chart);
        let s = stack(&text);
        let vars = BTreeMap::new();
        let view = View::new(&s, &vars);
        let mut out = Vec::new();
        check_istiod_after_cacerts(&view, &mut out);
        out.len()
    }

    #[test]
    fn istiod_must_come_after_cacerts_directly_or_transitively() {
        let none = "depends_on: [ns]";
        assert_eq!(found("", none, "istio-system", "istio/istiod"), 1);
        assert_eq!(
            found("", "depends_on: [istio_ca]", "istio-system", "istiod"),
            0
        );
        // Through another resource.
        assert_eq!(
            found(
                "depends_on: [istio_ca]",
                "depends_on: [base]",
                "istio-system",
                "./charts/istiod"
            ),
            0
        );
        // Another namespace's istiod does not read this cacerts.
        assert_eq!(found("", none, "other", "istiod"), 0);
        // Not istiod.
        assert_eq!(found("", none, "istio-system", "istio/base"), 0);
        assert_eq!(found("", none, "istio-system", "istiod-remote"), 0);
    }
}
