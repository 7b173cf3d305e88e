//! The mesh's two tiers through the real binary: the trust tier (CAs and the shared
//! issuer policy) applied once, its outputs handed by hand to the cluster tier, which
//! gets its own issuer on the shared subordinate CA and Istio's multi-cluster values.

use crate::common;
use common::Run;

use std::path::Path;
use std::process::Command;

use common::repo_root;
use common::stand_ins::{helm, Emulator, Moto};

const TRUST: &str = "stacks/mesh-trust.yaml";
const CLUSTER: &str = "stacks/mesh-cluster.yaml";

fn trustplane(moto: &Moto, k8s: &Emulator, state: &Path, args: &[&str]) -> Run {
    let out = Command::new(common::bin())
        .args(args)
        .arg("--state")
        .arg(state)
        .current_dir(repo_root())
        .envs(moto.env())
        .env("KUBECONFIG", k8s.kubeconfig())
        .env("TRUSTPLANE_HELM", helm())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run::of(out)
}

#[test]
fn both_tiers_validate_without_pki_errors() {
    let out = Command::new(common::bin())
        .args(["validate", TRUST, CLUSTER])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("stacks/mesh-trust.yaml: valid (3 resources)"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("stacks/mesh-cluster.yaml: valid (12 resources)"),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn the_trust_tier_outputs_feed_a_cluster_of_the_mesh() {
    let moto = Moto::start();
    let k8s = Emulator::start(Some(&moto.url));
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         eks.create_cluster(name='sandbox', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={})",
    );
    let trust_state = tempfile::tempdir().unwrap();
    let cluster_state = tempfile::tempdir().unwrap();

    let trust = trustplane(
        &moto,
        &k8s,
        trust_state.path(),
        &["apply", TRUST, "--auto-approve"],
    );
    assert_eq!(trust.code, 0, "{}", trust.all());
    let outputs = trustplane(
        &moto,
        &k8s,
        trust_state.path(),
        &["output", "-f", TRUST, "--json"],
    );
    assert_eq!(outputs.code, 0, "{}", outputs.all());
    let outputs: serde_json::Value = serde_json::from_str(&outputs.stdout).unwrap();
    let output = |name: &str| -> String {
        let v = &outputs[name];
        v["value"]
            .as_str()
            .or_else(|| v.as_str())
            .unwrap_or_else(|| panic!("output {name} in {outputs}"))
            .to_string()
    };
    let subordinate = output("subordinate_ca_arn");
    assert!(
        subordinate.contains(":certificate-authority/"),
        "{subordinate}"
    );

    // The trust tier's outputs, by hand, as the cluster tier's variables.
    let vars = [
        format!("subordinate_ca_arn={subordinate}"),
        format!("root_ca_arn={}", output("root_ca_arn")),
        format!("issuer_policy_arn={}", output("issuer_policy_arn")),
        format!("region={}", output("region")),
        "mesh_id=mesh-prod".to_string(),
        "network=net-eu".to_string(),
    ];
    let mut args = vec![
        "apply",
        CLUSTER,
        "--auto-approve",
        "--var-file",
        "examples/sandbox/sandbox.vars.yaml",
    ];
    for var in &vars {
        args.extend(["--var", var.as_str()]);
    }
    let cluster = trustplane(&moto, &k8s, cluster_state.path(), &args);
    assert_eq!(cluster.code, 0, "{}", cluster.all());

    // No CA of its own: the cluster issues from the trust tier's two.
    assert_eq!(moto.ca_statuses().len(), 2, "{:?}", moto.ca_statuses());
    let arn = k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "awspcaissuer",
        "aws-pca-issuer-istio",
        "-o",
        "jsonpath={.spec.arn}",
    ]);
    assert_eq!(arn.trim(), subordinate);
    let secret = k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "secret",
        "cacerts",
        "-o",
        "jsonpath={.data.tls\\.crt}",
    ]);
    assert!(!secret.trim().is_empty(), "cacerts has a certificate");

    // The cluster's chain goes up through the shared subordinate to the shared root.
    let mut verify_args = vec![
        "verify",
        CLUSTER,
        "--var-file",
        "examples/sandbox/sandbox.vars.yaml",
    ];
    for var in &vars {
        verify_args.extend(["--var", var.as_str()]);
    }
    let verify = trustplane(&moto, &k8s, cluster_state.path(), &verify_args);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stdout.contains("The chain is valid"),
        "{}",
        verify.all()
    );

    // Istio's multi-cluster values, as Helm keeps them for the release.
    let values = Command::new(helm())
        .args([
            "get",
            "values",
            "istiod",
            "-n",
            "istio-system",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(k8s.kubeconfig())
        .output()
        .unwrap();
    assert!(
        values.status.success(),
        "{}",
        String::from_utf8_lossy(&values.stderr)
    );
    let values: serde_json::Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(values["global"]["meshID"], "mesh-prod", "{values}");
    assert_eq!(
        values["global"]["multiCluster"]["clusterName"], "sandbox",
        "{values}"
    );
    assert_eq!(values["global"]["network"], "net-eu", "{values}");
}
