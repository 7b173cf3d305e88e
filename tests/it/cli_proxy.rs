//! Clusters behind a proxy, through the binary: a kubeconfig's `proxy-url` (HTTP CONNECT
//! or SOCKS5) and HTTPS_PROXY carry every request to the API server, the kubernetes and
//! helm providers' alike, as they carry kubectl's; loopback servers are never proxied
//! from the environment; a proxy that cannot be reached is named and nothing changes.

use crate::common::forward_proxy::ForwardProxy;
use crate::common::stand_ins::{helm, Emulator};
use crate::common::Sandbox;

/// A namespace and a Helm release in it, reached through the kubeconfig `kube/config`.
fn stack() -> String {
    let chart = stand_ins::repo_root().join("tests/charts/webapp-1.0.0");
    format!(
        "stack: proxied\nproviders:\n  kubernetes: {{kubeconfig: kube/config}}\n  \
         helm: {{binary: \"{helm}\"}}\nresources:\n  \
         apps:\n    type: k8s.namespace\n    properties: {{name: apps}}\n  \
         web:\n    type: helm.release\n    properties:\n      name: web\n      \
         namespace: ${{apps.name}}\n      chart: \"{chart}\"\n      wait: false\n",
        helm = helm().display(),
        chart = chart.display(),
    )
}

/// The emulator's kubeconfig with its cluster's server and extra cluster fields replaced.
fn kubeconfig(e: &Emulator, server: &str, extra: &str) -> String {
    let text = std::fs::read_to_string(e.kubeconfig()).unwrap();
    let line = format!("    server: {}\n", e.url());
    assert!(text.contains(&line), "{text}");
    text.replace(&line, &format!("    server: {server}\n{extra}"))
}

/// A sandbox holding the stack, and `kubeconfig_text` as `kube/config`.
fn sandbox(kubeconfig_text: &str) -> Sandbox {
    let s = Sandbox::new();
    s.write("kube/config", kubeconfig_text);
    s.write("proxied.yaml", &stack());
    s
}

