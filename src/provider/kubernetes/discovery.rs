//! Which resource serves a kind, and whether it is namespaced: asked of the cluster's
//! discovery API on every use, so a kind whose CRD another resource just created is found.

use kube::api::{ApiResource, GroupVersionKind};
use kube::discovery::{pinned_kind, Scope};
use kube::Client;

use super::client::{api_error, status_code};
use super::object::ObjectRef;
use crate::provider::{ProviderError, ProviderResult};

#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Resolves the object's kind. A kind the cluster does not serve is an error naming it,
/// with the usual cause: its CRD comes from a resource the stack applies later.
pub async fn resolve(client: &Client, r: &ObjectRef) -> ProviderResult<Resolved> {
    let gvk = GroupVersionKind::gvk(r.group(), r.version(), &r.kind);
    match pinned_kind(client, &gvk).await {
        Ok((resource, caps)) => Ok(Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        }),
        Err(kube::Error::Discovery(_)) => Err(not_served(r)),
        Err(e) if status_code(&e) == Some(404) => Err(not_served(r)),
        Err(e) => Err(api_error(
            &format!("discover {} {}", r.api_version, r.kind),
            e,
        )),
    }
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
