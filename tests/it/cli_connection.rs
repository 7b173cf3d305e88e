//! One cluster connection for the kubernetes and helm providers, through the binary:
//! helm follows `providers.kubernetes` to the cluster it names, and an EKS cluster is
//! reached by name with no kubeconfig, its token made in-process.

use std::path::Path;
use std::time::SystemTime;

use trustplane::provider::aws::eks_token::eks_token;

use crate::common::fault_proxy::{Fault, FaultProxy, Rule};
use crate::common::stand_ins::{helm, Emulator, Moto};
use crate::common::Sandbox;

fn chart() -> String {
    stand_ins::repo_root()
        .join("tests/charts/webapp-1.0.0")
        .display()
        .to_string()
}

/// A namespace and a Helm release in it; `providers` is the stack's providers block.
fn stack(providers: &str) -> String {
    format!(
        "stack: conn\nproviders:\n{providers}  helm: {{binary: \"{helm}\"}}\nresources:\n  \
         apps:\n    type: k8s.namespace\n    properties: {{name: apps}}\n  \
         web:\n    type: helm.release\n    properties:\n      name: web\n      \
         namespace: ${{apps.name}}\n      chart: \"{chart}\"\n      wait: false\n",
        helm = helm().display(),
        chart = chart(),
    )
}

/// Whether `namespace`'s Deployment `web` (the chart's) and the namespace exist.
fn has_release(e: &Emulator, token: Option<&str>) -> (bool, bool) {
    let mut ns = vec!["get", "namespace", "apps"];
    let mut dep = vec!["get", "deployment", "-n", "apps", "-o", "name"];
    if let Some(t) = token {
        ns.extend(["--token", t]);
        dep.extend(["--token", t]);
    }
    let (ns_ok, _, _) = e.kubectl(&ns);
    let (dep_ok, out, _) = e.kubectl(&dep);
    (ns_ok, dep_ok && !out.trim().is_empty())
}

/// A kubeconfig holding both emulators' clusters as contexts `right` and `wrong`, its
/// current context the wrong one.
fn two_context_kubeconfig(right: &Emulator, wrong: &Emulator) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n\
         - name: right\n  cluster: {{server: \"{r}\"}}\n\
         - name: wrong\n  cluster: {{server: \"{w}\"}}\n\
         users:\n- name: emulator\n  user: {{token: emulator-dummy-token}}\n\
         contexts:\n\
         - name: right\n  context: {{cluster: right, user: emulator}}\n\
         - name: wrong\n  context: {{cluster: wrong, user: emulator}}\n\
         current-context: wrong\n",
        r = right.url(),
        w = wrong.url(),
    )
}

