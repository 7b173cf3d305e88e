//! EKS Pod Identity through the real binary, against moto's launcher (which serves the
//! association API as EKS does), the emulator and helm: the flagship stack with
//! `workload_identity: pod_identity` creates a role trusting pods.eks.amazonaws.com and an
//! association, and no OIDC provider or IRSA annotation; the wiring check catches an
//! association for another service account; a delete of an association EKS no longer has
//! is a no-op, while any other failure changes nothing.

use crate::common;

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::{helm, Emulator, Moto};
use common::{repo_root, summary_line, Sandbox};
use std::path::Path;
use std::time::Duration;

const FLAGSHIP: &str = "stacks/istio-aws-pca.yaml";

fn make_cluster(moto: &Moto, name: &str) {
    moto.boto3(&format!(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         eks.create_cluster(name='{name}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})"
    ));
}

/// The ARN of IAM role `name`, as moto has it.
fn role_arn(moto: &Moto, name: &str) -> String {
    moto.boto3(&format!(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(iam.get_role(RoleName='{name}')['Role']['Arn'])"
    ))
    .trim()
    .to_string()
}

/// Cluster "sandbox" has one association: the issuer's service account to the pods role.
fn assert_associated_with_pod_role(moto: &Moto) {
    let role_arn = role_arn(moto, "aws-pca-issuer-pod-sandbox");
    assert_eq!(
        associations(moto, "sandbox"),
        vec![format!("cert-manager/aws-pca-issuer {role_arn}")]
    );
}

/// The cluster's associations as `namespace/service_account role_arn` lines.
fn associations(moto: &Moto, cluster: &str) -> Vec<String> {
    let out = moto.boto3(&format!(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         for a in eks.list_pod_identity_associations(clusterName='{cluster}')['associations']:\n    \
             d = eks.describe_pod_identity_association(clusterName='{cluster}', associationId=a['associationId'])['association']\n    \
             print(d['namespace'] + '/' + d['serviceAccount'] + ' ' + d['roleArn'])"
    ));
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The flagship from the repository root with the sandbox variables, pod identity chosen.
fn flagship(moto: &Moto, k8s: &Emulator, state: &Path, args: &[&str]) -> common::Run {
    flagship_with(moto, k8s.kubeconfig(), state, "pod_identity", args)
}

/// The flagship with `workload_identity` set to `way`, on the cluster of `kubeconfig`.
fn flagship_with(
    moto: &Moto,
    kubeconfig: &Path,
    state: &Path,
    way: &str,
    args: &[&str],
) -> common::Run {
    let out = std::process::Command::new(common::bin())
        .args(args)
        .args(["--var-file", "examples/sandbox/sandbox.vars.yaml", "--var"])
        .arg(format!("workload_identity={way}"))
        .arg("--state")
        .arg(state)
        .current_dir(repo_root())
        .envs(moto.env())
        .env("KUBECONFIG", kubeconfig)
        .env("TRUSTPLANE_HELM", helm())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    common::Run::of(out)
}

#[test]
fn the_flagship_with_pod_identity_associates_a_pods_role_and_makes_no_irsa_wiring() {
    let moto = Moto::start();
    let k8s = Emulator::start(Some(&moto.url));
    make_cluster(&moto, "sandbox");
    let state = tempfile::tempdir().unwrap();

    let plan = flagship(&moto, &k8s, state.path(), &["plan", FLAGSHIP]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 14 to add, 0 to change, 0 to replace, 0 to destroy, 1 to read, 1 to adopt."
    );
    for line in [
        "+ pca_issuer_pod_identity (aws.eks.pod_identity_association) will be created",
        "+ pca_issuer_pod_identity_role (aws.iam.role) will be created",
        "+ pca_issuer_service_account_pod_identity (k8s.service_account) will be created",
    ] {
        assert!(plan.stdout.contains(line), "{line}:\n{}", plan.all());
    }
    for absent in ["cluster_oidc", "pca_issuer_role ", "role-arn"] {
        assert!(!plan.stdout.contains(absent), "{absent}:\n{}", plan.all());
    }

    let apply = flagship(
        &moto,
        &k8s,
        state.path(),
        &["apply", FLAGSHIP, "--auto-approve"],
    );
    assert_eq!(apply.code, 0, "{}", apply.all());

    // The association names the issuer's service account and the pod identity role.
    assert_associated_with_pod_role(&moto);
    // The role trusts pods.eks.amazonaws.com with AssumeRole and TagSession.
    let trust = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         doc = iam.get_role(RoleName='aws-pca-issuer-pod-sandbox')['Role']['AssumeRolePolicyDocument']\n\
         st = doc['Statement'][0]\n\
         print(st['Principal']['Service'], sorted(st['Action']))",
    );
    assert_eq!(
        trust.trim(),
        "pods.eks.amazonaws.com ['sts:AssumeRole', 'sts:TagSession']"
    );
    // Nothing of IRSA: no OIDC provider, no IRSA role, no annotation.
    let irsa = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(len(iam.list_open_id_connect_providers()['OpenIDConnectProviderList']))\n\
         print(sorted(r['RoleName'] for r in iam.list_roles()['Roles']))",
    );
    assert_eq!(irsa.trim(), "0\n['aws-pca-issuer-pod-sandbox']");
    let annotations = k8s.kubectl_ok(&[
        "-n",
        "cert-manager",
        "get",
        "serviceaccount",
        "aws-pca-issuer",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(!annotations.contains("role-arn"), "{annotations}");
    // Issuance went through: cacerts holds Istio's CA.
    k8s.kubectl_ok(&["-n", "istio-system", "get", "secret", "cacerts"]);
    let id = std::process::Command::new(common::bin())
        .args([
            "output",
            "pca_issuer_pod_identity_association_id",
            "-f",
            FLAGSHIP,
        ])
        .arg("--state")
        .arg(state.path())
        .current_dir(repo_root())
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout);
    assert!(id.trim().trim_matches('"').starts_with("a-"), "{id}");

    let replan = flagship(
        &moto,
        &k8s,
        state.path(),
        &["plan", FLAGSHIP, "--detailed-exitcode"],
    );
    assert_eq!(replan.code, 0, "{}", replan.all());

    let destroy = flagship(
        &moto,
        &k8s,
        state.path(),
        &["destroy", FLAGSHIP, "--auto-approve"],
    );
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert!(associations(&moto, "sandbox").is_empty());
}

/// IAM as the issuer's wiring sees it: the roles, how many OIDC providers, and the roles
/// the issuer policy is attached to.
fn iam_wiring(moto: &Moto) -> String {
    moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(sorted(r['RoleName'] for r in iam.list_roles()['Roles']))\n\
         print(len(iam.list_open_id_connect_providers()['OpenIDConnectProviderList']))\n\
         arn = [p['Arn'] for p in iam.list_policies(Scope='Local')['Policies'] if p['PolicyName'] == 'AWSPCAIssuerPolicy-sandbox'][0]\n\
         print(sorted(r['RoleName'] for r in iam.list_entities_for_policy(PolicyArn=arn)['PolicyRoles']))",
    )
    .trim()
    .to_string()
}

