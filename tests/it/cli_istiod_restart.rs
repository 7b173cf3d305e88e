//! istiod reads `cacerts` only when it starts. When a plan makes the secret anew (its
//! certificate replaced) while istiod already runs, the plan says istiod must restart and
//! apply restarts it as `kubectl rollout restart` does, once the certificate is Ready.
//!
//! Needs moto (`make venv`, or MOTO_PYTHON), the emulator (`cargo build -p kube-emulator`),
//! the Helm engine and `kubectl`.

use crate::common;

use std::path::Path;

use common::stand_ins::{helm, Emulator, Moto};
use common::{repo_root, Run, Sandbox};

/// A CA in moto, the issuer, the certificate writing `cacerts`, and the sandbox's istiod
/// chart installed after it.
fn stack(aws: &str, kubeconfig: &Path) -> String {
    let crds = repo_root().join("tests/fixtures/crds/cert-manager-awspca.yaml");
    let chart = repo_root().join("examples/sandbox/charts/istiod");
    format!(
        r#"stack: mesh
providers:
  aws: {{region: us-east-1, endpoint: "{aws}"}}
  kubernetes: {{kubeconfig: "{kc}"}}
  helm: {{binary: "{helm}"}}
resources:
  root_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: root
      subject: {{common_name: Mesh Root CA, organization: Example}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 10y
  crds:
    type: k8s.manifest
    properties: {{file: "{crds}"}}
  istio_ns:
    type: k8s.namespace
    properties: {{name: istio-system}}
  issuer:
    type: awspca.issuer
    depends_on: [crds]
    properties:
      name: aws-pca-issuer-istio
      namespace: ${{istio_ns.name}}
      arn: ${{root_ca.arn}}
      region: us-east-1
      wait_for: {{condition: Ready=True, timeout: 60s}}
  istio_ca:
    type: certmanager.certificate
    properties:
      name: istio-ca
      namespace: ${{istio_ns.name}}
      common_name: istio-ca
      is_ca: true
      duration: 2160h
      renew_before: 360h
      private_key: {{algorithm: RSA, size: 2048}}
      secret_name: cacerts
      issuer:
        name: ${{issuer.name}}
      wait_for: {{condition: Ready=True, timeout: 60s}}
  istiod:
    type: helm.release
    depends_on: [istio_ca]
    properties:
      name: istiod
      namespace: istio-system
      chart: "{chart}"
      wait: false
"#,
        kc = kubeconfig.display(),
        crds = crds.display(),
        chart = chart.display(),
        helm = helm().display(),
    )
}

const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    sb.run_env(args, AWS_ENV)
}

/// istiod's pod template annotation `kubectl rollout restart` sets, read with kubectl.
fn restarted_at(emulator: &Emulator) -> String {
    emulator
        .kubectl_ok(&[
            "get",
            "deployment",
            "istiod",
            "-n",
            "istio-system",
            "-o",
            r"jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}",
        ])
        .trim()
        .to_string()
}

#[test]
fn a_new_cacerts_restarts_the_running_istiod() {
    let sb = Sandbox::new();
    let moto = Moto::start();
    let emulator = Emulator::start(Some(&moto.url));
    sb.write("mesh.yaml", &stack(&moto.url, emulator.kubeconfig()));

    // Installed together, istiod starts after cacerts: nothing to restart.
    let first = run(&sb, &["apply", "mesh.yaml", "--auto-approve"]);
    first.ok();
    assert!(
        !first.stdout.contains("istiod must restart"),
        "{}",
        first.all()
    );
    assert_eq!(restarted_at(&emulator), "", "istiod was not restarted");

    // The certificate replaced: the release is otherwise unchanged, yet the plan restarts it.
    let plan = run(&sb, &["plan", "mesh.yaml", "--replace", "istio_ca"]);
    plan.ok();
    assert!(
        plan.stdout
            .contains("istiod (helm.release) will be restarted\n      # istiod must restart to load the new CA"),
        "{}",
        plan.all()
    );
    assert!(
        common::summary_line(&plan.stdout).contains("1 to replace")
            && common::summary_line(&plan.stdout).contains("1 to restart"),
        "{}",
        plan.all()
    );
    let json = run(
        &sb,
        &["plan", "mesh.yaml", "--replace", "istio_ca", "--json"],
    );
    json.ok();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let istiod = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "istiod")
        .unwrap();
    assert_eq!(istiod["action"], "no_op");
    assert_eq!(istiod["restart"], "istiod must restart to load the new CA");

    let apply = run(
        &sb,
        &[
            "apply",
            "mesh.yaml",
            "--replace",
            "istio_ca",
            "--auto-approve",
        ],
    );
    apply.ok();
    // The restart comes after the new certificate is Ready (its wait_for is part of it).
    let replaced = apply.stderr.find("istio_ca: replaced in");
    let restarting = apply.stderr.find("istiod: restarting...");
    assert!(
        replaced.is_some() && restarting.is_some() && replaced < restarting,
        "{}",
        apply.all()
    );
    assert!(
        apply
            .stderr
            .contains("istiod: rollout restart of Deployment istio-system/istiod"),
        "{}",
        apply.all()
    );
    let at = restarted_at(&emulator);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&at).is_ok(),
        "restartedAt is RFC 3339: {at:?}\n{}",
        apply.all()
    );

    let after = run(&sb, &["plan", "mesh.yaml", "--detailed-exitcode"]);
    assert_eq!(after.code, 0, "nothing left to do: {}", after.all());
    assert!(after.stdout.contains("No changes."), "{}", after.all());
}
