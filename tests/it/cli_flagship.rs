//! The flagship stack offline: it validates, and `plan --offline` plans it with no AWS
//! account, no cluster and no helm (values not yet known show as known after apply; the
//! cluster lookup is read during apply), while a plain `plan` fails on the lookup it cannot
//! make. Also: two resources may not manage one object.

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

/// `plan` of the flagship stack with no AWS account, no cluster and no helm, plus `extra`
/// arguments.
fn plan_with_nothing_reachable(s: &Sandbox, extra: &[&str]) -> common::Run {
    let stack = repo_root().join("stacks/istio-aws-pca.yaml");
    let mut args = vec!["plan", stack.to_str().unwrap()];
    args.extend(extra);
    let out = s
        .command(&args)
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
    common::Run::of(out)
}

#[test]
fn flagship_plans_offline_with_no_account_no_cluster_and_no_helm() {
    let s = Sandbox::new();
    let r = plan_with_nothing_reachable(&s, &["--offline"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        summary_line(&r.stdout),
        "Plan: 15 to add, 0 to change, 0 to replace, 0 to destroy, 1 to read."
    );
    assert!(
        r.stdout
            .contains("<= cluster (aws.eks.cluster) will be read during apply"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("root_ca_arn = (known after apply)"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("Cost: +$800/month: 2 general-purpose CAs"),
        "{}",
        r.all()
    );
}

#[test]
fn flagship_plan_shows_nested_values_as_blocks_and_unknowns_inside_them() {
    let s = Sandbox::new();
    let r = plan_with_nothing_reachable(&s, &["--offline"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !r.all().contains("$trustplane_unknown") && !r.stdout.contains("null"),
        "an unknown never shows as the plan file's marker or as null: {}",
        r.all()
    );
    // The policy's Resource is the subordinate CA's ARN, known after apply.
    assert!(
        r.stdout.contains(
            "      + document           = {\n          + Statement = [\n              + {\n"
        ),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("                  + Resource = (known after apply)\n"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("      + policy_arns = [\n          + (known after apply),\n        ]\n"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains(
            "      + annotations      = {\n          + \"eks.amazonaws.com/role-arn\" = (known after apply)\n        }\n"
        ),
        "{}",
        r.all()
    );
}

#[test]
fn a_data_source_that_cannot_be_read_fails_the_plan() {
    let s = Sandbox::new();
    for extra in [&[][..], &["--detailed-exitcode"][..]] {
        let r = plan_with_nothing_reachable(&s, extra);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(r.stderr.contains("error[plan::read_failed]"), "{}", r.all());
        assert!(
            r.stderr.contains("read data source cluster")
                && r.stderr.contains("http://127.0.0.1:9"),
            "the error names the resource and the endpoint: {}",
            r.all()
        );
        assert!(!r.stdout.contains("Plan:"), "no plan is shown: {}", r.all());
        assert!(
            r.stderr.contains("cluster: retrying in") && r.stderr.contains("(attempt 3 of 3)"),
            "a refused connection is retried, up to the default 3 attempts: {}",
            r.all()
        );
    }
    // An offline plan cannot be saved: it was made without looking.
    let r = plan_with_nothing_reachable(&s, &["--offline", "--out", "p.plan"]);
    assert_eq!(r.code, 2, "a usage error: {}", r.all());
    assert!(!s.exists("p.plan"));
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
