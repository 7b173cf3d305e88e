//! istiod reads `cacerts` only when it starts: a plan that makes the secret anew (its
//! certificate created or replaced) while istiod already runs must restart istiod, or the
//! mesh keeps the CA istiod started with.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, PlannedChange};
use crate::checks::ordering::{cacerts_certificates, istiod_releases};
use crate::checks::view::View;
use crate::config::Stack;
use crate::value::Value;

pub const ISTIOD_RESTART: &str = "istiod must restart to load the new CA";

/// Marks for a restart every istiod release that runs already and stays, in a namespace
/// whose `cacerts` certificate this plan creates or replaces.
pub fn mark_istiod_restarts(
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
    changes: &mut [PlannedChange],
) {
    let view = View::new(stack, variables);
    let action = |address: &str| {
        changes
            .iter()
            .find(|c| c.address == address)
            .map(|c| c.action)
    };
    let renewed: BTreeSet<String> = cacerts_certificates(&view)
        .into_iter()
        .filter(|(cert, _)| {
            action(&cert.name).is_some_and(|a| a == Action::Create || a.is_replace())
        })
        .map(|(_, namespace)| namespace)
        .collect();
    for (release, namespace) in istiod_releases(&view) {
        if !renewed.contains(&namespace) {
            continue;
        }
        // A release created or replaced now starts after the certificate anyway.
        if let Some(c) = changes.iter_mut().find(|c| {
            c.address == release.name
                && c.prior.is_some()
                && matches!(c.action, Action::NoOp | Action::Update)
        }) {
            c.restart = Some(ISTIOD_RESTART.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::view::tests::stack;
    use crate::config::Mode;
    use crate::state::ResourceState;

    const STACK: &str = "stack: t
resources:
  istio_ca:
    type: certmanager.certificate
    properties: {name: c, namespace: istio-system, secret_name: cacerts, is_ca: true, issuer: {name: x}}
  istiod:
    type: helm.release
    depends_on: [istio_ca]
    properties: {name: istiod, namespace: NS, chart: istio/istiod}
";

    fn change(address: &str, action: Action, exists: bool) -> PlannedChange {
        PlannedChange {
            address: address.into(),
            type_name: String::new(),
            provider: String::new(),
            mode: Mode::Managed,
            action,
            prior: exists.then(|| ResourceState {
                address: address.into(),
                type_name: String::new(),
                mode: Mode::Managed,
                provider: String::new(),
                id: address.into(),
                properties: Value::Null,
                attributes: Value::Null,
                dependencies: vec![],
                sensitive_paths: vec![],
                retain_on_destroy: false,
                updated_at: chrono::Utc::now(),
            }),
            properties: Value::Null,
            planned_attributes: Value::Null,
            changed: vec![],
            requires_replace: vec![],
            reason: None,
            dependencies: vec![],
            sensitive_paths: vec![],
            details: vec![],
            restart: None,
        }
    }

    /// Whether istiod is marked, for the certificate's action and istiod's.
    fn restarts(ns: &str, cert: Action, istiod: Action, istiod_exists: bool) -> bool {
        let s = stack(&STACK.replace("NS", ns));
        let mut changes = vec![
            change("istio_ca", cert, cert != Action::Create),
            change("istiod", istiod, istiod_exists),
        ];
        mark_istiod_restarts(&s, &BTreeMap::new(), &mut changes);
        changes[1].restart.is_some()
    }

    #[test]
    fn a_running_istiod_restarts_when_its_cacerts_is_made_anew() {
        let ns = "istio-system";
        assert!(restarts(ns, Action::DeleteThenCreate, Action::NoOp, true));
        assert!(restarts(ns, Action::CreateThenDelete, Action::Update, true));
        assert!(restarts(ns, Action::Create, Action::NoOp, true));
        // The certificate unchanged or only updated: the secret stays.
        assert!(!restarts(ns, Action::NoOp, Action::NoOp, true));
        assert!(!restarts(ns, Action::Update, Action::NoOp, true));
        // istiod installed or replaced now starts after the certificate.
        assert!(!restarts(ns, Action::Create, Action::Create, false));
        assert!(!restarts(
            ns,
            Action::DeleteThenCreate,
            Action::DeleteThenCreate,
            true
        ));
        // Another namespace's istiod does not read this cacerts.
        assert!(!restarts(
            "other",
            Action::DeleteThenCreate,
            Action::NoOp,
            true
        ));
    }
}
