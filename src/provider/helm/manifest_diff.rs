//! Object-level diff of two rendered manifests, like the helm-diff plugin: which
//! Kubernetes objects a release upgrade adds, removes or changes, and at which paths.
//! Pure: the caller renders the desired release and fetches the deployed one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::value::Value;

/// What a planned upgrade does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectAction {
    Add,
    Remove,
    Change,
}

/// One changed path inside an object; values already masked where secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PathChange {
    /// `spec.template.spec.containers[0].image`.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// One Kubernetes object the upgrade touches.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectChange {
    pub action: ObjectAction,
    pub api_version: String,
    pub kind: String,
    /// As written in the manifest; empty for cluster-scoped objects and objects that
    /// take the release namespace implicitly.
    pub namespace: String,
    pub name: String,
    /// For `Change`: every differing path, in document order of keys.
    pub paths: Vec<PathChange>,
}

impl ObjectChange {
    /// `Deployment cert-manager/cert-manager`, or `ClusterRole name` with no namespace.
    pub fn object_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Key of an object: apiVersion, kind, namespace, name.
type ObjectKey = (String, String, String, String);

/// Parses a multi-document manifest into objects keyed by apiVersion/kind/namespace/name.
/// Empty documents (comments only) are skipped; a later duplicate replaces an earlier one.
pub fn parse_manifest(text: &str) -> Result<BTreeMap<ObjectKey, Value>, String> {
    let documents = crate::config::yaml::parse_plain_documents(text)
        .map_err(|(i, e)| format!("manifest document {i} is not valid YAML: {e}"))?;
    let mut out = BTreeMap::new();
    for (i, v) in documents.into_iter().enumerate() {
        if v.is_null() {
            continue;
        }
        if v.as_map().is_none() {
            return Err(format!(
                "manifest document {} is a {}, not an object",
                i + 1,
                v.type_name()
            ));
        }
        let meta = v.get("metadata");
        let field = |m: Option<&Value>, k: &str| {
            m.and_then(|m| m.get_str(k)).unwrap_or_default().to_string()
        };
        let key = (
            field(Some(&v), "apiVersion"),
            field(Some(&v), "kind"),
            field(meta, "namespace"),
            field(meta, "name"),
        );
        out.insert(key, v);
    }
    Ok(out)
}

/// Per-object changes from `deployed` to `desired`: added (`+`), removed (`-`) and
/// changed (`~`) objects, ordered by kind, namespace and name. Secret `data` and
/// `stringData` values, and any value containing one of `secrets`, print as `(sensitive)`.
pub fn diff_manifests(
    deployed: &str,
    desired: &str,
    secrets: &[String],
) -> Result<Vec<ObjectChange>, String> {
    let before = parse_manifest(deployed)?;
    let after = parse_manifest(desired)?;
    let mut keys: Vec<&ObjectKey> = before.keys().chain(after.keys()).collect();
    keys.sort_by(|a, b| (&a.1, &a.2, &a.3, &a.0).cmp(&(&b.1, &b.2, &b.3, &b.0)));
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (api_version, kind, namespace, name) = key.clone();
        let mut change = ObjectChange {
            action: ObjectAction::Change,
            api_version,
            kind,
            namespace,
            name,
            paths: Vec::new(),
        };
        match (before.get(key), after.get(key)) {
            (Some(_), None) => change.action = ObjectAction::Remove,
            (None, Some(_)) => change.action = ObjectAction::Add,
            (Some(b), Some(a)) => {
                let is_secret = change.kind == "Secret" && change.api_version == "v1";
                let mut paths = Vec::new();
                walk(&mut String::new(), Some(b), Some(a), &mut paths);
                if paths.is_empty() {
                    continue;
                }
                for p in &mut paths {
                    let secret_path = is_secret
                        && (p.path.starts_with("data") || p.path.starts_with("stringData"));
                    p.before = p.before.take().map(|v| mask(v, secret_path, secrets));
                    p.after = p.after.take().map(|v| mask(v, secret_path, secrets));
                }
                change.paths = paths;
            }
            (None, None) => unreachable!("key comes from one side"),
        }
        out.push(change);
    }
    Ok(out)
}

/// Marks a value secret (it then renders as `(sensitive)`) when it sits under a
/// Secret's data or holds one of `secrets`.
fn mask(v: Value, always: bool, secrets: &[String]) -> Value {
    if always || contains_secret(&v, secrets) {
        Value::sensitive(v)
    } else {
        v
    }
}

fn contains_secret(v: &Value, secrets: &[String]) -> bool {
    match v {
        Value::String(s) => secrets.iter().any(|x| s.contains(x.as_str())),
        Value::Int(i) => secrets.iter().any(|x| *x == i.to_string()),
        Value::List(l) => l.iter().any(|x| contains_secret(x, secrets)),
        Value::Map(m) => m.values().any(|x| contains_secret(x, secrets)),
        _ => false,
    }
}

