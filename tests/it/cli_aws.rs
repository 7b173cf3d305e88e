//! The AWS resource types through the real binary against moto: the engine's lifecycle
//! (apply, no-op replan, update in place, replacement, drift, destroy) and a SIGKILL in the
//! middle of CA activation followed by a re-apply that ends with exactly one CA each.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::stand_ins::Moto;
use common::{summary_line, Sandbox};

fn stack(tag: &str, policy_name: &str) -> String {
    format!(
        r#"
stack: pki
providers:
  aws:
    region: us-east-1
resources:
  root_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: root
      subject: {{common_name: Sandbox Root, organization: Example}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 10y
      tags: {{team: {tag}}}
  sub_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: subordinate
      parent: ${{root_ca.arn}}
      path_length: 1
      subject: {{common_name: Sandbox Sub, organization: Example}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 5y
  policy:
    type: aws.iam.policy
    properties:
      name: {policy_name}
      document:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: [acm-pca:DescribeCertificateAuthority, acm-pca:GetCertificate, acm-pca:IssueCertificate]
            Resource: ${{sub_ca.arn}}
outputs:
  sub_serial: ${{sub_ca.serial}}
"#
    )
}

fn run(s: &Sandbox, moto: &Moto, args: &[&str]) -> common::Run {
    let env: Vec<(String, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

#[test]
fn pca_and_iam_lifecycle_through_the_engine() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("pki.yaml", &stack("mesh", "issuer-policy"));

    let apply = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(apply.stdout.contains("3 added"), "{}", apply.all());
    let cas = moto.ca_statuses();
    assert_eq!(cas.len(), 2, "{cas:?}");
    assert!(cas.iter().all(|(_, st)| st == "ACTIVE"), "{cas:?}");
    let serial = run(&s, &moto, &["output", "sub_serial", "-f", "pki.yaml"]);
    assert_eq!(
        serial.stdout.trim().len(),
        40,
        "a 20-byte hex serial: {}",
        serial.all()
    );

    let replan = run(&s, &moto, &["plan", "pki.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "no-op replan: {}", replan.all());

    // Tags change in place; a new policy name replaces the policy.
    s.write("pki.yaml", &stack("platform", "issuer-policy-v2"));
    let plan = run(&s, &moto, &["plan", "pki.yaml"]);
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 0 to add, 1 to change, 1 to replace, 0 to destroy.",
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("~ root_ca (aws.pca.certificate_authority) will be updated in place"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("-/+ policy (aws.iam.policy) must be replaced"),
        "{}",
        plan.all()
    );
    let apply = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let names = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(sorted(p['PolicyName'] for p in iam.list_policies(Scope='Local')['Policies']))",
    );
    assert_eq!(names.trim(), "['issuer-policy-v2']");

    // A tag changed outside trustplane is drift; apply puts it back.
    moto.boto3(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name=region)\n\
         for ca in pca.list_certificate_authorities()['CertificateAuthorities']:\n\
         \x20   if ca['CertificateAuthorityConfiguration']['Subject']['CommonName'] == 'Sandbox Root':\n\
         \x20       pca.tag_certificate_authority(CertificateAuthorityArn=ca['Arn'], Tags=[{'Key': 'team', 'Value': 'rogue'}])",
    );
    let drift = run(&s, &moto, &["drift", "pki.yaml"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift
            .stdout
            .contains("~ root_ca (aws.pca.certificate_authority) changed"),
        "{}",
        drift.all()
    );
    assert!(
        drift
            .stdout
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0].trim_start().starts_with("~ tags ")
                && w[0].ends_with("= {")
                && w[1].trim_start() == "~ team = \"platform\" -> \"rogue\""),
        "{}",
        drift.all()
    );
    assert!(
        drift
            .stdout
            .contains("Running cost of the CAs in state: $800/month"),
        "{}",
        drift.all()
    );
    run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]).ok();
    assert_eq!(run(&s, &moto, &["drift", "pki.yaml"]).code, 0);

    // Destroy leaves nothing: CAs disabled and scheduled for deletion, the policy gone.
    let destroy = run(&s, &moto, &["destroy", "pki.yaml", "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert!(
        destroy
            .stdout
            .contains("Cost: -$800/month: -2 general-purpose CAs"),
        "{}",
        destroy.all()
    );
    assert!(moto.ca_statuses().iter().all(|(_, st)| st == "DELETED"));
    let left = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(len(iam.list_policies(Scope='Local')['Policies']))",
    );
    assert_eq!(left.trim(), "0");
}