#[test]
fn helm_follows_the_kubernetes_context_not_the_current_one() {
    let right = Emulator::start(None);
    let wrong = Emulator::start(None);
    let s = Sandbox::new();
    // A `~` path: the home directory of this run is the sandbox. KUBECONFIG is the same
    // file, so a helm that ignored providers.kubernetes would use its current context.
    let fleet = s.write("kube/fleet", &two_context_kubeconfig(&right, &wrong));
    s.write(
        "conn.yaml",
        &stack("  kubernetes: {kubeconfig: \"~/kube/fleet\", context: right}\n"),
    );
    let home = s.path("").display().to_string();
    let fleet = fleet.display().to_string();
    let env = [("HOME", home.as_str()), ("KUBECONFIG", fleet.as_str())];
    let apply = s.run_env(&["apply", "conn.yaml", "--auto-approve"], &env);
    apply.ok();
    assert_eq!(
        has_release(&right, None),
        (true, true),
        "the namespace and the chart's Deployment are in the named cluster: {}",
        apply.all()
    );
    assert_eq!(
        has_release(&wrong, None),
        (false, false),
        "nothing reached the current context's cluster"
    );
    let releases = right.kubectl_ok(&[
        "get",
        "secrets",
        "-n",
        "apps",
        "-l",
        "owner=helm,name=web",
        "-o",
        "name",
    ]);
    assert!(
        !releases.trim().is_empty(),
        "helm recorded the release in the named cluster"
    );
    // Converged: a second plan, which reads the release back through the same
    // connection, changes nothing.
    let plan = s.run_env(&["plan", "conn.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

/// The emulator's EKS key pair (moto's default credentials, which sign the token).
const KEY_ID: &str = "testing";
const SECRET: &str = "testing";

/// A token for `cluster` as the emulator expects it, for kubectl.
fn token(cluster: &str) -> String {
    let creds = aws_credential_types::Credentials::new(KEY_ID, SECRET, None, None, "test");
    eks_token(&creds, "us-east-1", cluster, SystemTime::now())
        .unwrap()
        .token
}

/// An emulator that only takes EKS tokens for cluster `prod`, and a moto whose EKS
/// clusters `prod` and `staging` both report that emulator's endpoint and CA.
fn eks_stand_ins(s: &Sandbox) -> (Emulator, Moto) {
    let e = Emulator::start_with_args(
        None,
        &[
            "--tls",
            "--require-eks-token",
            "prod",
            "--eks-access-key-id",
            KEY_ID,
            "--eks-secret-access-key",
            SECRET,
        ],
    );
    let ca = s.write("ca.pem", &e.ca_pem().expect("the emulator serves TLS"));
    let spec = |name: &str| format!("{name}={}={}", e.url(), ca.display());
    let moto = Moto::start_with_args(&[
        "--eks-endpoint",
        &spec("prod"),
        "--eks-endpoint",
        &spec("staging"),
    ]);
    moto.boto3(
        "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
         for name in ('prod', 'staging'):\n    \
         eks.create_cluster(name=name, roleArn='arn:aws:iam::123456789012:role/eks', \
         resourcesVpcConfig={'subnetIds': ['subnet-1']})\n",
    );
    (e, moto)
}

fn eks_providers(moto: &Moto, cluster: &str) -> String {
    format!(
        "  aws: {{region: us-east-1, endpoint: \"{}\"}}\n  kubernetes: {{eks_cluster: {cluster}}}\n",
        moto.url
    )
}

/// The environment of a run with no kubeconfig and no `aws` CLI: moto's credentials,
/// a home without `.kube`, a PATH without `aws`, and a temporary directory of its own.
fn eks_env(tmp: &Path) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), tmp.join("home").display().to_string()),
        ("KUBECONFIG".into(), "/nonexistent".into()),
        ("AWS_ACCESS_KEY_ID".into(), KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), "/nonexistent".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent".into()),
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("TMPDIR".into(), tmp.join("tmp").display().to_string()),
    ]
}

fn run(s: &Sandbox, args: &[&str], env: &[(String, String)]) -> crate::common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

