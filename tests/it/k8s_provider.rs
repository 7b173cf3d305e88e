//! The `kubernetes` provider against the Kubernetes API emulator (`kube-emulator`), with
//! `kubectl` as an independent client for out-of-band changes.
//!
//! Build the emulator first: `cargo build -p kube-emulator` (or point
//! `KUBE_EMULATOR` at the binary). The AWS PCA test needs moto:
//! the venv that `make venv` creates (or `MOTO_PYTHON`).

use crate::common;

use common::stand_ins;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use trustplane::provider::kubernetes::KubernetesProvider;
use trustplane::provider::{OpContext, Provider, Snapshot};
use trustplane::value::Value;

/// The emulator (shared fixture) plus a scratch directory for manifest files.
struct Emulator {
    _cluster: stand_ins::Emulator,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Emulator {
    fn start(aws_endpoint: Option<&str>) -> Emulator {
        let cluster = stand_ins::Emulator::start(aws_endpoint);
        Emulator {
            kubeconfig: cluster.kubeconfig().to_path_buf(),
            _cluster: cluster,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn kubectl_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self._cluster.kubectl_output(args, stdin)
    }

    /// kubectl that must succeed; returns stdout.
    fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_in(args, None)
    }

    fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_with(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&a)).unwrap()
    }

    fn exists(&self, args: &[&str]) -> bool {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        self.kubectl_with(&a, None).status.success()
    }

    async fn provider(&self) -> KubernetesProvider {
        let p = KubernetesProvider::default();
        p.configure(&v(&format!(
            r#"{{"kubeconfig":{:?}}}"#,
            self.kubeconfig.to_str().unwrap()
        )))
        .await
        .unwrap();
        p
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}

fn v(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

fn y(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).unwrap()
}

/// An operation context that records progress messages.
fn ctx() -> (OpContext, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let ctx = OpContext::new("res", "test", "lineage").with_progress(Arc::new(move |m: &str| {
        sink.lock().unwrap().push(m.to_string())
    }));
    (ctx, log)
}

async fn read(p: &KubernetesProvider, t: &str, s: &Snapshot) -> Option<Snapshot> {
    p.read(&ctx().0, t, s).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_update_drift_and_delete() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, log) = ctx();
    let t = "k8s.namespace";
    let desired = y("name: team-a\nlabels: {istio-injection: enabled, team: a}\nannotations: {owner: platform}\n");
    assert!(p.validate(t, &desired).is_empty());
    let snap = p.create(&c, t, &desired).await.unwrap();
    assert_eq!(snap.id, "team-a");
    assert_eq!(snap.properties, desired);
    assert!(!snap.attributes.get_str("uid").unwrap().is_empty());
    let ns = e.get_json(&["ns", "team-a"]);
    assert_eq!(ns["metadata"]["labels"]["istio-injection"], "enabled");
    assert_eq!(ns["metadata"]["annotations"]["owner"], "platform");
    assert_eq!(read(&p, t, &snap).await.unwrap().properties, desired);

    let desired2 = y("name: team-a\nlabels: {team: b, tier: gold}\n");
    let diff = p.diff(&schema(&p, t), &snap, &desired2);
    assert_eq!(diff.changed, ["annotations", "labels"]);
    assert!(diff.requires_replace.is_empty());
    let snap2 = p.update(&c, t, &snap, &desired2).await.unwrap();
    let ns = e.get_json(&["ns", "team-a"]);
    // Labels and annotations trustplane stopped setting are gone (server-side apply prunes).
    assert_eq!(ns["metadata"]["labels"]["team"], "b");
    assert!(ns["metadata"]["labels"].get("istio-injection").is_none());
    assert!(ns["metadata"]["annotations"].get("owner").is_none());
    assert_eq!(read(&p, t, &snap2).await.unwrap().properties, desired2);

    // Fields of other managers are not drift.
    e.kubectl(&["annotate", "ns", "team-a", "note=hello"]);
    e.kubectl(&["label", "ns", "team-a", "extra=1"]);
    assert_eq!(read(&p, t, &snap2).await.unwrap().properties, desired2);

    // Another manager overwriting one of our labels, or removing one, is drift.
    e.kubectl(&["label", "ns", "team-a", "team=other", "--overwrite"]);
    e.kubectl(&["label", "ns", "team-a", "tier-"]);
    let live = read(&p, t, &snap2).await.unwrap();
    assert_eq!(
        live.properties.get("labels"),
        Some(&v(r#"{"team":"other"}"#))
    );
    let diff = p.diff(&schema(&p, t), &live, &desired2);
    assert_eq!(diff.changed, ["labels"]);
    // Applying again puts it back: the label was trustplane's at the last apply, so it is
    // reclaimed from kubectl without `force`.
    let snap3 = p.update(&c, t, &live, &desired2).await.unwrap();
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("reclaiming label team from kubectl-label")),
        "{:?}",
        log.lock().unwrap()
    );
    assert_eq!(
        e.get_json(&["ns", "team-a"])["metadata"]["labels"]["team"],
        "b"
    );

    p.delete(&c, t, &snap3).await.unwrap();
    assert!(!e.exists(&["ns", "team-a"]));
    assert!(read(&p, t, &snap3).await.is_none());
    // Deleting what is gone is not an error.
    p.delete(&c, t, &snap3).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_namespace_is_found_to_adopt_and_labelled_by_update() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, _) = ctx();
    let t = "k8s.namespace";
    e.kubectl(&["create", "ns", "shared"]);
    e.kubectl(&["label", "ns", "shared", "owner=platform"]);

    // Without lifecycle.adopt, an object trustplane did not create is refused.
    let desired = y("name: shared\nlabels: {istio-injection: enabled}\n");
    let err = p.create(&c, t, &desired).await.unwrap_err();
    assert!(
        err.message.contains("not created by trustplane"),
        "{}",
        err.message
    );

    // The old `adopt` property says where it went.
    let old = y("name: shared\nadopt: true\n");
    let diags = p.validate(t, &old);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code, "stack::moved_setting");
    assert!(diags[0]
        .help
        .as_deref()
        .unwrap()
        .contains("lifecycle: {adopt: true"));

    // lifecycle.adopt finds it by its name, and an update brings it to the stack.
    let found = p.find(&c, t, &desired).await.unwrap().expect("found");
    assert_eq!(found.id, "shared");
    let snap = p.update(&c, t, &found, &desired).await.unwrap();
    let ns = e.get_json(&["ns", "shared"]);
    assert_eq!(ns["metadata"]["labels"]["istio-injection"], "enabled");
    assert_eq!(ns["metadata"]["labels"]["owner"], "platform");
    assert_eq!(read(&p, t, &snap).await.unwrap().properties, desired);

    // A namespace that does not exist is definitely absent.
    let missing = y("name: nowhere\n");
    assert!(p.find(&c, t, &missing).await.unwrap().is_none());
}

