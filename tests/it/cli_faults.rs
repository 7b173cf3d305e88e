//! Fault injection: a proxy between trustplane and each stand-in (the Kubernetes API
//! emulator for the kubernetes and helm providers, moto for aws) refuses, hangs, resets or
//! answers 429/500/503. Every command that reads live state (plan, drift, apply, destroy,
//! apply --refresh-only) must then fail with exit 1 naming the endpoint, leave state
//! exactly as it was, report nothing deleted, and give up within its deadline. A single
//! transient fault (one 503, one 429 with Retry-After) is retried through.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::{helm, Emulator, Moto};
use common::{Run, Sandbox};

/// Per-request timeout and attempts of the test stacks: a read gives up after 4s.
const LIMITS: &str = "timeout: 2s\n    max_attempts: 2";
const DEADLINE: Duration = Duration::from_secs(4);
/// Slack over the deadline for process start, configuration and a loaded machine.
const MARGIN: Duration = Duration::from_secs(20);

const COMMANDS: &[&[&str]] = &[
    &["plan", "s.yaml"],
    &["drift", "s.yaml"],
    &["apply", "s.yaml", "--auto-approve"],
    &["destroy", "s.yaml", "--auto-approve"],
    &["apply", "s.yaml", "--refresh-only", "--auto-approve"],
];

/// A proxy's 404 page: no service said "not found".
const NOT_FOUND_PAGE: Fault = Fault::Status {
    code: 404,
    retry_after: None,
};

fn persistent_faults() -> Vec<Fault> {
    vec![
        Fault::Refuse,
        Fault::Hang,
        Fault::Reset,
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    ]
}

/// A sandbox, the proxy in front of a stand-in, and the environment commands run with.
struct Bench {
    s: Sandbox,
    proxy: FaultProxy,
    env: Vec<(String, String)>,
}

impl Bench {
    fn run(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.s.run_env(args, &env)
    }

    /// Everything state holds, as the CLI shows it: the resource list, each resource,
    /// and the history of runs (a write would add a snapshot).
    fn state_export(&self) -> String {
        let list = self.run(&["state", "list", "-f", "s.yaml"]);
        list.ok();
        let mut out = list.stdout.clone();
        for line in list.stdout.lines() {
            let address = line.split('\t').next().unwrap();
            let show = self.run(&["state", "show", address, "-f", "s.yaml"]);
            show.ok();
            out.push_str(&show.stdout);
        }
        let history = self.run(&["state", "history", "-f", "s.yaml"]);
        history.ok();
        out.push_str(&history.stdout);
        out
    }

    /// Every command against every persistent fault (and `extra`): exit 1 naming the
    /// endpoint, state unchanged, nothing reported deleted, done within the deadline.
    fn assert_faults_change_nothing(&self, extra: &[Fault]) {
        let before = self.state_export();
        assert!(!before.trim().is_empty(), "the stack was applied first");
        for fault in persistent_faults().into_iter().chain(extra.iter().cloned()) {
            for args in COMMANDS {
                self.proxy.set(Rule::all(fault.clone()));
                let start = Instant::now();
                let r = self.run(args);
                let took = start.elapsed();
                self.proxy.clear();
                let what = format!("{} under {fault:?}", args.join(" "));
                assert_eq!(r.code, 1, "{what}: {}", r.all());
                assert!(
                    r.stderr.contains(&self.proxy.url()),
                    "{what}: the error names the endpoint {}: {}",
                    self.proxy.url(),
                    r.all()
                );
                for said in ["was deleted", "destroyed", "Plan:", "No changes"] {
                    assert!(
                        !r.all().contains(said),
                        "{what}: said {said:?}: {}",
                        r.all()
                    );
                }
                assert!(
                    took < DEADLINE + MARGIN,
                    "{what}: took {took:?}, past its {DEADLINE:?} deadline"
                );
                if fault != Fault::Refuse {
                    assert!(self.proxy.faulted() > 0, "{what}: the fault was met");
                }
            }
            // Compared once per fault, after all five commands: cheaper, and any write
            // by any of them would still show.
            assert_eq!(
                self.state_export(),
                before,
                "under {fault:?}: state changed"
            );
        }
    }