#[test]
fn an_eks_cluster_is_reached_by_name_with_no_kubeconfig() {
    let s = Sandbox::new();
    let (e, moto) = eks_stand_ins(&s);
    let scratch = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(scratch.path().join("home")).unwrap();
    std::fs::create_dir_all(scratch.path().join("tmp")).unwrap();
    let env = eks_env(scratch.path());
    // Without a token the cluster refuses: what lands there came through the connection.
    assert_eq!(has_release(&e, Some("k8s-aws-v1.bogus")), (false, false));

    s.write("conn.yaml", &stack(&eks_providers(&moto, "prod")));
    let apply = run(&s, &["apply", "conn.yaml", "--auto-approve"], &env);
    apply.ok();
    assert_eq!(
        has_release(&e, Some(&token("prod"))),
        (true, true),
        "the namespace and the chart's Deployment are in the EKS cluster: {}",
        apply.all()
    );
    let plan = run(&s, &["plan", "conn.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(!plan.stderr.contains("throttled"), "{}", plan.all());

    // EKS throttles the DescribeCluster the connection starts with: it is tried again,
    // the plan still finds no changes, and the run ends saying what AWS throttled.
    let proxy = FaultProxy::start(&moto.url);
    s.write(
        "conn.yaml",
        &stack(&eks_providers(&moto, "prod").replace(&moto.url, &proxy.url())),
    );
    proxy.set(
        Rule::all(Fault::Status {
            code: 429,
            retry_after: None,
        })
        .path("/clusters/prod")
        .first(1),
    );
    let plan = run(&s, &["plan", "conn.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(proxy.faulted(), 1);
    assert!(
        plan.stderr
            .contains("note: AWS throttled 1 call (eks:DescribeCluster 1)"),
        "{}",
        plan.all()
    );
    // The kubernetes and helm providers share the connection: one DescribeCluster a plan.
    proxy.clear();
    let before = proxy.forwarded();
    let plan = run(&s, &["plan", "conn.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(
        proxy.forwarded() - before,
        1,
        "one DescribeCluster for both providers"
    );
    // Helm's kubeconfig, which held the token, is gone after every run.
    let left: Vec<_> = std::fs::read_dir(scratch.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kubeconfig"))
        .collect();
    assert!(left.is_empty(), "temporary kubeconfigs left: {left:?}");
}

#[test]
fn a_wrong_eks_cluster_fails_naming_the_cluster() {
    let s = Sandbox::new();
    let (e, moto) = eks_stand_ins(&s);
    let scratch = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(scratch.path().join("tmp")).unwrap();
    let env = eks_env(scratch.path());

    // `staging` exists and points at the cluster, which takes only tokens for `prod`.
    s.write("staging.yaml", &stack(&eks_providers(&moto, "staging")));
    let refused = run(&s, &["apply", "staging.yaml", "--auto-approve"], &env);
    assert_ne!(refused.code, 0, "{}", refused.all());
    let out = refused.all();
    assert!(
        out.contains("EKS cluster \"staging\"") && out.contains("Unauthorized"),
        "the error names the cluster and the auth failure: {out}"
    );
    assert!(out.contains("access entry"), "{out}");

    // A name EKS does not know.
    s.write("nope.yaml", &stack(&eks_providers(&moto, "nope")));
    let missing = run(&s, &["apply", "nope.yaml", "--auto-approve"], &env);
    assert_ne!(missing.code, 0, "{}", missing.all());
    assert!(
        missing
            .all()
            .contains("no EKS cluster named \"nope\" in region us-east-1"),
        "{}",
        missing.all()
    );
    assert_eq!(has_release(&e, Some(&token("prod"))), (false, false));
}

/// A stack's built-in kinds (here Namespace, ServiceAccount and ConfigMap, all of `v1`)
/// are looked up in the cluster's discovery once per command, not once per object; a
/// kind whose CRD the same apply may create is still asked each time (see
/// cli_faults::an_unserved_kind_whose_crd_exists_is_an_error_not_gone).
#[test]
fn built_in_kinds_are_discovered_once_per_command() {
    let k8s = Emulator::start(None);
    let proxy = FaultProxy::start(&k8s.url());
    let s = Sandbox::new();
    s.write("kubeconfig", &proxy.kubeconfig_through(k8s.kubeconfig()));
    s.write(
        "s.yaml",
        "stack: kinds\nproviders:\n  kubernetes: {kubeconfig: kubeconfig}\nresources:\n  \
         ns:\n    type: k8s.namespace\n    properties: {name: kinds}\n  \
         sa:\n    type: k8s.service_account\n    properties: {name: app, namespace: \"${ns.name}\"}\n  \
         settings:\n    type: k8s.manifest\n    properties:\n      manifest:\n        \
         apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: settings, namespace: \"${ns.name}\"}\n        \
         data: {mode: strict}\n",
    );
    let run = |args: &[&str]| s.run(args);
    run(&["apply", "s.yaml", "--auto-approve"]).ok();
    k8s.kubectl_ok(&["get", "configmap", "settings", "-n", "kinds"]);

    // Counted, not changed: a zero delay on the discovery of `v1`.
    proxy.set(
        Rule::all(Fault::Delay(std::time::Duration::ZERO))
            .method("GET")
            .exact_path("/api/v1"),
    );
    let plan = run(&["plan", "s.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(proxy.faulted(), 1, "one discovery of v1 for three objects");
}
