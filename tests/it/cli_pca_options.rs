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
            "eu-central-2",
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
    s.write("pki.yaml", &root_stack("eu-central-2", ""));
    let plan = run(&s, &moto, &["plan", "pki.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("key_storage_security_standard: FIPS_140_2_LEVEL_2_OR_HIGHER (the default of eu-central-2)"),
        "{}",
        plan.all()
    );
    // moto refuses the level-3 default in eu-central-2, as AWS does: this apply only
    // succeeds because the region's standard is sent.
    let apply = run(&s, &moto, &["apply", "pki.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let arns = arns_in(&moto, "eu-central-2");
    assert_eq!(arns.len(), 1, "the CA is in eu-central-2: {arns:?}");
    let arn = &arns[0];
    assert_eq!(
        describe(&moto, "eu-central-2", arn, "KeyStorageSecurityStandard"),
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
