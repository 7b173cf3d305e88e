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
mod view;
mod wiring;

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
    iam::POLICY_MISSING_ACTION,
    iam::POLICY_WILDCARD_RESOURCE,
    iam::POLICY_EXTRA_ACTIONS,
    wiring::IRSA_SUBJECT_MISMATCH,
    wiring::SERVICE_ACCOUNT_ROLE_MISMATCH,
    wiring::ISSUER_REGION_MISMATCH,
    issuance::ISSUER_NAMESPACE_MISMATCH,
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
    iam::check(&view, &mut out);
    wiring::check_irsa(&view, &issued, &mut out);
    wiring::check_service_accounts(&view, &mut out);
    wiring::check_regions(&view, &mut out);
    issuance::check_namespaces(&view, &mut out);
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
