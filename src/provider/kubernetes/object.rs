//! Naming Kubernetes objects: the reference (apiVersion, kind, namespace, name) read from
//! an object, its import id, and the identity the engine uses to refuse two resources
//! managing the same object.

use crate::value::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Reads apiVersion, kind, metadata.name and metadata.namespace; `None` when one of
    /// the first three is missing or not a string, or the namespace is set but not a
    /// string (unknown values included).
    pub fn of(object: &Value) -> Option<ObjectRef> {
        let metadata = object.get("metadata")?;
        if metadata
            .get("namespace")
            .is_some_and(|n| !n.is_null() && n.as_str().is_none())
        {
            return None;
        }
        Some(ObjectRef {
            api_version: object.get_str("apiVersion")?.to_string(),
            kind: object.get_str("kind")?.to_string(),
            name: metadata.get_str("name")?.to_string(),
            namespace: metadata
                .get_str("namespace")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }

    /// The API group, empty for the core group (`v1`).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(&self.api_version)
    }

    /// `apiVersion/Kind/namespace/name`, or `apiVersion/Kind/name` when cluster-scoped:
    /// `apps/v1/Deployment/web/api`, `v1/Namespace/istio-system`. Used both as the
    /// manifest import id and as the identity reported to the engine.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}/{}", self.api_version, self.kind, ns, self.name),
            None => format!("{}/{}/{}", self.api_version, self.kind, self.name),
        }
    }

    /// Short form for messages: `Deployment web/api`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// Parses [`ObjectRef::id`]. Kinds start with an upper-case letter, which tells
    /// `v1/Pod/ns/name` (core group, namespaced) from `apps/v1/Kind/name` (cluster-scoped).
    pub fn parse_id(id: &str) -> Result<ObjectRef, String> {
        let parts: Vec<&str> = id.split('/').collect();
        let is_kind = |s: &str| s.starts_with(|c: char| c.is_ascii_uppercase());
        let (api_version, kind, namespace, name) = match parts.as_slice() {
            [v, k, n] if is_kind(k) => (v.to_string(), *k, None, *n),
            [v, k, ns, n] if is_kind(k) => (v.to_string(), *k, Some(*ns), *n),
            [g, v, k, n] if is_kind(k) => (format!("{g}/{v}"), *k, None, *n),
            [g, v, k, ns, n] if is_kind(k) => (format!("{g}/{v}"), *k, Some(*ns), *n),
            _ => {
                return Err(format!(
                    "{id:?} is not an object id: expected apiVersion/Kind/namespace/name \
                     (apps/v1/Deployment/web/api) or apiVersion/Kind/name for a cluster-scoped \
                     object (v1/Namespace/istio-system)"
                ))
            }
        };
        if name.is_empty() || namespace.is_some_and(str::is_empty) {
            return Err(format!("{id:?} has an empty name or namespace"));
        }
        Ok(ObjectRef {
            api_version,
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        })
    }
}

/// Splits a `namespace/name` id; a bare `name` has no namespace.
pub fn split_namespaced_id(id: &str) -> Result<(Option<&str>, &str), String> {
    match id.split('/').collect::<Vec<_>>().as_slice() {
        [name] if !name.is_empty() => Ok((None, name)),
        [ns, name] if !ns.is_empty() && !name.is_empty() => Ok((Some(ns), name)),
        _ => Err(format!("{id:?} is not an id of the form namespace/name")),
    }
}

/// Which managers own fields of an object, from `metadata.managedFields`.
pub fn managers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(|e| e.get_str("manager").map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ids_round_trip_for_every_shape() {
        for id in [
            "v1/Namespace/istio-system",
            "v1/ConfigMap/web/settings",
            "apps/v1/Deployment/web/api",
            "apiextensions.k8s.io/v1/CustomResourceDefinition/widgets.example.com",
        ] {
            assert_eq!(ObjectRef::parse_id(id).unwrap().id(), id);
        }
        let r = ObjectRef::parse_id("apps/v1/Deployment/web/api").unwrap();
        assert_eq!(
            (r.group(), r.version(), r.namespace.as_deref()),
            ("apps", "v1", Some("web"))
        );
        let core = ObjectRef::parse_id("v1/ConfigMap/web/settings").unwrap();
        assert_eq!((core.group(), core.version()), ("", "v1"));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for id in [
            "web/api",
            "v1/configmap/web/x",
            "a/b/c/d/e/f",
            "v1/ConfigMap//x",
            "",
        ] {
            assert!(ObjectRef::parse_id(id).is_err(), "{id}");
        }
        assert_eq!(split_namespaced_id("ns/x").unwrap(), (Some("ns"), "x"));
        assert_eq!(split_namespaced_id("x").unwrap(), (None, "x"));
        assert!(split_namespaced_id("a/b/c").is_err());
        assert!(split_namespaced_id("/x").is_err());
    }

    #[test]
    fn reference_and_managers_come_from_the_object() {
        let o = obj(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n",
            "managedFields":[{"manager":"trustplane"},{"manager":"kubectl"}]}}"#,
        );
        let r = ObjectRef::of(&o).unwrap();
        assert_eq!(r.id(), "v1/ConfigMap/n/a");
        assert_eq!(managers(&o), ["trustplane", "kubectl"]);
        assert!(ObjectRef::of(&obj(r#"{"kind":"X","metadata":{"name":"a"}}"#)).is_none());
    }
}
