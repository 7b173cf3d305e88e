//! Discovery (`/version`, `/api`, `/apis`, group versions) and OpenAPI.

use crate::protobuf::put_bytes;
use crate::registry::ResourceType;
use serde_json::{json, Value};

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.4",
        "compiler": "gc", "platform": "linux/amd64",
    })
}

pub fn core_versions(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn group_entry(group: &str, types: &[ResourceType]) -> Value {
    let mut versions: Vec<String> = vec![];
    for t in types.iter().filter(|t| t.group == group) {
        if !versions.contains(&t.version) {
            versions.push(t.version.clone());
        }
    }
    let gv = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": gv(&versions[0]),
    })
}

pub fn group_list(types: &[ResourceType]) -> Value {
    let mut groups: Vec<&str> = vec![];
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        if !groups.contains(&t.group.as_str()) {
            groups.push(&t.group);
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1",
           "groups": groups.iter().map(|g| group_entry(g, types)).collect::<Vec<_>>()})
}

pub fn group(types: &[ResourceType], group: &str) -> Option<Value> {
    if !types.iter().any(|t| t.group == group) {
        return None;
    }
    let mut g = group_entry(group, types);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let matching: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if matching.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": matching.iter().flat_map(|t| t.discovery_entries()).collect::<Vec<_>>(),
    }))
}

/// Clients ask with `...spec.v2@v1.0+protobuf`; the real server answers with
/// this form, since `@` is not valid in a media type Go's mime parser accepts.
pub const OPENAPI_V2_PROTO: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A minimal gnostic `openapi_v2.Document`: swagger = 1, info = 2
/// (title = 1, version = 2), paths = 8 (empty).
pub fn openapi_v2_protobuf() -> Vec<u8> {
    let mut info = vec![];
    put_bytes(&mut info, 1, b"Kubernetes");
    put_bytes(&mut info, 2, b"v1.32.0");
    let mut doc = vec![];
    put_bytes(&mut doc, 1, b"2.0");
    put_bytes(&mut doc, 2, &info);
    put_bytes(&mut doc, 8, &[]);
    doc
}

pub fn openapi_v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {}, "definitions": {}})
}
