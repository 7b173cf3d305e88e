//! Issuance that recovers: aws-privateca-issuer's first IssueCertificate can fail while a
//! fresh IAM role or policy propagates, and cert-manager then waits an hour before it
//! tries again. The real binary shows why the issuance failed (the CertificateRequest's
//! reason and message), and the next apply asks cert-manager to issue again as
//! `cmctl renew` does, instead of timing out behind the backoff.
//!
//! Needs moto (`make venv`, or MOTO_PYTHON), the emulator (`cargo build -p kube-emulator`)
//! and `kubectl`. The emulator's issuer annotation `kube-emulator.trustplane.dev/fail-issuances`
//! makes its first issuances fail the way they fail before IAM has propagated.

use crate::common;

use std::path::Path;

use common::stand_ins::{Emulator, Moto};
use common::{repo_root, Run, Sandbox};

/// A CA in moto, the CRDs, the namespace, an issuer whose first `fail` issuances fail,
/// and the Istio CA certificate (`wait` adds its wait_for).
fn stack(aws: &str, kubeconfig: &Path, fail: u32, wait: bool) -> String {
    let crds = repo_root().join("tests/fixtures/crds/cert-manager-awspca.yaml");
    let wait_for = if wait {
        "\n      wait_for: {condition: Ready=True, timeout: 20s}"
    } else {
        ""
    };
    format!(
        r#"stack: mesh
providers:
  aws: {{region: us-east-1, endpoint: "{aws}"}}
  kubernetes: {{kubeconfig: "{kc}"}}
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
      annotations: {{"kube-emulator.trustplane.dev/fail-issuances": "{fail}"}}
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
        name: ${{issuer.name}}{wait_for}
"#,
        kc = kubeconfig.display(),
        crds = crds.display()
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

fn cacerts_exists(emulator: &Emulator) -> bool {
    emulator
        .kubectl(&["get", "secret", "cacerts", "-n", "istio-system"])
        .0
}

#[test]
fn a_failed_issuance_is_explained_and_the_next_apply_issues_again() {
    let sb = Sandbox::new();
    let moto = Moto::start();
    let emulator = Emulator::start(Some(&moto.url));
    sb.write(
        "mesh.yaml",
        &stack(&moto.url, emulator.kubeconfig(), 1, true),
    );

    // The first issuance fails: the apply stops on it and says why, from the request.
    let first = run(&sb, &["apply", "mesh.yaml", "--auto-approve"]);
    assert_ne!(first.code, 0, "{}", first.all());
    let out = first.all();
    assert!(
        out.contains(
            "issuance of Certificate istio-system/istio-ca failed: CertificateRequest istio-ca-1: \
             Failed: failed to request certificate from PCA"
        ),
        "{out}"
    );
    assert!(out.contains("AccessDeniedException"), "{out}");
    assert!(!cacerts_exists(&emulator), "no certificate was issued");

    // The cause is gone (the issuer fails no more): the plan says the certificate will
    // be issued again, so a rerun is not a no-op.
    let plan = run(&sb, &["plan", "mesh.yaml"]);
    plan.ok();
    assert!(
        plan.stdout.contains("Certificate istio-system/istio-ca: re-issue: last issuance failed: Failed: failed to request certificate from PCA"),
        "{}",
        plan.all()
    );

    let second = run(&sb, &["apply", "mesh.yaml", "--auto-approve"]);
    second.ok();
    assert!(cacerts_exists(&emulator), "{}", second.all());
    let cert = emulator.kubectl_ok(&[
        "get",
        "certificate",
        "istio-ca",
        "-n",
        "istio-system",
        "-o",
        "json",
    ]);
    let cert: serde_json::Value = serde_json::from_str(&cert).unwrap();
    assert_eq!(cert["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(cert["status"]["conditions"][0]["status"], "True");
    assert!(cert["status"]["failedIssuanceAttempts"].is_null(), "{cert}");

    let after = run(&sb, &["plan", "mesh.yaml", "--detailed-exitcode"]);
    assert_eq!(after.code, 0, "nothing left to do: {}", after.all());
}

#[test]
fn a_refresh_that_finds_a_failed_issuance_plans_a_re_issue() {
    let sb = Sandbox::new();
    let moto = Moto::start();
    let emulator = Emulator::start(Some(&moto.url));
    // No wait_for: the apply records the certificate while its issuance fails later.
    sb.write(
        "mesh.yaml",
        &stack(&moto.url, emulator.kubeconfig(), 1, false),
    );
    run(&sb, &["apply", "mesh.yaml", "--auto-approve"]).ok();
    let failed = || {
        let (_, out, _) = emulator.kubectl(&[
            "get",
            "certificate",
            "istio-ca",
            "-n",
            "istio-system",
            "-o",
            "jsonpath={.status.failedIssuanceAttempts}",
        ]);
        out.trim() == "1"
    };
    for _ in 0..200 {
        if failed() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(failed(), "the emulator's issuer failed its first issuance");

    let plan = run(&sb, &["plan", "mesh.yaml"]);
    plan.ok();
    assert!(
        plan.stdout
            .contains("istio_ca (certmanager.certificate) will be updated in place"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout.contains("re-issue: last issuance failed"),
        "{}",
        plan.all()
    );

    // With wait_for now, the apply triggers the issuance and waits for it.
    sb.write(
        "mesh.yaml",
        &stack(&moto.url, emulator.kubeconfig(), 1, true),
    );
    let apply = run(&sb, &["apply", "mesh.yaml", "--auto-approve"]);
    apply.ok();
    assert!(cacerts_exists(&emulator), "{}", apply.all());
}
