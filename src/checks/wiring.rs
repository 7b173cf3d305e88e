//! The identity wiring between AWS and the cluster: the IRSA role trusts the service account
//! the aws-privateca-issuer release runs as, the annotated service account is the one the
//! role trusts, and an issuer's region is its CA's region.

use super::issuance::Issuance;
use super::view::{at, field, Term, View, CA, POLICY, RELEASE, ROLE, SERVICE_ACCOUNT};
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;

pub const IRSA_SUBJECT_MISMATCH: &str = "pki::irsa_subject_mismatch";
pub const SERVICE_ACCOUNT_ROLE_MISMATCH: &str = "pki::service_account_role_mismatch";
pub const ISSUER_REGION_MISMATCH: &str = "pki::issuer_region_mismatch";

const CHART: &str = "aws-privateca-issuer";
const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// A namespace and service account name: who a pod runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// True when a chart reference (repo/name, path, oci:// ref, .tgz) is aws-privateca-issuer.
pub fn is_issuer_chart(chart: &str) -> bool {
    is_chart(chart, CHART)
}

/// True when a chart reference (repo/name, path, oci:// ref, NAME-VERSION.tgz) names the
/// chart `name`: its last path segment, without tag, `.tgz` or version, is exactly `name`.
pub fn is_chart(chart: &str, name: &str) -> bool {
    let last = chart.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let last = last.split(':').next().unwrap_or(last);
    let last = last.strip_suffix(".tgz").unwrap_or(last);
    last == name
        || last
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
}

/// Every aws-privateca-issuer release, with the service account it runs as when known.
pub fn issuer_releases<'a>(view: &View<'a>) -> Vec<(&'a ResourceDecl, Option<Subject>)> {
    view.of_type(RELEASE)
        .filter(|r| {
            view.string(r, &["chart"])
                .is_some_and(|c| is_issuer_chart(&c))
        })
        .map(|r| (r, release_subject(view, r)))
        .collect()
}

fn release_subject(view: &View<'_>, release: &ResourceDecl) -> Option<Subject> {
    let namespace = match view.node(release, &["namespace"]) {
        None => "default".to_string(),
        Some(_) => view.string(release, &["namespace"])?,
    };
    // `set` is merged after `values`, as helm does with --set.
    let name = if view
        .node(release, &["set", "serviceAccount.name"])
        .is_some()
    {
        view.string(release, &["set", "serviceAccount.name"])?
    } else {
        // Without a name the chart derives one from the release; do not guess.
        view.string(release, &["values", "serviceAccount", "name"])?
    };
    Some(Subject { namespace, name })
}

/// The subject an IRSA role trusts, when its `irsa` block is known.
pub fn role_subject(view: &View<'_>, role: &ResourceDecl) -> Option<Subject> {
    Some(Subject {
        namespace: view.string(role, &["irsa", "namespace"])?,
        name: view.string(role, &["irsa", "service_account"])?,
    })
}

/// The role a service account's `eks.amazonaws.com/role-arn` annotation links to.
pub fn annotated_role<'a>(view: &View<'a>, sa: &'a ResourceDecl) -> Option<&'a ResourceDecl> {
    view.node(sa, &["annotations", ROLE_ANNOTATION])
        .and_then(|n| view.linked(n, ROLE))
}

fn sa_subject(view: &View<'_>, sa: &ResourceDecl) -> Option<Subject> {
    Some(Subject {
        namespace: view.string(sa, &["namespace"])?,
        name: view.string(sa, &["name"])?,
    })
}

/// Policies a role attaches through `policy_arns: [${policy.arn}]`.
pub fn attached_policies<'a>(view: &View<'a>, role: &'a ResourceDecl) -> Vec<&'a ResourceDecl> {
    view.node(role, &["policy_arns"])
        .and_then(|n| n.as_seq())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| view.linked(n, POLICY))
        .collect()
}

/// Roles the issuer runs with: those trusting a release's service account, and those
/// annotated on a service account that is a release's.
pub fn issuer_roles<'a>(view: &View<'a>) -> Vec<&'a ResourceDecl> {
    let subjects: Vec<Subject> = issuer_releases(view)
        .into_iter()
        .filter_map(|(_, s)| s)
        .collect();
    let mut roles: Vec<&ResourceDecl> = view
        .of_type(ROLE)
        .filter(|r| role_subject(view, r).is_some_and(|s| subjects.contains(&s)))
        .collect();
    for sa in view.of_type(SERVICE_ACCOUNT) {
        if sa_subject(view, sa).is_some_and(|s| subjects.contains(&s)) {
            if let Some(role) = annotated_role(view, sa) {
                if !roles.iter().any(|r| r.name == role.name) {
                    roles.push(role);
                }
            }
        }
    }
    roles
}

/// True when a policy's document names `${ca.arn}` anywhere.
fn mentions_ca(view: &View<'_>, policy: &ResourceDecl, ca: &str) -> bool {
    fn walk(view: &View<'_>, v: &crate::value::Value, ca: &str) -> bool {
        match v {
            crate::value::Value::String(s) => {
                matches!(view.term(s), Term::Link { resource, attr } if resource == ca && attr == "arn")
            }
            crate::value::Value::List(l) => l.iter().any(|v| walk(view, v, ca)),
            crate::value::Value::Map(m) => m.values().any(|v| walk(view, v, ca)),
            _ => false,
        }
    }
    super::iam::raw_document(view, policy).is_some_and(|d| walk(view, &d, ca))
}

