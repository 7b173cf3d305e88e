//! Replacement never destroys what it created: a create-before-destroy replacement whose
//! new object would be the old one (same file path, same Kubernetes object) is refused at
//! plan time with the reason and the fix, and apply changes nothing; one whose identity
//! differs goes through. A CA replaced create-before-destroy is a new CA, even when its
//! ownership tags and configuration match the old one's.

use crate::common;

use common::stand_ins::{Emulator, Moto};
use common::{summary_line, Sandbox};

fn file_stack(path: &str) -> String {
    format!(
        "stack: files\nresources:\n  f:\n    type: core.file\n    properties:\n      path: {path}\n      content: hello\n    lifecycle:\n      create_before_destroy: true\n"
    )
}

#[test]
fn create_before_destroy_of_a_file_at_the_same_path_is_refused_and_keeps_the_file() {
    let s = Sandbox::new();
    s.write("files.yaml", &file_stack("out/a.txt"));
    s.run(&["apply", "files.yaml", "--auto-approve"]).ok();
    assert_eq!(s.read("out/a.txt"), "hello");

    let plan = s.run(&["plan", "files.yaml", "--replace", "f"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    for want in [
        "plan::replace_same_object",
        "f cannot be replaced create-before-destroy",
        "destroy-then-create",
        "different name",
    ] {
        assert!(plan.stderr.contains(want), "{want:?}: {}", plan.all());
    }

    let apply = s.run(&["apply", "files.yaml", "--replace", "f", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(!apply.stdout.contains("replaced"), "{}", apply.all());
    assert_eq!(s.read("out/a.txt"), "hello", "the file survives");
    let replan = s.run(&["plan", "files.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "nothing to do: {}", replan.all());

    // `./out/a.txt` is the same file.
    s.write("files.yaml", &file_stack("./out/a.txt"));
    let plan = s.run(&["plan", "files.yaml", "--replace", "f"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("plan::replace_same_object"),
        "{}",
        plan.all()
    );
}

#[test]
fn create_before_destroy_to_a_new_path_creates_then_deletes() {
    let s = Sandbox::new();
    s.write("files.yaml", &file_stack("a.txt"));
    s.run(&["apply", "files.yaml", "--auto-approve"]).ok();
    s.write("files.yaml", &file_stack("b.txt"));
    let apply = s.run(&["apply", "files.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(apply.stdout.contains("1 replaced"), "{}", apply.all());
    assert_eq!(s.read("b.txt"), "hello");
    assert!(!s.exists("a.txt"), "the old file is deleted");
}

#[test]
fn create_before_destroy_of_the_same_kubernetes_object_is_refused() {
    let kube = Emulator::start(None);
    let s = Sandbox::new();
    let stack = |data: &str| {
        format!(
            "stack: objects\nproviders:\n  kubernetes:\n    kubeconfig: {}\nresources:\n  cm:\n    type: k8s.manifest\n    properties:\n      manifest:\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {{name: settings, namespace: default}}\n        data: {{v: \"{data}\"}}\n    lifecycle:\n      create_before_destroy: true\n",
            kube.kubeconfig().display()
        )
    };
    s.write("objects.yaml", &stack("1"));
    s.run(&["apply", "objects.yaml", "--auto-approve"]).ok();

    let apply = s.run(&["apply", "objects.yaml", "--replace", "cm", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stderr.contains("plan::replace_same_object")
            && apply.stderr.contains("v1/ConfigMap/default/settings"),
        "{}",
        apply.all()
    );
    let live = kube.kubectl_ok(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "default",
        "-o",
        "jsonpath={.data.v}",
    ]);
    assert_eq!(live, "1", "the object is untouched");
    let replan = s.run(&["plan", "objects.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
}

#[test]
fn a_ca_replaced_create_before_destroy_is_a_new_ca_and_the_old_one_is_deleted() {
    let moto = Moto::start();
    let env: Vec<(String, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Sandbox::new();
    s.write(
        "pki.yaml",
        "stack: pki\nproviders:\n  aws:\n    region: us-east-1\nresources:\n  root_ca:\n    type: aws.pca.certificate_authority\n    properties:\n      kind: root\n      subject: {common_name: Rotated Root, organization: Example}\n      key_algorithm: RSA_2048\n      signing_algorithm: SHA256WITHRSA\n      validity: 10y\n    lifecycle:\n      create_before_destroy: true\noutputs:\n  arn: ${root_ca.arn}\n",
    );
    let apply = s.run_env(&["apply", "pki.yaml", "--auto-approve"], &env);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let first = s.run_env(&["output", "arn", "-f", "pki.yaml"], &env);
    let first = first.stdout.trim().to_string();

    // Same tags, same configuration: the create must not resume the CA being replaced.
    let plan = s.run_env(&["plan", "pki.yaml", "--replace", "root_ca"], &env);
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy.",
        "{}",
        plan.all()
    );
    let apply = s.run_env(
        &[
            "apply",
            "pki.yaml",
            "--replace",
            "root_ca",
            "--auto-approve",
        ],
        &env,
    );
    assert_eq!(apply.code, 0, "{}", apply.all());
    let second = s.run_env(&["output", "arn", "-f", "pki.yaml"], &env);
    let second = second.stdout.trim().to_string();
    assert_ne!(first, second, "the replacement is a new CA");
    let statuses = moto.boto3(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name=region)\n\
         for ca in pca.list_certificate_authorities()['CertificateAuthorities']:\n\
         \x20   print(ca['Arn'] + ' ' + ca['Status'])",
    );
    let status = |arn: &str| {
        statuses
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{arn} ")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{arn} not in {statuses}"))
    };
    assert_eq!(status(&second), "ACTIVE", "{statuses:?}");
    assert_eq!(status(&first), "DELETED", "{statuses:?}");
}
