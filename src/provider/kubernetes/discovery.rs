//! Which resource serves a kind, and whether it is namespaced: asked of the cluster's
//! discovery API, so a kind whose CRD another resource just created is found. A built-in
//! group's answer is kept for the connection (see [`BuiltinKinds`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::core::GroupVersion;
use kube::discovery::{pinned_group, pinned_kind, ApiCapabilities, Scope};
use kube::Client;

use super::client::{api_error, is_not_found};
use super::object::ObjectRef;
use crate::provider::{ProviderError, ProviderResult};

#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// The kinds of built-in API groups (`v1`, `apps/v1`, ...), asked once per connection: the
/// API server serves them itself, so they cannot stop being served while trustplane runs,
/// and the Namespace, ServiceAccount and Secret of a stack then cost one discovery request,
/// not one each. A CRD's group always has a dot in its name; its kinds are asked each
/// time, since another resource of the same apply may create or delete the CRD.
#[derive(Default)]
pub struct BuiltinKinds {
    groups: Mutex<HashMap<String, Arc<GroupCell>>>,
}

type GroupCell = tokio::sync::OnceCell<Vec<(ApiResource, ApiCapabilities)>>;

impl BuiltinKinds {
    /// Forgets every answer (another cluster, or the same one configured again).
    pub fn clear(&self) {
        self.groups.lock().unwrap().clear();
    }

    /// The served resources of `group`/`version`, asked once; `None` for a group that is
    /// not built in. Askers meanwhile wait for the one request; a failure is not kept.
    async fn resources(
        &self,
        client: &Client,
        group: &str,
        version: &str,
    ) -> Option<kube::Result<Vec<(ApiResource, ApiCapabilities)>>> {
        if group.contains('.') {
            return None;
        }
        let cell = self
            .groups
            .lock()
            .unwrap()
            .entry(format!("{group}/{version}"))
            .or_default()
            .clone();
        let gv = GroupVersion::gv(group, version);
        Some(
            cell.get_or_try_init(|| async {
                Ok(pinned_group(client, &gv)
                    .await?
                    .versioned_resources(version))
            })
            .await
            .cloned(),
        )
    }
}

/// Resolves the object's kind: `None` when the cluster answered that it does not serve
/// it. Any other failure (unreachable, refused, 5xx) is an error.
pub async fn resolve(
    client: &Client,
    builtin: &BuiltinKinds,
    r: &ObjectRef,
) -> ProviderResult<Option<Resolved>> {
    let found = match builtin.resources(client, r.group(), r.version()).await {
        Some(listed) => listed.map(|all| all.into_iter().find(|(ar, _)| ar.kind == r.kind)),
        None => {
            let gvk = GroupVersionKind::gvk(r.group(), r.version(), &r.kind);
            match pinned_kind(client, &gvk).await {
                Err(kube::Error::Discovery(_)) => Ok(None),
                other => other.map(Some),
            }
        }
    };
    match found {
        Ok(Some((resource, caps))) => Ok(Some(Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        })),
        Ok(None) | Err(kube::Error::Discovery(_)) => Ok(None),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error(
            &format!("discover {} {}", r.api_version, r.kind),
            e,
        )),
    }
}

/// Whether an unserved kind means its objects are gone: only when the cluster answers
/// that no CustomResourceDefinition defines it (deleting a CRD deletes its objects). A
/// built-in group that is not served, or a CRD that exists but does not serve the kind
/// (discovery lagging behind, a version removed), is an error: nothing is known gone.
pub async fn unserved_means_gone(client: &Client, r: &ObjectRef) -> ProviderResult<()> {
    let group = r.group();
    let builtin = group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io");
    if builtin {
        return Err(not_served(r).with_help(
            "a built-in kind the cluster does not serve: check the cluster's version and health",
        ));
    }
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "customresourcedefinitions");
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = crds
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error("list CustomResourceDefinitions", e))?;
    let defined = list.items.iter().any(|crd| {
        let spec = crd.data.get("spec");
        spec.and_then(|s| s.get("group")).and_then(|g| g.as_str()) == Some(group)
            && spec
                .and_then(|s| s.get("names"))
                .and_then(|n| n.get("kind"))
                .and_then(|k| k.as_str())
                == Some(r.kind.as_str())
    });
    if defined {
        return Err(ProviderError::new(format!(
            "the cluster does not serve apiVersion {} kind {}, though a \
             CustomResourceDefinition for it exists",
            r.api_version, r.kind
        ))
        .with_help(
            "the CRD may not be established yet, or no longer serve this version: check \
             `kubectl get crd`; nothing was assumed deleted",
        ));
    }
    Ok(())
}

pub fn not_served(r: &ObjectRef) -> ProviderError {
    ProviderError::new(format!(
        "the cluster does not serve apiVersion {} kind {}",
        r.api_version, r.kind
    ))
    .with_help(
        "check apiVersion and kind; if another resource in the stack installs its CRD, \
         add `depends_on: [that_resource]`",
    )
}
