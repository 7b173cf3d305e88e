//! Server-side apply conflicts the plan can see: after another field manager (here
//! `kubectl label`) takes over a field, the plan says what the apply will do about it,
//! and the apply does exactly that. A field trustplane applied last time is reclaimed
//! from the other manager; a field trustplane never owned is a conflict the plan reports
//! (by a server-side dry run) with the `force: true` hint, and the apply changes nothing
//! unless forced.
//!
//! Needs the emulator (`cargo build -p kube-emulator`) and `kubectl`.

use crate::common;

use std::path::Path;

use common::stand_ins::Emulator;
use common::Sandbox;

/// A ConfigMap with the given labels (`key: value, ...`) and, if asked, `force: true`.
fn stack(kubeconfig: &Path, labels: &str, force: bool) -> String {
    let force = if force { "\n      force: true" } else { "" };
    format!(
        r#"stack: web
providers:
  kubernetes: {{kubeconfig: "{kc}"}}
resources:
  settings:
    type: k8s.manifest
    properties:
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: settings, namespace: default, labels: {{{labels}}}}}
        data: {{mode: strict}}{force}
"#,
        kc = kubeconfig.display()
    )
}

fn label(emulator: &Emulator, key: &str) -> String {
    emulator
        .kubectl_ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            &format!("jsonpath={{.metadata.labels.{key}}}"),
        ])
        .trim()
        .to_string()
}

/// The managers of the ConfigMap's fields, as the server records them.
fn managers(emulator: &Emulator) -> Vec<String> {
    let json = emulator.kubectl_ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let obj: serde_json::Value = serde_json::from_str(&json).unwrap();
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_field_trustplane_applied_is_reclaimed_from_the_manager_that_took_it() {
    let sb = Sandbox::new();
    let emulator = Emulator::start(None);
    sb.write("web.yaml", &stack(emulator.kubeconfig(), "app: web", false));
    sb.run(&["apply", "web.yaml", "--auto-approve"]).ok();

    emulator.kubectl_ok(&["label", "--overwrite", "configmap", "settings", "app=other"]);
    assert!(managers(&emulator).contains(&"kubectl-label".to_string()));
    let drift = sb.run(&["drift", "web.yaml"]);
    assert!(drift.stdout.contains("settings"), "{}", drift.all());

    let plan = sb.run(&["plan", "web.yaml"]);
    plan.ok();
    assert!(
        plan.stdout
            .contains("ConfigMap default/settings: label app: reclaimed from kubectl-label"),
        "{}",
        plan.all()
    );

    let apply = sb.run(&["apply", "web.yaml", "--auto-approve"]);
    apply.ok();
    assert_eq!(label(&emulator, "app"), "web");
    // The other manager owned nothing else, so it is gone from the object.
    assert_eq!(managers(&emulator), ["trustplane"]);
    let after = sb.run(&["drift", "web.yaml"]);
    after.ok();
    assert!(after.stdout.contains("No drift"), "{}", after.all());
}

#[test]
fn a_field_trustplane_never_owned_is_a_conflict_the_plan_reports() {
    let sb = Sandbox::new();
    let emulator = Emulator::start(None);
    sb.write("web.yaml", &stack(emulator.kubeconfig(), "app: web", false));
    sb.run(&["apply", "web.yaml", "--auto-approve"]).ok();

    // kubectl sets a label the stack did not have; then the stack sets it too.
    emulator.kubectl_ok(&["label", "configmap", "settings", "team=blue"]);
    sb.write(
        "web.yaml",
        &stack(emulator.kubeconfig(), "app: web, team: red", false),
    );
    let plan = sb.run(&["plan", "web.yaml"]);
    plan.ok();
    assert!(
        plan.stdout.contains(
            "ConfigMap default/settings: label team is owned by kubectl-label: apply will fail"
        ),
        "{}",
        plan.all()
    );
    assert!(plan.stdout.contains("`force: true`"), "{}", plan.all());
    assert!(!plan.stdout.contains("reclaimed"), "{}", plan.all());

    let apply = sb.run(&["apply", "web.yaml", "--auto-approve"]);
    assert_ne!(apply.code, 0, "{}", apply.all());
    assert!(apply.all().contains("kubectl-label"), "{}", apply.all());
    assert_eq!(label(&emulator, "team"), "blue", "nothing changed");

    sb.write(
        "web.yaml",
        &stack(emulator.kubeconfig(), "app: web, team: red", true),
    );
    let forced_plan = sb.run(&["plan", "web.yaml"]);
    forced_plan.ok();
    assert!(
        !forced_plan.stdout.contains("apply will fail"),
        "{}",
        forced_plan.all()
    );
    sb.run(&["apply", "web.yaml", "--auto-approve"]).ok();
    assert_eq!(label(&emulator, "team"), "red");
}
