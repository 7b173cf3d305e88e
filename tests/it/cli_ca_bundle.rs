//! AWS endpoints whose certificates only a CA bundle vouches for (a network that
//! inspects TLS), through the binary: AWS_CA_BUNDLE and a profile's `ca_bundle` are
//! trusted in place of the system's roots, for the AWS provider and for state in S3; a
//! bundle that is set but unusable is an error that changes nothing.

use crate::common::stand_ins::Moto;
use crate::common::tls_front::TlsFront;
use crate::common::{Run, Sandbox};

const STACK: &str = "stack: corp\nproviders:\n  aws: {region: us-east-1}\nresources:\n  \
    policy:\n    type: aws.iam.policy\n    properties:\n      name: corp-policy\n      \
    document:\n        Version: \"2012-10-17\"\n        Statement:\n          \
    - {Effect: Allow, Action: [\"acm-pca:GetCertificate\"], Resource: \"*\"}\n";

/// moto behind a TLS front with a CA of its own, and a sandbox holding `corp.yaml` and
/// that CA as `corp-ca.pem`.
struct Corp {
    moto: Moto,
    front: TlsFront,
    s: Sandbox,
    /// The path of `corp-ca.pem`.
    bundle: String,
}

impl Corp {
    fn new(stack: &str) -> Corp {
        let moto = Moto::start();
        let front = TlsFront::start(&moto.url);
        let s = Sandbox::new();
        s.write("corp.yaml", stack);
        let bundle = s.write("corp-ca.pem", &front.ca_pem).display().to_string();
        Corp {
            moto,
            front,
            s,
            bundle,
        }
    }

    /// trustplane with moto's environment, every AWS call sent to the front, and `extra`;
    /// no CA bundle but what `extra` sets (a machine's own AWS_CA_BUNDLE would decide
    /// otherwise).
    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = self.s.command(args);
        cmd.envs(self.moto.env())
            .env("AWS_ENDPOINT_URL", self.front.url())
            .env_remove("AWS_CA_BUNDLE")
            .envs(extra.iter().copied());
        Run::of(cmd.output().unwrap())
    }

    fn with_bundle(&self) -> [(&str, &str); 1] {
        [("AWS_CA_BUNDLE", self.bundle.as_str())]
    }

    /// The account's own IAM policies, read from moto directly.
    fn policies(&self) -> String {
        self.moto
            .boto3(
                "import json\n\
                 iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
                 print(json.dumps(sorted(p['PolicyName'] for p in iam.list_policies(Scope='Local')['Policies'])))",
            )
            .trim()
            .to_string()
    }
}

const APPLY: &[&str] = &["apply", "corp.yaml", "--auto-approve"];

#[test]
fn aws_ca_bundle_is_trusted_in_place_of_the_system_roots() {
    let c = Corp::new(STACK);
    // The system's roots do not vouch for the endpoint: an error, nothing created.
    let refused = c.run(APPLY, &[]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.all().contains("UnknownIssuer"),
        "the error is the certificate's: {}",
        refused.all()
    );
    assert_eq!(c.policies(), "[]");

    c.run(APPLY, &c.with_bundle()).ok();
    assert_eq!(c.policies(), r#"["corp-policy"]"#);
    let plan = c.run(
        &["plan", "corp.yaml", "--detailed-exitcode"],
        &c.with_bundle(),
    );
    assert_eq!(plan.code, 0, "converged: {}", plan.all());
}

#[test]
fn a_profile_ca_bundle_is_trusted_and_aws_ca_bundle_overrides_it() {
    let c = Corp::new(STACK);
    let config = c.s.write(
        "aws/config",
        &format!(
            "[profile corp]\nregion = us-east-1\nca_bundle = {}\n",
            c.bundle
        ),
    );
    let not_pem = c.s.write("not-a-bundle.txt", "hello\n");
    let (config, not_pem) = (config.display().to_string(), not_pem.display().to_string());
    let profile = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_PROFILE", "corp"),
    ];

    c.run(APPLY, &profile).ok();
    assert_eq!(c.policies(), r#"["corp-policy"]"#);

    // AWS_CA_BUNDLE comes first, as for the AWS CLI: an unusable one is named, never
    // passed over for the profile's or the system's.
    let mut overridden = profile.to_vec();
    overridden.push(("AWS_CA_BUNDLE", not_pem.as_str()));
    let plan = c.run(&["plan", "corp.yaml"], &overridden);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.all().contains(&format!(
            "cannot use the CA bundle {not_pem} (AWS_CA_BUNDLE): it holds no PEM certificate"
        )),
        "{}",
        plan.all()
    );
}

#[test]
fn a_missing_bundle_is_named_and_nothing_changes() {
    let c = Corp::new(STACK);
    let missing = c.s.path("nowhere/ca.pem").display().to_string();
    let apply = c.run(APPLY, &[("AWS_CA_BUNDLE", missing.as_str())]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.all().contains(&format!(
            "cannot use the CA bundle {missing} (AWS_CA_BUNDLE)"
        )),
        "{}",
        apply.all()
    );
    assert_eq!(c.policies(), "[]");
    assert!(c.s.state_list("corp.yaml").is_empty(), "nothing recorded");
}

#[test]
fn state_in_s3_trusts_the_bundle_too() {
    let c = Corp::new(&STACK.replace(
        "resources:\n",
        "state:\n  s3: {bucket: corp-state, key: teams/corp, region: us-east-1}\nresources:\n",
    ));
    c.moto.boto3(
        "boto3.client('s3', endpoint_url=endpoint, region_name=region).create_bucket(Bucket='corp-state')",
    );
    let refused = c.run(&["plan", "corp.yaml"], &[]);
    assert_eq!(
        refused.code,
        1,
        "the state cannot be reached: {}",
        refused.all()
    );
    c.run(APPLY, &c.with_bundle()).ok();
    let listed = c.run(&["state", "list", "-f", "corp.yaml"], &c.with_bundle());
    listed.ok();
    assert!(listed.stdout.contains("policy"), "{}", listed.all());
}
