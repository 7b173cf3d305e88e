//! Signals through the real binary: SIGTERM is handled like Ctrl-C, a second Ctrl-C
//! cancels the work in flight, and helm, in its own process group, is not killed by the
//! terminal's Ctrl-C. Each run is started in a process group of its own, so a signal to
//! that group is what a terminal's Ctrl-C does.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::stand_ins::{helm, Emulator};
use common::Sandbox;

/// A running trustplane whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = s.command(args);
        cmd.envs(env.iter().copied())
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no line with {text:?} ({e}); saw {:?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(text) {
                return;
            }
        }
    }

    /// Signals the whole process group, as a terminal does.
    fn signal_group(&self, signo: i32) {
        // SAFETY: signals the group this test created for the child.
        let rc = unsafe { libc::kill(-(self.child.id() as i32), signo) };
        assert_eq!(rc, 0);
    }

    /// Exit code and the rest of stderr.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

const SLOW_STACK: &str = "stack: slow
variables:
  pause: {type: string, default: 300ms}
resources:
  first:
    type: core.null
  a:
    type: core.sleep
    depends_on: [first]
    properties: {create_duration: \"${var.pause}\"}
  b:
    type: core.sleep
    depends_on: [a]
    properties: {create_duration: \"${var.pause}\"}
  c:
    type: core.sleep
    depends_on: [b]
    properties: {create_duration: \"${var.pause}\"}
";

fn converges(s: &Sandbox, env: &[(&str, &str)], extra: &[&str]) {
    let mut apply = vec!["apply", "slow.yaml", "--auto-approve"];
    apply.extend(extra);
    let r = s.run_env(&apply, env);
    assert_eq!(r.code, 0, "rerun: {}", r.all());
    let mut plan = vec!["plan", "slow.yaml", "--detailed-exitcode"];
    plan.extend(extra);
    let r = s.run_env(&plan, env);
    assert_eq!(r.code, 0, "after the rerun: {}", r.all());
}

#[test]
fn sigterm_during_apply_saves_state_releases_the_lock_and_exits_143() {
    let s = Sandbox::new();
    s.write("slow.yaml", SLOW_STACK);
    let mut run = Running::start(&s, &["apply", "slow.yaml", "--auto-approve"], &[]);
    run.wait_for("a: creating");
    run.signal_group(libc::SIGTERM);
    let (code, stderr) = run.finish();
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("Interrupted (SIGTERM)"), "{stderr}");
    assert!(
        stderr.contains("not started (interrupted): b, c"),
        "{stderr}"
    );
    assert!(!s.exists("state/slow/default/lock.json"), "lock released");
    assert!(
        !s.exists("state/slow/default/in-use"),
        "state closed cleanly"
    );
    // What finished is in state: first, and a (in flight when the signal came).
    let list: Vec<String> = s
        .state_list("slow.yaml")
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(list, ["a", "first"]);
    converges(&s, &[], &[]);
}

#[test]
fn a_second_interrupt_cancels_work_in_flight_and_saves_the_rest() {
    let s = Sandbox::new();
    s.write("slow.yaml", SLOW_STACK);
    let args = ["apply", "slow.yaml", "--auto-approve", "--var", "pause=1h"];
    let mut run = Running::start(&s, &args, &[]);
    run.wait_for("a: creating");
    run.signal_group(libc::SIGINT);
    run.wait_for("Interrupted (SIGINT)");
    run.signal_group(libc::SIGINT);
    let (code, stderr) = run.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("cancelling operations in flight"),
        "{stderr}"
    );
    assert!(stderr.contains("cancelled in flight"), "{stderr}");
    assert!(!s.exists("state/slow/default/lock.json"), "lock released");
    let list: Vec<String> = s
        .state_list("slow.yaml")
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(list, ["first"], "what finished before is saved");
    converges(&s, &[], &["--var", "pause=10ms"]);
}

/// A helm that takes its time over `upgrade` (or the subcommand in HELM_SLOW), and leaves
/// marks of what happened to it.
fn slow_helm(s: &Sandbox) -> String {
    let marks = s.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = \"${{HELM_SLOW:-upgrade}}\" ]; then\n\
         \x20 trap 'touch {m}/terminated; exit 143' TERM\n\
         \x20 touch {m}/started\n\
         \x20 sleep \"${{HELM_PAUSE:-2}}\"\n\
         \x20 \"{real}\" \"$@\"; rc=$?\n\
         \x20 touch {m}/finished\n\
         \x20 exit $rc\n\
         fi\n\
         exec \"{real}\" \"$@\"\n",
        m = marks.display(),
        real = helm().display()
    );
    let path = s.write("slow-helm", &script);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn helm_stack() -> String {
    let chart = common::repo_root().join("tests/charts/webapp-1.0.0");
    format!(
        "stack: web
resources:
  web:
    type: helm.release
    properties:
      name: web
      namespace: apps
      create_namespace: true
      chart: {}
      wait: false
      values: {{image: {{tag: \"1.0\"}}}}
      set_sensitive: {{password: s3cret-pw}}
",
        chart.display()
    )
}

/// Temporary values files trustplane left behind in `tmp`.
fn values_files(tmp: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("trustplane-helm-values"))
        .collect()
}

/// What the helm signal tests share: an emulator, the helm stack in a sandbox, the slow
/// helm, and the environment pointing trustplane at them (TMPDIR inside the sandbox, so
/// that values files left behind can be seen).
struct HelmRun {
    kube: Emulator,
    s: Sandbox,
    tmp: std::path::PathBuf,
    base: Vec<(String, String)>,
}

impl HelmRun {
    fn new() -> HelmRun {
        let kube = Emulator::start(None);
        let s = Sandbox::new();
        s.write("web.yaml", &helm_stack());
        let tmp = s.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let base = vec![
            ("TRUSTPLANE_HELM".to_string(), slow_helm(&s)),
            (
                "KUBECONFIG".to_string(),
                kube.kubeconfig().display().to_string(),
            ),
            ("TMPDIR".to_string(), tmp.display().to_string()),
        ];
        HelmRun { kube, s, tmp, base }
    }

    /// The base environment, then `extra`.
    fn env<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        self.base
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect()
    }
}

#[test]
fn helm_keeps_running_through_the_first_interrupt() {
    let h = HelmRun::new();
    let (kube, s, tmp) = (&h.kube, &h.s, &h.tmp);
    let env = h.env(&[]);
    let mut run = Running::start(s, &["apply", "web.yaml", "--auto-approve"], &env);
    run.wait_for("web: creating");
    while !s.exists("marks/started") {
        std::thread::sleep(Duration::from_millis(20));
    }
    run.signal_group(libc::SIGINT);
    let (code, stderr) = run.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(s.exists("marks/finished"), "helm was cut short: {stderr}");
    assert!(!s.exists("marks/terminated"), "{stderr}");
    assert!(values_files(tmp).is_empty(), "values file left behind");
    let status = kube.kubectl_ok(&["get", "secrets", "-n", "apps", "-o", "name"]);
    assert!(status.contains("sh.helm.release.v1.web.v1"), "{status}");
    let list = s.state_list("web.yaml");
    assert_eq!(list, [("web".to_string(), "helm.release".to_string())]);
    let plan = s.run_env(&["plan", "web.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn a_second_interrupt_cancels_helm_deliberately_and_the_release_recovers() {
    let h = HelmRun::new();
    let (s, tmp) = (&h.s, &h.tmp);
    let env = h.env(&[("HELM_PAUSE", "3600")]);
    let mut run = Running::start(s, &["apply", "web.yaml", "--auto-approve"], &env);
    run.wait_for("web: creating");
    while !s.exists("marks/started") {
        std::thread::sleep(Duration::from_millis(20));
    }
    run.signal_group(libc::SIGINT);
    run.wait_for("Interrupted (SIGINT)");
    run.signal_group(libc::SIGINT);
    let (code, stderr) = run.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(s.exists("marks/terminated"), "helm got SIGTERM: {stderr}");
    assert!(values_files(tmp).is_empty(), "values file left behind");
    assert!(!s.exists("state/web/default/lock.json"));
    // The next apply installs the release.
    let env = h.env(&[]);
    let r = s.run_env(&["apply", "web.yaml", "--auto-approve"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    let plan = s.run_env(&["plan", "web.yaml", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn an_interrupt_stops_a_run_waiting_for_the_lock() {
    let s = Sandbox::new();
    s.write("slow.yaml", SLOW_STACK);
    s.run(&["plan", "slow.yaml"]).ok();
    // A live holder on this machine: a process that sleeps, named in a lock as
    // trustplane writes it.
    let mut holder = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", holder.id())).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
    let lock = serde_json::json!({
        "id": "held-by-sleep", "user": "alice", "pid": holder.id(), "command": "apply",
        "host": read("/proc/sys/kernel/hostname"), "created": "2026-01-01T12:00:00Z",
        "boot_id": read("/proc/sys/kernel/random/boot_id"),
        "pid_namespace": std::fs::read_link("/proc/self/ns/pid").unwrap().to_string_lossy(),
        "start_time": start,
    });
    s.write("state/slow/default/lock.json", &lock.to_string());
    let run = Running::start(&s, &["plan", "slow.yaml", "--lock-timeout", "10m"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    run.signal_group(libc::SIGINT);
    let (code, stderr) = run.finish();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("waiting for the state lock"), "{stderr}");
    assert_eq!(
        s.read("state/slow/default/lock.json"),
        lock.to_string(),
        "the holder's lock is untouched"
    );
}

#[test]
fn sigterm_while_planning_stops_at_once_and_cleans_up() {
    let h = HelmRun::new();
    let (s, tmp) = (&h.s, &h.tmp);
    let env = h.env(&[("HELM_SLOW", "template"), ("HELM_PAUSE", "3600")]);
    // The plan renders the release with `helm template`, which hangs here.
    let run = Running::start(s, &["plan", "web.yaml"], &env);
    while !s.exists("marks/started") {
        std::thread::sleep(Duration::from_millis(20));
    }
    run.signal_group(libc::SIGTERM);
    let (code, stderr) = run.finish();
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("Interrupted (SIGTERM): stopped."),
        "{stderr}"
    );
    assert!(s.exists("marks/terminated"), "helm was cancelled: {stderr}");
    assert!(values_files(tmp).is_empty(), "values file left behind");
    assert!(!s.exists("state/web/default/lock.json"), "lock released");
    assert!(
        !s.exists("state/web/default/in-use"),
        "state closed cleanly"
    );
}
