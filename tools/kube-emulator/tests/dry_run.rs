//! Server-side dry run (`dryRun=All`) and field ownership of non-apply writes, driven by
//! kubectl as an independent client and by plain HTTP.

mod common;

use common::Emulator;
use serde_json::{json, Value};

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n  labels: {team: a}\ndata: {x: '1'}\n";
const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

fn list_rv(e: &Emulator) -> String {
    let (_, l) = e.get_json(CM_PATH);
    l["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dry_run_answers_as_if_written_and_stores_nothing() {
    let e = Emulator::start();
    let rv0 = list_rv(&e);

    // Create by server-side apply, dry run: kubectl reports it, nothing exists after.
    let out = e.kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        CM,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(server dry run)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(e.get_json(&format!("{CM_PATH}/s")).0, 404);

    // Create over HTTP: the answer is the object as stored, minus a resourceVersion.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"x": "1"}});
    let (code, body) = e.send_json(
        "POST",
        &format!("{CM_PATH}?dryRun=All"),
        "application/json",
        &cm,
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["data"], json!({"x": "1"}));
    assert_eq!(body["metadata"]["namespace"], "default");
    assert!(body["metadata"]["uid"].is_string());
    assert!(body["metadata"].get("resourceVersion").is_none(), "{body}");
    assert_eq!(e.get_json(&format!("{CM_PATH}/s")).0, 404);
    assert_eq!(list_rv(&e), rv0, "a dry run consumed a resourceVersion");

    // Validation runs as for a real write.
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}});
    let (code, body) = e.send_json(
        "POST",
        &format!("{CM_PATH}?dryRun=All"),
        "application/json",
        &bad,
    );
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));
    let (code, body) = e.send_json(
        "POST",
        "/api/v1/namespaces/missing/configmaps?dryRun=All",
        "application/json",
        &cm,
    );
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
    let (code, body) = e.send_json(
        "POST",
        &format!("{CM_PATH}?dryRun=Some"),
        "application/json",
        &cm,
    );
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));

    // Now for real; then every write verb as a dry run leaves it as it is.
    let out = e.kubectl_stdin(&["apply", "--server-side", "-f", "-"], CM);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, stored) = e.get_json(&format!("{CM_PATH}/s"));
    let rv = stored["metadata"]["resourceVersion"].clone();
    let rv1 = list_rv(&e);
    let (code, body) = e.send_json(
        "POST",
        &format!("{CM_PATH}?dryRun=All"),
        "application/json",
        &cm,
    );
    assert_eq!(
        (code, body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let changed = CM.replace("x: '1'", "x: '2'");
    let out = e.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
        ],
        &changed,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let answered: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answered["data"]["x"], "2");
    assert_eq!(answered["metadata"]["resourceVersion"], rv);

    let mut put = stored.clone();
    put["data"]["x"] = json!("3");
    let (code, body) = e.send_json(
        "PUT",
        &format!("{CM_PATH}/s?dryRun=All"),
        "application/json",
        &put,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["x"], "3");
    assert_eq!(body["metadata"]["resourceVersion"], rv);

    let (code, body) = e.send_json(
        "PATCH",
        &format!("{CM_PATH}/s?dryRun=All"),
        "application/merge-patch+json",
        &json!({"data": {"x": "4"}}),
    );
    assert_eq!((code, body["data"]["x"].as_str()), (200, Some("4")));

    let out = e.kubectl(&["delete", "cm", "s", "--dry-run=server"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(server dry run)"));

    let (code, after) = e.get_json(&format!("{CM_PATH}/s"));
    assert_eq!(code, 200);
    assert_eq!(after, stored, "a dry run changed the stored object");
    assert_eq!(list_rv(&e), rv1, "a dry run consumed a resourceVersion");
}

fn manager<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == name)
}

#[test]
fn label_overwrite_takes_the_field_and_apply_conflicts_until_forced() {
    let e = Emulator::start();
    let apply = |extra: &[&str], doc: &str| {
        let mut args = vec!["apply", "--server-side", "--field-manager", "trustplane"];
        args.extend_from_slice(extra);
        args.extend(["-f", "-"]);
        e.kubectl_stdin(&args, doc)
    };
    let out = apply(&[], CM);
    assert!(out.status.success(), "{}", stderr(&out));

    // kubectl label records an Update manager that now owns the label, as the real
    // API server does; trustplane no longer owns it.
    e.ok(&["label", "cm", "s", "--overwrite", "team=b"]);
    let (_, obj) = e.get_json(&format!("{CM_PATH}/s"));
    let label = manager(&obj, "kubectl-label").expect("kubectl-label in managedFields");
    assert_eq!(label["operation"], "Update");
    assert_eq!(label["apiVersion"], "v1");
    assert!(label["fieldsV1"]["f:metadata"]["f:labels"]["f:team"].is_object());
    let tp = manager(&obj, "trustplane").unwrap();
    assert_eq!(tp["operation"], "Apply");
    assert!(tp["fieldsV1"]["f:metadata"]["f:labels"]
        .get("f:team")
        .is_none());

    // A dry run sees the conflict and names the other manager.
    let out = apply(&["--dry-run=server"], CM);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("conflict with \"kubectl-label\" using v1: .metadata.labels.team"),
        "{}",
        stderr(&out)
    );
    let r = e
        .http()
        .patch(format!(
            "{}{CM_PATH}/s?fieldManager=trustplane&dryRun=All",
            e.base
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(CM)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().unwrap();
    assert_eq!(body["reason"], "Conflict");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        ".metadata.labels.team"
    );

    // Forced dry run: answered as taken back, stored as it was.
    let out = apply(
        &[
            "--dry-run=server",
            "--force-conflicts",
            "-o",
            "json",
            "--show-managed-fields",
        ],
        CM,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let answered: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answered["metadata"]["labels"]["team"], "a");
    assert!(manager(&answered, "kubectl-label").is_none());
    let (_, still) = e.get_json(&format!("{CM_PATH}/s"));
    assert_eq!(still, obj);

    // Without dry run: the conflict, then force takes the field back for real.
    let out = apply(&[], CM);
    assert!(!out.status.success());
    let out = apply(&["--force-conflicts"], CM);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, obj) = e.get_json(&format!("{CM_PATH}/s"));
    assert_eq!(obj["metadata"]["labels"]["team"], "a");
    assert!(manager(&obj, "kubectl-label").is_none(), "{obj}");
    let tp = manager(&obj, "trustplane").unwrap();
    assert!(tp["fieldsV1"]["f:metadata"]["f:labels"]["f:team"].is_object());
}