/// A map key as a path segment: `labels["app.kubernetes.io/name"]` when it holds dots.
fn push_key(path: &mut String, key: &str) {
    if key.contains(['.', '[', ']', ' ']) || key.is_empty() {
        let _ = write!(path, "[{key:?}]");
    } else {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
}

fn walk(path: &mut String, b: Option<&Value>, a: Option<&Value>, out: &mut Vec<PathChange>) {
    match (b, a) {
        (Some(Value::Map(bm)), Some(Value::Map(am))) => {
            let mut keys: Vec<&String> = bm.keys().chain(am.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let len = path.len();
                push_key(path, k);
                walk(path, bm.get(k.as_str()), am.get(k.as_str()), out);
                path.truncate(len);
            }
        }
        (Some(Value::List(bl)), Some(Value::List(al))) => {
            for i in 0..bl.len().max(al.len()) {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk(path, bl.get(i), al.get(i), out);
                path.truncate(len);
            }
        }
        (b, a) if b == a => {}
        (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
        (b, a) => out.push(PathChange {
            path: path.clone(),
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// Renders object changes for a plan:
///
/// ```text
/// ~ Deployment cert-manager/cert-manager: spec.template.spec.containers[0].image
///     spec.template.spec.containers[0].image: "a:1" -> "a:2"
/// + ConfigMap apps/web-config
/// - Service apps/old
/// ```
pub fn render_object_changes(changes: &[ObjectChange]) -> String {
    let mut out = String::new();
    for c in changes {
        match c.action {
            ObjectAction::Add => {
                let _ = writeln!(out, "+ {}", c.object_name());
            }
            ObjectAction::Remove => {
                let _ = writeln!(out, "- {}", c.object_name());
            }
            ObjectAction::Change => {
                let paths: Vec<&str> = c.paths.iter().map(|p| p.path.as_str()).collect();
                let _ = writeln!(out, "~ {}: {}", c.object_name(), paths.join(", "));
                for p in &c.paths {
                    let show = |v: &Option<Value>| match v {
                        None => "(absent)".to_string(),
                        Some(v) => v.render(),
                    };
                    let _ = writeln!(
                        out,
                        "    {}: {} -> {}",
                        p.path,
                        show(&p.before),
                        show(&p.after)
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYED: &str = r#"---
# Source: webapp/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: web-auth
  namespace: apps
stringData:
  PASSWORD: "old-password"
---
# Source: webapp/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  labels:
    app.kubernetes.io/name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: "registry.example/webapp:1.0"
          env:
            - name: TOKEN
              value: "tok-123"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: apps
spec:
  ports: [{port: 80}]
---
# Source: empty.yaml
"#;

    const DESIRED: &str = r#"---
apiVersion: v1
kind: Secret
metadata:
  name: web-auth
  namespace: apps
stringData:
  PASSWORD: "new-password"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  labels:
    app.kubernetes.io/name: web
    tier: front
spec:
  template:
    spec:
      containers:
        - name: web
          image: "registry.example/webapp:2.0"
          env:
            - name: TOKEN
              value: "tok-456"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: apps
data: {a: b}
"#;

    #[test]
    fn lists_added_removed_and_changed_objects_with_paths() {
        let changes = diff_manifests(DEPLOYED, DESIRED, &["tok-456".into()]).unwrap();
        let summary: Vec<(ObjectAction, String)> = changes
            .iter()
            .map(|c| (c.action, c.object_name()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (ObjectAction::Add, "ConfigMap apps/web-config".to_string()),
                (ObjectAction::Change, "Deployment apps/web".to_string()),
                (ObjectAction::Change, "Secret apps/web-auth".to_string()),
                (ObjectAction::Remove, "Service apps/web".to_string()),
            ]
        );
        let deploy = &changes[1];
        let paths: Vec<&str> = deploy.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "metadata.labels.tier",
                "spec.template.spec.containers[0].env[0].value",
                "spec.template.spec.containers[0].image",
            ]
        );
        assert_eq!(
            deploy.paths[2].after,
            Some(Value::from("registry.example/webapp:2.0"))
        );
    }

    #[test]
    fn secret_data_and_sensitive_values_are_masked() {
        let changes = diff_manifests(DEPLOYED, DESIRED, &["tok-456".into()]).unwrap();
        let text = render_object_changes(&changes);
        assert!(!text.contains("old-password"), "{text}");
        assert!(!text.contains("new-password"), "{text}");
        assert!(!text.contains("tok-456"), "{text}");
        assert!(
            text.contains("~ Secret apps/web-auth: stringData.PASSWORD\n    stringData.PASSWORD: (sensitive) -> (sensitive)"),
            "{text}"
        );
        // The old token was not a secret of this plan: only the new one is masked.
        assert!(
            text.contains(r#"env[0].value: "tok-123" -> (sensitive)"#),
            "{text}"
        );
    }

    #[test]
    fn renders_one_line_per_object_then_details() {
        let changes = diff_manifests(DEPLOYED, DESIRED, &[]).unwrap();
        let text = render_object_changes(&changes);
        assert!(
            text.starts_with(
                "+ ConfigMap apps/web-config\n~ Deployment apps/web: metadata.labels.tier, "
            ),
            "{text}"
        );
        assert!(text.contains(
            "    spec.template.spec.containers[0].image: \"registry.example/webapp:1.0\" -> \"registry.example/webapp:2.0\"\n"
        ));
        assert!(text.contains("    metadata.labels.tier: (absent) -> \"front\"\n"));
        assert!(text.ends_with("- Service apps/web\n"), "{text}");
    }

    #[test]
    fn identical_manifests_have_no_changes_and_keys_with_dots_are_quoted() {
        assert!(diff_manifests(DEPLOYED, DEPLOYED, &[]).unwrap().is_empty());
        let a = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x, labels: {app.kubernetes.io/name: a}}\n";
        let b = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x, labels: {app.kubernetes.io/name: b}}\n";
        let changes = diff_manifests(a, b, &[]).unwrap();
        assert_eq!(
            changes[0].paths[0].path,
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );
        assert_eq!(changes[0].object_name(), "ConfigMap x");
    }

    #[test]
    fn bad_yaml_is_an_error_naming_the_document() {
        let err = diff_manifests("a: 1\n---\n[unclosed\n", "", &[]).unwrap_err();
        assert!(err.contains("document 2"), "{err}");
    }
}
