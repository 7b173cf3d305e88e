//! Rendering a verification: a tree from the root down, one ✓/✗ per check, or JSON.

use serde::Serialize;

use super::chain::{Check, Link, Report};
use crate::plan::render::Style;

/// Where the chain was read from, for the heading and the JSON report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Source {
    /// The `certmanager.certificate` resource address.
    pub certificate: String,
    pub namespace: String,
    pub secret: String,
    /// `cert-manager` (tls.crt + ca.crt) or `istio` (ca-cert.pem, cert-chain.pem, root-cert.pem).
    pub layout: String,
    pub context: String,
    /// Seconds, as used for the renewal check; `None`: cert-manager's default.
    pub renew_before_seconds: Option<i64>,
}

/// The report as JSON, with where it was read from under `source`.
pub fn json(source: &Source, report: &Report) -> String {
    let mut v = serde_json::to_value(report).expect("json");
    if let Some(o) = v.as_object_mut() {
        o.insert("source".into(), serde_json::to_value(source).expect("json"));
    }
    serde_json::to_string_pretty(&v).expect("json") + "\n"
}

fn mark(c: &Check, style: Style) -> String {
    match (c.ok, c.severity) {
        (true, _) => style.green("✓"),
        (false, "warning") => style.yellow("!"),
        (false, _) => style.red("✗"),
    }
}

/// The links root first, each indented under its issuer.
fn tree(links: &[Link], style: Style, out: &mut String) {
    for (depth, link) in links.iter().rev().enumerate() {
        let pad = "    ".repeat(depth);
        let head = if link.valid() {
            style.green("✓")
        } else {
            style.red("✗")
        };
        let branch = if depth == 0 { "" } else { "└── " };
        let body = format!("{pad}{}", if depth == 0 { "" } else { "    " });
        out.push_str(&format!(
            "{pad}{branch}{head} {} [{}]\n",
            style.bold(&link.subject_cn),
            link.role
        ));
        out.push_str(&format!(
            "{body}  serial    {} (decimal {})\n",
            link.serial_hex, link.serial_decimal
        ));
        out.push_str(&format!("{body}  issuer    {}\n", link.issuer));
        let expiry = if link.expires_in_days >= 0 {
            format!("expires in {} days", link.expires_in_days)
        } else {
            format!("expired {} days ago", -link.expires_in_days)
        };
        out.push_str(&format!(
            "{body}  not after {} ({expiry})\n",
            link.not_after
        ));
        if let Some(pca) = &link.pca {
            out.push_str(&format!("{body}  PCA CA    {pca}\n"));
        }
        for c in &link.checks {
            out.push_str(&format!(
                "{body}  {} {}: {}\n",
                mark(c, style),
                c.name,
                c.detail
            ));
        }
    }
}

pub fn human(source: &Source, report: &Report, style: Style) -> String {
    let mut out = format!(
        "Istio CA chain in Secret {}/{} ({} layout), from Certificate {}, cluster context {}\n\n",
        source.namespace, source.secret, source.layout, source.certificate, source.context
    );
    tree(&report.links, style, &mut out);
    if !report.pca_matches.is_empty() {
        out.push_str("\nAWS Private CA certificate authorities:\n");
        for m in &report.pca_matches {
            let found = match (m.link, m.identical) {
                (Some(i), true) => {
                    style.green(&format!("✓ in the chain as the {}", report.links[i].role))
                }
                (Some(_), false) => style.red("✗ serial in the chain, certificate differs"),
                (None, _) => "- not in this chain".to_string(),
            };
            out.push_str(&format!(
                "  {}  serial {} (decimal {})  {found}\n    {}  [{}]\n",
                m.address, m.serial_hex, m.serial_decimal, m.arn, m.source
            ));
        }
    }
    if let Some(w) = &report.workload {
        out.push_str("\nWorkload certificate chain:\n");
        tree(&w.links, style, &mut out);
        for c in &w.checks {
            out.push_str(&format!("  {} {}: {}\n", mark(c, style), c.name, c.detail));
        }
    }
    for w in &report.warnings {
        out.push_str(&format!("\n{} {w}", style.yellow("warning:")));
    }
    if !report.warnings.is_empty() {
        out.push('\n');
    }
    for e in &report.errors {
        out.push_str(&format!("\n{} {e}", style.red("error:")));
    }
    if !report.errors.is_empty() {
        out.push('\n');
    }
    out.push('\n');
    if report.valid {
        out.push_str(
            &style
                .green("The chain is valid: the Istio CA chains up to the AWS Private CA root.\n"),
        );
    } else {
        out.push_str(&style.red("The chain is NOT valid:\n"));
        let mut all: Vec<(&Link, &Check)> = report
            .links
            .iter()
            .flat_map(|l| l.checks.iter().map(move |c| (l, c)))
            .collect();
        if let Some(w) = &report.workload {
            all.extend(
                w.links
                    .iter()
                    .flat_map(|l| l.checks.iter().map(move |c| (l, c))),
            );
        }
        for (l, c) in all.into_iter().filter(|(_, c)| c.fails()) {
            out.push_str(&format!(
                "  ✗ {} [{}] {}: {}\n",
                l.subject_cn, l.role, c.name, c.detail
            ));
        }
        if let Some(w) = &report.workload {
            for c in w.checks.iter().filter(|c| c.fails()) {
                out.push_str(&format!("  ✗ workload {}: {}\n", c.name, c.detail));
            }
        }
        for e in &report.errors {
            out.push_str(&format!("  ✗ {e}\n"));
        }
    }
    out
}
