//! The issuer's IAM policy grants exactly what aws-privateca-issuer calls on its CA:
//! DescribeCertificateAuthority, GetCertificate and IssueCertificate.

use super::view::{at, Term, View, CA, ISSUER, POLICY};
use super::wiring::{attached_policies, issuer_roles};
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;
use crate::value::Value;

pub const POLICY_MISSING_ACTION: &str = "pki::policy_missing_action";
pub const POLICY_WILDCARD_RESOURCE: &str = "pki::policy_wildcard_resource";
pub const POLICY_EXTRA_ACTIONS: &str = "pki::policy_extra_actions";

pub const REQUIRED: [&str; 3] = [
    "acm-pca:DescribeCertificateAuthority",
    "acm-pca:GetCertificate",
    "acm-pca:IssueCertificate",
];

/// The CA an issuer points at: a stack CA, or an ARN written out.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Ca(String),
    Arn(String),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Ca(name) => format!("CA {name}"),
            Target::Arn(arn) => format!("CA {arn}"),
        }
    }
}

/// How a statement's Resource covers the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cover {
    None,
    /// Not known before apply.
    Maybe,
    Wildcard,
    Exact,
}

/// `*` and `?` glob, as IAM matches actions (case-insensitively) and resources.
pub fn glob(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn cover(term: &Term, target: &Target) -> Cover {
    match (term, target) {
        (Term::Unknown, _) => Cover::Maybe,
        (Term::Link { resource, attr }, Target::Ca(ca)) if resource == ca && attr == "arn" => {
            Cover::Exact
        }
        // A link to something else: another CA, or a value only known after apply.
        (Term::Link { .. }, Target::Arn(_)) => Cover::Maybe,
        (Term::Link { .. }, Target::Ca(_)) => Cover::None,
        (Term::Literal(l), Target::Arn(arn)) if l == arn => Cover::Exact,
        (Term::Literal(l), Target::Arn(arn)) if l.contains('*') && glob(l, arn, false) => {
            Cover::Wildcard
        }
        // A stack CA's ARN is not known yet: a pattern that could match any PCA CA covers it.
        (Term::Literal(l), Target::Ca(_))
            if l == "*"
                || (l.contains('*')
                    && glob(
                        l,
                        "arn:aws:acm-pca:region:111122223333:certificate-authority/id",
                        false,
                    )) =>
        {
            Cover::Wildcard
        }
        (Term::Literal(l), Target::Ca(_)) if l.contains('*') => Cover::Maybe,
        (Term::Literal(_), _) => Cover::None,
    }
}

/// The policy document as written, references left in its strings.
pub fn raw_document(view: &View<'_>, policy: &ResourceDecl) -> Option<Value> {
    let node = view.node(policy, &["document"])?;
    match node.as_str() {
        Some(text) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .map(Value::from_json),
        None => Some(node.to_value()),
    }
}

fn terms(view: &View<'_>, v: Option<&Value>) -> Vec<Term> {
    match v {
        Some(Value::String(s)) => vec![view.term(s)],
        Some(Value::List(l)) => l
            .iter()
            .map(|v| v.as_str().map_or(Term::Unknown, |s| view.term(s)))
            .collect(),
        Some(_) => vec![Term::Unknown],
        None => Vec::new(),
    }
}

struct Statement {
    /// Path to the statement inside `document`, for spans (`Statement`, index).
    path: Vec<String>,
    actions: Vec<Term>,
    cover: Cover,
}

/// The Allow statements of a document that name Action and Resource, with how each covers
/// the target. `None` when the document cannot be read before apply.
fn statements(view: &View<'_>, doc: &Value, target: &Target) -> Option<Vec<Statement>> {
    let list: Vec<(Vec<String>, &Value)> = match doc.get("Statement")? {
        Value::List(l) => l
            .iter()
            .enumerate()
            .map(|(i, s)| (vec!["Statement".to_string(), i.to_string()], s))
            .collect(),
        single => vec![(vec!["Statement".to_string()], single)],
    };
    let mut out = Vec::new();
    for (path, st) in list {
        match st
            .get("Effect")
            .and_then(Value::as_str)
            .map(|e| view.term(e))
        {
            Some(Term::Literal(e)) if e == "Allow" => {}
            Some(Term::Literal(_)) => continue,
            _ => return None,
        }
        if st.get("NotAction").is_some() || st.get("NotResource").is_some() {
            // Negated forms grant by exclusion; reading them right is not worth a guess.
            return None;
        }
        let actions = terms(view, st.get("Action"));
        let cover = terms(view, st.get("Resource"))
            .iter()
            .map(|t| cover(t, target))
            .max()
            .unwrap_or(Cover::None);
        out.push(Statement {
            path,
            actions,
            cover,
        });
    }
    Some(out)
}

fn grants(actions: &[Term], action: &str) -> Option<bool> {
    let mut maybe = false;
    for a in actions {
        match a {
            Term::Literal(p) if glob(p, action, true) => return Some(true),
            Term::Literal(_) => {}
            _ => maybe = true,
        }
    }
    if maybe {
        None
    } else {
        Some(false)
    }
}

/// Policies that serve an issuer: those attached to the issuer's role, else any naming its CA.
fn policies_for<'a>(view: &View<'a>, target: &Target) -> Vec<&'a ResourceDecl> {
    let mut found: Vec<&ResourceDecl> = Vec::new();
    for role in issuer_roles(view) {
        for p in attached_policies(view, role) {
            if !found.iter().any(|f| f.name == p.name) {
                found.push(p);
            }
        }
    }
    if found.is_empty() {
        found = view
            .of_type(POLICY)
            .filter(|p| {
                raw_document(view, p)
                    .and_then(|d| statements(view, &d, target))
                    .is_some_and(|sts| sts.iter().any(|s| s.cover == Cover::Exact))
            })
            .collect();
    }
    found
}