#[test]
fn sigkill_during_ca_activation_then_reapply_leaves_one_ca_each() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("pki.yaml", &stack("mesh", "issuer-policy"));
    let mut child = s.command(&["apply", "pki.yaml", "--auto-approve"]);
    for (k, v) in moto.env() {
        child.env(k, v);
    }
    let mut child = child
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill as soon as the root CA exists in PCA but before its activation finished.
    let start = Instant::now();
    loop {
        let cas = moto.ca_statuses();
        if !cas.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no CA was created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = moto.ca_statuses();
    assert!(!before.is_empty() && before.len() <= 2, "{before:?}");

    let again = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let after = moto.ca_statuses();
    let roots = after.iter().filter(|(n, _)| n == "Sandbox Root").count();
    let subs = after.iter().filter(|(n, _)| n == "Sandbox Sub").count();
    assert_eq!(
        (roots, subs),
        (1, 1),
        "exactly one CA per resource: {after:?}"
    );
    assert!(after.iter().all(|(_, st)| st == "ACTIVE"), "{after:?}");
    assert!(run(&s, &moto, &["plan", "pki.yaml"])
        .stdout
        .contains("No changes."));
}

/// Profiles that cannot give credentials, one misconfigured and one whose
/// credential_process fails: each apply names the reason (not a second-hand
/// "initialization error already taken") and creates nothing. Once the process works, the
/// same apply goes through, running it once for all its calls.
#[test]
fn profiles_without_credentials_are_reported_with_the_reason_and_change_nothing() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("pki.yaml", &stack("platform", "issuer-creds"));
    let log = s.path("credential-process.log");
    let script = common::credential_process(
        s.dir.path(),
        &log,
        &format!(
            "[ -f {} ] || {{ echo 'the vault is locked' >&2; exit 3; }}",
            s.path("unlocked").display()
        ),
    );
    let config = s.write(
        "aws-config",
        &format!(
            "[profile vault]\nregion = us-east-1\ncredential_process = {}\n\n\
             [profile broken]\nregion = us-east-1\nrole_arn = arn:aws:iam::123456789012:role/x\n\
             source_profile = nowhere\n",
            script.display()
        ),
    );
    let apply_as = |profile: &str| {
        let mut c = s.command(&["apply", "pki.yaml", "--auto-approve", "--state", "state"]);
        c.envs(moto.env());
        common::use_profile(&mut c, &config, profile);
        common::Run::of(c.output().unwrap())
    };
    // Each failed apply gives the reason, not a second-hand "already taken".
    let fails_with = |profile: &str, reason: &str| {
        let r = apply_as(profile);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(
            r.stderr.contains(reason) && !r.stderr.contains("already taken"),
            "{}",
            r.all()
        );
    };

    // A profile the chain cannot build: told once by the profile provider, yet every
    // call's error gives the reason.
    fails_with("broken", "nowhere");
    fails_with("vault", "the vault is locked");
    assert!(moto.ca_statuses().is_empty(), "no CA was created");

    s.write("unlocked", "");
    std::fs::remove_file(&log).unwrap();
    let r = apply_as("vault");
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(moto.ca_statuses().len(), 2);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        1,
        "one run of the process for every call of the apply"
    );
}

/// CI's usual identity: an OIDC token file and a role (GitHub Actions, GitLab, EKS IRSA),
/// with no keys and no profile. A token file that is gone is an error naming it.
#[test]
fn a_web_identity_token_reaches_aws_without_keys() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("pki.yaml", &stack("ci", "issuer-ci"));
    let token = s.path("oidc-token");
    let apply = || {
        let mut c = s.command(&["apply", "pki.yaml", "--auto-approve"]);
        c.envs(moto.env());
        common::use_profile(&mut c, &s.path("no-aws-config"), "default");
        c.env_remove("AWS_PROFILE")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/ci-deploy")
            .env("AWS_ROLE_SESSION_NAME", "pipeline");
        common::Run::of(c.output().unwrap())
    };
    let missing = apply();
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(
        missing.stderr.contains(&format!(
            "the web identity token file {} (AWS_WEB_IDENTITY_TOKEN_FILE) cannot be read",
            token.display()
        )),
        "the error names the token file: {}",
        missing.all()
    );
    assert!(moto.ca_statuses().is_empty(), "nothing was created");

    // A token as a CI provider issues it (moto does not check its signature).
    s.write(
        "oidc-token",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmV4YW1wbGUvbWVzaDpyZWY6cmVmcy9oZWFkcy9tYWluIn0.c2ln",
    );
    let r = apply();
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(moto.ca_statuses().len(), 2);
}