pub fn check_irsa(view: &View<'_>, issued: &[Issuance<'_>], out: &mut Vec<Diagnostic>) {
    let releases: Vec<(&ResourceDecl, Subject)> = issuer_releases(view)
        .into_iter()
        .filter_map(|(r, s)| Some((r, s?)))
        .collect();
    let Some((release, expected)) = releases.first() else {
        return;
    };
    // Roles meant for the issuer: attached to a policy naming a CA an issuer uses, or
    // annotated on a service account that a release runs as.
    let issuer_cas: Vec<&str> = issued
        .iter()
        .filter_map(|i| i.ca.map(|c| c.name.as_str()))
        .chain(view.of_type(super::view::ISSUER).filter_map(|i| {
            view.node(i, &["arn"])
                .and_then(|n| view.linked(n, CA))
                .map(|c| c.name.as_str())
        }))
        .collect();
    let mut roles: Vec<&ResourceDecl> = view
        .of_type(ROLE)
        .filter(|r| {
            attached_policies(view, r)
                .iter()
                .any(|p| issuer_cas.iter().any(|ca| mentions_ca(view, p, ca)))
        })
        .collect();
    for sa in view.of_type(SERVICE_ACCOUNT) {
        if let (Some(s), Some(role)) = (sa_subject(view, sa), annotated_role(view, sa)) {
            if releases.iter().any(|(_, r)| *r == s) && !roles.iter().any(|r| r.name == role.name) {
                roles.push(role);
            }
        }
    }
    for role in roles {
        let Some(trusted) = role_subject(view, role) else {
            continue;
        };
        if releases.iter().any(|(_, s)| *s == trusted) {
            continue;
        }
        let path: &[&str] = if trusted.namespace != expected.namespace {
            &["irsa", "namespace"]
        } else {
            &["irsa", "service_account"]
        };
        out.push(
            at(
                Diagnostic::error(
                    IRSA_SUBJECT_MISMATCH,
                    format!(
                        "role {} trusts {trusted}, but helm release {} runs aws-privateca-issuer as {expected}",
                        role.name, release.name
                    ),
                ),
                view,
                role,
                path,
            )
            .with_detail(format!(
                "STS refuses AssumeRoleWithWebIdentity for any other service account, so the issuer cannot reach PCA \
                 (the release's namespace and serviceAccount.name: {})",
                field(release, &["namespace"])
            ))
            .with_help(format!(
                "set irsa.namespace: {} and irsa.service_account: {} on {}, or change the release's serviceAccount.name",
                expected.namespace, expected.name, role.name
            )),
        );
    }
}

pub fn check_service_accounts(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for sa in view.of_type(SERVICE_ACCOUNT) {
        let (Some(role), Some(own)) = (annotated_role(view, sa), sa_subject(view, sa)) else {
            continue;
        };
        let Some(trusted) = role_subject(view, role) else {
            continue;
        };
        if own == trusted {
            continue;
        }
        out.push(
            at(
                Diagnostic::error(
                    SERVICE_ACCOUNT_ROLE_MISMATCH,
                    format!(
                        "service account {} ({own}) is annotated with role {}, which trusts {trusted}",
                        sa.name, role.name
                    ),
                ),
                view,
                sa,
                &["annotations", ROLE_ANNOTATION],
            )
            .with_detail(format!(
                "pods running as {own} get the role's credentials only if its trust policy names them ({})",
                field(role, &["irsa"])
            ))
            .with_help(format!(
                "make {}'s name and namespace match the role's irsa block, or fix irsa on {}",
                sa.name, role.name
            )),
        );
    }
}

/// `arn:PARTITION:acm-pca:REGION:...` → REGION.
pub fn arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "acm-pca", region, _, _] if !region.is_empty() => Some(region),
        _ => None,
    }
}

pub fn check_regions(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for issuer in view.of_type(super::view::ISSUER) {
        let (Some(region), Some(arn)) = (
            view.string(issuer, &["region"]),
            view.node(issuer, &["arn"]),
        ) else {
            continue;
        };
        let (ca_region, whence) = match view.node_term(arn) {
            Term::Literal(a) => match arn_region(&a) {
                Some(r) => (r.to_string(), format!("its CA ARN {a}")),
                None => continue,
            },
            Term::Link { resource, .. }
                if view.resource(&resource).is_some_and(|r| r.type_name == CA) =>
            {
                match view.aws_region() {
                    Some(r) => (
                        r,
                        format!("CA {resource} (created in providers.aws.region)"),
                    ),
                    None => continue,
                }
            }
            _ => continue,
        };
        if region == ca_region {
            continue;
        }
        out.push(
            at(
                Diagnostic::error(
                    ISSUER_REGION_MISMATCH,
                    format!(
                        "issuer {} has region {region}, but {whence} is in {ca_region}",
                        issuer.name
                    ),
                ),
                view,
                issuer,
                &["region"],
            )
            .with_detail("aws-privateca-issuer calls PCA in the issuer's region, where the CA does not exist")
            .with_help(format!("set region: {ca_region} on {}", issuer.name)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_issuer_chart_however_it_is_referenced() {
        for c in [
            "aws-privateca-issuer",
            "awspca/aws-privateca-issuer",
            "oci://public.ecr.aws/k1n1h4h4/cert-manager-aws-privateca-issuer/aws-privateca-issuer",
            "./charts/aws-privateca-issuer/",
            "charts/aws-privateca-issuer-1.4.0.tgz",
        ] {
            assert!(is_issuer_chart(c), "{c}");
        }
        for c in [
            "cert-manager",
            "jetstack/cert-manager",
            "aws-privateca-issuer-extras",
        ] {
            assert!(!is_issuer_chart(c), "{c}");
        }
    }

    #[test]
    fn reads_the_region_of_a_ca_arn() {
        assert_eq!(
            arn_region("arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:iam::1:role/x"), None);
    }
}