/// The issuer's service accounts in cert-manager as kubectl lists them: one
/// `name annotations` line each.
fn issuer_service_accounts(k8s: &Emulator) -> Vec<String> {
    k8s.kubectl_ok(&[
        "-n",
        "cert-manager",
        "get",
        "serviceaccounts",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations}{\"\\n\"}{end}",
    ])
    .lines()
    .filter(|l| l.starts_with("aws-pca-issuer "))
    .map(|l| l.trim().to_string())
    .collect()
}

/// The API server's URL, from the emulator's kubeconfig.
/// The issuer is Ready and `trustplane verify` finds Istio's CA chained up to the root.
fn assert_issuing(moto: &Moto, k8s: &Emulator, state: &Path, way: &str) {
    let ready = k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "awspcaissuer",
        "aws-pca-issuer-istio",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(ready.trim(), "True", "{way}");
    let verify = flagship_with(moto, k8s.kubeconfig(), state, way, &["verify", FLAGSHIP]);
    assert_eq!(verify.code, 0, "{way}: {}", verify.all());
    assert!(
        verify.stdout.contains("The chain is valid"),
        "{way}: {}",
        verify.all()
    );
}

#[test]
fn switching_an_applied_flagship_between_irsa_and_pod_identity_converges_both_ways() {
    let moto = Moto::start();
    let k8s = Emulator::start(Some(&moto.url));
    make_cluster(&moto, "sandbox");
    let state = tempfile::tempdir().unwrap();
    let run =
        |way: &str, args: &[&str]| flagship_with(&moto, k8s.kubeconfig(), state.path(), way, args);

    run("irsa", &["apply", FLAGSHIP, "--auto-approve"]).ok();
    assert_eq!(
        iam_wiring(&moto),
        "['aws-pca-issuer-sandbox']\n1\n['aws-pca-issuer-sandbox']"
    );
    let irsa_account = issuer_service_accounts(&k8s);
    assert_eq!(irsa_account.len(), 1, "{irsa_account:?}");
    assert!(
        irsa_account[0].contains("eks.amazonaws.com/role-arn"),
        "{irsa_account:?}"
    );

    // IRSA to pod identity: the plan names what goes and what comes.
    let plan = run("pod_identity", &["plan", FLAGSHIP]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 3 to add, 0 to change, 0 to replace, 2 to destroy, 1 to forget."
    );
    for line in [
        "- pca_issuer_role (aws.iam.role) will be destroyed",
        "- pca_issuer_service_account (k8s.service_account) will be destroyed",
        "cluster_oidc (aws.iam.oidc_provider) will be forgotten, not deleted (retain_on_destroy)",
        "+ pca_issuer_pod_identity_role (aws.iam.role) will be created",
        "+ pca_issuer_pod_identity (aws.eks.pod_identity_association) will be created",
        "+ pca_issuer_service_account_pod_identity (k8s.service_account) will be created",
    ] {
        assert!(plan.stdout.contains(line), "{line}:\n{}", plan.all());
    }
    // The old service account's delete is held back at the API server: were the new one
    // applied meanwhile, the delete would remove it.
    let proxy = FaultProxy::start(&k8s.url());
    proxy.set(
        Rule::all(Fault::Delay(Duration::from_secs(3)))
            .method("DELETE")
            .path("/serviceaccounts/aws-pca-issuer"),
    );
    let proxied = state.path().join("kubeconfig");
    std::fs::write(&proxied, proxy.kubeconfig_through(k8s.kubeconfig())).unwrap();
    flagship_with(
        &moto,
        &proxied,
        state.path(),
        "pod_identity",
        &["apply", FLAGSHIP, "--auto-approve"],
    )
    .ok();
    assert_eq!(proxy.faulted(), 1, "the delete went through the proxy");
    let again = run("pod_identity", &["plan", FLAGSHIP, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());

    // No IRSA role left, the policy on the pods role only; the OIDC provider stays for the
    // cluster's other IRSA roles.
    assert_eq!(
        iam_wiring(&moto),
        "['aws-pca-issuer-pod-sandbox']\n1\n['aws-pca-issuer-pod-sandbox']"
    );
    assert_associated_with_pod_role(&moto);
    // The service account survived the destroy of the IRSA one: once, not annotated.
    let pods_account = issuer_service_accounts(&k8s);
    assert_eq!(pods_account.len(), 1, "{pods_account:?}");
    assert!(!pods_account[0].contains("role-arn"), "{pods_account:?}");
    assert_issuing(&moto, &k8s, state.path(), "pod_identity");

    // And back: the retained OIDC provider is adopted again, not made twice.
    let back = run("irsa", &["plan", FLAGSHIP]);
    assert_eq!(back.code, 0, "{}", back.all());
    for line in [
        "- pca_issuer_pod_identity_role (aws.iam.role) will be destroyed",
        "- pca_issuer_pod_identity (aws.eks.pod_identity_association) will be destroyed",
        "- pca_issuer_service_account_pod_identity (k8s.service_account) will be destroyed",
        "<+ cluster_oidc (aws.iam.oidc_provider) will be adopted",
        "+ pca_issuer_role (aws.iam.role) will be created",
        "+ pca_issuer_service_account (k8s.service_account) will be created",
    ] {
        assert!(back.stdout.contains(line), "{line}:\n{}", back.all());
    }
    run("irsa", &["apply", FLAGSHIP, "--auto-approve"]).ok();
    let again = run("irsa", &["plan", FLAGSHIP, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        iam_wiring(&moto),
        "['aws-pca-issuer-sandbox']\n1\n['aws-pca-issuer-sandbox']"
    );
    assert!(associations(&moto, "sandbox").is_empty());
    let irsa_again = issuer_service_accounts(&k8s);
    assert_eq!(irsa_again.len(), 1, "{irsa_again:?}");
    let irsa_role_arn = role_arn(&moto, "aws-pca-issuer-sandbox");
    assert!(irsa_again[0].contains(&irsa_role_arn), "{irsa_again:?}");
    assert_issuing(&moto, &k8s, state.path(), "irsa");
}

#[test]
fn the_wiring_check_catches_an_association_for_another_service_account() {
    let s = Sandbox::new();
    let text = std::fs::read_to_string(repo_root().join(FLAGSHIP)).unwrap();
    let association = "role_arn: ${pca_issuer_pod_identity_role.arn}";
    let broken = text.replacen(
        &format!("      service_account: aws-pca-issuer\n      {association}"),
        &format!("      service_account: aws-privateca-issuer\n      {association}"),
        1,
    );
    assert_ne!(broken, text, "the association's service account line moved");
    s.write("stack.yaml", &broken);
    let plan = s.run(&[
        "plan",
        "stack.yaml",
        "--offline",
        "--var",
        "cluster_name=demo",
        "--var",
        "workload_identity=pod_identity",
    ]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("error[pki::pod_identity_subject_mismatch]")
            && plan.stderr.contains(
                "gives role pca_issuer_pod_identity_role to system:serviceaccount:cert-manager:aws-privateca-issuer"
            ),
        "{}",
        plan.all()
    );
    assert!(!s.exists("state"), "a failed plan created state");
    // With IRSA chosen the association is left out, and so is its check; validate checks
    // both choices and finds it.
    let irsa = s.run(&[
        "plan",
        "stack.yaml",
        "--offline",
        "--var",
        "cluster_name=demo",
    ]);
    assert_eq!(irsa.code, 0, "{}", irsa.all());
    let validate = s.run(&["validate", "stack.yaml"]);
    assert_eq!(validate.code, 1, "{}", validate.all());
    assert!(validate
        .stderr
        .contains("pki::pod_identity_subject_mismatch"));
}

const SMALL: &str = "stack: pods
providers:
  aws: {region: us-east-1, timeout: 2s, max_attempts: 2}
resources:
  role:
    type: aws.iam.role
    properties: {name: issuer-pods, pod_identity: true}
  assoc:
    type: aws.eks.pod_identity_association
    properties: {cluster_name: pods, namespace: cert-manager, service_account: aws-pca-issuer, role_arn: '${role.arn}'}
";

fn env_via(moto: &Moto, endpoint: &str) -> Vec<(String, String)> {
    let mut env = moto.env();
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = endpoint.to_string();
        }
    }
    env
}

