//! AWS Private CA options a real account needs, through the real binary against moto: the
//! key storage standard each region supports, a parent CA in another region given by ARN,
//! and an existing CA used by ARN.

use crate::common;

use common::stand_ins::Moto;
use common::Sandbox;

fn run(s: &Sandbox, moto: &Moto, args: &[&str]) -> common::Run {
    let env: Vec<(String, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

fn root_stack(region: &str, extra: &str) -> String {
    format!(
        r#"stack: pki
providers:
  aws:
    region: {region}
resources:
  root_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: root
      subject: {{common_name: Regional Root}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 10y
{extra}"#
    )
}

/// DescribeCertificateAuthority in `region`, through boto3 (an independent client).
fn describe(moto: &Moto, region: &str, arn: &str, field: &str) -> String {
    moto.boto3(&format!(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name={region:?})\n\
         print(pca.describe_certificate_authority(CertificateAuthorityArn={arn:?})['CertificateAuthority'][{field:?}])"
    ))
    .trim()
    .to_string()
}

/// The ARNs of the CAs in `region`.
fn arns_in(moto: &Moto, region: &str) -> Vec<String> {
    moto.boto3(&format!(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name={region:?})\n\
         for ca in pca.list_certificate_authorities()['CertificateAuthorities']: print(ca['Arn'])"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn a_key_storage_standard_the_region_refuses_is_a_validate_error_at_its_line() {
    let s = Sandbox::new();
    s.write(
        "pki.yaml",
        &root_stack(
            "ap-southeast-3",
            "      key_storage_security_standard: FIPS_140_2_LEVEL_3_OR_HIGHER\n",
        ),
    );
    let v = s.run(&["validate", "pki.yaml"]);
    assert_ne!(v.code, 0, "{}", v.all());
    let out = v.all();
    assert!(out.contains("pki::key_storage_unsupported"), "{out}");
    assert!(
        out.contains("pki.yaml:14"),
        "file:line of the property: {out}"
    );
    assert!(
        out.contains("set key_storage_security_standard: FIPS_140_2_LEVEL_2_OR_HIGHER"),
        "the fix: {out}"
    );
}

#[test]
fn without_a_standard_the_ca_gets_its_regions_default_and_the_plan_says_which() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("pki.yaml", &root_stack("ap-southeast-3", ""));
    let plan = run(&s, &moto, &["plan", "pki.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("key_storage_security_standard: FIPS_140_2_LEVEL_2_OR_HIGHER (the default of ap-southeast-3)"),
        "{}",
        plan.all()
    );
    // moto refuses the level-3 default in ap-southeast-3, as AWS does: this apply only
    // succeeds because the region's standard is sent.
    let apply = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let arns = arns_in(&moto, "ap-southeast-3");
    assert_eq!(arns.len(), 1, "the CA is in ap-southeast-3: {arns:?}");
    let arn = &arns[0];
    assert_eq!(
        describe(&moto, "ap-southeast-3", arn, "KeyStorageSecurityStandard"),
        "FIPS_140_2_LEVEL_2_OR_HIGHER"
    );
    let again = run(&s, &moto, &["plan", "pki.yaml", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "no changes after apply: {}", again.all());
}

#[test]
fn an_explicit_standard_is_sent_read_back_and_forces_a_new_ca() {
    let moto = Moto::start();
    let s = Sandbox::new();
    let level2 = "      key_storage_security_standard: FIPS_140_2_LEVEL_2_OR_HIGHER\n";
    s.write("pki.yaml", &root_stack("us-east-1", level2));
    run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]).ok();
    let cas = moto.ca_statuses();
    assert_eq!(cas.len(), 1, "{cas:?}");
    let arn = &arns_in(&moto, "us-east-1")[0];
    assert_eq!(
        describe(&moto, "us-east-1", arn, "KeyStorageSecurityStandard"),
        "FIPS_140_2_LEVEL_2_OR_HIGHER"
    );
    s.write(
        "pki.yaml",
        &root_stack(
            "us-east-1",
            "      key_storage_security_standard: FIPS_140_2_LEVEL_3_OR_HIGHER\n",
        ),
    );
    let plan = run(&s, &moto, &["plan", "pki.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("key_storage_security_standard cannot be changed in place"),
        "{}",
        plan.all()
    );
}

#[test]
fn a_subordinate_in_another_region_is_signed_by_a_parent_given_by_arn() {
    let moto = Moto::start();
    // The central PKI's root, made by hand in us-east-1 (moto holds every region).
    let (root_arn, root_pem) = moto.root_ca("Central Root");
    assert!(
        root_arn.starts_with("arn:aws:acm-pca:us-east-1:"),
        "{root_arn}"
    );
    let s = Sandbox::new();
    // The provider's region is neither the root's nor the subordinate's: every call must
    // go where its CA lives.
    s.write(
        "pki.yaml",
        &format!(
            r#"stack: pki
providers:
  aws:
    region: ap-southeast-2
resources:
  istio_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: subordinate
      region: eu-west-1
      parent: {root_arn}
      subject: {{common_name: Istio Intermediate}}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 180d
"#
        ),
    );
    let plan = run(&s, &moto, &["plan", "pki.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.all().contains("pki::external_parent_unchecked"),
        "the path-length rule cannot be checked for an external parent, and the plan says so: {}",
        plan.all()
    );

    let apply = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let subs = arns_in(&moto, "eu-west-1");
    assert_eq!(subs.len(), 1, "the subordinate is in eu-west-1: {subs:?}");
    assert!(arns_in(&moto, "ap-southeast-2").is_empty());
    assert_eq!(describe(&moto, "eu-west-1", &subs[0], "Status"), "ACTIVE");
    assert_eq!(describe(&moto, "us-east-1", &root_arn, "Status"), "ACTIVE");
    let chain = moto.boto3(&format!(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name='eu-west-1')\n\
         print(pca.get_certificate_authority_certificate(CertificateAuthorityArn={:?})['CertificateChain'])",
        subs[0]
    ));
    assert_eq!(
        chain.trim(),
        root_pem.trim(),
        "the subordinate's chain is the root"
    );

    let again = run(&s, &moto, &["plan", "pki.yaml", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "no changes after apply: {}", again.all());
    let destroy = run(&s, &moto, &["destroy", "pki.yaml", "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert_eq!(describe(&moto, "eu-west-1", &subs[0], "Status"), "DELETED");
    assert_eq!(describe(&moto, "us-east-1", &root_arn, "Status"), "ACTIVE");
}

/// Runs trustplane from the repository root against moto, the emulator and helm, with the
/// sandbox variables and a state of its own.
fn flagship(
    moto: &Moto,
    k8s: &common::stand_ins::Emulator,
    state: &std::path::Path,
    args: &[&str],
) -> common::Run {
    let out = std::process::Command::new(common::bin())
        .args(args)
        .args([
            "--var-file",
            "examples/sandbox/sandbox.vars.yaml",
            "--state",
        ])
        .arg(state)
        .current_dir(common::repo_root())
        .envs(moto.env())
        .env("KUBECONFIG", k8s.kubeconfig())
        .env("TRUSTPLANE_HELM", common::stand_ins::helm())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    common::Run::of(out)
}

#[test]
fn the_flagship_uses_an_existing_ca_by_arn_and_creates_none() {
    let moto = Moto::start();
    // The existing hierarchy, made beforehand by another stack (a central PKI team's).
    let pki = Sandbox::new();
    pki.write(
        "central.yaml",
        r#"stack: central
providers:
  aws: {region: us-east-1}
resources:
  root:
    type: aws.pca.certificate_authority
    properties: {kind: root, subject: {common_name: Central Root}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 10y}
  sub:
    type: aws.pca.certificate_authority
    properties: {kind: subordinate, parent: '${root.arn}', path_length: 1, subject: {common_name: Central Sub}, key_algorithm: RSA_2048, signing_algorithm: SHA256WITHRSA, validity: 5y}
outputs:
  root: ${root.arn}
  sub: ${sub.arn}
"#,
    );
    run(&pki, &moto, &["apply", "central.yaml", "--auto-approve"]).ok();
    let output = |name: &str| {
        run(&pki, &moto, &["output", name, "-f", "central.yaml"])
            .stdout
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let (root_arn, sub_arn) = (output("root"), output("sub"));
    assert!(sub_arn.starts_with("arn:aws:acm-pca:"), "{sub_arn}");

    let k8s = common::stand_ins::Emulator::start(Some(&moto.url));
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         eks.create_cluster(name='sandbox', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={})",
    );
    let state = tempfile::tempdir().unwrap();
    let stack = "stacks/istio-aws-pca.yaml";
    let sub_var = format!("subordinate_ca_arn={sub_arn}");
    let root_var = format!("root_ca_arn={root_arn}");

    // Only the subordinate given: the root would be created for nothing, and is refused.
    let half = flagship(
        &moto,
        &k8s,
        state.path(),
        &["plan", stack, "--var", &sub_var],
    );
    assert_ne!(half.code, 0, "{}", half.all());
    assert!(
        half.all().contains("pki::parent_of_existing_ca"),
        "{}",
        half.all()
    );

    let args = ["--var", sub_var.as_str(), "--var", root_var.as_str()];
    let mut plan_args = vec!["plan", stack];
    plan_args.extend(args);
    let plan = flagship(&moto, &k8s, state.path(), &plan_args);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains("Cost: +$0/month: 2 existing CAs"),
        "{}",
        plan.all()
    );

    let mut apply_args = vec!["apply", stack, "--auto-approve"];
    apply_args.extend(args);
    let apply = flagship(&moto, &k8s, state.path(), &apply_args);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(
        moto.ca_statuses().len(),
        2,
        "no CA created: {:?}",
        moto.ca_statuses()
    );
    let issuer_arn = k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "awspcaissuer",
        "aws-pca-issuer-istio",
        "-o",
        "jsonpath={.spec.arn}",
    ]);
    assert_eq!(
        issuer_arn.trim(),
        sub_arn,
        "the issuer uses the existing CA"
    );
    let policy = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         p = [p for p in iam.list_policies(Scope='Local')['Policies'] if p['PolicyName'].startswith('AWSPCAIssuerPolicy-')][0]\n\
         print(json.dumps(iam.get_policy_version(PolicyArn=p['Arn'], VersionId=p['DefaultVersionId'])['PolicyVersion']['Document']))",
    );
    assert!(
        policy.contains(&sub_arn),
        "the IAM policy names the existing CA: {policy}"
    );

    // Destroying the stack leaves the CAs it did not create.
    let mut destroy_args = vec!["destroy", stack, "--auto-approve"];
    destroy_args.extend(args);
    let destroy = flagship(&moto, &k8s, state.path(), &destroy_args);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    let cas = moto.ca_statuses();
    assert!(cas.iter().all(|(_, s)| s == "ACTIVE"), "{cas:?}");
}