fn schema(p: &KubernetesProvider, t: &str) -> trustplane::provider::ResourceSchema {
    p.schemas().into_iter().find(|s| s.type_name == t).unwrap()
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_from_a_file_then_an_object_of_its_kind() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, _) = ctx();
    let m = "k8s.manifest";
    let widget = y("manifest:\n  apiVersion: example.com/v1\n  kind: Widget\n  metadata: {name: w1, namespace: shop}\n  spec: {size: 3}\n");
    assert!(p.validate(m, &widget).is_empty());
    assert_eq!(
        p.identity(m, &widget).as_deref(),
        Some("example.com/v1/Widget/shop/w1")
    );

    // Before its CRD exists the kind is not served: the error says so and how to order it.
    let err = p.create(&c, m, &widget).await.unwrap_err();
    assert!(
        err.message.contains("example.com/v1") && err.message.contains("Widget"),
        "{}",
        err.message
    );
    assert!(
        err.help.as_deref().unwrap().contains("depends_on"),
        "{err:?}"
    );
    assert_eq!(err.field.as_deref(), Some("manifest.kind"));

    // A file of several documents is one resource managing all of them.
    let file = e.write(
        "crd.yaml",
        &format!("{WIDGET_CRD}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n"),
    );
    let file_props = v(&format!(r#"{{"file":{file:?},"wait_for_deletion":true}}"#));
    assert_eq!(
        p.identity(m, &file_props).unwrap(),
        "apiextensions.k8s.io/v1/CustomResourceDefinition/widgets.example.com\nv1/Namespace/shop"
    );
    let crd = p.create(&c, m, &file_props).await.unwrap();
    assert_eq!(
        crd.properties
            .get("documents")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        crd.attributes.get("objects"),
        Some(&v(
            r#"["apiextensions.k8s.io/v1/CustomResourceDefinition/widgets.example.com","v1/Namespace/shop"]"#
        ))
    );
    // The API server's additions (status, defaults) are not drift.
    assert_eq!(read(&p, m, &crd).await.unwrap().properties, crd.properties);
    assert!(p.diff(&schema(&p, m), &crd, &file_props).is_empty());

    let w = p.create(&c, m, &widget).await.unwrap();
    assert_eq!(w.id, "example.com/v1/Widget/shop/w1");
    assert_eq!(
        e.get_json(&["widgets.example.com", "-n", "shop", "w1"])["spec"]["size"],
        3
    );
    assert_eq!(read(&p, m, &w).await.unwrap().properties, widget);

    // Changing the spec updates in place; renaming replaces.
    let bigger = y("manifest:\n  apiVersion: example.com/v1\n  kind: Widget\n  metadata: {name: w1, namespace: shop}\n  spec: {size: 5}\n");
    let d = p.diff(&schema(&p, m), &w, &bigger);
    assert_eq!((d.changed.len(), d.requires_replace.len()), (1, 0));
    let renamed = y("manifest:\n  apiVersion: example.com/v1\n  kind: Widget\n  metadata: {name: w2, namespace: shop}\n  spec: {size: 5}\n");
    assert_eq!(
        p.diff(&schema(&p, m), &w, &renamed).requires_replace,
        ["manifest"]
    );
    let w = p.update(&c, m, &w, &bigger).await.unwrap();
    assert_eq!(
        e.get_json(&["widgets.example.com", "-n", "shop", "w1"])["spec"]["size"],
        5
    );

    // Editing the file is a planned change of its documents.
    std::fs::write(
        &file,
        format!("{WIDGET_CRD}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{a: b}}}}\n"),
    )
    .unwrap();
    assert_eq!(
        p.diff(&schema(&p, m), &crd, &file_props).changed,
        ["documents"]
    );

    // Import by apiVersion/Kind/namespace/name.
    let imported = p
        .import(&c, m, "example.com/v1/Widget/shop/w1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.properties, bigger);
    assert!(p
        .import(&c, m, "example.com/v1/Widget/shop/nope")
        .await
        .unwrap()
        .is_none());

    // A namespaced kind needs a namespace.
    let no_ns =
        y("manifest:\n  apiVersion: example.com/v1\n  kind: Widget\n  metadata: {name: w3}\n");
    let err = p.create(&c, m, &no_ns).await.unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("manifest.metadata.namespace"),
        "{err:?}"
    );

    p.delete(&c, m, &w).await.unwrap();
    assert!(!e.exists(&["widgets.example.com", "-n", "shop", "w1"]));
    p.delete(&c, m, &crd).await.unwrap();
    assert!(!e.exists(&["crd", "widgets.example.com"]));
    let after = read(&p, m, &crd).await;
    assert!(
        after.is_none(),
        "{after:?} {}",
        e.kubectl(&["get", "ns", "shop", "-o", "yaml", "--show-managed-fields"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_objects_conflicts_and_force() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, log) = ctx();
    let m = "k8s.manifest";
    e.kubectl_in(
        &["apply", "--server-side", "--field-manager", "other", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {mode: theirs, extra: kept}\n"),
    );
    let ours = y("manifest:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: settings, namespace: default}\n  data: {mode: ours}\n");

    // An object trustplane did not create is not taken over by a create.
    let err = p.create(&c, m, &ours).await.unwrap_err();
    assert!(
        err.message.contains("not created by trustplane"),
        "{}",
        err.message
    );
    assert!(
        err.help
            .as_deref()
            .unwrap()
            .contains("trustplane import res v1/ConfigMap/default/settings"),
        "{err:?}"
    );

    // Imported, it is still not trustplane's to delete.
    let imported = p
        .import(&c, m, "v1/ConfigMap/default/settings")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        imported.properties.get("manifest").unwrap().get("data"),
        Some(&v(r#"{"extra":"kept","mode":"theirs"}"#))
    );
    p.delete(&c, m, &imported).await.unwrap();
    assert!(e.exists(&["cm", "settings"]));
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("leaving ConfigMap default/settings")));

    // Applying a field another manager owns fails naming that manager...
    let err = p.update(&c, m, &imported, &ours).await.unwrap_err();
    assert!(err.message.contains("\"other\""), "{}", err.message);
    assert!(err.help.as_deref().unwrap().contains("force: true"));
    assert_eq!(e.get_json(&["cm", "settings"])["data"]["mode"], "theirs");

    // ...and force takes it over, leaving the other manager's other fields alone.
    let mut forced = ours.clone();
    forced.set_path("force", true.into());
    let snap = p.update(&c, m, &imported, &forced).await.unwrap();
    let cm = e.get_json(&["cm", "settings"]);
    assert_eq!(cm["data"]["mode"], "ours");
    assert_eq!(cm["data"]["extra"], "kept");
    assert_eq!(read(&p, m, &snap).await.unwrap().properties, forced);

    // Now trustplane manages it, so delete removes it.
    p.delete(&c, m, &snap).await.unwrap();
    assert!(!e.exists(&["cm", "settings"]));
}

const DEPLOYMENT: &str = "manifest:
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: default, labels: {app: web}}
  spec:
    replicas: 2
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers: [{name: web, image: 'nginx:1.27', ports: [{containerPort: 80}]}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_wait_and_defaulted_fields_are_not_drift() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, log) = ctx();
    let m = "k8s.manifest";
    let mut desired = y(DEPLOYMENT);
    desired.set_path("wait_for", v(r#"{"rollout":true,"timeout":"30s"}"#));
    assert!(p.validate(m, &desired).is_empty());
    let snap = p.create(&c, m, &desired).await.unwrap();
    let d = e.get_json(&["deploy", "web"]);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("waiting for rollout on Deployment default/web")));

    // Status, generation, a controller's conditions and another manager's annotation and
    // container field are not ours: no drift.
    e.kubectl(&[
        "annotate",
        "deploy",
        "web",
        "deployment.kubernetes.io/revision=1",
    ]);
    e.kubectl(&[
        "patch", "deploy", "web", "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","imagePullPolicy":"Always"}]}}}}"#,
    ]);
    let live = read(&p, m, &snap).await.unwrap();
    assert_eq!(live.properties, desired);
    assert!(p.diff(&schema(&p, m), &live, &desired).is_empty());

    // A change to one of our fields by someone else is drift at that path.
    e.kubectl(&["set", "image", "deploy/web", "web=nginx:1.28"]);
    let live = read(&p, m, &snap).await.unwrap();
    let image =
        trustplane::value::parse_path("manifest.spec.template.spec.containers[0].image").unwrap();
    assert_eq!(
        live.properties.lookup(&image),
        Some(&Value::from("nginx:1.28"))
    );
    assert_eq!(
        p.diff(&schema(&p, m), &live, &desired).changed,
        ["manifest"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_timeout_reports_conditions_and_events() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, _) = ctx();
    let m = "k8s.manifest";
    e.kubectl_in(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Event\nmetadata: {name: web.1, namespace: default}\ninvolvedObject: {apiVersion: apps/v1, kind: Deployment, name: web, namespace: default}\nreason: FailedCreate\nmessage: quota exceeded for pods\ntype: Warning\nlastTimestamp: '2025-01-01T00:00:00Z'\n"),
    );
    let mut desired = y(DEPLOYMENT);
    // Deployments never report Ready: this waits in vain.
    desired.set_path(
        "wait_for",
        v(r#"{"condition":"Ready=True","timeout":"2s"}"#),
    );
    let start = std::time::Instant::now();
    let err = p.create(&c, m, &desired).await.unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let msg = &err.message;
    assert!(
        msg.contains("timed out after 2s waiting for Ready=True on Deployment default/web"),
        "{msg}"
    );
    assert!(
        msg.contains("Available=True (MinimumReplicasAvailable"),
        "{msg}"
    );
    assert!(
        msg.contains("Warning FailedCreate: quota exceeded for pods"),
        "{msg}"
    );
    assert_eq!(err.field.as_deref(), Some("wait_for"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_with_irsa_annotation_and_import() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, _) = ctx();
    let t = "k8s.service_account";
    e.kubectl(&["create", "ns", "cert-manager"]);
    let desired = y("name: aws-pca-issuer\nnamespace: cert-manager\nannotations: {eks.amazonaws.com/role-arn: 'arn:aws:iam::123456789012:role/pca'}\n");
    assert!(p.validate(t, &desired).is_empty());
    assert_eq!(
        p.identity(t, &desired).as_deref(),
        Some("v1/ServiceAccount/cert-manager/aws-pca-issuer")
    );
    let snap = p.create(&c, t, &desired).await.unwrap();
    assert_eq!(snap.id, "cert-manager/aws-pca-issuer");
    let sa = e.get_json(&["sa", "-n", "cert-manager", "aws-pca-issuer"]);
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/pca"
    );
    assert_eq!(read(&p, t, &snap).await.unwrap().properties, desired);
    let imported = p
        .import(&c, t, "cert-manager/aws-pca-issuer")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.properties, desired);
    assert_eq!(imported.attributes.get("uid"), snap.attributes.get("uid"));
    assert!(p.import(&c, t, "aws-pca-issuer").await.is_err());
    // A name change replaces; an annotation change does not.
    let d = p.diff(
        &schema(&p, t),
        &snap,
        &y("name: other\nnamespace: cert-manager\n"),
    );
    assert_eq!(d.requires_replace, ["name"]);
    p.delete(&c, t, &snap).await.unwrap();
    assert!(!e.exists(&["sa", "-n", "cert-manager", "aws-pca-issuer"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_deletion_waits_out_finalizers() {
    let e = Emulator::start(None);
    let p = e.provider().await;
    let (c, log) = ctx();
    let m = "k8s.manifest";
    let desired = y("manifest:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: held, namespace: default, finalizers: [example.com/hold]}\nwait_for_deletion: true\n");
    let snap = p.create(&c, m, &desired).await.unwrap();
    let kubeconfig = e.kubeconfig.clone();
    // Another controller releases the finalizer a moment later.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "patch",
                "cm",
                "held",
                "--type",
                "merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ])
            .output()
            .unwrap()
    });
    let start = std::time::Instant::now();
    p.delete(&c, m, &snap).await.unwrap();
    assert!(start.elapsed() >= std::time::Duration::from_millis(1000));
    assert!(releaser.join().unwrap().status.success());
    assert!(!e.exists(&["cm", "held"]));
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("waiting for ConfigMap default/held to be deleted")));
}