fn run_env(s: &Sandbox, env: &[(String, String)], args: &[&str]) -> common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

#[test]
fn deleting_an_association_eks_no_longer_has_is_a_no_op() {
    let moto = Moto::start();
    make_cluster(&moto, "pods");
    let s = Sandbox::new();
    s.write("s.yaml", SMALL);
    let env = moto.env();
    run_env(&s, &env, &["apply", "s.yaml", "--auto-approve"]).ok();
    assert_eq!(associations(&moto, "pods").len(), 1);

    // A destroy planned while it existed, applied after someone else deleted it.
    run_env(
        &s,
        &env,
        &["plan", "s.yaml", "--destroy", "--out", "d.plan"],
    )
    .ok();
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         for a in eks.list_pod_identity_associations(clusterName='pods')['associations']:\n    \
             eks.delete_pod_identity_association(clusterName='pods', associationId=a['associationId'])",
    );
    let apply = run_env(&s, &env, &["apply", "d.plan", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        s.state_list("s.yaml").is_empty(),
        "{:?}",
        s.state_list("s.yaml")
    );
}

#[test]
fn any_other_failure_to_delete_an_association_changes_nothing() {
    let moto = Moto::start();
    make_cluster(&moto, "pods");
    let proxy = FaultProxy::start(&moto.url);
    let s = Sandbox::new();
    s.write("s.yaml", SMALL);
    let env = env_via(&moto, &proxy.url());
    run_env(&s, &env, &["apply", "s.yaml", "--auto-approve"]).ok();
    let before = associations(&moto, "pods");
    assert_eq!(before.len(), 1);

    // A server error, and a 404 that is not EKS's ResourceNotFoundException (an HTML page
    // from something in between): neither says the association is gone.
    for code in [500, 404] {
        proxy.set(
            Rule::all(Fault::Status {
                code,
                retry_after: None,
            })
            .method("DELETE")
            .path("/pod-identity-associations/"),
        );
        let destroy = run_env(&s, &env, &["destroy", "s.yaml", "--auto-approve"]);
        assert_eq!(destroy.code, 1, "{code}: {}", destroy.all());
        assert!(proxy.faulted() > 0, "{code}");
        assert_eq!(associations(&moto, "pods"), before, "{code}");
        let listed: Vec<String> = s.state_list("s.yaml").into_iter().map(|(a, _)| a).collect();
        assert!(listed.contains(&"assoc".to_string()), "{code}: {listed:?}");
    }
    proxy.clear();
    run_env(&s, &env, &["destroy", "s.yaml", "--auto-approve"]).ok();
    assert!(associations(&moto, "pods").is_empty());
}

