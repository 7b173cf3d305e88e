//! `k8s.manifest`: any object, inline (`manifest:`) or from a YAML file (`file:`) of one
//! or more documents managed together. A file's objects are kept in the snapshot under
//! `documents`, so an edit of the file or of the live objects is a visible change.

use std::path::Path;

use super::names;
use super::object::ObjectRef;
use crate::diag::Diagnostic;
use crate::input::InputKind;
use crate::provider::{ProviderError, ProviderResult};
use crate::value::Value;

pub const MANIFEST: &str = "k8s.manifest";

/// The snapshot key holding the objects applied from a file.
pub const DOCUMENTS: &str = "documents";

fn is_set(props: &Value, key: &str) -> bool {
    props.get(key).is_some_and(|v| !v.is_null())
}

/// Plan-time checks: exactly one of `file`/`manifest`, and an inline manifest that names
/// its object properly. A file is read only at apply.
pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    match (is_set(props, "file"), is_set(props, "manifest")) {
        (true, true) => out.push(
            Diagnostic::error(
                "k8s::invalid_manifest",
                "k8s.manifest takes either file or manifest, not both",
            )
            .with_field("file"),
        ),
        (false, false) => out.push(
            Diagnostic::error(
                "k8s::invalid_manifest",
                "k8s.manifest needs file (a YAML file) or manifest (an inline object)",
            )
            .with_help("e.g. manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: y}}"),
        ),
        _ => {}
    }
    if let Some(m) = props.get("manifest").filter(|v| !v.is_null()) {
        out.extend(validate_object(m, "manifest"));
    }
    out
}

/// Checks one object; `field` is where it sits (`manifest`, `file[1]`).
pub fn validate_object(obj: &Value, field: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let bad = |sub: &str, summary: String| {
        Diagnostic::error("k8s::invalid_manifest", summary).with_field(if sub.is_empty() {
            field.to_string()
        } else {
            format!("{field}.{sub}")
        })
    };
    match obj {
        Value::Unknown => return out,
        Value::Map(_) => {}
        other => {
            out.push(bad(
                "",
                format!(
                    "a manifest must be a map of fields, found {}",
                    other.type_name()
                ),
            ));
            return out;
        }
    }
    for key in ["apiVersion", "kind"] {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::Unknown) => {}
            _ => out.push(bad(key, format!("the manifest has no {key}"))),
        }
    }
    let meta = obj.get("metadata");
    match meta.and_then(|m| m.get("name")) {
        Some(Value::String(name)) => {
            let group = obj
                .get_str("apiVersion")
                .and_then(|v| v.rsplit_once('/'))
                .map(|(g, _)| g)
                .unwrap_or("");
            let rule = if group == "rbac.authorization.k8s.io" {
                names::path_segment
            } else {
                names::dns1123_subdomain
            };
            if let Err(e) = rule(name) {
                out.push(
                    Diagnostic::error("k8s::invalid_name", e)
                        .with_field(format!("{field}.metadata.name")),
                );
            }
        }
        Some(Value::Unknown) => {}
        _ => out.push(bad(
            "metadata.name",
            "the manifest has no metadata.name".into(),
        )),
    }
    if let Some(ns) = meta.and_then(|m| m.get_str("namespace")) {
        if let Err(e) = names::dns1123_label(ns) {
            out.push(
                Diagnostic::error("k8s::invalid_name", e)
                    .with_field(format!("{field}.metadata.namespace")),
            );
        }
    }
    if let Some(m) = meta {
        super::kinds::validate_metadata_maps(m, &format!("{field}.metadata."), &mut out);
    }
    out
}