fn statement_path<'p>(s: &'p Statement, last: &'p str) -> Vec<&'p str> {
    let mut p = vec!["document"];
    p.extend(s.path.iter().map(String::as_str));
    p.push(last);
    p
}

pub fn check(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(String, Target)> = Vec::new();
    for issuer in view.of_type(ISSUER) {
        let Some(arn) = view.node(issuer, &["arn"]) else {
            continue;
        };
        let target = match view.node_term(arn) {
            Term::Link { resource, attr }
                if attr == "arn" && view.resource(&resource).is_some_and(|r| r.type_name == CA) =>
            {
                Target::Ca(resource)
            }
            Term::Literal(a) => Target::Arn(a),
            _ => continue,
        };
        for policy in policies_for(view, &target) {
            // Several issuers may share a CA and a policy: report once.
            if seen.contains(&(policy.name.clone(), target.clone())) {
                continue;
            }
            seen.push((policy.name.clone(), target.clone()));
            check_policy(view, issuer, policy, &target, out);
        }
    }
}

fn check_policy(
    view: &View<'_>,
    issuer: &ResourceDecl,
    policy: &ResourceDecl,
    target: &Target,
    out: &mut Vec<Diagnostic>,
) {
    let Some(sts) = raw_document(view, policy).and_then(|d| statements(view, &d, target)) else {
        return;
    };
    let is_map = view
        .node(policy, &["document"])
        .is_some_and(|n| n.as_map().is_some());
    let mut missing = Vec::new();
    let mut wildcard: Option<&Statement> = None;
    for action in REQUIRED {
        let mut best = Cover::None;
        let mut uncertain = false;
        for s in &sts {
            match grants(&s.actions, action) {
                Some(true) => best = best.max(s.cover),
                Some(false) => {}
                None => uncertain = true,
            }
        }
        match best {
            Cover::Exact => {}
            Cover::Maybe => {}
            Cover::Wildcard => {
                if wildcard.is_none() {
                    wildcard = sts.iter().find(|s| {
                        s.cover == Cover::Wildcard && grants(&s.actions, action) == Some(true)
                    });
                }
            }
            Cover::None if uncertain => {}
            Cover::None => missing.push(action),
        }
    }
    let ca = target.describe();
    if !missing.is_empty() {
        // Point at the actions of the statement naming the CA, when there is one.
        let path = match sts.iter().find(|s| s.cover == Cover::Exact) {
            Some(s) if is_map => statement_path(s, "Action"),
            _ => vec!["document"],
        };
        out.push(
            at(
                Diagnostic::error(
                    POLICY_MISSING_ACTION,
                    format!(
                        "policy {} does not allow {} on {ca}, which issuer {} uses",
                        policy.name,
                        missing.join(", "),
                        issuer.name
                    ),
                ),
                view,
                policy,
                &path,
            )
            .with_detail(
                "aws-privateca-issuer calls DescribeCertificateAuthority, GetCertificate and IssueCertificate on its CA; \
                 without all three the issuer never becomes Ready or its CertificateRequests fail",
            )
            .with_help(format!(
                "add a statement: {{Effect: Allow, Action: [{}], Resource: {}}}",
                REQUIRED.join(", "),
                match target {
                    Target::Ca(name) => format!("${{{name}.arn}}"),
                    Target::Arn(arn) => arn.clone(),
                }
            )),
        );
    }
    if let Some(s) = wildcard {
        let path = if is_map {
            statement_path(s, "Resource")
        } else {
            vec!["document"]
        };
        out.push(
            at(
                Diagnostic::warning(
                    POLICY_WILDCARD_RESOURCE,
                    format!(
                        "policy {} grants the issuer's actions on a wildcard Resource instead of {ca}, which issuer {} uses",
                        policy.name, issuer.name
                    ),
                ),
                view,
                policy,
                &path,
            )
            .with_detail("the issuer's role could then issue certificates from every CA in the account")
            .with_help(match target {
                Target::Ca(name) => format!("set Resource: ${{{name}.arn}}"),
                Target::Arn(arn) => format!("set Resource: {arn}"),
            }),
        );
    }
    let mut extra: Vec<String> = Vec::new();
    let mut extra_at: Option<&Statement> = None;
    for s in sts
        .iter()
        .filter(|s| matches!(s.cover, Cover::Exact | Cover::Wildcard))
    {
        for a in &s.actions {
            if let Term::Literal(a) = a {
                if !REQUIRED.iter().any(|r| r.eq_ignore_ascii_case(a)) && !extra.contains(a) {
                    extra.push(a.clone());
                    extra_at.get_or_insert(s);
                }
            }
        }
    }
    if let Some(s) = extra_at {
        let path = if is_map {
            statement_path(s, "Action")
        } else {
            vec!["document"]
        };
        out.push(
            at(
                Diagnostic::warning(
                    POLICY_EXTRA_ACTIONS,
                    format!(
                        "policy {} allows {} on {ca} beyond what issuer {} needs",
                        policy.name,
                        extra.join(", "),
                        issuer.name
                    ),
                ),
                view,
                policy,
                &path,
            )
            .with_detail(format!(
                "aws-privateca-issuer needs only {}",
                REQUIRED.join(", ")
            ))
            .with_help("grant the three actions only, as the guide's AWSPCAIssuerPolicy does"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_iam() {
        assert!(glob("acm-pca:*", "acm-pca:IssueCertificate", true));
        assert!(glob("ACM-PCA:issue*", "acm-pca:IssueCertificate", true));
        assert!(glob("*", "anything", false));
        assert!(glob(
            "acm-pca:Get?ertificate",
            "acm-pca:GetCertificate",
            true
        ));
        assert!(!glob("acm-pca:Get*", "acm-pca:IssueCertificate", true));
        assert!(!glob("arn:aws:acm-pca:*", "arn:aws:iam::1:role/x", false));
    }

    #[test]
    fn resources_cover_the_target_exactly_by_wildcard_or_not() {
        let ca = Target::Ca("sub_ca".into());
        let link = |r: &str| Term::Link {
            resource: r.into(),
            attr: "arn".into(),
        };
        assert_eq!(cover(&link("sub_ca"), &ca), Cover::Exact);
        assert_eq!(cover(&link("root_ca"), &ca), Cover::None);
        assert_eq!(cover(&Term::Literal("*".into()), &ca), Cover::Wildcard);
        assert_eq!(
            cover(
                &Term::Literal("arn:aws:acm-pca:*:*:certificate-authority/*".into()),
                &ca
            ),
            Cover::Wildcard
        );
        assert_eq!(cover(&Term::Unknown, &ca), Cover::Maybe);
        let arn = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x";
        let lit = Target::Arn(arn.into());
        assert_eq!(cover(&Term::Literal(arn.into()), &lit), Cover::Exact);
        assert_eq!(
            cover(&Term::Literal("arn:aws:acm-pca:eu-west-1:*".into()), &lit),
            Cover::Wildcard
        );
        assert_eq!(
            cover(&Term::Literal("arn:aws:acm-pca:us-east-1:*".into()), &lit),
            Cover::None
        );
    }
}
