//! Fleets through the real binary: one moto for AWS and three emulators, one per member,
//! each member reached by its own kubeconfig and context from the fleet file. A canary
//! wave, a canary that cannot be reached stopping the rollout, the rollout continuing
//! from its record, drift naming the one member changed by hand, and a fleet verify that
//! catches a member whose Istio CA chains to another root.

use crate::common;
use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo_root;
use common::stand_ins::{helm, Emulator, Moto};

/// The binary from the repository root (the sandbox's chart paths are relative to it),
/// with no KUBECONFIG of its own: each member must bring its connection.
fn trustplane(moto: Option<&Moto>, args: &[&str]) -> Run {
    Run::of(command(moto, args).output().unwrap())
}

fn command(moto: Option<&Moto>, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("TRUSTPLANE_HELM", helm())
        .env("NO_COLOR", "1");
    if let Some(moto) = moto {
        cmd.envs(moto.env());
    }
    cmd
}

const MEMBERS: [&str; 3] = ["canary", "east", "west"];

/// A fleet of the two tiers of stacks/ with the sandbox's local charts; `kubeconfigs`
/// gives each member's kubeconfig (all with context `emulator`).
fn fleet_file(dir: &Path, kubeconfigs: &[&Path; 3]) -> PathBuf {
    let root = repo_root();
    let mut members = String::new();
    for (name, kubeconfig) in MEMBERS.iter().zip(kubeconfigs) {
        members.push_str(&format!(
            "    {name}:\n      vars: {{cluster_name: {name}, network: net-{name}}}\n      \
             kubernetes: {{kubeconfig: {}, context: emulator}}\n",
            kubeconfig.display()
        ));
    }
    let text = format!(
        "fleet: mesh-test
trust:
  stack: {trust}
  vars: {{region: us-east-1}}
clusters:
  stack: {cluster}
  vars:
    mesh_id: mesh-test
    cert_manager_repository: null
    cert_manager_chart: examples/sandbox/charts/cert-manager
    pca_issuer_repository: null
    pca_issuer_chart: examples/sandbox/charts/aws-privateca-issuer
    istio_repository: null
    istio_base_chart: examples/sandbox/charts/istio-base
    istiod_chart: examples/sandbox/charts/istiod
    helm_wait: false
  members:
{members}rollout:
  waves:
    - members: [canary]
    - members: [\"*\"]
      max_parallel: 2
  gates: [verify]
",
        trust = root.join("stacks/mesh-trust.yaml").display(),
        cluster = root.join("stacks/mesh-cluster.yaml").display(),
    );
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The EKS clusters the cluster tier looks up (for their OIDC issuers).
fn eks_clusters(moto: &Moto) {
    let mut code =
        String::from("eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n");
    for name in MEMBERS {
        code.push_str(&format!(
            "eks.create_cluster(name='{name}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})\n"
        ));
    }
    moto.boto3(&code);
}

/// A kubeconfig like `of`'s whose server nothing listens on.
fn unreachable_kubeconfig(of: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(of).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let path = dir.join("unreachable-kubeconfig");
    std::fs::write(&path, text.replace(&server, "http://127.0.0.1:1")).unwrap();
    path
}

/// Whether the emulator holds anything the cluster tier makes.
fn untouched(k8s: &Emulator) -> bool {
    let (ns, _, _) = k8s.kubectl(&["get", "namespace", "istio-system"]);
    let (cm, _, _) = k8s.kubectl(&["get", "namespace", "cert-manager"]);
    !ns && !cm
}

fn resources_in_state(state: &Path, member: &str) -> String {
    let dir = state.join("mesh-cluster").join(member);
    if !dir.exists() {
        return String::new();
    }
    let r = trustplane(None, &["state", "list", "--state", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    r.stdout
}

/// A chain from a root no member uses: an Istio CA signed by a new self-signed root.
fn foreign_chain() -> (String, String, String) {
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Foreign Root CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root = p.self_signed(&root_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "istio-ca");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    let istio = p.signed_by(&key, &root, &root_key).unwrap();
    (istio.pem(), root.pem(), key.serialize_pem())
}

#[test]
fn a_fleet_rolls_out_in_waves_stops_at_a_failing_canary_and_continues_from_its_record() {
    let moto = Moto::start();
    let k8s: Vec<Emulator> = (0..3).map(|_| Emulator::start(Some(&moto.url))).collect();
    eks_clusters(&moto);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap().to_string();
    let broken = unreachable_kubeconfig(k8s[0].kubeconfig(), dir.path());
    let fleet = fleet_file(
        dir.path(),
        &[&broken, k8s[1].kubeconfig(), k8s[2].kubeconfig()],
    );
    let fleet_arg = fleet.to_str().unwrap().to_string();
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--state".to_string(), state_arg.clone()]);
        v
    };
    let run = |args: &[&str]| {
        let args = with(args);
        trustplane(
            Some(&moto),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    // The plan before anything exists: the members' inputs wait on the trust tier, and
    // the two CAs are counted once for the fleet.
    let plan = run(&["fleet", "plan", &fleet_arg, "--member", "east", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect(&plan.stdout);
    assert_eq!(
        doc["members"].as_array().unwrap().len(),
        1,
        "--member limits"
    );
    assert_eq!(doc["members"][0]["name"], "east");
    assert_eq!(doc["members"][0]["inputs_known"], false);
    assert_eq!(doc["trust"]["summary"]["add"], 3);
    assert_eq!(doc["cost"]["fleet_usd_per_month"], 800);
    assert_eq!(doc["cost"]["per_cluster_hierarchies_usd_per_month"], 2400);

    // The canary cannot be reached: the rollout stops there, naming member, step and
    // cause; the later wave never starts.
    let first = run(&["fleet", "apply", &fleet_arg, "--auto-approve"]);
    assert_eq!(first.code, 1, "{}", first.all());
    assert!(
        first
            .stderr
            .contains("fleet rollout stopped: member canary failed at"),
        "{}",
        first.all()
    );
    assert!(
        first.stderr.contains("127.0.0.1:1"),
        "the cause: {}",
        first.all()
    );
    for m in ["east", "west"] {
        assert!(
            first
                .stdout
                .lines()
                .any(|l| l.starts_with(m) && l.ends_with("not started")),
            "{m}: {}",
            first.all()
        );
        assert_eq!(resources_in_state(&state, m), "", "{m} has no state");
    }
    assert!(untouched(&k8s[1]) && untouched(&k8s[2]), "no objects");
    // The trust tier went first, once.
    assert_eq!(moto.ca_statuses().len(), 2, "{:?}", moto.ca_statuses());
    let status = run(&["fleet", "status", &fleet_arg]);
    assert_eq!(status.code, 0, "{}", status.all());
    let canary_row = status
        .stdout
        .lines()
        .find(|l| l.starts_with("canary"))
        .unwrap();
    assert!(canary_row.contains("failed at"), "{}", status.all());

    // Fixed: the rollout continues and finishes; the trust tier is not redone.
    fleet_file(
        dir.path(),
        &[
            k8s[0].kubeconfig(),
            k8s[1].kubeconfig(),
            k8s[2].kubeconfig(),
        ],
    );
    let second = run(&["fleet", "apply", &fleet_arg, "--auto-approve"]);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second.stdout.contains("Fleet apply complete!"),
        "{}",
        second.all()
    );
    let row = |out: &str, m: &str| -> String {
        out.lines()
            .rev()
            .find(|l| l.starts_with(&format!("{m} ")))
            .unwrap_or_else(|| panic!("no row for {m} in {out}"))
            .to_string()
    };
    assert!(
        row(&second.stdout, "(trust)").contains("unchanged"),
        "{}",
        second.all()
    );
    for m in MEMBERS {
        assert!(
            row(&second.stdout, m).contains("applied"),
            "{m}: {}",
            second.all()
        );
    }
    assert_eq!(moto.ca_statuses().len(), 2, "one hierarchy for the fleet");
    // Each member has its own issuer on the one subordinate CA, and its own istio-ca.
    let arns: Vec<String> = k8s
        .iter()
        .map(|k| {
            k.kubectl_ok(&[
                "-n",
                "istio-system",
                "get",
                "awspcaissuer",
                "aws-pca-issuer-istio",
                "-o",
                "jsonpath={.spec.arn}",
            ])
        })
        .collect();
    assert!(arns[0].contains(":certificate-authority/"), "{arns:?}");
    assert!(arns.iter().all(|a| *a == arns[0]), "{arns:?}");

    // Again: every member finished in an earlier run and nothing changed since.
    let third = run(&["fleet", "apply", &fleet_arg, "--auto-approve"]);
    assert_eq!(third.code, 0, "{}", third.all());
    for m in MEMBERS {
        assert!(
            row(&third.stdout, m).contains("done in an earlier run"),
            "{m}: {}",
            third.all()
        );
    }

    let status = run(&["fleet", "status", &fleet_arg]);
    assert_eq!(status.code, 0, "{}", status.all());
    for m in MEMBERS {
        let r = row(&status.stdout, m);
        assert!(
            r.contains("(serial ") && r.contains("passed"),
            "{m}: {}",
            status.all()
        );
    }

    // The fleet verifies: one root, an Istio CA of its own per member, one mesh ID.
    let verify = run(&["fleet", "verify", &fleet_arg]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(verify.stdout.contains("✓ same_root"), "{}", verify.all());
    assert!(
        verify.stdout.contains("✓ distinct_istio_ca"),
        "{}",
        verify.all()
    );
    assert!(verify.stdout.contains("✓ same_mesh_id"), "{}", verify.all());

    // No drift, then one member changed by hand: drift names it alone.
    let none = run(&["fleet", "drift", &fleet_arg]);
    assert_eq!(none.code, 0, "{}", none.all());
    k8s[2].kubectl_ok(&["label", "namespace", "default", "istio-injection-"]);
    let drift = run(&["fleet", "drift", &fleet_arg, "--json"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    let doc: serde_json::Value = serde_json::from_str(&drift.stdout).expect(&drift.stdout);
    assert_eq!(
        doc["drifted"],
        serde_json::json!(["west"]),
        "{}",
        drift.all()
    );

    // One member's cacerts replaced by a chain from another root: the fleet fails verify.
    let (istio, root, key) = foreign_chain();
    let patch = format!(
        r#"{{"data":{{"tls.crt":"{}","ca.crt":"{}","tls.key":"{}"}}}}"#,
        common::base64(istio.as_bytes()),
        common::base64(root.as_bytes()),
        common::base64(key.as_bytes())
    );
    k8s[1].kubectl_ok(&[
        "-n",
        "istio-system",
        "patch",
        "secret",
        "cacerts",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
    let broken = run(&["fleet", "verify", &fleet_arg]);
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(broken.stdout.contains("✗ same_root"), "{}", broken.all());
    // The members are named per root: east alone under the foreign one.
    let same_root = broken
        .stdout
        .lines()
        .find(|l| l.contains("same_root"))
        .unwrap_or_default();
    let foreign = same_root
        .split_once("CN=Foreign Root CA")
        .map(|(_, after)| after)
        .unwrap_or_default();
    assert!(
        foreign.contains("): east;") && !foreign.contains("canary"),
        "{}",
        broken.all()
    );
    assert!(
        broken.stdout.contains("The fleet's chains are NOT valid"),
        "{}",
        broken.all()
    );
}

/// The line of `is_ca: true` in the cluster tier's `istio_ca`, where the cross-tier PKI
/// error points (found, so editing the shipped stack does not break the fixtures).
fn istio_ca_is_ca_line() -> usize {
    let text = std::fs::read_to_string(repo_root().join("stacks/mesh-cluster.yaml")).unwrap();
    let start = text
        .lines()
        .position(|l| l == "  istio_ca:")
        .expect("istio_ca in stacks/mesh-cluster.yaml");
    start
        + 1
        + text
            .lines()
            .skip(start)
            .position(|l| l.trim() == "is_ca: true")
            .expect("is_ca: true under istio_ca")
}

/// Every bad fleet in tests/fixtures/fleet gets its own error from `validate`, naming
/// file:line, what was expected and the fix.
#[test]
fn each_bad_fleet_file_gets_its_specific_error() {
    let dir = repo_root().join("tests/fixtures/fleet");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{cases:?}");
    for case in &cases {
        let rel = case.strip_prefix(repo_root()).unwrap().to_str().unwrap();
        let expected = std::fs::read_to_string(case.with_extension("expected"))
            .unwrap()
            .replace("{ISTIO_CA_LINE}", &istio_ca_is_ca_line().to_string());
        let r = trustplane(None, &["validate", rel]);
        assert_eq!(r.code, 1, "{rel}: {}", r.all());
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                r.stderr.contains(line.trim()),
                "{rel}: expected {line:?} in\n{}",
                r.stderr
            );
        }
    }
}

/// The cross-tier PKI check stops `fleet plan` before any state or provider is touched.
#[test]
fn fleet_plan_refuses_a_trust_tier_whose_subordinate_cannot_sign_the_istio_ca() {
    let state = tempfile::tempdir().unwrap();
    let r = trustplane(
        None,
        &[
            "fleet",
            "plan",
            "tests/fixtures/fleet/path_length_0.yaml",
            "--state",
            state.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("fleet::path_length_exhausted"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("trust-path-length-0.yaml:79"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains(&format!("mesh-cluster.yaml:{}", istio_ca_is_ca_line())),
        "{}",
        r.all()
    );
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "no state"
    );
}

#[test]
fn the_example_fleet_validates() {
    let r = trustplane(None, &["validate", "examples/fleet/mesh-prod.yaml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("valid fleet mesh-prod (trust tier + 4 member(s) in 3 wave(s))"),
        "{}",
        r.all()
    );
}

/// `fleet plan --out DIR` then `fleet apply DIR`: exactly the reviewed plans, refused when
/// made before the trust tier existed or when the fleet file changed since.
#[test]
fn a_saved_fleet_plan_applies_exactly_what_was_reviewed() {
    let moto = Moto::start();
    let k8s: Vec<Emulator> = (0..3).map(|_| Emulator::start(Some(&moto.url))).collect();
    eks_clusters(&moto);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let kubeconfigs = [
        k8s[0].kubeconfig(),
        k8s[1].kubeconfig(),
        k8s[2].kubeconfig(),
    ];
    let fleet = fleet_file(dir.path(), &kubeconfigs);
    let (fleet_arg, state_arg) = (fleet.to_str().unwrap(), state.to_str().unwrap());
    let plans = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // Credentials come from a profile's credential_process, as an SSO or assumed-role
    // profile's do; each resolution is logged.
    let log = dir.path().join("credential-process.log");
    let script = common::credential_process(dir.path(), &log, "");
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile fleet]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = command(Some(&moto), args);
        common::use_profile(&mut cmd, &config, "fleet");
        Run::of(cmd.output().unwrap())
    };

    // Planned before the trust tier existed: the trust tier applies, the members cannot.
    let early = plans("early");
    let r = run(&[
        "fleet", "plan", fleet_arg, "--state", state_arg, "--out", &early,
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(Path::new(&early).join("fleet.json").is_file());
    assert!(Path::new(&early).join("members/canary.plan").is_file());
    let r = run(&["fleet", "apply", &early]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("member canary failed at plan")
            && r.stderr.contains("made before the trust tier was applied"),
        "{}",
        r.all()
    );
    assert_eq!(moto.ca_statuses().len(), 2, "the trust tier was applied");
    assert!(untouched(&k8s[0]), "the canary's plan was not applied");

    // Planned again, now with the trust tier's outputs: applied exactly, once.
    let reviewed = plans("reviewed");
    let r = run(&[
        "fleet", "plan", fleet_arg, "--state", state_arg, "--out", &reviewed,
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let resolutions_before = std::fs::read_to_string(&log).unwrap_or_default();
    let r = run(&["fleet", "apply", &reviewed]);
    assert_eq!(r.code, 0, "{}", r.all());
    // The trust tier, three members and their verify gates all called AWS with the same
    // settings: the process resolved the credentials once for all of them.
    let resolutions = std::fs::read_to_string(&log).unwrap();
    let new = &resolutions[resolutions_before.len()..];
    assert_eq!(
        new.lines().count(),
        1,
        "one credential resolution for the whole fleet apply: {new:?}"
    );
    for m in MEMBERS {
        let row = r
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with(&format!("{m} ")))
            .unwrap();
        assert!(row.contains("applied"), "{m}: {}", r.all());
        assert!(!untouched(
            &k8s[MEMBERS.iter().position(|x| *x == m).unwrap()]
        ));
    }
    let r = run(&["fleet", "apply", &reviewed]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout.matches("done in an earlier run").count(),
        4,
        "the trust tier and every member: {}",
        r.all()
    );

    // The fleet file changed since the plan: refused.
    let text = std::fs::read_to_string(&fleet).unwrap();
    std::fs::write(
        &fleet,
        text.replace("mesh_id: mesh-test", "mesh_id: mesh-other"),
    )
    .unwrap();
    let r = run(&["fleet", "apply", &reviewed]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("fleet::stale_plan"), "{}", r.all());
}
