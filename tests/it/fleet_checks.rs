//! The fleet checks on real results: the trust tier applied once on moto, the cluster
//! tier applied for two members, each on its own Kubernetes API emulator, then each
//! member verified and the checks only a fleet can make run over both.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::repo_root;
use common::stand_ins::{helm, Emulator, Moto};
use trustplane::ops::locked::{self, StateSpec};
use trustplane::ops::Hooks;
use trustplane::plan::render::Style;
use trustplane::state::ResourceState;
use trustplane::value::Value;
use trustplane::verify::fleet::{self, Member, MeshValues};
use trustplane::verify::{self, Target, Verified};

const TRUST: &str = "stacks/mesh-trust.yaml";
const CLUSTER: &str = "stacks/mesh-cluster.yaml";

fn trustplane(moto: &Moto, k8s: &Emulator, state: &Path, args: &[&str]) -> String {
    let out = Command::new(common::bin())
        .args(args)
        .arg("--state")
        .arg(state)
        .current_dir(repo_root())
        .envs(moto.env())
        .env("KUBECONFIG", k8s.kubeconfig())
        .env("TRUSTPLANE_HELM", helm())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = format!(
        "{args:?}: exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One cluster of the fleet: its emulator, its state, and what the fleet check needs.
struct Cluster {
    name: &'static str,
    k8s: Emulator,
    state: tempfile::TempDir,
}

impl Cluster {
    fn resources(&self) -> BTreeMap<String, ResourceState> {
        let spec = StateSpec {
            dir: Some(self.state.path().to_path_buf()),
            ..StateSpec::default()
        };
        let open = locked::open(&spec, "mesh-cluster", "verify", &Hooks::silent()).unwrap();
        open.store.resources().unwrap()
    }

    /// What `trustplane verify` reads for this member, from its own cluster.
    async fn verify(&self) -> (Verified, Option<MeshValues>) {
        let resources = self.resources();
        let mut kubernetes = Value::map();
        kubernetes.set_path(
            "kubeconfig",
            Value::from(self.k8s.kubeconfig().display().to_string().as_str()),
        );
        let target = Target {
            resources: &resources,
            kubernetes,
            aws: Value::Null,
            certificate: None,
            workload_pem: None,
            refetch: false,
            stack_file: CLUSTER.into(),
            now: chrono::Utc::now().timestamp(),
        };
        let verified = verify::run(&target)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (verified, fleet::mesh_values(&resources))
    }
}

async fn fleet_report(clusters: &[Cluster]) -> fleet::FleetReport {
    let mut results = Vec::new();
    for c in clusters {
        results.push((c.name, c.verify().await));
    }
    let members: Vec<Member<'_>> = results
        .iter()
        .map(|(name, (verified, mesh))| Member {
            name,
            verified,
            mesh: mesh.as_ref(),
        })
        .collect();
    fleet::verify(&members)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_on_one_trust_tier_pass_the_fleet_checks_until_one_copies_the_others_istio_ca()
{
    let moto = Moto::start();
    let clusters: Vec<Cluster> = ["eu-1", "us-1"]
        .into_iter()
        .map(|name| Cluster {
            name,
            k8s: Emulator::start(Some(&moto.url)),
            state: tempfile::tempdir().unwrap(),
        })
        .collect();
    for c in &clusters {
        moto.boto3(&format!(
            "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
             eks.create_cluster(name='{}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})",
            c.name
        ));
    }
    let trust_state = tempfile::tempdir().unwrap();
    trustplane(
        &moto,
        &clusters[0].k8s,
        trust_state.path(),
        &["apply", TRUST, "--auto-approve"],
    );
    let outputs: serde_json::Value = serde_json::from_str(&trustplane(
        &moto,
        &clusters[0].k8s,
        trust_state.path(),
        &["output", "-f", TRUST, "--json"],
    ))
    .unwrap();
    let output = |name: &str| -> String {
        let v = &outputs[name];
        v["value"]
            .as_str()
            .or_else(|| v.as_str())
            .unwrap_or_else(|| panic!("output {name} in {outputs}"))
            .to_string()
    };
    let trust_vars = [
        format!("subordinate_ca_arn={}", output("subordinate_ca_arn")),
        format!("issuer_policy_arn={}", output("issuer_policy_arn")),
        format!("region={}", output("region")),
        "mesh_id=mesh-prod".to_string(),
    ];

    // Both members at once, as a fleet's wave would.
    std::thread::scope(|scope| {
        for c in &clusters {
            let (moto, trust_vars) = (&moto, &trust_vars);
            scope.spawn(move || {
                let own = [
                    format!("cluster_name={}", c.name),
                    format!("network=net-{}", c.name),
                ];
                let mut args = vec![
                    "apply",
                    CLUSTER,
                    "--auto-approve",
                    "--var-file",
                    "examples/sandbox/sandbox.vars.yaml",
                ];
                for v in trust_vars.iter().chain(&own) {
                    args.extend(["--var", v.as_str()]);
                }
                trustplane(moto, &c.k8s, c.state.path(), &args);
            });
        }
    });
    assert_eq!(
        moto.ca_statuses().len(),
        2,
        "the members made no CA of their own"
    );

    let report = fleet_report(&clusters).await;
    let text = fleet::text(&report, Style { color: false });
    assert!(report.valid, "{text}");
    assert_eq!(report.roots.len(), 1, "{text}");
    assert_eq!(report.roots[0].members, vec!["eu-1", "us-1"]);
    assert!(
        text.contains("✓ same_mesh_id: mesh ID mesh-prod on all 2 member(s)"),
        "{text}"
    );
    assert!(
        text.contains("✓ distinct_cluster_name: 2 distinct cluster name(s)"),
        "{text}"
    );

    // us-1's cacerts becomes a copy of eu-1's: each chain still verifies on its own, but
    // two clusters now hold one Istio CA.
    let secret: serde_json::Value = serde_json::from_str(&clusters[0].k8s.kubectl_ok(&[
        "-n",
        "istio-system",
        "get",
        "secret",
        "cacerts",
        "-o",
        "json",
    ]))
    .unwrap();
    let patch = serde_json::json!({"data": secret["data"]}).to_string();
    clusters[1].k8s.kubectl_ok(&[
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
    let (copied, _) = clusters[1].verify().await;
    assert!(copied.report.valid, "the copy is a valid chain by itself");
    let report = fleet_report(&clusters).await;
    let text = fleet::text(&report, Style { color: false });
    assert!(!report.valid, "{text}");
    assert!(
        text.contains("✗ distinct_istio_ca: eu-1 and us-1 hold the same istio-ca certificate"),
        "{text}"
    );
    assert!(text.contains("✓ same_root"), "one root still: {text}");
}
