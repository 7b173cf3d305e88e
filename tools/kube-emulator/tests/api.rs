//! Drives the emulator with kubectl (an independent client) and plain HTTP.

mod common;

use common::{Emulator, WIDGET_CRD};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};

#[test]
fn discovery_lists_core_and_apps_and_follows_crds() {
    let e = Emulator::start();
    let (_, api) = e.get_json("/api");
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, core) = e.get_json("/api/v1");
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"secrets") && names.contains(&"namespaces"));
    let (_, apis) = e.get_json("/apis");
    let groups = |v: &Value| {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(groups(&apis).contains(&"apps".to_string()));
    let (_, apps) = e.get_json("/apis/apps/v1");
    assert!(apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "Deployment"));

    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], WIDGET_CRD)
        .status
        .success());
    let (_, apis) = e.get_json("/apis");
    assert!(groups(&apis).contains(&"example.com".to_string()));
    let w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3}\n";
    let out = e.kubectl_stdin(&["apply", "--server-side", "-f", "-"], w);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        e.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]),
        "3"
    );
    assert!(e.ok(&["get", "widgets"]).contains("w1"));

    e.ok(&["delete", "crd", "widgets.example.com"]);
    let (_, apis) = e.get_json("/apis");
    assert!(!groups(&apis).contains(&"example.com".to_string()));
    let (code, _) = e.get_json("/apis/example.com/v1/namespaces/default/widgets/w1");
    assert_eq!(code, 404);
}

#[test]
fn status_errors_look_like_the_real_server() {
    let e = Emulator::start();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let (code, body) = e.send_json(
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        "application/json",
        &cm,
    );
    assert_eq!(code, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(body["message"], "namespaces \"missing\" not found");
    assert_eq!(
        body["details"],
        json!({"name": "missing", "kind": "namespaces"})
    );

    let (code, created) = e.send_json(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        &cm,
    );
    assert_eq!(code, 201);
    let (code, body) = e.send_json(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        &cm,
    );
    assert_eq!(
        (code, body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(body["message"], "configmaps \"c\" already exists");

    // A write based on a fresh resourceVersion succeeds; the stale one then conflicts.
    let mut upd = created.clone();
    upd["data"]["a"] = json!("2");
    let (code, _) = e.send_json(
        "PUT",
        "/api/v1/namespaces/default/configmaps/c",
        "application/json",
        &upd,
    );
    assert_eq!(code, 200);
    upd["data"]["a"] = json!("3");
    let (code, body) = e.send_json(
        "PUT",
        "/api/v1/namespaces/default/configmaps/c",
        "application/json",
        &upd,
    );
    assert_eq!((code, body["reason"].as_str()), (409, Some("Conflict")));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    let out = e.kubectl(&["get", "configmap", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("configmaps \"nope\" not found"));
}

#[test]
fn labels_annotations_and_selectors_through_kubectl() {
    let e = Emulator::start();
    e.ok(&["create", "configmap", "a", "--from-literal=k=v"]);
    e.ok(&["create", "configmap", "b", "--from-literal=k=v"]);
    e.ok(&["label", "configmap", "a", "tier=web", "team=x"]);
    e.ok(&["label", "configmap", "b", "tier=db"]);
    e.ok(&["annotate", "configmap", "a", "note=hello"]);
    let names = |sel: &str| e.ok(&["get", "configmaps", "-l", sel, "-o", "name"]);
    assert_eq!(names("tier=web"), "configmap/a\n");
    assert_eq!(names("tier!=web"), "configmap/b\n");
    assert_eq!(names("tier in (web,db)"), "configmap/a\nconfigmap/b\n");
    assert_eq!(names("tier notin (web)"), "configmap/b\n");
    assert_eq!(names("team"), "configmap/a\n");
    assert_eq!(names("!team"), "configmap/b\n");
    assert_eq!(
        e.ok(&[
            "get",
            "configmap",
            "a",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hello"
    );
    let obj: Value = serde_json::from_str(&e.ok(&[
        "get",
        "configmap",
        "a",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    let managers: Vec<&str> = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(
        managers.contains(&"kubectl-label") && managers.contains(&"kubectl-annotate"),
        "{managers:?}"
    );
    // Cluster-wide list across namespaces.
    let (_, list) = e.get_json("/api/v1/configmaps");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[test]
fn watch_streams_added_modified_deleted() {
    let e = Emulator::start();
    let (_, list) = e.get_json("/api/v1/namespaces/default/configmaps");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=10", e.base))
        .send()
        .unwrap();
    e.ok(&["create", "configmap", "w", "--from-literal=k=v"]);
    e.ok(&["label", "configmap", "w", "x=y"]);
    e.ok(&["delete", "configmap", "w"]);
    let mut lines = BufReader::new(resp).lines();
    let mut types = vec![];
    for _ in 0..3 {
        let ev: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(ev["object"]["metadata"]["name"], "w");
        types.push(ev["type"].as_str().unwrap().to_string());
    }
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
}

const CM_A: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n  labels: {team: a}\ndata: {x: '1', y: '2'}\n";

#[test]
fn server_side_apply_conflicts_force_and_pruning() {
    let e = Emulator::start();
    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "alice",
            "-f",
            "-",
        ],
        CM_A,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bob = CM_A.replace("team: a", "team: b").replace(", y: '2'", "");
    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bob",
            "-f",
            "-",
        ],
        &bob,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "Apply failed with 1 conflict: conflict with \"alice\": .metadata.labels.team"
        ),
        "{err}"
    );

    // Over plain HTTP: the 409 Status names the manager too.
    let r = e
        .http()
        .patch(format!(
            "{}/api/v1/namespaces/default/configmaps/s?fieldManager=bob",
            e.base
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(bob.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().unwrap();
    assert_eq!(body["reason"], "Conflict");

    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &bob,
    );
    assert!(out.status.success());
    assert_eq!(
        e.ok(&["get", "cm", "s", "-o", "jsonpath={.metadata.labels.team}"]),
        "b"
    );

    // alice drops y, which she alone owns: it goes; x is shared with bob and stays.
    let alice2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata: {x: '1'}\n";
    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "alice",
            "-f",
            "-",
        ],
        alice2,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj: Value = serde_json::from_str(&e.ok(&["get", "cm", "s", "-o", "json"])).unwrap();
    assert_eq!(obj["data"], json!({"x": "1"}));
    assert_eq!(obj["metadata"]["labels"]["team"], "b");

    // An update manager is named with its API version, as the real server does.
    e.ok(&["label", "cm", "s", "--overwrite", "team=c"]);
    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bob",
            "-f",
            "-",
        ],
        &bob,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict with \"kubectl-label\" using v1: .metadata.labels.team"),
        "{err}"
    );
}

#[test]
fn namespace_deletion_and_finalizers() {
    let e = Emulator::start();
    e.ok(&["create", "namespace", "gone"]);
    e.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "gone",
        "--from-literal=a=b",
    ]);
    e.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "gone",
        "--from-literal=a=b",
    ]);
    e.ok(&["delete", "namespace", "gone"]);
    let (code, _) = e.get_json("/api/v1/namespaces/gone/configmaps/c");
    assert_eq!(code, 404);
    let (code, _) = e.get_json("/api/v1/namespaces/gone");
    assert_eq!(code, 404);

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
    let (code, _) = e.send_json(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        &cm,
    );
    assert_eq!(code, 201);
    e.ok(&["delete", "configmap", "held", "--wait=false"]);
    let (code, held) = e.get_json("/api/v1/namespaces/default/configmaps/held");
    assert_eq!(code, 200);
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    let (code, _) = e.send_json(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/held",
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    );
    assert_eq!(code, 200);
    let (code, _) = e.get_json("/api/v1/namespaces/default/configmaps/held");
    assert_eq!(code, 404);
}

