//! Fleet reports for pipelines, through the binary, against one moto and two emulators:
//! `fleet plan --format markdown` with the fleet table and one section per unit, within
//! `--max-bytes` and in the job summary; `fleet drift --format junit` with one suite per
//! unit counting as failures exactly what kubectl changed on one member; and no
//! sensitive value in any format.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::stand_ins::{Emulator, Moto};
use common::Run;
use quick_xml::events::Event;
use quick_xml::Reader;

const STORED_SECRET: &str = "fleet-7c2e-stored-token";
const LIVE_SECRET: &str = "fleet-4a9d-live-token";
const MEMBERS: [&str; 2] = ["eu", "us"];

/// A trust tier of one IAM policy, and a cluster tier of a namespace, a ConfigMap and a
/// ConfigMap holding a sensitive variable, for members `eu` (wave 1) and `us` (wave 2).
fn write_fleet(dir: &Path, kubeconfigs: [&Path; 2]) -> String {
    std::fs::write(
        dir.join("trust.yaml"),
        r#"stack: reports-trust
variables:
  region: {type: string, default: us-east-1}
providers:
  aws: {region: "${var.region}"}
resources:
  shared:
    type: aws.iam.policy
    properties:
      name: fleet-reports-shared
      document:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: acm-pca:IssueCertificate
            Resource: "*"
outputs:
  policy_arn: ${shared.arn}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("cluster.yaml"),
        r#"stack: reports-cluster
variables:
  policy_arn: {type: string}
  cluster_name: {type: string}
  token: {type: string, sensitive: true}
resources:
  ns:
    type: k8s.namespace
    properties:
      name: mesh-reports
      labels: {cluster: "${var.cluster_name}"}
  settings:
    type: k8s.manifest
    depends_on: [ns]
    properties:
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings, namespace: mesh-reports}
        data: {policy: "${var.policy_arn}", cluster: "${var.cluster_name}"}
  credentials:
    type: k8s.manifest
    depends_on: [ns]
    properties:
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: credentials, namespace: mesh-reports}
        data: {token: "${var.token}"}
