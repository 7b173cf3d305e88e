//! istiod reads `cacerts` only when it starts: a plan that makes the secret anew (its
//! certificate created or replaced) while istiod already runs must restart istiod, or the
//! mesh keeps the CA istiod started with.
//!
//! Read from the planned properties, not the stack text: namespaces are often references
//! (`${istio_ns.name}`) that only evaluation knows.

use std::collections::BTreeSet;

use super::{Action, PlannedChange};
use crate::checks::ordering::{CACERTS, ISTIOD_CHART};
use crate::checks::wiring::is_chart;

pub const ISTIOD_RESTART: &str = "istiod must restart to load the new CA";

const CERTIFICATE: &str = "certmanager.certificate";
const RELEASE: &str = "helm.release";

/// The namespace a certificate writes `cacerts` to.
fn cacerts_namespace(c: &PlannedChange) -> Option<&str> {
    let p = &c.properties;
    (c.type_name == CERTIFICATE && p.get_str("secret_name") == Some(CACERTS))
        .then(|| p.get_str("namespace"))?
}

/// The namespace an istiod release runs in.
fn istiod_namespace(c: &PlannedChange) -> Option<&str> {
    let p = &c.properties;
    (c.type_name == RELEASE
        && p.get_str("chart")
            .is_some_and(|ch| is_chart(ch, ISTIOD_CHART)))
    .then(|| p.get_str("namespace"))?
}

/// Marks for a restart every istiod release that runs already and stays, in a namespace
/// whose `cacerts` certificate this plan creates or replaces.
pub fn mark_istiod_restarts(changes: &mut [PlannedChange]) {
    let renewed: BTreeSet<String> = changes
        .iter()
        .filter(|c| c.action == Action::Create || c.action.is_replace())
        .filter_map(cacerts_namespace)
        .map(str::to_string)
        .collect();
    for c in changes.iter_mut() {
        // A release created or replaced now starts after the certificate anyway.
        let running = c.prior.is_some() && matches!(c.action, Action::NoOp | Action::Update);
        if running && istiod_namespace(c).is_some_and(|ns| renewed.contains(ns)) {
            c.restart = Some(ISTIOD_RESTART.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::state::ResourceState;
    use crate::value::Value;

    fn change(
        address: &str,
        type_name: &str,
        props: serde_json::Value,
        action: Action,
    ) -> PlannedChange {
        let exists = action != Action::Create;
        PlannedChange {
            address: address.into(),
            type_name: type_name.into(),
            provider: String::new(),
            mode: Mode::Managed,
            action,
            prior: exists.then(|| ResourceState {
                address: address.into(),
                type_name: type_name.into(),
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
            properties: Value::from_json(props),
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

    /// Whether istiod (in `ns`, chart `chart`) is marked, for the certificate's action
    /// and istiod's.
    fn restarts(ns: &str, chart: &str, cert: Action, istiod: Action) -> bool {
        let mut changes = vec![
            change(
                "istio_ca",
                CERTIFICATE,
                serde_json::json!({"namespace": "istio-system", "secret_name": "cacerts"}),
                cert,
            ),
            change(
                "istiod",
                RELEASE,
                serde_json::json!({"namespace": ns, "chart": chart}),
                istiod,
            ),
        ];
        mark_istiod_restarts(&mut changes);
        assert!(changes[0].restart.is_none());
        changes[1].restart.is_some()
    }

    #[test]
    fn a_running_istiod_restarts_when_its_cacerts_is_made_anew() {
        let (ns, chart) = ("istio-system", "istio/istiod");
        assert!(restarts(ns, chart, Action::DeleteThenCreate, Action::NoOp));
        assert!(restarts(
            ns,
            chart,
            Action::CreateThenDelete,
            Action::Update
        ));
        assert!(restarts(
            ns,
            "./charts/istiod",
            Action::Create,
            Action::NoOp
        ));
        // The certificate unchanged or only updated: the secret stays.
        assert!(!restarts(ns, chart, Action::NoOp, Action::NoOp));
        assert!(!restarts(ns, chart, Action::Update, Action::NoOp));
        // istiod installed or replaced now starts after the certificate.
        assert!(!restarts(ns, chart, Action::Create, Action::Create));
        assert!(!restarts(
            ns,
            chart,
            Action::DeleteThenCreate,
            Action::DeleteThenCreate
        ));
        // Another namespace's istiod does not read this cacerts; nor is every chart istiod.
        assert!(!restarts(
            "other",
            chart,
            Action::DeleteThenCreate,
            Action::NoOp
        ));
        assert!(!restarts(
            ns,
            "istio/base",
            Action::DeleteThenCreate,
            Action::NoOp
        ));
    }
}
