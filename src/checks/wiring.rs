//! The identity wiring between AWS and the cluster: the IRSA role trusts the service account
//! the aws-privateca-issuer release runs as, the annotated service account is the one the
//! role trusts; with EKS Pod Identity instead, the release's service account is associated
//! with a role that may use the CA; and an issuer's region is its CA's region.

use super::issuance::Issuance;
use super::view::{
    at, field, Term, View, CA, POD_IDENTITY, POLICY, RELEASE, ROLE, SERVICE_ACCOUNT,
};
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;

pub const IRSA_SUBJECT_MISMATCH: &str = "pki::irsa_subject_mismatch";
pub const SERVICE_ACCOUNT_ROLE_MISMATCH: &str = "pki::service_account_role_mismatch";
pub const ISSUER_REGION_MISMATCH: &str = "pki::issuer_region_mismatch";
pub const POD_IDENTITY_SUBJECT_MISMATCH: &str = "pki::pod_identity_subject_mismatch";
pub const POD_IDENTITY_ROLE_WITHOUT_CA: &str = "pki::pod_identity_role_without_ca";
pub const POD_IDENTITY_ROLE_NOT_TRUSTED: &str = "pki::pod_identity_role_not_trusted";

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

/// The CAs an issuer of the stack issues from (by name).
fn issuer_cas<'a>(view: &View<'a>, issued: &[Issuance<'a>]) -> Vec<&'a str> {
    issued
        .iter()
        .filter_map(|i| i.ca.map(|c| c.name.as_str()))
        .chain(view.of_type(super::view::ISSUER).filter_map(|i| {
            view.node(i, &["arn"])
                .and_then(|n| view.linked(n, CA))
                .map(|c| c.name.as_str())
        }))
        .collect()
}

/// True when the role attaches a policy that names one of the CAs.
fn may_use_ca(view: &View<'_>, role: &ResourceDecl, cas: &[&str]) -> bool {
    attached_policies(view, role)
        .iter()
        .any(|p| cas.iter().any(|ca| mentions_ca(view, p, ca)))
}

fn releases_with_subjects<'a>(view: &View<'a>) -> Vec<(&'a ResourceDecl, Subject)> {
    issuer_releases(view)
        .into_iter()
        .filter_map(|(r, s)| Some((r, s?)))
        .collect()
}

pub fn check_irsa(view: &View<'_>, issued: &[Issuance<'_>], out: &mut Vec<Diagnostic>) {
    let releases = releases_with_subjects(view);
    let Some((release, expected)) = releases.first() else {
        return;
    };
    // Roles meant for the issuer: attached to a policy naming a CA an issuer uses, or
    // annotated on a service account that a release runs as.
    let issuer_cas = issuer_cas(view, issued);
    let mut roles: Vec<&ResourceDecl> = view
        .of_type(ROLE)
        .filter(|r| may_use_ca(view, r, &issuer_cas))
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

/// The subject a pod identity association gives its role to.
fn association_subject(view: &View<'_>, a: &ResourceDecl) -> Option<Subject> {
    Some(Subject {
        namespace: view.string(a, &["namespace"])?,
        name: view.string(a, &["service_account"])?,
    })
}

/// EKS Pod Identity: an association that gives a role meant for the issuer (its policy
/// names the issuer's CA) must name the service account the release runs as; and the
/// association of the release's service account must give it a role that may use the CA.
pub fn check_pod_identity(view: &View<'_>, issued: &[Issuance<'_>], out: &mut Vec<Diagnostic>) {
    let releases = releases_with_subjects(view);
    let Some((release, expected)) = releases.first() else {
        return;
    };
    let mut cas = issuer_cas(view, issued);
    cas.sort_unstable();
    cas.dedup();
    for association in view.of_type(POD_IDENTITY) {
        let Some(subject) = association_subject(view, association) else {
            continue;
        };
        let role = view
            .node(association, &["role_arn"])
            .and_then(|n| view.linked(n, ROLE));
        let runs_issuer = releases.iter().any(|(_, s)| *s == subject);
        if let Some(role) = role.filter(|r| runs_issuer && trusts_only_irsa(view, r)) {
            out.push(
                at(
                    Diagnostic::error(
                        POD_IDENTITY_ROLE_NOT_TRUSTED,
                        format!(
                            "pod identity association {} gives role {}, whose trust policy is for IRSA, not for pods.eks.amazonaws.com",
                            association.name, role.name
                        ),
                    ),
                    view,
                    association,
                    &["role_arn"],
                )
                .with_detail("the EKS Pod Identity Agent assumes the role as pods.eks.amazonaws.com (sts:AssumeRole, sts:TagSession); a role trusting only a web identity refuses it")
                .with_help(format!(
                    "set pod_identity: true instead of irsa on {}",
                    role.name
                )),
            );
            continue;
        }
        match role {
            Some(role) if !runs_issuer && may_use_ca(view, role, &cas) => {
                let path: &[&str] = if subject.namespace != expected.namespace {
                    &["namespace"]
                } else {
                    &["service_account"]
                };
                out.push(
                    at(
                        Diagnostic::error(
                            POD_IDENTITY_SUBJECT_MISMATCH,
                            format!(
                                "pod identity association {} gives role {} to {subject}, but helm release {} runs aws-privateca-issuer as {expected}",
                                association.name, role.name, release.name
                            ),
                        ),
                        view,
                        association,
                        path,
                    )
                    .with_detail(
                        "the EKS Pod Identity Agent gives the role only to pods running as the associated service account, so the issuer gets no AWS credentials",
                    )
                    .with_help(format!(
                        "set namespace: {} and service_account: {} on {}",
                        expected.namespace, expected.name, association.name
                    )),
                );
            }
            Some(role) if runs_issuer && !cas.is_empty() && !may_use_ca(view, role, &cas) => {
                out.push(
                    at(
                        Diagnostic::error(
                            POD_IDENTITY_ROLE_WITHOUT_CA,
                            format!(
                                "pod identity association {} gives aws-privateca-issuer's service account {subject} role {}, which attaches no policy naming the issuer's CA",
                                association.name, role.name
                            ),
                        ),
                        view,
                        association,
                        &["role_arn"],
                    )
                    .with_detail(format!(
                        "IssueCertificate would be denied: no policy in {} names ${{CA.arn}} of {}",
                        field(role, &["policy_arns"]),
                        cas.join(", ")
                    ))
                    .with_help(format!(
                        "attach the issuer's policy to {} (policy_arns: [${{POLICY.arn}}]), or associate the role that has it",
                        role.name
                    )),
                );
            }
            _ => {}
        }
    }
}

/// True when the role's trust comes from `irsa` and it does not ask for `pod_identity`.
fn trusts_only_irsa(view: &View<'_>, role: &ResourceDecl) -> bool {
    view.node(role, &["irsa"]).is_some() && view.bool(role, &["pod_identity"]) != Some(true)
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
