//! The guide end to end, through the real binary, against the local stand-ins: the
//! flagship stack with the sandbox variables is planned, applied, checked, drifted out of
//! band in three ways, repaired and destroyed.

use crate::common;
use common::Run;

use std::process::Command;

use common::stand_ins::{helm, Emulator, Moto};
use common::{repo_root, summary_line};

struct Env {
    moto: Moto,
    k8s: Emulator,
    state: tempfile::TempDir,
}

impl Env {
    /// A stack command, with the sandbox variables and this test's state.
    fn trustplane(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--var-file", "examples/sandbox/sandbox.vars.yaml"]);
        self.run(&all)
    }

    /// Any command, with this test's state.
    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(common::bin())
            .args(args)
            .arg("--state")
            .arg(self.state.path())
            .current_dir(repo_root())
            .envs(self.moto.env())
            .env("KUBECONFIG", self.k8s.kubeconfig())
            .env("TRUSTPLANE_HELM", helm())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        Run::of(out)
    }
}

const STACK: &str = "stacks/istio-aws-pca.yaml";

#[test]
fn the_guide_end_to_end_in_the_sandbox() {
    let moto = Moto::start();
    let k8s = Emulator::start(Some(&moto.url));
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         eks.create_cluster(name='sandbox', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={})",
    );
    let env = Env {
        moto,
        k8s,
        state: tempfile::tempdir().unwrap(),
    };

    // An earlier Istio install left istio-system behind.
    env.k8s.kubectl_ok(&["create", "ns", "istio-system"]);

    // Plan: everything to add but the namespaces default and istio-system, which exist and
    // are adopted; the cluster read, two CAs' cost.
    let plan = env.trustplane(&["plan", STACK]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 13 to add, 0 to change, 0 to replace, 0 to destroy, 1 to read, 2 to adopt."
    );
    assert!(
        plan.stdout
            .contains("<+ istio_system (k8s.namespace) will be adopted"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("<+ default_namespace (k8s.namespace) will be adopted and updated in place"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("Cost: +$800/month: 2 general-purpose CAs"),
        "{}",
        plan.all()
    );

    // Apply.
    let apply = env.trustplane(&["apply", STACK, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.stdout.contains("Apply complete! Resources: 13 added"),
        "{}",
        apply.all()
    );
    let cas = env.moto.ca_statuses();
    assert_eq!(cas.len(), 2, "{cas:?}");
    assert!(cas.iter().all(|(_, s)| s == "ACTIVE"), "{cas:?}");
    let secret = env.k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "secret",
        "cacerts",
        "-o",
        "json",
    ]);
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    for key in ["tls.crt", "ca.crt", "tls.key"] {
        assert!(
            secret["data"][key].is_string(),
            "cacerts has {key}: {secret}"
        );
    }
    let labels = env
        .k8s
        .kubectl_ok(&["get", "ns", "default", "-o", "jsonpath={.metadata.labels}"]);
    assert!(
        labels.contains("\"istio-injection\":\"enabled\""),
        "{labels}"
    );
    env.k8s
        .kubectl_ok(&["-n", "default", "get", "deployment", "productpage-v1"]);

    // Verify (step 9): the chain in cacerts goes up to the PCA CAs, serials matching.
    let serial = env.run(&["output", "subordinate_ca_serial_decimal"]);
    assert_eq!(serial.code, 0, "{}", serial.all());
    let verify = env.trustplane(&["verify", STACK]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stdout.contains("The chain is valid"),
        "{}",
        verify.all()
    );
    assert!(
        verify
            .stdout
            .contains(&format!("decimal {}", serial.stdout.trim())),
        "the subordinate's serial, as the guide compares it: {}",
        verify.all()
    );

    // Replan: nothing to do.
    let replan = env.trustplane(&["plan", STACK, "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
    assert!(replan.stdout.contains("No changes."), "{}", replan.all());

    // Three changes outside trustplane: a label removed, the issuer's policy edited, a
    // Helm release uninstalled.
    env.k8s
        .kubectl_ok(&["label", "namespace", "default", "istio-injection-"]);
    env.moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         arn = [p['Arn'] for p in iam.list_policies(Scope='Local')['Policies'] if p['PolicyName'].startswith('AWSPCAIssuerPolicy')][0]\n\
         doc = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['acm-pca:*'], 'Resource': '*'}]}\n\
         iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=True)",
    );
    let uninstall = Command::new(helm())
        .args(["uninstall", "istiod", "-n", "istio-system", "--kubeconfig"])
        .arg(env.k8s.kubeconfig())
        .output()
        .unwrap();
    assert!(
        uninstall.status.success(),
        "{}",
        String::from_utf8_lossy(&uninstall.stderr)
    );

    let drift = env.trustplane(&["drift", STACK]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift
            .stdout
            .contains("~ default_namespace (k8s.namespace) changed"),
        "{}",
        drift.all()
    );
    assert!(
        drift
            .stdout
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0].trim_start().starts_with("~ labels ")
                && w[0].ends_with("= {")
                && w[1].trim_start().starts_with("- istio-injection ")),
        "{}",
        drift.all()
    );
    assert!(
        drift
            .stdout
            .contains("~ pca_issuer_policy (aws.iam.policy) changed"),
        "{}",
        drift.all()
    );
    assert!(
        drift.stdout.contains("- istiod (helm.release) was deleted"),
        "{}",
        drift.all()
    );
    assert!(
        drift.stdout.contains("Drift: 3 resource(s)"),
        "{}",
        drift.all()
    );

    // Apply repairs all three.
    let repair = env.trustplane(&["apply", STACK, "--auto-approve"]);
    assert_eq!(repair.code, 0, "{}", repair.all());
    assert_eq!(
        summary_line(&repair.stdout),
        "Plan: 1 to add, 2 to change, 0 to replace, 0 to destroy."
    );
    let after = env.trustplane(&["drift", STACK]);
    assert_eq!(after.code, 0, "{}", after.all());

    // Destroy: everything gone, CAs disabled and scheduled for deletion.
    let destroy = env.trustplane(&["destroy", STACK, "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    // The OIDC provider and the default namespace are retained: forgotten, not deleted.
    assert!(
        destroy.stdout.contains("14 destroyed, 2 forgotten"),
        "{}",
        destroy.all()
    );
    let cas = env.moto.ca_statuses();
    assert!(cas.iter().all(|(_, s)| s == "DELETED"), "{cas:?}");
    let (exists, _, _) = env.k8s.kubectl(&["get", "ns", "istio-system"]);
    assert!(!exists, "istio-system was deleted");
    let (default_exists, _, _) = env.k8s.kubectl(&["get", "ns", "default"]);
    assert!(
        default_exists,
        "the adopted default namespace is left in place"
    );

    // A final drift against the empty state is clean.
    let last = env.trustplane(&["drift", STACK]);
    assert_eq!(last.code, 0, "{}", last.all());
    assert!(last.stdout.contains("No drift"), "{}", last.all());
}