    /// One 503, then one 429 with Retry-After: plan succeeds through the retry, shown on
    /// the progress line for the statuses in `shown`; `paced`: the 429 is AWS throttling,
    /// sent again by the pacing and noted once at the end.
    fn assert_transient_faults_pass(&self, shown: &[u16], paced: bool) {
        for fault in [
            Fault::Status {
                code: 503,
                retry_after: None,
            },
            Fault::Status {
                code: 429,
                retry_after: Some(1),
            },
        ] {
            self.proxy.set(Rule::all(fault.clone()).first(1));
            let r = self.run(&["plan", "s.yaml"]);
            self.proxy.clear();
            assert_eq!(r.code, 0, "plan under one {fault:?}: {}", r.all());
            assert_eq!(self.proxy.faulted(), 1, "{fault:?} was met once");
            assert!(r.stdout.contains("No changes."), "{}", r.all());
            let Fault::Status { code, .. } = fault else {
                unreachable!()
            };
            if shown.contains(&code) {
                assert!(r.stderr.contains("retrying in"), "{}", r.all());
            }
            if code == 429 && paced {
                assert!(
                    r.stderr.contains("note: AWS throttled 1 call ("),
                    "{}",
                    r.all()
                );
            }
        }
    }
}

fn proxied_kubeconfig(k8s: &Emulator, proxy: &FaultProxy, s: &Sandbox) -> PathBuf {
    s.write("kubeconfig", &proxy.kubeconfig_through(k8s.kubeconfig()))
}

#[test]
fn kubernetes_faults_change_nothing() {
    let k8s = Emulator::start(None);
    let proxy = FaultProxy::start(&k8s.url());
    let s = Sandbox::new();
    proxied_kubeconfig(&k8s, &proxy, &s);
    s.write(
        "s.yaml",
        &format!(
            "stack: faults\nproviders:\n  kubernetes:\n    kubeconfig: kubeconfig\n    {LIMITS}\n\
             resources:\n  ns:\n    type: k8s.namespace\n    properties: {{name: faults}}\n  \
             settings:\n    type: k8s.manifest\n    properties:\n      manifest:\n        \
             apiVersion: v1\n        kind: ConfigMap\n        metadata: {{name: settings, namespace: \"${{ns.name}}\"}}\n        \
             data: {{mode: strict}}\n"
        ),
    );
    let b = Bench {
        s,
        proxy,
        env: Vec::new(),
    };
    b.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    // A 404 page from something in front of the API server is not the server's NotFound.
    b.assert_faults_change_nothing(&[NOT_FOUND_PAGE]);
    b.assert_transient_faults_pass(&[503, 429], false);
    // The objects are all still there: nothing was deleted on a guess.
    k8s.kubectl_ok(&["get", "configmap", "settings", "-n", "faults"]);
}

