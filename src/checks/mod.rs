//! Stack-level checks of the PKI and its wiring, run after a stack loads and before any
//! provider is called: the CA hierarchy leaves room for the Istio CA, lifetimes nest, the
//! issuer's IAM policy, role, service account and region line up. No I/O.
//!
//! A check looks only at what is known before apply: literals, variables with values, and
//! links written exactly `${name.arn}`. Anything else is skipped, never guessed.
//! Every code is listed in [`CODES`] and documented in docs/pki-checks.md.

mod hierarchy;
mod iam;
mod issuance;
mod key_storage;
pub(crate) mod ordering;
mod view;
pub(crate) mod wiring;

use std::collections::BTreeMap;

use crate::config::Stack;
use crate::diag::Diagnostics;
use crate::value::Value;

/// Every diagnostic code the checks emit.
pub const CODES: &[&str] = &[
    hierarchy::PATH_LENGTH_EXHAUSTED,
    hierarchy::PATH_LENGTH_EXCEEDS_PARENT,
    hierarchy::VALIDITY_EXCEEDS_PARENT,
    hierarchy::DURATION_EXCEEDS_CA,
    hierarchy::RENEW_BEFORE_NOT_SHORTER,
    hierarchy::DURATION_TOO_SHORT,
    hierarchy::RENEW_BEFORE_TOO_SHORT,
    hierarchy::SHORT_LIVED_CA_DURATION,
    hierarchy::EXTERNAL_PARENT_UNCHECKED,
    hierarchy::PARENT_OF_EXISTING_CA,
    hierarchy::EXISTING_CA_UNCHECKED,
    key_storage::KEY_STORAGE_UNSUPPORTED,
    iam::POLICY_MISSING_ACTION,
    iam::POLICY_WILDCARD_RESOURCE,
    iam::POLICY_EXTRA_ACTIONS,
    wiring::IRSA_SUBJECT_MISMATCH,
    wiring::SERVICE_ACCOUNT_ROLE_MISMATCH,
    wiring::ISSUER_REGION_MISMATCH,
    wiring::POD_IDENTITY_SUBJECT_MISMATCH,
    wiring::POD_IDENTITY_ROLE_WITHOUT_CA,
    wiring::POD_IDENTITY_ROLE_NOT_TRUSTED,
    issuance::ISSUER_NAMESPACE_MISMATCH,
    ordering::ISTIOD_BEFORE_CACERTS,
];

/// Runs every check on a loaded stack with its resolved variables (a variable missing from
/// the map counts as unknown). Diagnostics come in source order.
pub fn run(stack: &Stack, variables: &BTreeMap<String, Value>) -> Diagnostics {
    let view = view::View::new(stack, variables);
    let issued = issuance::issuances(&view);
    let mut out = Vec::new();
    hierarchy::check_chain(&view, &mut out);
    hierarchy::check_issued(&view, &issued, &mut out);
    hierarchy::check_lifetimes(&view, &mut out);
    key_storage::check(&view, &mut out);
    iam::check(&view, &mut out);
    wiring::check_irsa(&view, &issued, &mut out);
    wiring::check_pod_identity(&view, &issued, &mut out);
    wiring::check_service_accounts(&view, &mut out);
    wiring::check_regions(&view, &mut out);
    issuance::check_namespaces(&view, &mut out);
    ordering::check_istiod_after_cacerts(&view, &mut out);
    out.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.offset));
    Diagnostics(out)
}

/// Variable values for `validate`, which takes no `--var`: each declared default.
pub fn default_variables(stack: &Stack) -> BTreeMap<String, Value> {
    stack
        .variables
        .iter()
        .filter_map(|(name, decl)| Some((name.clone(), decl.default.clone()?)))
        .collect()
}

