//! A rollout restart of a release's istiod Deployment, made the way `kubectl rollout
//! restart` makes it: a new `kubectl.kubernetes.io/restartedAt` annotation on the pod
//! template, so the Deployment rolls its pods and istiod reads `cacerts` again.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value as Json};

use crate::provider::kubernetes::client::{self, api_error, is_not_found};
use crate::provider::kubernetes::connection::Connection;
use crate::provider::{Limits, ProviderError, ProviderResult};

/// The Deployment the istiod chart installs.
pub const ISTIOD_DEPLOYMENT: &str = "istiod";
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The patch `kubectl rollout restart` sends, for a restart at `now` (RFC 3339).
pub fn restart_patch(now: &str) -> Json {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}})
}

/// Restarts Deployment `name` in `namespace` of the cluster `connection` reaches.
pub async fn rollout_restart(
    connection: &Connection,
    limits: Limits,
    namespace: &str,
    name: &str,
) -> ProviderResult<()> {
    let kube = client::connect(&client::Settings {
        connection: connection.clone(),
        limits,
    })
    .await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let api: Api<Deployment> = Api::namespaced(kube, namespace);
    let what = format!("restart Deployment {namespace}/{name}");
    match api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(restart_patch(&now)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(ProviderError::new(format!(
            "cannot {what}: the Deployment does not exist"
        ))
        .with_help("istiod must run to be restarted: check the release with `helm status`")),
        Err(e) => Err(api_error(&what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_annotates_the_pod_template_as_kubectl_does() {
        let p = restart_patch("2026-01-02T03:04:05Z");
        assert_eq!(
            p["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(p.as_object().unwrap().len(), 1);
    }
}