#[test]
fn a_transient_fault_during_apply_is_retried_on_the_progress_line() {
    let k8s = Emulator::start(None);
    let proxy = FaultProxy::start(&k8s.url());
    let s = Sandbox::new();
    proxied_kubeconfig(&k8s, &proxy, &s);
    s.write(
        "s.yaml",
        &format!(
            "stack: faults\nproviders:\n  kubernetes:\n    kubeconfig: kubeconfig\n    {LIMITS}\n\
             resources:\n  ns:\n    type: k8s.namespace\n    properties: {{name: retried}}\n"
        ),
    );
    // The server-side apply of the namespace fails once with 503.
    proxy.set(
        Rule::all(Fault::Status {
            code: 503,
            retry_after: None,
        })
        .method("PATCH")
        .first(1),
    );
    let r = s.run(&["apply", "s.yaml", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(proxy.faulted(), 1);
    assert!(
        r.stderr.contains("ns: retrying in") && r.stderr.contains("(attempt 2 of 2)"),
        "{}",
        r.all()
    );
    k8s.kubectl_ok(&["get", "namespace", "retried"]);
}

#[test]
fn aws_faults_change_nothing() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.url);
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        &format!(
            "stack: faults\nproviders:\n  aws:\n    region: us-east-1\n    {LIMITS}\n\
             resources:\n  root_ca:\n    type: aws.pca.certificate_authority\n    properties:\n      \
             kind: root\n      subject: {{common_name: Faults Root, organization: Example}}\n      \
             key_algorithm: RSA_2048\n      signing_algorithm: SHA256WITHRSA\n      validity: 10y\n  \
             policy:\n    type: aws.iam.policy\n    properties:\n      name: faults\n      document:\n        \
             Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            \
             Action: [acm-pca:IssueCertificate]\n            Resource: ${{root_ca.arn}}\n"
        ),
    );
    let mut env = moto.env();
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = proxy.url();
        }
    }
    let b = Bench { s, proxy, env };
    b.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    b.assert_faults_change_nothing(&[NOT_FOUND_PAGE]);
    // A 429 is AWS throttling: sent again where the call is made, paced, not by the
    // engine's retries (docs/providers.md, Pacing).
    b.assert_transient_faults_pass(&[503], true);
    assert_eq!(
        moto.ca_statuses(),
        vec![("Faults Root".to_string(), "ACTIVE".to_string())],
        "the CA was left alone"
    );
}

