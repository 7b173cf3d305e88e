//! The flagship stack offline: it validates, and plans with no AWS account, no cluster and
//! no helm (values not yet known show as known after apply; the cluster lookup is read
//! during apply). Also: two resources may not manage one object.

use crate::common;

use common::{repo_root, summary_line, Sandbox};

#[test]
fn stacks_validate() {
    let out = std::process::Command::new(common::bin())
        .args(["validate", "stacks/"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("stacks/istio-aws-pca.yaml: valid (16 resources)"),
        "{stdout}"
    );
}

#[test]
fn flagship_plans_with_no_account_no_cluster_and_no_helm() {
    let s = Sandbox::new();
    let out = s
        .command(&[
            "plan",
            repo_root()
                .join("stacks/istio-aws-pca.yaml")
                .to_str()
                .unwrap(),
        ])
        .args(["--var", "cluster_name=demo"])
        // An endpoint nothing listens on: nothing can be read, nothing is reached.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "none")
        .env("AWS_SECRET_ACCESS_KEY", "none")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KUBECONFIG", s.path("no-kubeconfig"))
        .env("PATH", "/usr/bin:/bin")
        .env_remove("TRUSTPLANE_HELM")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        summary_line(&stdout),
        "Plan: 15 to add, 0 to change, 0 to replace, 0 to destroy, 1 to read."
    );
    assert!(stderr.contains("warning[plan::read_deferred]"), "{stderr}");
    assert!(
        stdout.contains("<= cluster (aws.eks.cluster) will be read during apply"),
        "{stdout}"
    );
    assert!(
        stdout.contains("root_ca_arn = (known after apply)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Cost: +$800/month: 2 general-purpose CAs"),
        "{stdout}"
    );
}

#[test]
fn two_resources_managing_one_object_are_refused() {
    let s = Sandbox::new();
    s.write(
        "dup.yaml",
        "stack: dup\nresources:\n  mesh:\n    type: k8s.namespace\n    properties:\n      name: istio-system\n  \
         again:\n    type: k8s.namespace\n    properties:\n      name: istio-system\n      labels: {a: b}\n",
    );
    let r = s.run(&["plan", "dup.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(
            "error[plan::duplicate_object]: dup.yaml:3:3: mesh and again both manage v1/Namespace/istio-system"
        ),
        "{}",
        r.all()
    );
    let history = s.run(&["state", "history", "--state", "state/dup/default"]);
    assert!(
        history.stdout.contains("No history yet."),
        "nothing was written: {}",
        history.all()
    );
}