/// The variable values `validate` checks a stack with: the defaults, then, for each
/// variable an `enabled:` condition reads that lists `allowed` values, the defaults with that
/// variable set to each other allowed value, so every choice of resources is checked.
pub fn variable_choices(stack: &Stack) -> Vec<BTreeMap<String, Value>> {
    let defaults = default_variables(stack);
    let mut out = vec![defaults.clone()];
    let mut deciding: Vec<&str> = stack
        .resources
        .values()
        .filter_map(|r| r.enabled.variable())
        .chain(stack.outputs.values().filter_map(|o| o.enabled.variable()))
        .collect();
    deciding.sort_unstable();
    deciding.dedup();
    for name in deciding {
        let Some(allowed) = stack.variables.get(name).and_then(|v| v.allowed.as_ref()) else {
            continue;
        };
        for value in allowed {
            if defaults.get(name) != Some(value) {
                let mut choice = defaults.clone();
                choice.insert(name.to_string(), value.clone());
                out.push(choice);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::view::tests::stack;

    fn codes(text: &str, vars: &[(&str, &str)]) -> Vec<&'static str> {
        let s = stack(text);
        let vars: BTreeMap<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        run(&s, &vars).iter().map(|d| d.code).collect()
    }

    const CAS: &str = "stack: t
variables:
  pl: {type: number}
  dur: {type: string}
resources:
  root:
    type: aws.pca.certificate_authority
    properties: {kind: root, subject: {common_name: r}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 10y}
  sub:
    type: aws.pca.certificate_authority
    properties: {kind: subordinate, parent: '${root.arn}', PATHLEN subject: {common_name: s}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: VALIDITY USAGE}
  iss:
    type: awspca.issuer
    properties: {name: pca, arn: '${sub.arn}'}
  cert:
    type: certmanager.certificate
    properties: {name: c, namespace: n, secret_name: s, is_ca: true, DURATION issuer: {name: pca, kind: AWSPCAClusterIssuer}}
";

    fn cas(pathlen: &str, validity: &str, usage: &str, duration: &str) -> String {
        CAS.replace("PATHLEN", pathlen)
            .replace("VALIDITY", validity)
            .replace("USAGE", usage)
            .replace("DURATION", duration)
    }

    #[test]
    fn a_ca_certificate_needs_room_below_its_issuing_ca() {
        let ok = cas("path_length: 1,", "5y", "", "duration: 2160h,");
        assert_eq!(codes(&ok, &[]), Vec::<&str>::new());
        // Absent path_length is PCA's default, 0.
        let absent = cas("", "5y", "", "duration: 2160h,");
        assert_eq!(codes(&absent, &[]), vec![hierarchy::PATH_LENGTH_EXHAUSTED]);
        // From a variable: known → checked, unknown → skipped.
        let var = cas("path_length: '${var.pl}',", "5y", "", "duration: 2160h,");
        assert_eq!(
            codes(&var, &[("pl", "0")]).len(),
            0,
            "a string `0` is not a number"
        );
        let s = stack(&var);
        let mut vars = BTreeMap::new();
        vars.insert("pl".to_string(), Value::Int(0));
        let found: Vec<_> = run(&s, &vars).iter().map(|d| d.code).collect();
        assert_eq!(found, vec![hierarchy::PATH_LENGTH_EXHAUSTED]);
        assert!(
            codes(&var, &[]).is_empty(),
            "unknown path_length is skipped"
        );
    }

    #[test]
    fn the_diagnostic_names_both_ends() {
        let s = stack(&cas("path_length: 0,", "5y", "", "duration: 2160h,"));
        let d = run(&s, &BTreeMap::new()).0.remove(0);
        assert_eq!(d.field.as_deref(), Some("resources.cert.properties.is_ca"));
        assert_eq!(d.address.as_deref(), Some("cert"));
        assert!(d.summary.contains("issuer iss by CA sub"), "{}", d.summary);
        assert!(d
            .detail
            .unwrap()
            .contains("resources.sub.properties.path_length"));
        assert!(d.help.unwrap().contains("path_length: 1"));
        assert_eq!(d.span.unwrap().line, 17);
    }

    #[test]
    fn validities_and_durations_nest() {
        let eq = cas("path_length: 1,", "10y", "", "duration: 2160h,");
        assert_eq!(codes(&eq, &[]), vec![hierarchy::VALIDITY_EXCEEDS_PARENT]);
        let days = cas("path_length: 1,", "3650d", "", "duration: 2160h,");
        assert_eq!(codes(&days, &[]), vec![hierarchy::VALIDITY_EXCEEDS_PARENT]);
        let long = cas("path_length: 1,", "60d", "", "duration: 2160h,");
        assert_eq!(codes(&long, &[]), vec![hierarchy::DURATION_EXCEEDS_CA]);
        // No duration: cert-manager's default of 90 days counts.
        let default = cas("path_length: 1,", "60d", "", "");
        assert_eq!(codes(&default, &[]), vec![hierarchy::DURATION_EXCEEDS_CA]);
        let var = cas("path_length: 1,", "60d", "", "duration: '${var.dur}',");
        assert!(codes(&var, &[("dur", "720h")]).is_empty());
        assert_eq!(
            codes(&var, &[("dur", "2000h")]),
            vec![hierarchy::DURATION_EXCEEDS_CA]
        );
        assert!(codes(&var, &[]).is_empty(), "unknown duration is skipped");
    }

    #[test]
    fn short_lived_cas_sign_seven_days_at_most() {
        let usage = ", usage_mode: short_lived_certificate";
        assert!(codes(&cas("path_length: 1,", "5y", usage, "duration: 168h,"), &[]).is_empty());
        assert_eq!(
            codes(&cas("path_length: 1,", "5y", usage, "duration: 169h,"), &[]),
            vec![hierarchy::SHORT_LIVED_CA_DURATION]
        );
    }

    #[test]
    fn cert_manager_minimums_apply_to_every_certificate() {
        let text = "stack: t
variables:
  d: {type: string}
  r: {type: string}
resources:
  c:
    type: certmanager.certificate
    properties: {name: c, namespace: n, secret_name: s, duration: '${var.d}', renew_before: '${var.r}', issuer: {name: x}}
";
        assert!(codes(text, &[("d", "2160h"), ("r", "360h")]).is_empty());
        assert_eq!(
            codes(text, &[("d", "59m"), ("r", "5m")]),
            vec![hierarchy::DURATION_TOO_SHORT]
        );
        assert_eq!(
            codes(text, &[("d", "2h"), ("r", "4m")]),
            vec![hierarchy::RENEW_BEFORE_TOO_SHORT]
        );
        assert_eq!(
            codes(text, &[("d", "2h"), ("r", "2h")]),
            vec![hierarchy::RENEW_BEFORE_NOT_SHORTER]
        );
        assert!(codes(text, &[("d", "2h")]).is_empty());
    }

    const IAM: &str = "stack: t
variables:
  action: {type: string}
resources:
  ca:
    type: aws.pca.certificate_authority
    properties: {kind: root, subject: {common_name: r}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 10y}
  other:
    type: aws.pca.certificate_authority
    properties: {kind: root, subject: {common_name: o}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 10y}
  iss:
    type: awspca.issuer
    properties: {name: pca, arn: '${ca.arn}'}
  policy:
    type: aws.iam.policy
    properties:
      name: p
      document: DOC
";

    fn iam(doc: &str, vars: &[(&str, &str)]) -> Vec<&'static str> {
        codes(&IAM.replace("DOC", doc), vars)
    }

    #[test]
    fn the_issuer_policy_grants_the_three_actions_on_its_ca() {
        let all = "acm-pca:DescribeCertificateAuthority, acm-pca:GetCertificate, acm-pca:IssueCertificate";
        let doc = |actions: &str, resource: &str| {
            format!("{{Version: '2012-10-17', Statement: [{{Effect: Allow, Action: [{actions}], Resource: '{resource}'}}]}}")
        };
        assert!(iam(&doc(all, "${ca.arn}"), &[]).is_empty());
        assert_eq!(
            iam(
                &doc(
                    "acm-pca:GetCertificate, acm-pca:IssueCertificate",
                    "${ca.arn}"
                ),
                &[]
            ),
            vec![iam::POLICY_MISSING_ACTION]
        );
        // Found through the CA it names; its other statement grants on every resource.
        let mixed = "{Version: '2012-10-17', Statement: [\
            {Effect: Allow, Action: acm-pca:DescribeCertificateAuthority, Resource: '${ca.arn}'},\
            {Effect: Allow, Action: [acm-pca:GetCertificate, acm-pca:IssueCertificate], Resource: '*'}]}";
        assert_eq!(iam(mixed, &[]), vec![iam::POLICY_WILDCARD_RESOURCE]);
        // Without a role or a mention of the CA, a wildcard policy is not known to be the issuer's.
        assert!(iam(&doc(all, "*"), &[]).is_empty());
        assert_eq!(
            iam(&doc("'acm-pca:*'", "${ca.arn}"), &[]),
            vec![iam::POLICY_EXTRA_ACTIONS]
        );
        // A policy about another CA only is not the issuer's policy: nothing to say.
        assert!(iam(&doc("acm-pca:GetCertificate", "${other.arn}"), &[]).is_empty());
        // An action from a variable: unknown skips, known counts.
        let var = doc(
            "acm-pca:DescribeCertificateAuthority, acm-pca:GetCertificate, '${var.action}'",
            "${ca.arn}",
        );
        assert!(iam(&var, &[]).is_empty());
        assert!(iam(&var, &[("action", "acm-pca:IssueCertificate")]).is_empty());
        assert_eq!(
            iam(&var, &[("action", "acm-pca:ListTags")]),
            vec![iam::POLICY_MISSING_ACTION, iam::POLICY_EXTRA_ACTIONS]
        );
    }

    #[test]
    fn a_json_policy_document_is_read_too() {
        let json = r#"'{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["acm-pca:GetCertificate","acm-pca:IssueCertificate"],"Resource":"${ca.arn}"}}'"#;
        assert_eq!(iam(json, &[]), vec![iam::POLICY_MISSING_ACTION]);
    }

    #[test]
    fn key_storage_is_checked_against_the_cas_region() {
        let stack = |provider_region: &str, props: &str| {
            format!(
                "stack: t
providers:
  aws: {{region: {provider_region}}}
resources:
  root:
    type: aws.pca.certificate_authority
    properties: {{kind: root, subject: {{common_name: r}}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 10y{props}}}
"
            )
        };
        let level3 = ", key_storage_security_standard: FIPS_140_2_LEVEL_3_OR_HIGHER";
        assert_eq!(
            codes(&stack("ap-southeast-3", level3), &[]),
            vec![key_storage::KEY_STORAGE_UNSUPPORTED]
        );
        assert!(codes(&stack("us-east-1", level3), &[]).is_empty());
        // The CA's own region wins over the provider's.
        assert_eq!(
            codes(
                &stack("us-east-1", &format!("{level3}, region: ap-northeast-3")),
                &[]
            ),
            vec![key_storage::KEY_STORAGE_UNSUPPORTED]
        );
        assert_eq!(
            codes(
                &stack(
                    "cn-north-1",
                    ", key_storage_security_standard: FIPS_140_2_LEVEL_2_OR_HIGHER"
                ),
                &[]
            ),
            vec![key_storage::KEY_STORAGE_UNSUPPORTED]
        );
        assert!(codes(
            &stack(
                "cn-northwest-1",
                ", key_storage_security_standard: CCPC_LEVEL_1_OR_HIGHER"
            ),
            &[]
        )
        .is_empty());
        // No value: the region's default is chosen, nothing to refuse.
        assert!(codes(&stack("ap-southeast-3", ""), &[]).is_empty());
    }

    #[test]
    fn a_parent_outside_the_stack_is_a_warning_not_a_pass() {
        let text = "stack: t
resources:
  sub:
    type: aws.pca.certificate_authority
    properties: {kind: subordinate, parent: 'arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555', path_length: 1, subject: {common_name: s}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 5y}
";
        let s = stack(text);
        let d = run(&s, &BTreeMap::new());
        assert_eq!(
            d.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec![hierarchy::EXTERNAL_PARENT_UNCHECKED]
        );
        assert!(!d.iter().next().unwrap().is_error());
        assert!(d.iter().next().unwrap().summary.contains("path_length 1"));
    }

    #[test]
    fn existing_cas_are_not_judged_by_what_the_stack_says_of_them() {
        let text = |root_arn: &str, sub_arn: &str| {
            cas("path_length: 1,", "5y", "", "")
                .replace(
                    "properties: {kind: root,",
                    &format!("properties: {{existing_arn: '{root_arn}', kind: root,"),
                )
                .replace(
                    "properties: {kind: subordinate,",
                    &format!("properties: {{existing_arn: '{sub_arn}', kind: subordinate,"),
                )
        };
        let arn = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555";
        // Nothing used by ARN: the stack's hierarchy is checked as before.
        assert!(codes(&text("", ""), &[]).is_empty());
        // The subordinate used by ARN, the root still created: refused.
        let only_sub = codes(&text("", arn), &[]);
        assert!(
            only_sub.contains(&hierarchy::PARENT_OF_EXISTING_CA),
            "{only_sub:?}"
        );
        // Both used by ARN: Istio's CA below an existing CA is a warning, not a pass.
        assert_eq!(
            codes(&text(arn, arn), &[]),
            vec![hierarchy::EXISTING_CA_UNCHECKED]
        );
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/pki-checks.md");
        for code in CODES {
            assert!(
                doc.contains(&format!("`{code}`")),
                "{code} is not in docs/pki-checks.md"
            );
        }
    }
}
