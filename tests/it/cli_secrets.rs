//! Secrets never reach disk or screen: each test puts a canary secret through the real
//! binary and greps every output and the state files for it (and for its base64 form,
//! which is how Kubernetes carries Secret data).

use crate::common;
use common::grep_dir;

use common::stand_ins::{helm, Emulator};
use common::{base64, repo_root, summary_line, Run, Sandbox};

const CANARY: &str = "canary-7f3e1b2a-secret";

/// Fails when the canary shows in the run's output or in the sandbox's state files: in
/// clear, in base64, or as its plain SHA-256 (a digest anyone can check guesses against).
fn assert_no_canary(s: &Sandbox, run: &Run) {
    use sha2::{Digest, Sha256};
    let plain_digest = hex::encode(Sha256::digest(CANARY.as_bytes()));
    for needle in [CANARY.to_string(), base64(CANARY.as_bytes()), plain_digest] {
        assert!(
            !run.all().contains(&needle),
            "secret printed:\n{}",
            run.all()
        );
        assert!(
            !grep_dir(&s.path("state"), &needle),
            "secret stored in state after:\n{}",
            run.all()
        );
    }
}

const COPY_STACK: &str = r#"
stack: copy
variables:
  secret:
    type: string
    default: canary-7f3e1b2a-secret
    sensitive: true
resources:
  original:
    type: core.file
    properties:
      path: out/original.txt
      content: ${var.secret}
  copy:
    type: core.file
    properties:
      path: out/copy.txt
      content: "copied: ${original.content}"
"#;

#[test]
fn a_reference_to_a_secret_is_neither_stored_nor_printed() {
    let s = Sandbox::new();
    s.write("copy.yaml", COPY_STACK);
    let plan = s.run(&["plan", "copy.yaml"]);
    plan.ok();
    assert_no_canary(&s, &plan);
    let apply = s.run(&["apply", "copy.yaml", "--auto-approve"]);
    apply.ok();
    assert_no_canary(&s, &apply);
    // Providers got the real values.
    assert_eq!(s.read("out/copy.txt"), format!("copied: {CANARY}"));

    for args in [
        vec!["plan", "copy.yaml", "--detailed-exitcode"],
        vec!["plan", "copy.yaml", "--json"],
        vec!["drift", "copy.yaml"],
        vec!["state", "show", "copy", "-f", "copy.yaml"],
        vec!["state", "show", "original", "-f", "copy.yaml"],
    ] {
        let r = s.run(&args);
        assert!(r.code == 0, "{args:?}: {}", r.all());
        assert_no_canary(&s, &r);
    }
    let replan = s.run(&["plan", "copy.yaml"]);
    assert!(replan.stdout.contains("No changes."), "{}", replan.all());
    let shown = s.run(&["state", "show", "copy", "-f", "copy.yaml"]);
    assert!(shown.stdout.contains("(sensitive)"), "{}", shown.all());
    assert!(shown.stdout.contains("out/copy.txt"), "{}", shown.all());

    // A changed secret is still seen as a change, and shown only as `(sensitive)`.
    let changed = s.run(&[
        "plan",
        "copy.yaml",
        "--var",
        "secret=another-canary-value",
        "--detailed-exitcode",
    ]);
    assert_eq!(changed.code, 2, "{}", changed.all());
    assert_eq!(
        summary_line(&changed.stdout),
        "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy."
    );
    assert!(
        changed
            .stdout
            .contains("content = (sensitive) -> (sensitive)"),
        "{}",
        changed.all()
    );
    assert!(
        !changed.all().contains("another-canary"),
        "{}",
        changed.all()
    );

    let destroy = s.run(&["destroy", "copy.yaml", "--auto-approve"]);
    destroy.ok();
    assert_no_canary(&s, &destroy);
    assert!(!s.exists("out/copy.txt") && !s.exists("out/original.txt"));
}

