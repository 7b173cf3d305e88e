//! helm.release through the provider API, against Helm's real engine (tools/helm/helm, the
//! Go SDK behind helm's CLI) and the Kubernetes API emulator.

use crate::helm_support as support;

use support::{chart, helm_bin, ChartRepo, Emulator};
use trustplane::provider::helm::{
    render_object_changes, HelmProvider, ObjectAction, VALUES_CHANGED_OUTSIDE,
};
use trustplane::provider::{OpContext, Provider, Snapshot};
use trustplane::value::Value;

const RELEASE: &str = "helm.release";

fn ctx() -> OpContext {
    OpContext::new("web", "test", "lineage")
}

fn props(json: serde_json::Value) -> Value {
    Value::from_json(json)
}

fn schema(p: &HelmProvider) -> trustplane::provider::ResourceSchema {
    p.schemas().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_lifecycle_upgrades_drift_and_destroy() {
    let kube = Emulator::start();
    let repo = ChartRepo::serve(&["webapp-1.0.0", "webapp-1.1.0"]).await;
    let p = kube.provider().await;
    let desired = props(serde_json::json!({
        "name": "web", "namespace": "apps", "create_namespace": true,
        "chart": "webapp", "repository": repo.url, "version": "1.0.0",
        "values": {"image": {"tag": "1.0"}},
        "set_sensitive": {"password": "s3cret-pw"},
        "wait": false, "timeout": "2m", "atomic": false, "skip_crds": false,
    }));
    assert!(p.validate(RELEASE, &desired).is_empty());

    // Plan of a new release: every object is added.
    let plan = p
        .manifest_diff(&Snapshot::default(), &desired)
        .await
        .unwrap();
    let added: Vec<String> = plan.iter().map(|c| c.object_name()).collect();
    assert_eq!(added, vec!["Deployment apps/web", "Secret apps/web-auth"]);
    assert!(plan.iter().all(|c| c.action == ObjectAction::Add));

    let snap = p.create(&ctx(), RELEASE, &desired).await.unwrap();
    assert_eq!(snap.id, "apps/web");
    assert_eq!(snap.attributes.get("revision"), Some(&Value::Int(1)));
    assert_eq!(snap.attributes.get_str("status"), Some("deployed"));
    assert_eq!(snap.attributes.get_str("chart_version"), Some("1.0.0"));
    assert_eq!(snap.attributes.get_str("app_version"), Some("1.0.0"));
    assert_eq!(
        snap.attributes.get_str("manifest_digest").unwrap().len(),
        64
    );

    // Nothing changed: read reproduces the snapshot and a replan is a no-op.
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(live, snap);
    assert!(p.diff(&schema(&p), &live, &desired).is_empty());
    assert!(p.manifest_diff(&live, &desired).await.unwrap().is_empty());

    // A value change: the manifest diff names the image path, and it upgrades in place.
    let mut v2 = desired.clone();
    v2.set_path("values.image.tag", "2.0".into());
    let d = p.diff(&schema(&p), &live, &v2);
    assert_eq!(d.changed, vec!["values"]);
    assert!(d.requires_replace.is_empty());
    let plan = p.manifest_diff(&live, &v2).await.unwrap();
    let text = render_object_changes(&plan);
    assert_eq!(
        text,
        "~ Deployment apps/web: spec.template.spec.containers[0].image\n    \
         spec.template.spec.containers[0].image: \"registry.example/webapp:1.0\" -> \
         \"registry.example/webapp:2.0\"\n"
    );
    let snap = p.update(&ctx(), RELEASE, &live, &v2).await.unwrap();
    assert_eq!(snap.attributes.get("revision"), Some(&Value::Int(2)));
    assert_ne!(
        snap.attributes.get("manifest_digest"),
        live.attributes.get("manifest_digest")
    );

    // A secret change shows as a masked Secret change, never in clear.
    let mut secret = v2.clone();
    secret.set_path("set_sensitive.password", "other-pw".into());
    let text = render_object_changes(&p.manifest_diff(&snap, &secret).await.unwrap());
    assert_eq!(
        text,
        "~ Secret apps/web-auth: stringData.PASSWORD\n    stringData.PASSWORD: (sensitive) -> (sensitive)\n"
    );

    // A chart version change: new objects and changed labels, upgraded in place.
    let mut v3 = v2.clone();
    v3.set_path("version", "1.1.0".into());
    let d = p.diff(&schema(&p), &snap, &v3);
    assert_eq!(
        (d.changed.clone(), d.requires_replace.len()),
        (vec!["version".to_string()], 0)
    );
    let text = render_object_changes(&p.manifest_diff(&snap, &v3).await.unwrap());
    assert!(text.contains("+ ConfigMap apps/web-config\n"), "{text}");
    assert!(
        text.contains("~ Deployment apps/web: metadata.labels.chart\n"),
        "{text}"
    );
    let snap = p.update(&ctx(), RELEASE, &snap, &v3).await.unwrap();
    assert_eq!(snap.attributes.get("revision"), Some(&Value::Int(3)));
    assert_eq!(snap.attributes.get_str("chart_version"), Some("1.1.0"));
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(live, snap, "the upgraded release reads back unchanged");

    // Rolled back outside trustplane: the chart version moves back, the plan upgrades.
    kube.helm(&["rollback", "web", "2", "-n", "apps"]);
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(live.attributes.get("revision"), Some(&Value::Int(4)));
    assert_eq!(live.properties.get_str("version"), Some("1.0.0"));
    let d = p.diff(&schema(&p), &live, &v3);
    assert_eq!(d.changed, vec!["version"]);
    let snap = p.update(&ctx(), RELEASE, &live, &v3).await.unwrap();
    assert_eq!(snap.attributes.get("revision"), Some(&Value::Int(5)));

    // Values changed outside trustplane: shown without copying the live values.
    let url = repo.url.clone();
    kube.helm(&[
        "upgrade",
        "--install",
        "web",
        "webapp",
        "--repo",
        &url,
        "--version",
        "1.1.0",
        "-n",
        "apps",
        "--set",
        "image.tag=9.9",
    ]);
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(
        live.properties.get_str("values"),
        Some(VALUES_CHANGED_OUTSIDE)
    );
    assert!(
        !format!("{live:?}").contains("9.9\""),
        "live values are not copied"
    );
    assert_eq!(p.diff(&schema(&p), &live, &v3).changed, vec!["values"]);
    let snap = p.update(&ctx(), RELEASE, &live, &v3).await.unwrap();
    assert_eq!(p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap(), snap);

    // Uninstalled outside trustplane: gone.
    kube.helm(&["uninstall", "web", "-n", "apps"]);
    assert_eq!(p.read(&ctx(), RELEASE, &snap).await.unwrap(), None);

    // Destroy uninstalls; destroying again is not an error.
    let snap = p.create(&ctx(), RELEASE, &v3).await.unwrap();
    assert_eq!(snap.attributes.get("revision"), Some(&Value::Int(1)));
    p.delete(&ctx(), RELEASE, &snap).await.unwrap();
    assert_eq!(p.read(&ctx(), RELEASE, &snap).await.unwrap(), None);
    p.delete(&ctx(), RELEASE, &snap).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_crds_and_issuer_from_local_charts() {
    let kube = Emulator::start();
    let p = kube.provider().await;
    let crd =
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io";

    // skip_crds leaves the chart's crds/ out.
    let skipping = props(serde_json::json!({
        "name": "cm-skip", "namespace": "cert-manager", "create_namespace": true,
        "chart": chart("cert-manager"), "skip_crds": true, "wait": false,
    }));
    let snap = p.create(&ctx(), RELEASE, &skipping).await.unwrap();
    assert_eq!(kube.get_status(crd), 404, "no CRD with skip_crds");
    p.delete(&ctx(), RELEASE, &snap).await.unwrap();

    let cm = props(serde_json::json!({
        "name": "cert-manager", "namespace": "cert-manager", "create_namespace": true,
        "chart": chart("cert-manager"), "version": "v1.15.3",
        "values": {"crds": {"enabled": true}},
        // wait: false: helm 4's --wait needs object status the emulator does not
        // give (CRD conditions, kstatus for ServiceAccounts, ReplicaSets).
        "wait": false, "timeout": "1m",
    }));
    let snap = p.create(&ctx(), RELEASE, &cm).await.unwrap();
    assert_eq!(snap.attributes.get_str("chart_version"), Some("v1.15.3"));
    assert_eq!(kube.get_status(crd), 200, "the chart's CRD is installed");
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(live, snap);
    assert!(p.diff(&schema(&p), &live, &cm).is_empty());

    let issuer = props(serde_json::json!({
        "name": "aws-privateca-issuer", "namespace": "aws-privateca-issuer",
        "create_namespace": true, "chart": chart("issuer"),
        "set": {
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn":
                "arn:aws:iam::111122223333:role/issuer",
            "image.tag": "v1.4.0",
        },
        "wait": false,
    }));
    let plan = p
        .manifest_diff(&Snapshot::default(), &issuer)
        .await
        .unwrap();
    assert_eq!(plan.len(), 2);
    let snap = p.create(&ctx(), RELEASE, &issuer).await.unwrap();
    let values = kube.helm(&[
        "get",
        "values",
        "aws-privateca-issuer",
        "-n",
        "aws-privateca-issuer",
        "-o",
        "json",
    ]);
    let values: serde_json::Value = serde_json::from_str(&values).unwrap();
    assert_eq!(
        values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::111122223333:role/issuer",
        "an escaped dot in a set key stays in the key"
    );
    let live = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(live, snap);

    // Importing by NAMESPACE/NAME adopts what helm holds; the live values come back
    // marked secret (they may hold set_sensitive values), so state keeps only digests.
    let imported = p
        .import(&ctx(), RELEASE, "cert-manager/cert-manager")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.properties.get_str("chart"), Some("cert-manager"));
    assert_eq!(imported.properties.get_str("version"), Some("v1.15.3"));
    assert_eq!(
        imported.properties.get("values"),
        Some(&Value::sensitive(props(
            serde_json::json!({"crds": {"enabled": true}})
        )))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_before_anything_changes() {
    let kube = Emulator::start();
    let repo = ChartRepo::serve(&["webapp-1.0.0"]).await;
    let p = kube.provider().await;

    let missing_version = props(serde_json::json!({
        "name": "web", "namespace": "default", "chart": "webapp",
        "repository": repo.url, "version": "9.9.9", "wait": false,
    }));
    let err = p
        .create(&ctx(), RELEASE, &missing_version)
        .await
        .unwrap_err();
    assert!(err.message.contains("9.9.9"), "{}", err.message);
    assert_eq!(err.field.as_deref(), Some("version"), "{}", err.message);
    assert!(err.help.is_some());
    let snap = Snapshot {
        id: "default/web".into(),
        properties: missing_version.clone(),
        attributes: Value::Null,
    };
    assert_eq!(
        p.read(&ctx(), RELEASE, &snap).await.unwrap(),
        None,
        "nothing installed"
    );

    let missing_chart = props(serde_json::json!({
        "name": "web", "chart": "/nonexistent/chart", "wait": false,
    }));
    let err = p.create(&ctx(), RELEASE, &missing_chart).await.unwrap_err();
    assert!(
        err.message.contains("/nonexistent/chart"),
        "{}",
        err.message
    );
    assert_eq!(err.field.as_deref(), Some("chart"));

    let not_a_map = props(serde_json::json!({
        "name": "web", "chart": chart("webapp-1.0.0"), "values": "replicas: 3",
    }));
    let diags = p.validate(RELEASE, &not_a_map);
    assert_eq!(diags[0].code, "helm::invalid_values");
    let err = p.create(&ctx(), RELEASE, &not_a_map).await.unwrap_err();
    assert_eq!(err.field.as_deref(), Some("values"));

    let bad_name = props(serde_json::json!({"name": "Web_App", "chart": "x"}));
    let diags = p.validate(RELEASE, &bad_name);
    assert_eq!(
        (diags[0].code, diags[0].field.as_deref()),
        ("helm::invalid_name", Some("name"))
    );
    // Helm itself agrees: the test executable refuses it too.
    let out = std::process::Command::new(helm_bin())
        .args(["upgrade", "--install", "Web_App", &chart("webapp-1.0.0")])
        .arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid release name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_reached_with_the_login_and_refused_without_it() {
    let kube = Emulator::start();
    let repo = ChartRepo::serve_with_login(&["webapp-1.0.0"], Some(("ci", "chart-s3cret"))).await;
    let p = kube.provider().await;
    let release = |name: &str, login: serde_json::Value| {
        let mut v = serde_json::json!({
            "name": name, "namespace": "default", "chart": "webapp",
            "repository": repo.url, "version": "1.0.0", "wait": false,
        });
        v.as_object_mut()
            .unwrap()
            .extend(login.as_object().unwrap().clone());
        props(v)
    };

    // Without the login the repository answers 401: an error naming the field to set,
    // and nothing installed.
    let anonymous = release("anon", serde_json::json!({}));
    let err = p.create(&ctx(), RELEASE, &anonymous).await.unwrap_err();
    assert!(
        repo.refused.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the repository was asked without a login"
    );
    assert!(err.message.contains("401"), "{}", err.message);
    let none = Snapshot {
        id: "default/anon".into(),
        properties: anonymous.clone(),
        attributes: Value::Null,
    };
    assert_eq!(p.read(&ctx(), RELEASE, &none).await.unwrap(), None);

    // With a wrong password too.
    let wrong = release(
        "wrong",
        serde_json::json!({"username": "ci", "password": "not-it"}),
    );
    assert!(p.create(&ctx(), RELEASE, &wrong).await.is_err());

    // With the login, the chart is fetched and installed; the password is in no
    // attribute the state would keep.
    let refused_before = repo.refused.load(std::sync::atomic::Ordering::SeqCst);
    // (The engine hands providers unmarked values; marking is its business.)
    let login = release(
        "web",
        serde_json::json!({"username": "ci", "password": "chart-s3cret"}),
    );
    let snap = p.create(&ctx(), RELEASE, &login).await.unwrap();
    assert_eq!(snap.attributes.get_str("status"), Some("deployed"));
    assert_eq!(snap.attributes.get_str("chart_version"), Some("1.0.0"));
    assert_eq!(
        repo.refused.load(std::sync::atomic::Ordering::SeqCst),
        refused_before,
        "every request carried the login"
    );
    assert!(
        !serde_json::to_string(&snap.attributes)
            .unwrap()
            .contains("chart-s3cret"),
        "{:?}",
        snap.attributes
    );
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .args(["get", "deployment", "web", "-n", "default", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/web",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn missing_or_old_helm_is_a_clear_error() {
    let p = HelmProvider::default();
    p.configure(&props(serde_json::json!({"binary": "/nonexistent/helm"})))
        .await
        .unwrap();
    let desired = props(serde_json::json!({"name": "web", "chart": "x"}));
    let err = p.create(&ctx(), RELEASE, &desired).await.unwrap_err();
    assert!(
        err.message.contains("helm binary was not found")
            && err
                .message
                .contains("/nonexistent/helm (providers.helm.binary)"),
        "{}",
        err.message
    );
    assert!(err.help.unwrap().contains("TRUSTPLANE_HELM"));

    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("helm");
    std::fs::write(&old, "#!/bin/sh\necho 'v3.7.2+g663a896'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = HelmProvider::default();
    p.configure(&props(serde_json::json!({"binary": old})))
        .await
        .unwrap();
    let err = p.create(&ctx(), RELEASE, &desired).await.unwrap_err();
    assert!(err.message.contains("v3.7.2"), "{}", err.message);
    assert!(
        err.message.contains(old.to_str().unwrap()),
        "{}",
        err.message
    );
    assert!(err.message.contains("3.8"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_release_is_an_error_with_the_fix() {
    let kube = Emulator::start();
    let p = kube.provider().await;
    // Waiting one second for a release to become ready fails (on the emulator, helm 4's
    // watcher never sees it ready at all), which leaves the release `failed`.
    let waiting = props(serde_json::json!({
        "name": "stuck", "namespace": "default", "chart": chart("issuer"),
        "wait": true, "timeout": "1s",
    }));
    let err = p.create(&ctx(), RELEASE, &waiting).await.unwrap_err();
    assert!(
        err.message
            .starts_with("helm could not install or upgrade default/stuck: "),
        "{}",
        err.message
    );
    let snap = Snapshot {
        id: "default/stuck".into(),
        properties: waiting.clone(),
        attributes: Value::Null,
    };
    // A failed first install reads back as failed (the plan replaces it).
    let read = p.read(&ctx(), RELEASE, &snap).await.unwrap().unwrap();
    assert_eq!(read.attributes.get_str("status"), Some("failed"));
    let d = p.diff(&schema(&p), &read, &waiting);
    assert_eq!(
        d.replace_reason.as_deref(),
        Some("release is in state failed after a failed install")
    );

    // A failed upgrade of a deployed release is an error naming the revision to go back to.
    let mut quick = waiting.clone();
    quick.set_path("wait", Value::Bool(false));
    p.create(&ctx(), RELEASE, &quick).await.unwrap();
    p.create(&ctx(), RELEASE, &waiting).await.unwrap_err();
    let err = p.read(&ctx(), RELEASE, &snap).await.unwrap_err();
    assert_eq!(err.message, "helm release default/stuck is failed");
    let help = err.help.unwrap();
    assert!(help.contains("rerun apply"), "{help}");
    assert!(
        help.contains("`helm rollback stuck 2 -n default`"),
        "{help}"
    );
}

/// `trustplane plan` of 5 releases renders them (`helm template`) up to `--parallelism`
/// at once. The helm executable is wrapped to log when each run starts and ends; the log's
/// order, not its times, shows how many ran together.
#[test]
fn plan_renders_releases_up_to_the_parallelism_at_once() {
    let s = crate::common::Sandbox::new();
    let log = s.path("calls.log");
    let wrapper = s.write(
        "helm",
        &format!(
            "#!/bin/sh\n[ \"$1\" = template ] && echo start >> {log}\n{helm} \"$@\"\nrc=$?\n[ \"$1\" = template ] && echo end >> {log}\nexit $rc\n",
            log = log.display(),
            helm = helm_bin().display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut stack = format!(
        "stack: releases\nproviders:\n  helm:\n    binary: {}\nresources:\n",
        wrapper.display()
    );
    for i in 0..5 {
        stack.push_str(&format!(
            "  web{i}:\n    type: helm.release\n    properties:\n      name: web{i}\n      namespace: apps\n      chart: {}\n",
            chart("webapp-1.0.0")
        ));
    }
    s.write("releases.yaml", &stack);
    let peak = |parallelism: &str| {
        let _ = std::fs::remove_file(&log);
        let r = s.run(&["plan", "releases.yaml", "--parallelism", parallelism]);
        r.ok();
        assert_eq!(
            r.stdout.matches("+ Deployment apps/web").count(),
            5,
            "{}",
            r.all()
        );
        let (mut running, mut peak) = (0, 0);
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            running += if line == "start" { 1 } else { -1 };
            peak = peak.max(running);
        }
        assert_eq!(running, 0, "every render ended");
        peak
    };
    assert_eq!(peak("1"), 1, "one at a time");
    assert!(peak("5") > 1, "renders overlap");
}

/// A stack of one release of the issuer chart; `wait` and `timeout` come from variables so
/// that a first apply can be made to fail (helm waits one second for a release that never
/// becomes ready on the emulator) and a later one to succeed.
fn waiting_stack(kube: &Emulator) -> String {
    format!(
        r#"stack: issuer
variables:
  wait: {{type: bool, default: true}}
providers:
  helm: {{binary: "{helm}", kubeconfig: "{kc}"}}
resources:
  issuer:
    type: helm.release
    properties:
      name: issuer
      namespace: default
      chart: "{chart}"
      wait: ${{var.wait}}
      timeout: 1s
"#,
        helm = helm_bin().display(),
        kc = kube.kubeconfig.display(),
        chart = chart("issuer"),
    )
}

/// The release's status and revision, as helm reports them.
fn release_status(kube: &Emulator) -> (String, i64) {
    let out = kube.helm(&["status", "issuer", "-n", "default", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        v["info"]["status"].as_str().unwrap().to_string(),
        v["version"].as_i64().unwrap(),
    )
}

#[test]
fn a_failed_first_install_is_planned_as_a_replacement() {
    let kube = Emulator::start();
    let s = crate::common::Sandbox::new();
    s.write("issuer.yaml", &waiting_stack(&kube));
    let no_wait = ["--var", "wait=false"];
    s.run(&[
        "apply",
        "issuer.yaml",
        no_wait[0],
        no_wait[1],
        "--auto-approve",
    ])
    .ok();
    // Out of band, the release is removed and its install fails (helm waits one second
    // for objects that never become ready): state holds a release whose only revision
    // failed, which helm cannot upgrade.
    kube.helm(&["uninstall", "issuer", "-n", "default"]);
    let failed = std::process::Command::new(helm_bin())
        .args([
            "upgrade",
            "--install",
            "issuer",
            &chart("issuer"),
            "-n",
            "default",
        ])
        .args(["--wait", "--timeout", "1s", "--kubeconfig"])
        .arg(&kube.kubeconfig)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert_eq!(release_status(&kube), ("failed".to_string(), 1));

    // Refresh no longer stops on the failed release: the plan replaces it, saying why.
    let plan = s.run(&["plan", "issuer.yaml", no_wait[0], no_wait[1]]);
    plan.ok();
    assert!(
        plan.stdout.contains("0 to add, 0 to change, 1 to replace"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("# release is in state failed after a failed install"),
        "{}",
        plan.all()
    );
    let apply = s.run(&[
        "apply",
        "issuer.yaml",
        no_wait[0],
        no_wait[1],
        "--auto-approve",
    ]);
    apply.ok();
    assert!(apply.stdout.contains("1 replaced"), "{}", apply.all());
    // Uninstalled and installed afresh: revision 1 again, deployed.
    assert_eq!(release_status(&kube), ("deployed".to_string(), 1));
    let replan = s.run(&[
        "plan",
        "issuer.yaml",
        no_wait[0],
        no_wait[1],
        "--detailed-exitcode",
    ]);
    assert_eq!(replan.code, 0, "{}", replan.all());
}

/// Writes revision `revision` of release default/issuer in `status`, as helm stores it (a
/// Secret holding the release as base64 JSON; helm reads it uncompressed as well as gzipped).
/// The record is revision 1's, as helm stored it: `helm status` leaves the chart out.
fn store_release_revision(kube: &Emulator, status: &str, revision: i64) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let out = kube.kubectl_output(
        &[
            "get",
            "secret",
            "sh.helm.release.v1.issuer.v1",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.release}",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = b64
        .decode(b64.decode(out.stdout.trim_ascii()).unwrap())
        .unwrap();
    let json = if stored.starts_with(&[0x1f, 0x8b]) {
        let mut gunzip = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        gunzip.stdin.take().unwrap().write_all(&stored).unwrap();
        gunzip.wait_with_output().unwrap().stdout
    } else {
        stored
    };
    let mut release: serde_json::Value = serde_json::from_slice(&json).unwrap();
    release["info"]["status"] = status.into();
    release["version"] = revision.into();
    let body = b64.encode(b64.encode(release.to_string()));
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.issuer.v{revision}"),
            "namespace": "default",
            "labels": {"owner": "helm", "name": "issuer", "status": status,
                       "version": revision.to_string()},
        },
        "data": {"release": body},
    });
    let out = kube.kubectl_output(&["apply", "-f", "-"], Some(&secret.to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pending_release_is_an_error_with_the_exact_command() {
    let kube = Emulator::start();
    let s = crate::common::Sandbox::new();
    s.write("issuer.yaml", &waiting_stack(&kube));
    let no_wait = ["--var", "wait=false"];
    s.run(&[
        "apply",
        "issuer.yaml",
        no_wait[0],
        no_wait[1],
        "--auto-approve",
    ])
    .ok();
    // An upgrade interrupted half way leaves revision 2 pending.
    store_release_revision(&kube, "pending-upgrade", 2);
    assert_eq!(release_status(&kube), ("pending-upgrade".to_string(), 2));
    let plan = s.run(&["plan", "issuer.yaml", no_wait[0], no_wait[1]]);
    assert_ne!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("helm release default/issuer is pending-upgrade"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stderr.contains("`helm rollback issuer 1 -n default`"),
        "{}",
        plan.all()
    );
    // Nothing was guessed: the release is still as it was.
    assert_eq!(release_status(&kube), ("pending-upgrade".to_string(), 2));
}

/// A helm executable that logs the first two words of each call (`status web`) to `log`.
fn logging_helm(s: &crate::common::Sandbox, log: &std::path::Path) {
    let wrapper = s.write(
        "helm",
        &format!(
            "#!/bin/sh\necho \"$1 $2\" >> {log}\nexec {helm} \"$@\"\n",
            log = log.display(),
            helm = helm_bin().display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// web.yaml: release apps/web of chart webapp 1.0.0 through the logging helm.
fn write_web_stack(s: &crate::common::Sandbox, kubeconfig: &std::path::Path) {
    s.write(
        "web.yaml",
        &format!(
            "stack: web\nproviders:\n  helm:\n    binary: {helm}\n    kubeconfig: {kc}\n    \
             max_attempts: 1\nresources:\n  web:\n    type: helm.release\n    properties:\n      \
             name: web\n      namespace: apps\n      create_namespace: true\n      chart: {chart}\n      \
             wait: false\n      values:\n        image:\n          tag: \"1.0\"\n",
            helm = s.path("helm").display(),
            kc = kubeconfig.display(),
            chart = chart("webapp-1.0.0"),
        ),
    );
}

/// The helm calls logged since the last call, `helm version` included.
fn helm_calls(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines().map(str::to_string).collect()
}

/// A refresh reads each release where Helm keeps it (its Secrets in the cluster), without
/// starting helm: a no-op plan runs no helm process. A release upgraded outside trustplane
/// is seen (its values, its new revision), and only the manifest diff renders with helm.
/// When the read fails, even with a 404 page from something in front of the API server,
/// plan and apply are errors naming the release, and nothing changes.
#[test]
fn a_no_op_plan_reads_releases_from_the_cluster_without_starting_helm() {
    use crate::common::fault_proxy::{Fault, FaultProxy, Rule};
    let kube = Emulator::start();
    let proxy = FaultProxy::start(&kube.url());
    let s = crate::common::Sandbox::new();
    let kubeconfig = s.write("kubeconfig", &proxy.kubeconfig_through(kube.kubeconfig()));
    let log = s.path("calls.log");
    logging_helm(&s, &log);
    write_web_stack(&s, &kubeconfig);
    s.run(&["apply", "web.yaml", "--auto-approve"]).ok();
    assert!(
        helm_calls(&log).contains(&"upgrade --install".to_string()),
        "the logging helm installed the release"
    );

    let plan = s.run(&["plan", "web.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(helm_calls(&log), Vec::<String>::new(), "no helm process");

    // Upgraded outside trustplane: revision 2 with other values and chart 1.1.0.
    kube.helm(&[
        "upgrade",
        "--install",
        "web",
        &chart("webapp-1.1.0"),
        "-n",
        "apps",
        "--set",
        "image.tag=9.9",
    ]);
    let plan = s.run(&["plan", "web.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    for seen in [VALUES_CHANGED_OUTSIDE, "1.1.0"] {
        assert!(plan.stdout.contains(seen), "{seen}: {}", plan.all());
    }
    let calls = helm_calls(&log);
    assert!(
        calls
            .iter()
            .all(|c| c.starts_with("template ") || c.starts_with("version ")),
        "only the manifest diff's render ran helm: {calls:?}"
    );

    // The read fails: an error naming the release, and nothing changes.
    let before = s.run(&["state", "show", "web", "-f", "web.yaml"]);
    before.ok();
    for fault in [
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Status {
            code: 404,
            retry_after: None,
        },
        Fault::Reset,
    ] {
        proxy.set(
            Rule::all(fault.clone())
                .method("GET")
                .path("/api/v1/namespaces/apps/secrets"),
        );
        for args in [
            &["plan", "web.yaml"][..],
            &["apply", "web.yaml", "--auto-approve"][..],
        ] {
            let r = s.run(args);
            assert_eq!(r.code, 1, "{fault:?} {args:?}: {}", r.all());
            assert!(
                r.stderr.contains("cannot read helm release apps/web"),
                "{fault:?} {args:?}: {}",
                r.all()
            );
        }
        assert!(proxy.faulted() >= 2, "{fault:?}: both commands met it");
        proxy.clear();
    }
    let calls = helm_calls(&log);
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("upgrade") || c.starts_with("uninstall")),
        "nothing was changed: {calls:?}"
    );
    let after = s.run(&["state", "show", "web", "-f", "web.yaml"]);
    assert_eq!(after.stdout, before.stdout, "state unchanged");
    let status = kube.helm(&["status", "web", "-n", "apps", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["version"], 2, "no revision was added: {status}");
}

/// With `HELM_DRIVER=configmap`, helm keeps releases in ConfigMaps, and that is where a
/// refresh reads them: still no helm process for a no-op plan, and a change made outside
/// trustplane is seen.
#[test]
fn releases_kept_in_configmaps_are_read_there() {
    let kube = Emulator::start();
    let s = crate::common::Sandbox::new();
    let log = s.path("calls.log");
    logging_helm(&s, &log);
    write_web_stack(&s, kube.kubeconfig());
    let driver = [("HELM_DRIVER", "configmap")];
    s.run_env(&["apply", "web.yaml", "--auto-approve"], &driver)
        .ok();
    kube.kubectl_ok(&[
        "get",
        "configmap",
        "sh.helm.release.v1.web.v1",
        "-n",
        "apps",
    ]);
    let (found, _, _) = kube.kubectl(&["get", "secret", "sh.helm.release.v1.web.v1", "-n", "apps"]);
    assert!(!found, "the release is kept in a ConfigMap only");
    helm_calls(&log);

    let plan = s.run_env(&["plan", "web.yaml", "--detailed-exitcode"], &driver);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(helm_calls(&log), Vec::<String>::new(), "no helm process");

    let out = std::process::Command::new(helm_bin())
        .args([
            "upgrade",
            "--install",
            "web",
            &chart("webapp-1.0.0"),
            "-n",
            "apps",
        ])
        .args(["--set", "image.tag=9.9", "--kubeconfig"])
        .arg(kube.kubeconfig())
        .env("HELM_DRIVER", "configmap")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = s.run_env(&["plan", "web.yaml", "--detailed-exitcode"], &driver);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout.contains(VALUES_CHANGED_OUTSIDE),
        "{}",
        plan.all()
    );
}
