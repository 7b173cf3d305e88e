//! IAM creates that did not finish: a SIGKILL right after CreatePolicy, CreateRole or
//! CreateOpenIDConnectProvider returned, or an AttachRolePolicy that failed after
//! CreateRole, leaves an object the state never recorded. The next apply adopts it by its
//! ownership tags; an object of the same name that this state did not create stops the
//! apply and is left untouched.

use crate::common;

use std::process::Stdio;

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::Moto;
use common::Sandbox;

const STACK: &str = r#"
stack: iamcrash
providers:
  aws:
    region: us-east-1
resources:
  policy:
    type: aws.iam.policy
    properties:
      name: crash-policy
      document:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: [acm-pca:IssueCertificate]
            Resource: "*"
  oidc:
    type: aws.iam.oidc_provider
    properties:
      url: https://oidc.crash.example/id/1
      thumbprints: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]
  role:
    type: aws.iam.role
    properties:
      name: crash-role
      irsa: {oidc_provider: "${oidc.arn}", namespace: cert-manager, service_account: issuer}
      policy_arns: ["${policy.arn}"]
      tags: {team: mesh}
"#;

fn run(s: &Sandbox, moto: &Moto, args: &[&str]) -> common::Run {
    let env: Vec<(String, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

const IAM: &str = "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n";

/// (policies named crash-policy, roles named crash-role, OIDC providers) in moto.
fn counts(moto: &Moto) -> String {
    moto.boto3(&format!(
        "{IAM}print(sum(p['PolicyName'] == 'crash-policy' for p in iam.list_policies(Scope='Local')['Policies']),\n\
         \x20     sum(r['RoleName'] == 'crash-role' for r in iam.list_roles()['Roles']),\n\
         \x20     len(iam.list_open_id_connect_providers()['OpenIDConnectProviderList']))"
    ))
    .trim()
    .to_string()
}

/// The whole stack: the policy and the OIDC provider are created first, at once.
fn whole_stack(_: &Moto) -> String {
    STACK.to_string()
}

/// The role alone, its policy and OIDC provider made beforehand (untagged, outside the
/// stack), so that CreateRole is the apply's first call.
fn role_stack(moto: &Moto) -> String {
    moto.boto3(&format!(
        "{IAM}iam.create_policy(PolicyName='crash-policy', PolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}}]}}))\n\
         iam.create_open_id_connect_provider(Url='https://oidc.crash.example/id/1', ClientIDList=['sts.amazonaws.com'], ThumbprintList=['a' * 40])\n"
    ));
    r#"
stack: iamcrash
providers:
  aws:
    region: us-east-1
resources:
  role:
    type: aws.iam.role
    properties:
      name: crash-role
      irsa: {oidc_provider: "arn:aws:iam::123456789012:oidc-provider/oidc.crash.example/id/1", namespace: cert-manager, service_account: issuer}
      policy_arns: ["arn:aws:iam::123456789012:policy/crash-policy"]
      tags: {team: mesh}
"#
    .to_string()
}

/// Runs an apply of `stack` through a proxy that forwards every request and never
/// answers, so the create reaches moto and the apply can never record it; kills the apply
/// once moto holds the object `exists` looks for. Then a re-apply converges on exactly
/// one object each and a plan has nothing to do.
fn kill_after_create_then_reapply(address: &str, exists: &str, stack: fn(&Moto) -> String) {
    let moto = Moto::start();
    let stack = stack(&moto);
    let proxy = FaultProxy::start(&moto.url);
    let s = Sandbox::new();
    s.write("iam.yaml", &stack);
    proxy.set(Rule::all(Fault::Swallow));
    let mut cmd = s.command(&["apply", "iam.yaml", "--auto-approve"]);
    for (k, v) in moto.env() {
        let v = if k == "AWS_ENDPOINT_URL" {
            proxy.url()
        } else {
            v
        };
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = moto.boto3(&format!(
        "import time\n{IAM}\
         for _ in range(1200):\n\
         \x20   if {exists}:\n\
         \x20       print('created')\n\
         \x20       break\n\
         \x20   time.sleep(0.02)\n"
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.clear();
    assert_eq!(seen.trim(), "created", "the apply never created {address}");
    let recorded = s.state_list("iam.yaml");
    assert!(
        !recorded.iter().any(|(a, _)| a == address),
        "the killed apply must not have recorded {address}: {recorded:?}"
    );

    let again = run(&s, &moto, &["apply", "iam.yaml", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(counts(&moto), "1 1 1", "exactly one object each");
    let attached = moto.boto3(&format!(
        "{IAM}print([p['PolicyName'] for p in iam.list_attached_role_policies(RoleName='crash-role')['AttachedPolicies']])"
    ));
    assert_eq!(attached.trim(), "['crash-policy']");
    let plan = run(&s, &moto, &["plan", "iam.yaml"]);
    assert!(plan.stdout.contains("No changes."), "{}", plan.all());
    // The ownership tags are on the objects but never reported as drift.
    let tags = moto.boto3(&format!(
        "{IAM}print(sorted(t['Key'] for t in iam.list_role_tags(RoleName='crash-role')['Tags']))"
    ));
    assert_eq!(
        tags.trim(),
        "['team', 'trustplane:address', 'trustplane:lineage', 'trustplane:stack']"
    );
    let drift = run(&s, &moto, &["drift", "iam.yaml"]);
    assert_eq!(drift.code, 0, "{}", drift.all());
}

#[test]
fn sigkill_after_create_policy_then_reapply_adopts_the_policy() {
    kill_after_create_then_reapply(
        "policy",
        "any(p['PolicyName'] == 'crash-policy' for p in iam.list_policies(Scope='Local')['Policies'])",
        whole_stack,
    );
}

#[test]
fn sigkill_after_create_role_then_reapply_adopts_the_role() {
    kill_after_create_then_reapply(
        "role",
        "any(r['RoleName'] == 'crash-role' for r in iam.list_roles()['Roles'])",
        role_stack,
    );
}

#[test]
fn sigkill_after_create_oidc_provider_then_reapply_adopts_it() {
    kill_after_create_then_reapply(
        "oidc",
        "iam.list_open_id_connect_providers()['OpenIDConnectProviderList']",
        whole_stack,
    );
}

#[test]
fn objects_this_state_did_not_create_stop_the_apply_and_stay_untouched() {
    let moto = Moto::start();
    // Made by hand (or eksctl) before the stack: same names, no ownership tags.
    moto.boto3(&format!(
        "{IAM}iam.create_policy(PolicyName='crash-policy', PolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}}]}}))\n\
         iam.create_open_id_connect_provider(Url='https://oidc.crash.example/id/1', ClientIDList=['sts.amazonaws.com'], ThumbprintList=['b' * 40])\n"
    ));
    let snapshot = || {
        moto.boto3(&format!(
            "{IAM}pol = [p for p in iam.list_policies(Scope='Local')['Policies'] if p['PolicyName'] == 'crash-policy'][0]\n\
             arn = pol['Arn']\n\
             print(pol['DefaultVersionId'], len(iam.list_policy_versions(PolicyArn=arn)['Versions']), iam.list_policy_tags(PolicyArn=arn)['Tags'])\n\
             o = iam.list_open_id_connect_providers()['OpenIDConnectProviderList'][0]['Arn']\n\
             g = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=o)\n\
             print(g['ThumbprintList'], g['ClientIDList'], g.get('Tags', []))"
        ))
    };
    let before = snapshot();
    let s = Sandbox::new();
    s.write("iam.yaml", STACK);

    let apply = run(&s, &moto, &["apply", "iam.yaml", "--auto-approve"]);
    assert_ne!(apply.code, 0, "{}", apply.all());
    let out = apply.all();
    assert!(
        out.contains("IAM policy arn:aws:iam::123456789012:policy/crash-policy already exists and was not created by this state at policy: it carries no trustplane ownership tags"),
        "{out}"
    );
    assert!(
        out.contains("IAM OIDC provider arn:aws:iam::123456789012:oidc-provider/oidc.crash.example/id/1 already exists and was not created by this state at oidc"),
        "{out}"
    );
    assert!(
        out.contains(
            "`trustplane import policy arn:aws:iam::123456789012:policy/crash-policy STACK_FILE`"
        ),
        "{out}"
    );
    assert_eq!(snapshot(), before, "the existing objects are untouched");
    assert_eq!(counts(&moto), "1 0 1", "nothing was created");
    let recorded = s.state_list("iam.yaml");
    assert!(recorded.is_empty(), "nothing recorded: {recorded:?}");
}

#[test]
fn another_state_never_adopts_what_this_one_created() {
    let moto = Moto::start();
    let first = Sandbox::new();
    first.write("iam.yaml", STACK);
    run(&first, &moto, &["apply", "iam.yaml", "--auto-approve"]).ok();

    // The same stack in another state directory: another lineage.
    let second = Sandbox::new();
    second.write("iam.yaml", STACK);
    let apply = run(&second, &moto, &["apply", "iam.yaml", "--auto-approve"]);
    assert_ne!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.all().contains(
            "already exists and was not created by this state at policy: its ownership tags name another state (stack iamcrash, address policy, lineage "
        ),
        "{}",
        apply.all()
    );
    assert!(second.state_list("iam.yaml").is_empty());
    assert_eq!(counts(&moto), "1 1 1");
    let plan = run(&first, &moto, &["plan", "iam.yaml"]);
    assert!(plan.stdout.contains("No changes."), "{}", plan.all());
}

#[test]
fn a_failed_attach_after_create_role_is_finished_by_the_next_apply() {
    let moto = Moto::start();
    let s = Sandbox::new();
    // The managed policy does not exist yet: CreateRole succeeds, AttachRolePolicy fails.
    s.write(
        "role.yaml",
        "stack: iamattach\nproviders:\n  aws:\n    region: us-east-1\nresources:\n  role:\n    \
         type: aws.iam.role\n    properties:\n      name: crash-role\n      \
         assume_role_policy: {Version: '2012-10-17', Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: 'sts:AssumeRole'}]}\n      \
         policy_arns: ['arn:aws:iam::123456789012:policy/attached-later']\n",
    );
    let first = run(&s, &moto, &["apply", "role.yaml", "--auto-approve"]);
    assert_ne!(first.code, 0, "{}", first.all());
    assert!(
        first.all().contains("iam:AttachRolePolicy"),
        "{}",
        first.all()
    );
    assert!(
        first.all().contains("applying again adopts it"),
        "{}",
        first.all()
    );
    assert!(s.state_list("role.yaml").is_empty());
    assert_eq!(
        counts(&moto).split(' ').nth(1),
        Some("1"),
        "the role exists"
    );

    moto.boto3(&format!(
        "{IAM}iam.create_policy(PolicyName='attached-later', PolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}}]}}))\n"
    ));
    let again = run(&s, &moto, &["apply", "role.yaml", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(counts(&moto).split(' ').nth(1), Some("1"), "one role");
    let attached = moto.boto3(&format!(
        "{IAM}print([p['PolicyArn'] for p in iam.list_attached_role_policies(RoleName='crash-role')['AttachedPolicies']])"
    ));
    assert_eq!(
        attached.trim(),
        "['arn:aws:iam::123456789012:policy/attached-later']"
    );
    assert_eq!(
        s.state_list("role.yaml"),
        vec![("role".to_string(), "aws.iam.role".to_string())]
    );
    let plan = run(&s, &moto, &["plan", "role.yaml"]);
    assert!(plan.stdout.contains("No changes."), "{}", plan.all());
}