#[test]
fn ignore_changes_never_writes_a_digest_into_a_file() {
    let s = Sandbox::new();
    let stack = |mode: &str| {
        format!(
            r#"
stack: ign
variables:
  secret: {{type: string, default: {CANARY}, sensitive: true}}
resources:
  token:
    type: core.file
    properties:
      path: out/token.txt
      content: ${{var.secret}}
      mode: "{mode}"
    lifecycle:
      ignore_changes: [content]
"#
        )
    };
    s.write("ign.yaml", &stack("0600"));
    s.run(&["apply", "ign.yaml", "--auto-approve"]).ok();
    assert_eq!(s.read("out/token.txt"), CANARY);

    // The ignored secret changes: nothing to do.
    let ignored = s.run(&[
        "plan",
        "ign.yaml",
        "--var",
        "secret=rotated-elsewhere",
        "--detailed-exitcode",
    ]);
    assert_eq!(ignored.code, 0, "{}", ignored.all());

    // Another property changes: the update keeps the file's real content.
    s.write("ign.yaml", &stack("0640"));
    let apply = s.run(&[
        "apply",
        "ign.yaml",
        "--var",
        "secret=rotated-elsewhere",
        "--auto-approve",
    ]);
    apply.ok();
    assert_no_canary(&s, &apply);
    assert_eq!(s.read("out/token.txt"), CANARY, "{}", apply.all());
    let replan = s.run(&["plan", "ign.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
}

#[test]
fn an_output_made_from_a_secret_must_be_marked_sensitive() {
    let s = Sandbox::new();
    let stack =
        format!("{COPY_STACK}outputs:\n  fine: ${{original.path}}\n  leaked: ${{copy.content}}\n");
    s.write("copy.yaml", &stack);
    let r = s.run(&["validate", "copy.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let line = stack.lines().position(|l| l.contains("leaked:")).unwrap() + 1;
    assert!(r.all().contains("stack::sensitive_output"), "{}", r.all());
    assert!(
        r.all().contains(&format!("copy.yaml:{line}:")),
        "names file and line {line}: {}",
        r.all()
    );
    assert!(
        r.all().contains("sensitive: true"),
        "says the fix: {}",
        r.all()
    );
    assert_eq!(
        r.all().matches("stack::sensitive_output").count(),
        1,
        "only the derived output: {}",
        r.all()
    );

    s.write(
        "copy.yaml",
        &stack.replace(
            "leaked: ${copy.content}",
            "leaked: {value: \"${copy.content}\", sensitive: true}",
        ),
    );
    s.run(&["validate", "copy.yaml"]).ok();
    let apply = s.run(&["apply", "copy.yaml", "--auto-approve"]);
    apply.ok();
    assert_no_canary(&s, &apply);
    let out = s.run(&["output", "-f", "copy.yaml", "--json"]);
    out.ok();
    assert_no_canary(&s, &out);
}

#[test]
fn a_mistyped_sensitive_variable_is_not_echoed() {
    let s = Sandbox::new();
    s.write(
        "pin.yaml",
        "stack: pin\nvariables:\n  pin: {type: number, sensitive: true}\nresources:\n  n:\n    type: core.null\n",
    );
    let r = s.run(&["plan", "pin.yaml", "--var", &format!("pin={CANARY}")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("stack::type_mismatch"), "{}", r.all());
    assert!(r.all().contains("not a number"), "{}", r.all());
    assert!(!r.all().contains(CANARY), "{}", r.all());
}

fn kube_stack(e: &Emulator, resources: &str) -> String {
    format!(
        "stack: kube\nvariables:\n  secret: {{type: string, default: {CANARY}, sensitive: true}}\n\
         providers:\n  kubernetes: {{kubeconfig: \"{}\"}}\nresources:\n{resources}",
        e.kubeconfig().display()
    )
}

#[test]
fn a_manifest_using_a_sensitive_variable_plans_applies_drifts_and_destroys() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    s.write(
        "kube.yaml",
        &kube_stack(
            &e,
            r#"  creds:
    type: k8s.manifest
    properties:
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: creds, namespace: default}
        data:
          password: "${var.secret}"
          user: app
      force: true
"#,
        ),
    );
    let plan = s.run(&["plan", "kube.yaml"]);
    plan.ok();
    assert_no_canary(&s, &plan);
    let apply = s.run(&["apply", "kube.yaml", "--auto-approve"]);
    apply.ok();
    assert_no_canary(&s, &apply);
    let live = e.kubectl_ok(&["get", "configmap", "creds", "-n", "default", "-o", "json"]);
    assert!(live.contains(CANARY), "the real value was applied: {live}");

    // Readable and plannable: nothing changed.
    let replan = s.run(&["plan", "kube.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
    assert_no_canary(&s, &replan);

    // Drift of the secret is seen, and shown masked; drift of the rest shows as usual.
    e.kubectl_ok(&[
        "patch",
        "configmap",
        "creds",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"password":"changed-live","user":"other"}}"#,
    ]);
    let drift = s.run(&["drift", "kube.yaml"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift
            .stdout
            .contains("~ data = {\n              ~ password = (sensitive) -> (sensitive)\n"),
        "{}",
        drift.all()
    );
    assert!(drift.stdout.contains("\"other\""), "{}", drift.all());
    assert!(!drift.all().contains("changed-live"), "{}", drift.all());
    let fix = s.run(&["apply", "kube.yaml", "--auto-approve"]);
    fix.ok();
    assert_no_canary(&s, &fix);
    let live = e.kubectl_ok(&["get", "configmap", "creds", "-n", "default", "-o", "json"]);
    assert!(
        live.contains(CANARY) && !live.contains("changed-live"),
        "{live}"
    );

    let destroy = s.run(&["destroy", "kube.yaml", "--auto-approve"]);
    destroy.ok();
    assert_no_canary(&s, &destroy);
    let (found, _, _) = e.kubectl(&["get", "configmap", "creds", "-n", "default"]);
    assert!(!found, "destroyed: {}", destroy.all());
}

#[test]
fn an_imported_secret_keeps_only_digests() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    e.kubectl_ok(&["create", "namespace", "istio-system"]);
    e.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "cacerts",
        "-n",
        "istio-system",
        &format!("--from-literal=ca-key.pem={CANARY}"),
        "--from-literal=ca-cert.pem=public-cert",
    ]);
    s.write(
        "kube.yaml",
        &kube_stack(
            &e,
            r#"  cacerts:
    type: k8s.manifest
    properties:
      manifest:
        apiVersion: v1
        kind: Secret
        metadata: {name: cacerts, namespace: istio-system}
        data:
          # What the stack would write: no sensitive variable marks it, the kind does.
          ca-key.pem: cGxhY2Vob2xkZXI=
"#,
        ),
    );
    let import = s.run(&[
        "import",
        "cacerts",
        "v1/Secret/istio-system/cacerts",
        "kube.yaml",
    ]);
    import.ok();
    assert_no_canary(&s, &import);
    let shown = s.run(&["state", "show", "cacerts", "-f", "kube.yaml"]);
    shown.ok();
    assert_no_canary(&s, &shown);
    assert!(
        shown.stdout.contains("ca-key.pem"),
        "keys stay: {}",
        shown.all()
    );
    assert!(
        !shown.stdout.contains(&base64(b"public-cert")),
        "every key of a Secret is secret: {}",
        shown.all()
    );
    for args in [
        vec!["plan", "kube.yaml"],
        vec!["plan", "kube.yaml", "--json"],
        vec!["drift", "kube.yaml"],
    ] {
        let r = s.run(&args);
        assert!(r.code == 0 || r.code == 2, "{args:?}: {}", r.all());
        assert_no_canary(&s, &r);
    }
}

#[test]
fn ignore_changes_takes_list_items() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    let stack = |first: u16, second: u16| {
        kube_stack(
            &e,
            &format!(
                r#"  web:
    type: k8s.manifest
    properties:
      manifest:
        apiVersion: v1
        kind: Service
        metadata: {{name: web, namespace: default}}
        spec:
          ports:
            - {{name: a, port: {first}}}
            - {{name: b, port: {second}}}
    lifecycle:
      ignore_changes: ["manifest.spec.ports[0]"]
"#
            ),
        )
    };
    s.write("kube.yaml", &stack(80, 81));
    s.run(&["apply", "kube.yaml", "--auto-approve"]).ok();
    s.write("kube.yaml", &stack(8080, 81));
    let ignored = s.run(&["plan", "kube.yaml", "--detailed-exitcode"]);
    assert_eq!(ignored.code, 0, "{}", ignored.all());
    s.write("kube.yaml", &stack(8080, 8181));
    let changed = s.run(&["plan", "kube.yaml", "--detailed-exitcode"]);
    assert_eq!(changed.code, 2, "{}", changed.all());
    s.run(&["apply", "kube.yaml", "--auto-approve"]).ok();
    let ports = e.kubectl_ok(&[
        "get",
        "service",
        "web",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.ports[*].port}",
    ]);
    assert_eq!(ports.trim(), "80 8181");
}