#[test]
fn lifecycle_adopt_takes_the_association_of_the_service_account() {
    let moto = Moto::start();
    make_cluster(&moto, "pods");
    // Made by hand (or eksctl) for the same service account, with another role.
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         eks.create_pod_identity_association(clusterName='pods', namespace='cert-manager', serviceAccount='aws-pca-issuer', roleArn='arn:aws:iam::123456789012:role/old')",
    );
    let s = Sandbox::new();
    // A literal role ARN: the plan can look for the association already.
    s.write(
        "s.yaml",
        "stack: pods\nproviders:\n  aws: {region: us-east-1}\nresources:\n  assoc:\n    \
         type: aws.eks.pod_identity_association\n    lifecycle: {adopt: true}\n    \
         properties: {cluster_name: pods, namespace: cert-manager, service_account: aws-pca-issuer, \
         role_arn: 'arn:aws:iam::123456789012:role/issuer-pods'}\n",
    );
    let env = moto.env();
    let plan = run_env(&s, &env, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("<+ assoc (aws.eks.pod_identity_association) will be adopted"),
        "{}",
        plan.all()
    );
    run_env(&s, &env, &["apply", "s.yaml", "--auto-approve"]).ok();
    let now = associations(&moto, "pods");
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(
        now[0].ends_with(":role/issuer-pods"),
        "adopted and given the stack's role: {now:?}"
    );

    // Without adopt, the taken service account stops the create and names the association.
    let s2 = Sandbox::new();
    s2.write("s.yaml", &SMALL.replace("issuer-pods", "issuer-pods-2"));
    let clash = run_env(&s2, &env, &["apply", "s.yaml", "--auto-approve"]);
    assert_eq!(clash.code, 1, "{}", clash.all());
    assert!(
        clash.stderr.contains("pod identity association pods/a-")
            && clash.stderr.contains("already exists"),
        "{}",
        clash.all()
    );
}