// ---- AWS Private CA through aws-privateca-issuer and cert-manager (needs moto) ----

/// (subject, issuer) of each certificate in a PEM bundle, via `openssl` so the test needs
/// no X.509 parser.
fn pem_subject_issuer(pem: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in pem.split_inclusive("-----END CERTIFICATE-----") {
        let Some(start) = block.find("-----BEGIN CERTIFICATE-----") else {
            continue;
        };
        let mut child = Command::new("openssl")
            .args([
                "x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&block.as_bytes()[start..])
            .unwrap();
        let text = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        out.push((field("subject="), field("issuer=")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pca_issuer_and_istio_ca_certificate_against_moto() {
    let moto = stand_ins::Moto::start();
    let (arn, ca_pem) = moto.root_ca("trustplane test root");

    let e = Emulator::start(Some(&moto.url));
    let p = e.provider().await;
    let (c, _) = ctx();
    let crds = e.write("crds.yaml", stand_ins::CERT_MANAGER_PCA_CRDS);
    p.create(&c, "k8s.manifest", &v(&format!(r#"{{"file":{crds:?}}}"#)))
        .await
        .unwrap();
    p.create(&c, "k8s.namespace", &y("name: istio-system\n"))
        .await
        .unwrap();

    let issuer = v(&format!(
        r#"{{"name":"pca","arn":{arn:?},"region":"us-east-1","wait_for":{{"condition":"Ready=True","timeout":"30s"}}}}"#
    ));
    assert!(
        p.validate("awspca.issuer", &issuer).is_empty(),
        "{:?}",
        p.validate("awspca.issuer", &issuer)
    );
    let iss = p.create(&c, "awspca.issuer", &issuer).await.unwrap();
    assert_eq!(iss.id, "pca");
    assert_eq!(iss.attributes.get("ready"), Some(&Value::Bool(true)));

    let cert = y("name: istio-ca
namespace: istio-system
common_name: istio-ca
is_ca: true
duration: 2160h
renew_before: 360h
private_key: {algorithm: RSA, size: 2048}
secret_name: cacerts
issuer: {name: pca, kind: AWSPCAClusterIssuer}
wait_for: {condition: Ready=True, timeout: 60s}
");
    assert!(p.validate("certmanager.certificate", &cert).is_empty());
    let snap = p
        .create(&c, "certmanager.certificate", &cert)
        .await
        .unwrap();
    assert_eq!(snap.attributes.get("ready"), Some(&Value::Bool(true)));
    assert_eq!(snap.attributes.get_str("secret_name"), Some("cacerts"));
    // cert-manager's status and the issued secret are not drift.
    assert_eq!(
        read(&p, "certmanager.certificate", &snap)
            .await
            .unwrap()
            .properties,
        cert
    );

    let secret = e.get_json(&["secret", "-n", "istio-system", "cacerts"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let decode = |k: &str| {
        let out = Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = out;
        out.stdin
            .take()
            .unwrap()
            .write_all(secret["data"][k].as_str().unwrap().as_bytes())
            .unwrap();
        String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
    };
    let mut chain = pem_subject_issuer(&decode("tls.crt"));
    chain.extend(pem_subject_issuer(&decode("ca.crt")));
    assert!(chain.len() >= 2, "{chain:?}");
    assert!(chain[0].0.contains("CN=istio-ca"), "{chain:?}");
    for pair in chain.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each certificate is issued by the next: {chain:?}"
        );
    }
    let root = pem_subject_issuer(&ca_pem);
    assert_eq!(
        chain.last().unwrap(),
        &root[0],
        "the chain ends at the PCA root"
    );
}