#[test]
fn helm_faults_change_nothing() {
    let k8s = Emulator::start(None);
    let proxy = FaultProxy::start(&k8s.url());
    let s = Sandbox::new();
    proxied_kubeconfig(&k8s, &proxy, &s);
    let chart = common::repo_root().join("tests/charts/webapp-1.0.0");
    s.write(
        "s.yaml",
        &format!(
            "stack: faults\nproviders:\n  helm:\n    kubeconfig: kubeconfig\n    {LIMITS}\n\
             resources:\n  web:\n    type: helm.release\n    properties:\n      name: web\n      \
             namespace: apps\n      create_namespace: true\n      chart: {}\n      wait: false\n",
            chart.display()
        ),
    );
    let b = Bench {
        s,
        proxy,
        env: vec![("TRUSTPLANE_HELM".into(), helm().display().to_string())],
    };
    b.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    b.assert_faults_change_nothing(&[]);
    // Helm's own client honours Retry-After itself, so the retry may not be ours to show.
    b.assert_transient_faults_pass(&[], false);
    let (ok, out, err) = std::process::Command::new(helm())
        .args(["status", "web", "-n", "apps", "--kubeconfig"])
        .arg(k8s.kubeconfig())
        .output()
        .map(|o| {
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert!(ok, "the release is still there: {out}{err}");
}

/// A custom resource whose CRD still exists but no longer serves its version: the kind is
/// not served, yet nothing says the object is gone (it is still stored). Drift must fail,
/// not report it deleted; and once the CRD is really deleted, its objects are.
#[test]
fn an_unserved_kind_whose_crd_exists_is_an_error_not_gone() {
    let k8s = Emulator::start(None);
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        &format!(
            r#"stack: crds
providers:
  kubernetes:
    kubeconfig: {}
    {LIMITS}
resources:
  crd:
    type: k8s.manifest
    properties:
      manifest:
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {{name: widgets.example.com}}
        spec:
          group: example.com
          scope: Namespaced
          names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
  widget:
    type: k8s.manifest
    depends_on: [crd]
    properties:
      manifest:
        apiVersion: example.com/v1
        kind: Widget
        metadata: {{name: w, namespace: default}}
        spec: {{size: 1}}
"#,
            k8s.kubeconfig().display()
        ),
    );
    s.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    k8s.kubectl_ok(&[
        "patch",
        "crd",
        "widgets.example.com",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/versions/0/served","value":false}]"#,
    ]);
    let before = s.state_list("s.yaml");
    for args in [&["drift", "s.yaml"][..], &["plan", "s.yaml"][..]] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(
            r.stderr
                .contains("though a CustomResourceDefinition for it exists"),
            "{}",
            r.all()
        );
        assert!(!r.all().contains("was deleted"), "{}", r.all());
    }
    let r = s.run(&["apply", "s.yaml", "--refresh-only", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(s.state_list("s.yaml"), before, "nothing was forgotten");

    // The CRD deleted for real takes its objects with it: that is a definite answer.
    k8s.kubectl_ok(&["delete", "crd", "widgets.example.com"]);
    let r = s.run(&["drift", "s.yaml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("widget (k8s.manifest) was deleted"),
        "{}",
        r.all()
    );
}

/// helm's own client has no request timeout: an upgrade whose API server stops answering
/// is stopped at helm's wait (`timeout`) plus the provider's deadline, changes nothing,
/// and the next apply finishes it.
#[test]
fn a_helm_upgrade_against_a_hung_api_server_is_stopped_at_its_deadline() {
    let k8s = Emulator::start(None);
    let proxy = FaultProxy::start(&k8s.url());
    let s = Sandbox::new();
    proxied_kubeconfig(&k8s, &proxy, &s);
    let stack = |version: &str| {
        let chart = common::repo_root().join(format!("tests/charts/webapp-{version}"));
        format!(
            "stack: faults\nproviders:\n  helm:\n    kubeconfig: kubeconfig\n    {LIMITS}\n\
             resources:\n  web:\n    type: helm.release\n    properties:\n      name: web\n      \
             namespace: apps\n      create_namespace: true\n      chart: {}\n      wait: false\n      \
             timeout: 2s\n",
            chart.display()
        )
    };
    let helm_bin = helm().display().to_string();
    let env = [("TRUSTPLANE_HELM", helm_bin.as_str())];
    s.write("s.yaml", &stack("1.0.0"));
    s.run_env(&["apply", "s.yaml", "--auto-approve"], &env).ok();

    s.write("s.yaml", &stack("1.1.0"));
    // Reads pass; helm's first write (the new revision's record) is never answered.
    proxy.set(Rule::all(Fault::Hang).method("POST"));
    let start = Instant::now();
    let r = s.run_env(&["apply", "s.yaml", "--auto-approve"], &env);
    let took = start.elapsed();
    proxy.clear();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(proxy.faulted() > 0, "the upgrade reached a write");
    assert!(
        r.stderr
            .contains("helm did not install or upgrade apps/web within 6s")
            && r.stderr.contains(&proxy.url()),
        "the error names the limit and the endpoint: {}",
        r.all()
    );
    // 2s of helm's wait plus the 4s deadline, then up to helm's 10s grace once stopped.
    let bound = Duration::from_secs(6 + 10) + MARGIN;
    assert!(took < bound, "took {took:?}, over {bound:?}: {}", r.all());

    s.run_env(&["apply", "s.yaml", "--auto-approve"], &env).ok();
    let plan = s.run_env(&["plan", "s.yaml", "--detailed-exitcode"], &env);
    assert_eq!(
        plan.code,
        0,
        "the next apply finished the upgrade: {}",
        plan.all()
    );
}

/// Only a missing file means a `core.file` is gone: one that cannot be read (here a
/// directory now stands at its path, the error root gets where others get EACCES) fails
/// drift, plan and refresh-only, and state keeps it.
#[test]
fn a_file_that_cannot_be_read_is_an_error_not_gone() {
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        "stack: files\nresources:\n  f:\n    type: core.file\n    properties:\n      path: out/f.txt\n      content: hi\n",
    );
    s.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    std::fs::remove_file(s.path("out/f.txt")).unwrap();
    std::fs::create_dir(s.path("out/f.txt")).unwrap();
    for args in [
        &["drift", "s.yaml"][..],
        &["plan", "s.yaml"],
        &["apply", "s.yaml", "--refresh-only", "--auto-approve"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains("out/f.txt"),
            "{args:?} names the file: {}",
            r.all()
        );
        assert!(!r.stdout.contains("deleted"), "{args:?}: {}", r.all());
    }
    let list = s.run(&["state", "list", "-f", "s.yaml"]);
    assert!(
        list.stdout.starts_with("f\tcore.file\t"),
        "state keeps the file: {}",
        list.all()
    );
}