fn kubectl(kubeconfig: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Applies the stack, then plans it again, both through `proxy`; every tunnel the proxy
/// opened goes to `target`, and kubectl with the same kubeconfig goes the same way.
fn converges_through(
    proxy: &ForwardProxy,
    kubeconfig_text: &str,
    env: &[(&str, &str)],
    target: &str,
) {
    let s = sandbox(kubeconfig_text);
    let kc = s.path("kube/config");
    s.run_env(&["apply", "proxied.yaml", "--auto-approve"], env)
        .ok();
    let after_apply = proxy.tunnels();
    assert!(!after_apply.is_empty(), "the apply went through the proxy");
    assert!(
        after_apply.iter().all(|t| t == target),
        "every tunnel reached the API server {target}: {after_apply:?}"
    );
    let plan = s.run_env(&["plan", "proxied.yaml", "--detailed-exitcode"], env);
    assert_eq!(plan.code, 0, "converged: {}", plan.all());
    assert!(
        proxy.tunnels().len() > after_apply.len(),
        "the plan read the cluster through the proxy"
    );
    // An independent client with the same kubeconfig sees what the apply made, also
    // through the proxy.
    let before = proxy.tunnels().len();
    let releases = kubectl(
        &kc,
        env,
        &[
            "get",
            "secrets",
            "-n",
            "apps",
            "-l",
            "owner=helm,name=web",
            "-o",
            "name",
        ],
    );
    assert!(!releases.trim().is_empty(), "helm recorded the release");
    assert!(
        proxy.tunnels().len() > before,
        "kubectl went through the proxy"
    );
}

/// A kubeconfig whose cluster has `proxy-url` (the proxy's URL `url_of` gives).
fn kubeconfig_proxy_url_converges(url_of: fn(&ForwardProxy) -> String) {
    let e = Emulator::start_with_args(None, &["--tls"]);
    let proxy = ForwardProxy::start();
    let text = kubeconfig(
        &e,
        &e.url(),
        &format!("    proxy-url: {}\n", url_of(&proxy)),
    );
    // The proxy-url applies even to a loopback server, as kubectl applies it.
    converges_through(&proxy, &text, &[], &e.addr);
}

#[test]
fn a_kubeconfig_http_proxy_carries_the_kubernetes_and_helm_providers() {
    kubeconfig_proxy_url_converges(ForwardProxy::http_url);
}

#[test]
fn a_kubeconfig_socks5_proxy_carries_the_kubernetes_and_helm_providers() {
    kubeconfig_proxy_url_converges(ForwardProxy::socks5_url);
}

#[test]
fn https_proxy_carries_a_named_server_unless_no_proxy_names_it() {
    let e = Emulator::start_with_args(None, &["--tls"]);
    let proxy = ForwardProxy::start();
    // A name only the proxy can resolve; the serving certificate is for `localhost`.
    let port = e.addr.rsplit_once(':').unwrap().1;
    let server = format!("https://api.cluster.test:{port}");
    let text = kubeconfig(&e, &server, "    tls-server-name: localhost\n");
    let url = proxy.http_url();
    let env = [
        ("HTTPS_PROXY", url.as_str()),
        // Names other hosts only: the server is still proxied.
        ("NO_PROXY", "localhost,.other.test,10.0.0.0/8"),
    ];
    converges_through(&proxy, &text, &env, &format!("api.cluster.test:{port}"));
}

#[test]
fn a_loopback_server_is_reached_directly_whatever_https_proxy_says() {
    let e = Emulator::start_with_args(None, &["--tls"]);
    let s = sandbox(&kubeconfig(&e, &e.url(), ""));
    // Nothing listens on port 1: a proxied request could not succeed.
    let env = [
        ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ("HTTP_PROXY", "http://127.0.0.1:1"),
    ];
    s.run_env(&["apply", "proxied.yaml", "--auto-approve"], &env)
        .ok();
    let plan = s.run_env(&["plan", "proxied.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    e.kubectl_ok(&["get", "namespace", "apps"]);
}

#[test]
fn an_unreachable_proxy_is_named_and_nothing_changes() {
    let e = Emulator::start_with_args(None, &["--tls"]);
    let dead = "http://proxy-user:s3cret@127.0.0.1:1";
    let s = sandbox(&kubeconfig(
        &e,
        &e.url(),
        &format!("    proxy-url: {dead}\n"),
    ));
    let apply = s.run(&["apply", "proxied.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    let all = apply.all();
    assert!(
        all.contains("through the proxy http://127.0.0.1:1 (from the kubeconfig's proxy-url)"),
        "the error names the proxy: {all}"
    );
    assert!(
        !all.contains("s3cret"),
        "the proxy's password stays out: {all}"
    );
    assert!(s.state_list("proxied.yaml").is_empty(), "nothing recorded");
    let (exists, _, _) = e.kubectl(&["get", "namespace", "apps"]);
    assert!(!exists, "nothing created");
}

#[test]
fn a_no_proxy_kube_cannot_read_is_named_with_the_fix() {
    let e = Emulator::start_with_args(None, &["--tls"]);
    let s = sandbox(&kubeconfig(&e, &e.url(), ""));
    let env = [
        ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ("NO_PROXY", "localhost,127.0.0.1,"),
    ];
    let apply = s.run_env(&["apply", "proxied.yaml", "--auto-approve"], &env);
    assert_eq!(apply.code, 1, "{}", apply.all());
    let all = apply.all();
    assert!(
        all.contains("NO_PROXY cannot be read: an empty entry (a doubled or trailing comma)")
            && all.contains("remove that entry from NO_PROXY"),
        "{all}"
    );
    let (exists, _, _) = e.kubectl(&["get", "namespace", "apps"]);
    assert!(!exists, "nothing created");
}
