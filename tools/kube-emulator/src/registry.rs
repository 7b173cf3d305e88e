//! Resource types the emulator serves: the fixed built-in kinds plus kinds
//! registered from CustomResourceDefinitions.

use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub status: bool,
    pub short_names: Vec<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` / `secrets`: the name the real server uses in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        let mut out = vec![main];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

fn rt(
    group: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    status: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        status,
        short_names: short.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn builtins() -> Vec<ResourceType> {
    vec![
        rt("", "Namespace", "namespaces", false, true, &["ns"]),
        rt(
            "",
            "ServiceAccount",
            "serviceaccounts",
            true,
            false,
            &["sa"],
        ),
        rt("", "Secret", "secrets", true, false, &[]),
        rt("", "ConfigMap", "configmaps", true, false, &["cm"]),
        rt("", "Service", "services", true, true, &["svc"]),
        rt("", "Pod", "pods", true, true, &["po"]),
        rt("", "Event", "events", true, false, &["ev"]),
        rt("apps", "Deployment", "deployments", true, true, &["deploy"]),
        rt("apps", "StatefulSet", "statefulsets", true, true, &["sts"]),
        rt("apps", "DaemonSet", "daemonsets", true, true, &["ds"]),
        rt("apps", "ReplicaSet", "replicasets", true, true, &["rs"]),
        rt(
            "rbac.authorization.k8s.io",
            "Role",
            "roles",
            true,
            false,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            true,
            false,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            false,
            false,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            false,
            &[],
        ),
        rt(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
            false,
            &[],
        ),
        rt(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
            false,
            &[],
        ),
        rt(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
            &["crd", "crds"],
        ),
        rt("batch", "Job", "jobs", true, true, &[]),
        rt(
            "policy",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            true,
            &["pdb"],
        ),
        rt("coordination.k8s.io", "Lease", "leases", true, false, &[]),
    ]
}

/// Types served for a CRD object: one per served version.
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return vec![];
    }
    let singular = names["singular"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| kind.to_lowercase());
    let short_names: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = vec![];
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        out.push(ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            status: v["subresources"].get("status").is_some(),
            short_names: short_names.clone(),
        });
    }
    out
}
