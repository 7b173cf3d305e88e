//! The open-file limit, through the binary: a low soft limit is raised to the hard one
//! before anything is opened, and a fleet larger than the hard limit allows is told how
//! to fix it.

use std::process::Command;

use crate::common::stand_ins::Emulator;
use crate::common::{Run, Sandbox};

/// trustplane `args` in `dir` under `ulimit` (a shell's `ulimit` arguments).
fn under_ulimit(dir: &std::path::Path, ulimit: &str, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {ulimit} || exit 99; exec \"$0\" \"$@\""))
        .arg(crate::common::bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    Run::of(out)
}

fn hard_limit(dir: &std::path::Path) -> u64 {
    let out = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text == "unlimited" {
        u64::MAX
    } else {
        text.parse().unwrap()
    }
}

#[test]
fn a_low_soft_limit_on_open_files_is_raised_to_the_hard_one() {
    let e = Emulator::start(None);
    let s = Sandbox::new();
    assert!(
        hard_limit(s.path("").as_path()) >= 256,
        "this test needs a hard open-file limit of at least 256"
    );
    s.write(
        "ns.yaml",
        &format!(
            "stack: ns\nproviders:\n  kubernetes: {{kubeconfig: \"{}\"}}\nresources:\n  \
             apps:\n    type: k8s.namespace\n    properties: {{name: apps}}\n",
            e.kubeconfig().display()
        ),
    );
    s.run(&["apply", "ns.yaml", "--auto-approve"]).ok();
    // Twelve descriptors do not hold the state store and a connection to the cluster:
    // without the raise, this plan ends with "Too many open files".
    let plan = under_ulimit(
        s.path("").as_path(),
        "-S -n 12",
        &["plan", "ns.yaml", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        !plan.all().contains("Too many open files"),
        "{}",
        plan.all()
    );
}

#[test]
fn a_fleet_beyond_the_hard_limit_is_told_how_to_fix_it() {
    let s = Sandbox::new();
    let fleet = stand_ins::repo_root().join("examples/fleet/mesh-prod.yaml");
    let r = under_ulimit(
        s.path("").as_path(),
        "-n 48",
        &["fleet", "plan", fleet.to_str().unwrap(), "--state", "state"],
    );
    assert!(
        r.stderr
            .contains("note: this process may open 48 files and 4 members at once need about 128")
            && r.stderr.contains("--member"),
        "{}",
        r.all()
    );
}