#[test]
fn an_ignored_helm_set_sensitive_is_kept() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    let chart = repo_root().join("tests/charts/webapp-1.0.0");
    let stack = format!(
        r#"stack: web
variables:
  pw: {{type: string, default: {CANARY}, sensitive: true}}
  tag: {{default: "1.0"}}
providers:
  helm: {{binary: "{helm}", kubeconfig: "{kc}"}}
resources:
  web:
    type: helm.release
    properties:
      name: web
      namespace: apps
      create_namespace: true
      chart: "{chart}"
      values: {{image: {{tag: "${{var.tag}}"}}}}
      set_sensitive: {{password: "${{var.pw}}"}}
      wait: false
    lifecycle:
      ignore_changes: [set_sensitive]
"#,
        helm = helm().display(),
        kc = e.kubeconfig().display(),
        chart = chart.display(),
    );
    s.write("web.yaml", &stack);
    let apply = s.run(&["apply", "web.yaml", "--auto-approve"]);
    apply.ok();
    assert_no_canary(&s, &apply);
    // An upgrade for another reason keeps the ignored secret.
    let upgrade = s.run(&["apply", "web.yaml", "--var", "tag=1.1", "--auto-approve"]);
    upgrade.ok();
    assert_no_canary(&s, &upgrade);
    assert!(
        upgrade.stdout.contains("1 changed"),
        "an upgrade ran: {}",
        upgrade.all()
    );
    let values = std::process::Command::new(helm())
        .args([
            "get",
            "values",
            "web",
            "-n",
            "apps",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(e.kubeconfig())
        .output()
        .unwrap();
    let values = String::from_utf8_lossy(&values.stdout);
    assert!(values.contains(CANARY), "set_sensitive kept: {values}");
    assert!(values.contains("1.1"), "{values}");
    let replan = s.run(&[
        "plan",
        "web.yaml",
        "--var",
        "tag=1.1",
        "--detailed-exitcode",
    ]);
    assert_eq!(replan.code, 0, "{}", replan.all());
    assert_no_canary(&s, &replan);
}

#[test]
fn a_helm_import_keeps_no_live_value() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    let chart = repo_root().join("tests/charts/webapp-1.0.0");
    e.kubectl_ok(&["create", "namespace", "apps"]);
    let installed = std::process::Command::new(helm())
        .args(["upgrade", "--install", "web"])
        .arg(&chart)
        .args([
            "-n",
            "apps",
            "--set",
            &format!("password={CANARY}"),
            "--kubeconfig",
        ])
        .arg(e.kubeconfig())
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    s.write(
        "web.yaml",
        &format!(
            r#"stack: web
providers:
  helm: {{binary: "{helm}", kubeconfig: "{kc}"}}
resources:
  web:
    type: helm.release
    properties:
      name: web
      namespace: apps
      chart: "{chart}"
"#,
            helm = helm().display(),
            kc = e.kubeconfig().display(),
            chart = chart.display(),
        ),
    );
    let import = s.run(&["import", "web", "apps/web", "web.yaml"]);
    import.ok();
    assert_no_canary(&s, &import);
    let shown = s.run(&["state", "show", "web", "-f", "web.yaml"]);
    shown.ok();
    assert_no_canary(&s, &shown);
    assert!(
        shown.stdout.contains("password"),
        "keys stay: {}",
        shown.all()
    );
    let plan = s.run(&["plan", "web.yaml"]);
    plan.ok();
    assert_no_canary(&s, &plan);
}

#[test]
fn a_secret_in_a_manifest_file_is_kept_as_digests_and_plans_no_change() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    s.write(
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: tls, namespace: default}}\n\
             data:\n  token: {}\n",
            base64(CANARY.as_bytes())
        ),
    );
    s.write(
        "kube.yaml",
        &kube_stack(
            &e,
            "  tls:\n    type: k8s.manifest\n    properties:\n      file: secret.yaml\n",
        ),
    );
    let apply = s.run(&["apply", "kube.yaml", "--auto-approve"]);
    apply.ok();
    assert_no_canary(&s, &apply);
    let replan = s.run(&["plan", "kube.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
    // A rotated secret in the file is a change, shown masked.
    s.write(
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: tls, namespace: default}}\n\
             data:\n  token: {}\n",
            base64(b"rotated")
        ),
    );
    let rotated = s.run(&["plan", "kube.yaml", "--detailed-exitcode"]);
    assert_eq!(rotated.code, 2, "{}", rotated.all());
    assert_no_canary(&s, &rotated);
    assert!(
        !rotated.all().contains(&base64(b"rotated")),
        "{}",
        rotated.all()
    );
}
