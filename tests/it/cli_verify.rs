//! `trustplane verify` end to end: the real binary applies the guide's whole flow (PCA
//! root and subordinate in moto, CRDs, namespace, AWSPCAIssuer, the Istio CA Certificate
//! issued by the Kubernetes API emulator's simulated cert-manager), then verifies the
//! chain in the `cacerts` Secret, and catches it once it is corrupted or gone.
//!
//! Needs moto (`make venv`, or MOTO_PYTHON), the emulator
//! (`cargo build -p kube-emulator`, or KUBE_EMULATOR) and `kubectl`.

use crate::common;

use std::path::Path;

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::{Emulator, Moto};
use common::{repo_root, Run, Sandbox};

/// kubectl against the emulator that must succeed; returns stdout.
fn kubectl(emulator: &Emulator, args: &[&str]) -> String {
    emulator.kubectl_ok(args)
}

fn stack(aws: &str, kubeconfig: &Path) -> String {
    let crds = repo_root().join("tests/fixtures/crds/cert-manager-awspca.yaml");
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
      subject: {{common_name: Mesh Root CA, organization: Example, country: US}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 10y
  sub_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: subordinate
      parent: ${{root_ca.arn}}
      path_length: 1
      subject: {{common_name: Mesh Intermediate CA, organization: Example}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 180d
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
      arn: ${{sub_ca.arn}}
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

fn attrs(sb: &Sandbox, address: &str) -> serde_json::Value {
    let r = run(sb, &["state", "show", address, "-f", "mesh.yaml"]);
    r.ok();
    serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["attributes"].clone()
}

#[test]
fn verify_the_istio_ca_chain_up_to_the_pca_root() {
    let sb = Sandbox::new();
    let moto = Moto::start();
    let aws = moto.url.clone();
    let emulator = Emulator::start(Some(&aws));
    let kc = emulator.kubeconfig().to_path_buf();
    sb.write("mesh.yaml", &stack(&aws, &kc));
    let apply = run(&sb, &["apply", "mesh.yaml", "--auto-approve"]);
    apply.ok();

    // The chain is valid, and its CAs are the PCA CAs, by serial in hex and decimal.
    let r = run(&sb, &["verify", "mesh.yaml"]);
    r.ok();
    let root = attrs(&sb, "root_ca");
    let sub = attrs(&sb, "sub_ca");
    for ca in [&root, &sub] {
        let line = format!(
            "serial    {} (decimal {})",
            ca["serial"].as_str().unwrap(),
            ca["serial_decimal"].as_str().unwrap()
        );
        assert!(r.stdout.contains(&line), "{line}\n{}", r.all());
    }
    assert!(r.stdout.contains("Secret istio-system/cacerts (cert-manager layout), from Certificate istio_ca, cluster context emulator"), "{}", r.all());
    assert!(r.stdout.contains("✓ Mesh Root CA [root]"), "{}", r.all());
    assert!(
        r.stdout.contains("└── ✓ istio-ca [istio CA]"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("✓ in the chain as the intermediate"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("The chain is valid"), "{}", r.all());
    assert!(!r.stdout.contains('✗'), "{}", r.all());

    let j = run(&sb, &["verify", "mesh.yaml", "--json"]);
    j.ok();
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).expect(&j.stdout);
    assert_eq!(doc["valid"], true);
    let links = doc["links"].as_array().unwrap();
    assert_eq!(links.len(), 3, "{doc:#}");
    assert_eq!(links[0]["role"], "istio CA");
    assert_eq!(links[1]["serial_hex"], sub["serial"]);
    assert_eq!(links[2]["serial_decimal"], root["serial_decimal"]);
    assert!(links.iter().all(|l| l["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true)));
    let matches = doc["pca_matches"].as_array().unwrap();
    assert_eq!(matches.len(), 2);
    // Fetched again from AWS (moto), not only read from state.
    assert!(matches
        .iter()
        .all(|m| m["identical"] == true && m["source"] == "aws"));
    assert_eq!(doc["source"]["renew_before_seconds"], 360 * 3600);

    // AWS throttling the CA certificate reads: they are sent again, paced, and the chain
    // is still matched against AWS's certificates, not state's.
    let proxy = FaultProxy::start(&aws);
    sb.write("mesh.yaml", &stack(&proxy.url(), &kc));
    proxy.set(
        Rule::all(Fault::Status {
            code: 429,
            retry_after: None,
        })
        .first(2),
    );
    let j = run(&sb, &["verify", "mesh.yaml", "--json"]);
    j.ok();
    assert_eq!(proxy.faulted(), 2, "the throttles were met");
    assert!(!j.all().contains("in state"), "{}", j.all());
    assert!(all_pca_match_from(&j.stdout, "aws"), "{}", j.stdout);
    sb.write("mesh.yaml", &stack(&aws, &kc));
    // --no-refresh trusts state and does not ask AWS.
    let j = run(&sb, &["verify", "mesh.yaml", "--json", "--no-refresh"]);
    j.ok();
    assert!(all_pca_match_from(&j.stdout, "state"), "{}", j.stdout);

    // Laid out as aws-privateca-issuer does: tls.crt (Istio CA + subordinate) and ca.crt.
    let secret: serde_json::Value = serde_json::from_str(&kubectl(
        &emulator,
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "cacerts",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert!(secret["data"]["ca.crt"].is_string());

    // Corrupt the secret: ca.crt becomes another self-signed CA.
    let impostor = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Impostor Root CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.self_signed(&key).unwrap().pem()
    };
    let patch = format!(
        r#"{{"data":{{"ca.crt":"{}"}}}}"#,
        common::base64(impostor.as_bytes())
    );
    kubectl(
        &emulator,
        &[
            "-n",
            "istio-system",
            "patch",
            "secret",
            "cacerts",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
    let r = run(&sb, &["verify", "mesh.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("The chain is NOT valid"), "{}", r.all());
    assert!(
        r.stdout.contains(
            "✗ Mesh Intermediate CA [intermediate] issuer_name: issuer is C=US, O=Example, CN=Mesh Root CA, but the next certificate is CN=Impostor Root CA"
        ),
        "{}",
        r.all()
    );
    // The root is no PCA CA, while the PCA root of state is not in the chain.
    assert!(
        r.stdout.contains("✗ Impostor Root CA [root] pca: serial"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("and root_ca of state is not in the chain"),
        "{}",
        r.all()
    );
    let j = run(&sb, &["verify", "mesh.yaml", "--json"]);
    assert_eq!(j.code, 1, "{}", j.all());
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).expect(&j.stdout);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["links"][2]["subject_cn"], "Impostor Root CA");

    // The secret gone: an error that says which secret, where, and what to run.
    kubectl(
        &emulator,
        &["-n", "istio-system", "delete", "secret", "cacerts"],
    );
    let r = run(&sb, &["verify", "mesh.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(
            "Secret cacerts not found in namespace istio-system of cluster context emulator"
        ),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("kubectl -n istio-system describe certificate istio-ca"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("trustplane apply mesh.yaml"),
        "{}",
        r.all()
    );
}

#[test]
fn verify_before_apply_says_to_apply_first() {
    let sb = Sandbox::new();
    sb.write(
        "mesh.yaml",
        "stack: mesh\nresources:\n  n:\n    type: core.null\n    properties: {triggers: {a: '1'}}\n",
    );
    let r = sb.run(&["verify", "mesh.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("run `trustplane apply mesh.yaml` first"),
        "{}",
        r.all()
    );
    sb.run(&["apply", "mesh.yaml", "--auto-approve"]).ok();
    let r = sb.run(&["verify", "mesh.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("no certmanager.certificate with is_ca: true in state"),
        "{}",
        r.all()
    );
}

/// Whether every certificate of a `verify --json` report matched its PCA CA's, as read
/// from `source` (`aws` or `state`).
fn all_pca_match_from(json: &str, source: &str) -> bool {
    let doc: serde_json::Value = serde_json::from_str(json).expect(json);
    doc["pca_matches"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["identical"] == true && m["source"] == source)
}
