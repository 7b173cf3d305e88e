//! Which resource serves a kind, and whether it is namespaced: asked of the cluster's
//! discovery API on every use, so a kind whose CRD another resource just created is found.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::discovery::{pinned_kind, Scope};
use kube::Client;

use super::client::{api_error, is_not_found};
use super::object::ObjectRef;
use crate::provider::{ProviderError, ProviderResult};

#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Resolves the object's kind: `None` when the cluster answered that it does not serve
/// it. Any other failure (unreachable, refused, 5xx) is an error.
pub async fn resolve(client: &Client, r: &ObjectRef) -> ProviderResult<Option<Resolved>> {
    let gvk = GroupVersionKind::gvk(r.group(), r.version(), &r.kind);
    match pinned_kind(client, &gvk).await {
        Ok((resource, caps)) => Ok(Some(Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        })),
        Err(kube::Error::Discovery(_)) => Ok(None),
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