/// Parses the documents of a YAML file's text; empty documents are skipped.
pub fn parse_documents(text: &str, file: &str) -> ProviderResult<Vec<Value>> {
    let documents = crate::config::yaml::parse_plain_documents(text).map_err(|(i, e)| {
        ProviderError::new(format!("{file}: document {i} is not valid YAML: {e}"))
            .with_field("file")
    })?;
    let mut out = Vec::new();
    for (i, value) in documents.into_iter().enumerate() {
        if value.is_null() {
            continue;
        }
        if let Some(d) = validate_object(&value, &format!("file[{}]", out.len()))
            .into_iter()
            .next()
        {
            return Err(ProviderError::new(format!(
                "{file}: document {}: {} (at {})",
                i + 1,
                d.summary,
                d.field.unwrap_or_default()
            ))
            .with_field("file"));
        }
        out.push(value);
    }
    if out.is_empty() {
        return Err(ProviderError::new(format!("{file} holds no object")).with_field("file"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for o in &out {
        if let Some(r) = ObjectRef::of(o) {
            if !seen.insert(r.id()) {
                return Err(
                    ProviderError::new(format!("{file} holds {} twice", r.describe()))
                        .with_field("file"),
                );
            }
        }
    }
    Ok(out)
}

/// Reads and parses a manifest file.
pub fn read_file(path: &str) -> ProviderResult<Vec<Value>> {
    let text = crate::input::read_text(Path::new(path), InputKind::Manifest).map_err(|e| {
        ProviderError::new(e.to_string())
            .with_help(e.help())
            .with_field("file")
    })?;
    parse_documents(&text, path)
}

/// The objects a `k8s.manifest` manages, reading its file when it has one.
pub fn objects(props: &Value) -> ProviderResult<Vec<Value>> {
    if let Some(m) = props.get("manifest").filter(|v| !v.is_null()) {
        return Ok(vec![m.clone()]);
    }
    let file = props
        .get_str("file")
        .ok_or_else(|| ProviderError::new("k8s.manifest needs file or manifest"))?;
    read_file(file)
}

/// The objects last applied, as kept in a snapshot's properties.
pub fn applied_objects(props: &Value) -> Vec<Value> {
    if let Some(m) = props.get("manifest").filter(|v| !v.is_null()) {
        return vec![m.clone()];
    }
    props
        .get(DOCUMENTS)
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or_default()
}

/// Properties with the objects that were applied: a file's documents are recorded.
pub fn with_objects(props: &Value, objects: &[Value]) -> Value {
    let mut out = props.clone();
    if is_set(props, "file") {
        out.set_path(DOCUMENTS, Value::List(objects.to_vec()));
    }
    out
}

/// Properties rebuilt from the live objects projected onto the applied ones.
pub fn props_from_live(prior: &Value, projected: Vec<Value>) -> Value {
    let mut out = prior.clone();
    if is_set(prior, "manifest") {
        out.set_path(
            "manifest",
            projected.into_iter().next().unwrap_or(Value::Null),
        );
    } else {
        out.set_path(DOCUMENTS, Value::List(projected));
    }
    out
}

/// True for a core/v1 Secret, whose `data` and `stringData` are secrets.
pub fn is_secret(obj: &Value) -> bool {
    obj.get_str("kind") == Some("Secret") && obj.get_str("apiVersion") == Some("v1")
}

/// What an imported object's `manifest` property holds: the object less what the server
/// owns (status, uid, managedFields and other server-written metadata).
pub fn import_manifest(live: &Value) -> Value {
    let mut obj = live.clone();
    obj.remove_path("status");
    if let Some(Value::Map(meta)) = obj.get("metadata").cloned() {
        let kept: crate::value::Map = meta
            .into_iter()
            .filter(|(k, _)| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"))
            .collect();
        obj.set_path("metadata", Value::Map(kept));
    }
    if let Some(mut meta) = obj.get("metadata").cloned() {
        super::kinds::strip_server_written(&mut meta);
        obj.set_path("metadata", meta);
    }
    obj
}

/// `k8s.manifest` as a resource type (its operations are in the provider module).
pub struct Manifest;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn fields(d: &[Diagnostic]) -> Vec<&str> {
        d.iter().map(|d| d.field.as_deref().unwrap_or("")).collect()
    }

    #[test]
    fn file_and_manifest_are_exclusive_and_one_is_needed() {
        let both = validate(&v(r#"{"file":"a.yaml","manifest":{}}"#));
        assert_eq!(both[0].code, "k8s::invalid_manifest");
        assert_eq!(fields(&both)[0], "file");
        let neither = validate(&v(r#"{"force":true}"#));
        assert_eq!(neither.len(), 1);
        assert!(neither[0].summary.contains("needs file"));
    }

    #[test]
    fn inline_manifest_must_name_its_object() {
        let d = validate(&v(
            r#"{"manifest":{"kind":"ConfigMap","metadata":{"namespace":"Bad"}}}"#,
        ));
        assert_eq!(
            fields(&d),
            [
                "manifest.apiVersion",
                "manifest.metadata.name",
                "manifest.metadata.namespace"
            ]
        );
        assert!(d.iter().all(|d| d.code.starts_with("k8s::invalid_")));
        let ok = validate(&v(
            r#"{"manifest":{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"system:x"}}}"#,
        ));
        assert!(ok.is_empty(), "{ok:?}");
        let bad = validate(&v(
            r#"{"manifest":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}}"#,
        ));
        assert_eq!(fields(&bad), ["manifest.metadata.name"]);
        assert!(validate(&v(r#"{"manifest":"text"}"#))[0]
            .summary
            .contains("map"));
    }

    #[test]
    fn multi_document_files_parse_in_order() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {k: v}\n";
        let docs = parse_documents(text, "f.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(ObjectRef::of(&docs[1]).unwrap().id(), "v1/ConfigMap/a/c");
        let err = parse_documents("apiVersion: v1\nkind: ConfigMap\n", "f.yaml").unwrap_err();
        assert!(err.message.contains("metadata.name"), "{}", err.message);
        let dup = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
        assert!(parse_documents(dup, "f.yaml")
            .unwrap_err()
            .message
            .contains("twice"));
        assert!(parse_documents("", "f.yaml").is_err());
    }

    #[test]
    fn snapshot_properties_carry_file_documents() {
        let props = v(r#"{"file":"x.yaml"}"#);
        let docs = vec![v(r#"{"kind":"A"}"#)];
        let snap = with_objects(&props, &docs);
        assert_eq!(applied_objects(&snap), docs);
        let inline = v(r#"{"manifest":{"kind":"B"}}"#);
        assert_eq!(with_objects(&inline, &docs), inline);
        assert_eq!(applied_objects(&inline), vec![v(r#"{"kind":"B"}"#)]);
    }

    #[test]
    fn import_keeps_only_what_a_stack_would_write() {
        let live = v(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",
            "uid":"u","resourceVersion":"4","managedFields":[],
            "labels":{"app.kubernetes.io/managed-by":"trustplane","team":"a"},"annotations":{
            "kubectl.kubernetes.io/last-applied-configuration":"{}"}},"data":{"k":"v"},"status":{}}"#,
        );
        assert_eq!(
            import_manifest(&live),
            v(
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n","labels":{"team":"a"}},"data":{"k":"v"}}"#
            )
        );
    }
}