#[test]
fn deployment_becomes_available_and_generation_tracks_spec() {
    let e = Emulator::start();
    // kubectl create deployment sends protobuf, which is decoded only for core kinds: apply YAML.
    let dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
    let out = e.kubectl_stdin(&["apply", "--server-side", "-f", "-"], dep);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let available = || {
        let (_, d) = e.get_json("/apis/apps/v1/namespaces/default/deployments/web");
        d["status"]["availableReplicas"] == 2
            && d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            })
    };
    assert!(e.wait_for(10, available));
    e.ok(&["label", "deployment", "web", "x=y"]);
    let (_, d) = e.get_json("/apis/apps/v1/namespaces/default/deployments/web");
    assert_eq!(
        d["metadata"]["generation"], 1,
        "metadata changes keep the generation"
    );
    e.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    let (_, d) = e.get_json("/apis/apps/v1/namespaces/default/deployments/web");
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(e.wait_for(10, || e
        .get_json("/apis/apps/v1/namespaces/default/deployments/web")
        .1["status"]["readyReplicas"]
        == 3));
    e.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
}

fn pb_field(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    out.push(((field << 3) | 2) as u8);
    let mut n = data.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(data);
}

fn pb_map_entry(out: &mut Vec<u8>, field: u64, k: &str, v: &[u8]) {
    let mut e = vec![];
    pb_field(&mut e, 1, k.as_bytes());
    pb_field(&mut e, 2, v);
    pb_field(out, field, &e);
}

#[test]
fn protobuf_secret_create_reads_back_as_json() {
    let e = Emulator::start();
    let mut meta = vec![];
    pb_field(&mut meta, 1, b"sh.helm.release.v1.demo.v1");
    pb_field(&mut meta, 3, b"default");
    pb_map_entry(&mut meta, 11, "owner", b"helm");
    let mut secret = vec![];
    pb_field(&mut secret, 1, &meta);
    pb_map_entry(&mut secret, 2, "release", b"\x00binary\xff");
    pb_field(&mut secret, 3, b"helm.sh/release.v1");
    let mut type_meta = vec![];
    pb_field(&mut type_meta, 1, b"v1");
    pb_field(&mut type_meta, 2, b"Secret");
    let mut body = b"k8s\0".to_vec();
    pb_field(&mut body, 1, &type_meta);
    pb_field(&mut body, 2, &secret);

    let r = e
        .http()
        .post(format!("{}/api/v1/namespaces/default/secrets", e.base))
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .header(
            "Accept",
            "application/vnd.kubernetes.protobuf, application/json",
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let (_, s) = e.get_json("/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm");
    let s = &s["items"][0];
    assert_eq!(s["metadata"]["name"], "sh.helm.release.v1.demo.v1");
    assert_eq!(s["type"], "helm.sh/release.v1");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(s["data"]["release"].as_str().unwrap())
            .unwrap(),
        b"\x00binary\xff"
    );
}

#[test]
fn openapi_v2_protobuf_and_json() {
    let e = Emulator::start();
    let r = e
        .http()
        .get(format!("{}/openapi/v2", e.base))
        .header(
            "Accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .send()
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("proto-openapi.spec.v2"));
    let b = r.bytes().unwrap();
    // field 1 (swagger) = "2.0", then field 2 (info) holding title "Kubernetes".
    assert_eq!(&b[..5], b"\x0a\x032.0");
    assert_eq!(b[5], 0x12);
    assert_eq!(&b[7..19], b"\x0a\x0aKubernetes");
    let (_, j) = e.get_json("/openapi/v2");
    assert_eq!(j["swagger"], "2.0");
    assert_eq!(
        e.http()
            .get(format!("{}/healthz", e.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok"
    );
}