const CHOICE: &str = "stack: choice
variables:
  mode: {default: irsa, allowed: [irsa, pod_identity]}
resources:
  irsa_only:
    type: core.null
    enabled: ${var.mode == \"irsa\"}
  pods_only:
    type: core.null
    enabled: ${var.mode != \"irsa\"}
  always:
    type: core.null
    depends_on: [irsa_only, pods_only]
";

#[test]
fn enabled_decides_from_a_variable_and_a_disabled_resource_in_state_is_destroyed() {
    let s = Sandbox::new();
    s.write("s.yaml", CHOICE);
    let first = s.run(&["apply", "s.yaml", "--auto-approve"]);
    first.ok();
    let names = |s: &Sandbox| -> Vec<String> {
        s.state_list("s.yaml").into_iter().map(|(a, _)| a).collect()
    };
    assert_eq!(names(&s), vec!["always", "irsa_only"]);

    let plan = s.run(&["plan", "s.yaml", "--var", "mode=pod_identity"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("- irsa_only (core.null) will be destroyed"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("+ pods_only (core.null) will be created"),
        "{}",
        plan.all()
    );
    s.run(&[
        "apply",
        "s.yaml",
        "--var",
        "mode=pod_identity",
        "--auto-approve",
    ])
    .ok();
    assert_eq!(names(&s), vec!["always", "pods_only"]);

    // A value outside `allowed` names the choices.
    let wrong = s.run(&["plan", "s.yaml", "--var", "mode=pod-identity"]);
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert!(
        wrong
            .stderr
            .contains("is \"pod-identity\", which it does not allow")
            && wrong.stderr.contains("`mode` allows: irsa, pod_identity"),
        "{}",
        wrong.all()
    );
}

#[test]
fn a_value_taken_from_a_disabled_resource_is_an_error_naming_both() {
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        &format!(
            "{CHOICE}  user:\n    type: core.null\n    properties: {{triggers: {{id: '${{irsa_only.id}}'}}}}\n"
        ),
    );
    s.run(&["plan", "s.yaml"]).ok();
    for args in [
        &["plan", "s.yaml", "--var", "mode=pod_identity"][..],
        &["validate", "s.yaml"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains(
                "error[stack::disabled_reference]: s.yaml:16:34: resource `user` refers to `irsa_only` (${irsa_only.id}), which is disabled"
            ) && r.stderr.contains("`irsa_only` at s.yaml:5:3 is left out of the stack"),
            "{args:?}: {}",
            r.all()
        );
    }
}
