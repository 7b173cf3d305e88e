//! IAM stacks against moto started with `--iam-rewrites`, which stores and returns policy
//! documents as real IAM does (URL-encoded, one-element lists as strings, condition values
//! as strings, keys in IAM's order): a second plan must show no changes.

use crate::common;

use common::stand_ins::Moto;
use common::{summary_line, Sandbox};

const STACK: &str = r#"
stack: iam
providers:
  aws:
    region: us-east-1
resources:
  policy:
    type: aws.iam.policy
    properties:
      name: issuer-policy
      document:
        Version: "2012-10-17"
        Statement:
          - Sid: Issue
            Effect: Allow
            Action: [acm-pca:IssueCertificate]
            Resource: ["*"]
            Condition:
              Bool: {"aws:SecureTransport": true}
              NumericLessThan: {"aws:MultiFactorAuthAge": 3600}
          - Effect: Allow
            Action: [acm-pca:GetCertificate, acm-pca:DescribeCertificateAuthority]
            Resource: "*"
  role:
    type: aws.iam.role
    properties:
      name: issuer
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: [pods.eks.amazonaws.com]}
            Action: [sts:AssumeRole, sts:TagSession]
            Condition:
              Bool: {"aws:SecureTransport": true}
      policy_arns: ["${policy.arn}"]
"#;

fn run(s: &Sandbox, moto: &Moto, args: &[&str]) -> common::Run {
    let env: Vec<(String, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

#[test]
fn second_plan_of_an_iam_stack_shows_no_changes_against_rewriting_iam() {
    let moto = Moto::start_with_args(&["--iam-rewrites"]);
    let s = Sandbox::new();
    s.write("iam.yaml", STACK);

    let apply = run(&s, &moto, &["apply", "iam.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    // The documents really were rewritten: what the engine reads back is not what it sent.
    let stored = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         arn = iam.list_policies(Scope='Local')['Policies'][0]['Arn']\n\
         doc = iam.get_policy_version(PolicyArn=arn, VersionId='v1')['PolicyVersion']['Document']\n\
         trust = iam.get_role(RoleName='issuer')['Role']['AssumeRolePolicyDocument']\n\
         print(json.dumps([doc, trust]))",
    );
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let issue = &stored[0]["Statement"][0];
    assert_eq!(issue["Action"], "acm-pca:IssueCertificate", "{stored}");
    assert_eq!(issue["Condition"]["Bool"]["aws:SecureTransport"], "true");
    assert_eq!(
        issue["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"],
        "3600"
    );
    assert_eq!(
        stored[1]["Statement"][0]["Principal"]["Service"],
        "pods.eks.amazonaws.com"
    );

    let plan = run(&s, &moto, &["plan", "iam.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        summary_line(&plan.stdout).starts_with("No changes."),
        "{}",
        plan.all()
    );
}