"#,
    )
    .unwrap();
    let mut members = String::new();
    for (name, kubeconfig) in MEMBERS.iter().zip(kubeconfigs) {
        members.push_str(&format!(
            "    {name}:\n      vars: {{cluster_name: {name}}}\n      \
             kubernetes: {{kubeconfig: {}, context: emulator}}\n",
            kubeconfig.display()
        ));
    }
    let path = dir.join("fleet.yaml");
    std::fs::write(
        &path,
        format!(
            "fleet: reports\ntrust:\n  stack: trust.yaml\nclusters:\n  stack: cluster.yaml\n  \
             vars: {{token: {STORED_SECRET}}}\n  members:\n{members}rollout:\n  waves:\n    \
             - members: [eu]\n    - members: [\"*\"]\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn trustplane(moto: &Moto, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .current_dir(dir)
        .envs(moto.env())
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    common::Run::of(out)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [STORED_SECRET, LIVE_SECRET] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

/// Per test suite: (test cases, failures as counted from the cases, the `failures`
/// attribute), read back by an XML parser.
fn junit_suites(xml: &str) -> BTreeMap<String, (usize, usize, usize)> {
    let mut reader = Reader::from_str(xml);
    let mut suites = BTreeMap::new();
    let mut current = String::new();
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .expect("attribute")
            .unwrap_or_else(|| panic!("no {name}"))
            .unescape_value()
            .unwrap()
            .into_owned()
    };
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) if e.name().as_ref() == b"testsuite" => {
                current = attr(&e, "name");
                let failures: usize = attr(&e, "failures").parse().unwrap();
                suites.insert(current.clone(), (0, 0, failures));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                suites.get_mut(&current).unwrap().0 += 1;
            }
            Event::Start(e) if e.name().as_ref() == b"failure" => {
                suites.get_mut(&current).unwrap().1 += 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    suites
}

#[test]
fn fleet_reports_give_each_unit_its_section_and_suite_and_no_secret() {
    let moto = Moto::start();
    let k8s: Vec<Emulator> = (0..2).map(|_| Emulator::start(Some(&moto.url))).collect();
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), [k8s[0].kubeconfig(), k8s[1].kubeconfig()]);
    let run = |args: &[&str], env: &[(&str, &str)]| trustplane(&moto, dir.path(), args, env);

    // A plan has no JUnit form: refused before any state is made.
    let junit_plan = run(&["fleet", "plan", &fleet, "--format", "junit"], &[]);
    assert_eq!(junit_plan.code, 1, "{}", junit_plan.all());
    assert!(
        junit_plan
            .stderr
            .contains("`--format junit` is not available for a plan"),
        "{}",
        junit_plan.all()
    );
    assert!(!dir.path().join("state").exists(), "nothing ran");

    // The plan as a comment: the totals first, the fleet table, a section per unit.
    let summary = dir.path().join("summary.md");
    let plan = run(
        &[
            "fleet",
            "plan",
            &fleet,
            "--format",
            "markdown",
            "--step-summary",
            "--detailed-exitcode",
        ],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(plan.code, 2, "changes: {}", plan.all());
    let md = &plan.stdout;
    assert!(
        md.starts_with("**Plan: 7 to add, 0 to change, 0 to replace, 0 to destroy.**"),
        "{md}"
    );
    assert!(
        md.contains("| Member | Wave | Add | Change | Replace | Destroy | Drift |"),
        "{md}"
    );
    for row in [
        "| `(trust)` | - | 1 | 0 | 0 | 0 | 0 |",
        "| `eu` | 1 | 3 |",
        "| `us` | 2 | 3 |",
        "| **total** |  | 7 |",
    ] {
        assert!(md.contains(row), "{row}: {md}");
    }
    for unit in ["(trust)", "eu", "us"] {
        assert_eq!(
            md.matches(&format!("\n#### `{unit}`\n")).count(),
            1,
            "{unit}: {md}"
        );
    }
    assert_eq!(md.matches("<details>").count(), 7, "{md}");
    assert!(md.contains("(known after apply)"), "{md}");
    assert!(!md.contains("left out"), "{md}");
    assert_no_secret("fleet plan --format markdown", md);
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        *md,
        "the job summary"
    );

    // Small: the summary and the table stay, the sections that do not fit are counted.
    let small = run(
        &[
            "fleet",
            "plan",
            &fleet,
            "--format",
            "markdown",
            "--max-bytes",
            "1500",
        ],
        &[],
    );
    assert_eq!(small.code, 0, "{}", small.all());
    assert!(
        small.stdout.len() <= 1500,
        "{} bytes: {}",
        small.stdout.len(),
        small.stdout
    );
    assert!(
        small.stdout.contains("| `us` | 2 | 3 |"),
        "{}",
        small.stdout
    );
    let shown = small.stdout.matches("<details>").count();
    assert!(shown < 7, "{}", small.stdout);
    assert!(
        small.stdout.contains(&format!(
            "**{} of 7 resources left out** to keep this report within 1500 bytes. The full report: run `trustplane fleet plan` again with `--max-bytes 0`",
            7 - shown
        )),
        "{}",
        small.stdout
    );

    for format in ["text", "json"] {
        let r = run(&["fleet", "plan", &fleet, "--format", format], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_no_secret(&format!("fleet plan --format {format}"), &r.stdout);
    }

    let apply = run(&["fleet", "apply", &fleet, "--auto-approve"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    // Member `us` changed by hand: its namespace label, and the sensitive value.
    k8s[1].kubectl_ok(&[
        "label",
        "namespace",
        "mesh-reports",
        "cluster=by-hand",
        "--overwrite",
    ]);
    let patch = format!(r#"{{"data":{{"token":"{LIVE_SECRET}"}}}}"#);
    k8s[1].kubectl_ok(&[
        "-n",
        "mesh-reports",
        "patch",
        "configmap",
        "credentials",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);

    let json = run(&["fleet", "drift", &fleet, "--json"], &[]);
    assert_eq!(json.code, 2, "{}", json.all());
    assert_no_secret("fleet drift --json", &json.stdout);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(doc["drifted"], serde_json::json!(["us"]), "{}", json.all());
    let us = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "us")
        .unwrap();
    let drifted = us["resources"].as_array().unwrap().len();
    assert_eq!(
        drifted, 2,
        "the namespace and the credentials: {}",
        json.stdout
    );

    // JUnit: a suite per unit, the drifted resources of `us` its failures, nothing else.
    let junit = run(&["fleet", "drift", &fleet, "--format", "junit"], &[]);
    assert_eq!(junit.code, 2, "{}", junit.all());
    assert_no_secret("fleet drift --format junit", &junit.stdout);
    let suites = junit_suites(&junit.stdout);
    assert_eq!(
        suites,
        BTreeMap::from([
            ("(trust)".to_string(), (1, 0, 0)),
            ("eu".to_string(), (3, 0, 0)),
            ("us".to_string(), (3, drifted, drifted)),
        ]),
        "{}",
        junit.stdout
    );
    assert!(
        junit.stdout.contains(
            r#"<testsuites name="trustplane fleet drift" tests="7" failures="2" errors="0">"#
        ),
        "{}",
        junit.stdout
    );

    // Markdown: where it drifted, and only that member's sections.
    let md = run(&["fleet", "drift", &fleet, "--format", "markdown"], &[]);
    assert_eq!(md.code, 2, "{}", md.all());
    assert!(
        md.stdout.starts_with(
            "**Drift: 2 of 7 resources changed or deleted outside trustplane,** in `us`."
        ),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("| `us` | 2 | 2 | 3 |"), "{}", md.stdout);
    assert!(
        md.stdout.contains("\n#### `us`\n") && !md.stdout.contains("#### `eu`"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("(sensitive)"),
        "the token is masked: {}",
        md.stdout
    );
    assert_no_secret("fleet drift --format markdown", &md.stdout);

    let text = run(&["fleet", "drift", &fleet], &[]);
    assert_eq!(text.code, 2, "{}", text.all());
    assert_no_secret("fleet drift", &text.stdout);
}

/// The keys under `prefix` in `bucket`, sorted.
fn s3_keys(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let out = moto.boto3(&format!(
        "s3 = boto3.client('s3', endpoint_url=endpoint, region_name=region)\n\
         pages = s3.get_paginator('list_objects_v2').paginate(Bucket={bucket:?}, Prefix={prefix:?})\n\
         print('\\n'.join(sorted(o['Key'] for p in pages for o in p.get('Contents', []))))"
    ));
    out.lines().map(str::to_string).collect()
}

/// `--state s3://BUCKET/PREFIX`: the trust tier's and every member's state under a prefix
/// of its own, the rollout record beside them, nothing on the local disk; a second rollout
/// reads the record back from S3, and a saved fleet plan keeps the S3 root.
#[test]
fn a_fleet_keeps_every_state_and_its_rollout_record_under_an_s3_prefix() {
    let moto = Moto::start();
    let k8s: Vec<Emulator> = (0..2).map(|_| Emulator::start(Some(&moto.url))).collect();
    moto.boto3(
        "boto3.client('s3', endpoint_url=endpoint, region_name=region).create_bucket(Bucket='fleet-state')",
    );
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), [k8s[0].kubeconfig(), k8s[1].kubeconfig()]);
    let url = "s3://fleet-state/teams/mesh";
    let run = |args: &[&str]| trustplane(&moto, dir.path(), args, &[]);

    let apply = run(&["fleet", "apply", &fleet, "--state", url, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply
            .stdout
            .contains("Fleet apply complete! Every member is rolled out."),
        "{}",
        apply.all()
    );
    let keys = s3_keys(&moto, "fleet-state", "teams/mesh/");
    for key in [
        "teams/mesh/reports-trust/reports/state.json",
        "teams/mesh/reports-cluster/eu/state.json",
        "teams/mesh/reports-cluster/us/state.json",
        "teams/mesh/fleets/reports/rollout.json",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }
    assert!(
        !keys.iter().any(|k| k.ends_with("/lock.json")),
        "every lock released: {keys:?}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "nothing on the local disk"
    );

    // The record is read back from S3: every member finished, nothing is redone.
    let again = run(&["fleet", "apply", &fleet, "--state", url, "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    for m in MEMBERS {
        assert!(
            again
                .stdout
                .lines()
                .any(|l| l.starts_with(m) && l.contains("done in an earlier run")),
            "{m}: {}",
            again.all()
        );
    }
    let status = run(&["fleet", "status", &fleet, "--state", url]);
    assert_eq!(status.code, 0, "{}", status.all());
    for m in MEMBERS {
        let row = status
            .stdout
            .lines()
            .find(|l| l.starts_with(m))
            .unwrap_or_else(|| panic!("no row for {m}: {}", status.all()));
        assert!(row.contains("(serial "), "{m}: {}", status.all());
    }

    // Drift reads the members' states from S3, and a saved fleet plan keeps the S3 root.
    let drift = run(&[
        "fleet", "drift", &fleet, "--state", url, "--format", "junit",
    ]);
    assert_eq!(drift.code, 0, "{}", drift.all());
    assert_eq!(
        junit_suites(&drift.stdout),
        BTreeMap::from([
            ("(trust)".to_string(), (1, 0, 0)),
            ("eu".to_string(), (3, 0, 0)),
            ("us".to_string(), (3, 0, 0)),
        ]),
        "{}",
        drift.stdout
    );
    let plans = dir.path().join("plans");
    let plan = run(&[
        "fleet",
        "plan",
        &fleet,
        "--state",
        url,
        "--out",
        plans.to_str().unwrap(),
    ]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plans.join("fleet.json")).unwrap()).unwrap();
    assert_eq!(manifest["state_root"], url);
    let saved = run(&["fleet", "apply", plans.to_str().unwrap()]);
    assert_eq!(saved.code, 0, "{}", saved.all());
    assert!(
        !dir.path().join("state").exists(),
        "nothing on the local disk"
    );

    // A malformed root is refused before anything runs.
    let bad = run(&["fleet", "plan", &fleet, "--state", "s3://"]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}
