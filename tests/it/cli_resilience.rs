//! Failures, interruptions and concurrency: a failing node with independent branches,
//! SIGKILL and SIGINT in the middle of an apply, and two processes contending for the lock.

use crate::common;

use std::time::{Duration, Instant};

use common::{summary_line, Sandbox};

/// A chain that fails at its root, and an independent branch that must still finish.
const FAILING: &str = r#"
stack: failing
resources:
  broken:
    type: core.file
    properties:
      path: /proc/trustplane-cannot-write-here/x
  after_broken:
    type: core.null
    depends_on: [broken]
  after_after:
    type: core.null
    depends_on: [after_broken]
  slow_branch:
    type: core.sleep
    properties:
      create_duration: 300ms
  fast_branch:
    type: core.file
    properties:
      path: ok.txt
      content: fine
"#;

#[test]
fn failure_skips_dependents_and_keeps_independent_work() {
    let s = Sandbox::new();
    s.write("f.yaml", FAILING);
    let r = s.run(&["apply", "f.yaml", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("apply::create_failed"), "{}", r.all());
    assert!(
        r.stderr.contains("/proc/trustplane-cannot-write-here/x"),
        "the cause: {}",
        r.all()
    );
    assert!(r.stderr.contains("failed:  broken"), "{}", r.all());
    assert!(
        r.stderr
            .contains("skipped (a dependency failed): after_broken, after_after"),
        "{}",
        r.all()
    );
    // Only the root cause is reported as an error, not its skipped dependents.
    assert_eq!(
        r.stderr.matches("apply::create_failed").count(),
        1,
        "{}",
        r.all()
    );
    assert_eq!(s.read("ok.txt"), "fine");
    let mut names: Vec<String> = s.state_list("f.yaml").into_iter().map(|(a, _)| a).collect();
    names.sort();
    assert_eq!(
        names,
        vec!["fast_branch", "slow_branch"],
        "independent branches finished and were saved"
    );

    // Fixing the stack and re-running converges, creating only what is missing.
    s.write(
        "f.yaml",
        &FAILING.replace("/proc/trustplane-cannot-write-here/x", "fixed.txt"),
    );
    let plan = s.run(&["plan", "f.yaml"]);
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."
    );
    s.run(&["apply", "f.yaml", "--auto-approve"]).ok();
    assert_eq!(s.state_list("f.yaml").len(), 5);
}

/// Two chains of slow units (a 150 ms sleep, then a file), so files appear steadily and a
/// signal lands mid-apply with work in flight.
fn slow_stack(n: usize) -> String {
    let mut s = String::from("stack: slow\nresources:\n");
    for i in 0..n {
        let after = if i >= 2 {
            format!("\n    depends_on: [file{}]", i - 2)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  wait{i}:\n    type: core.sleep{after}\n    properties:\n      create_duration: 150ms\n  \
             file{i}:\n    type: core.file\n    depends_on: [wait{i}]\n    properties:\n      path: files/{i}.txt\n      content: \"{i}\"\n"
        ));
    }
    s
}

fn wait_for_state(s: &Sandbox, min_lines: usize) {
    // Wait until the apply has made progress: some files exist.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let count = std::fs::read_dir(s.path("files"))
            .map(|d| d.count())
            .unwrap_or(0);
        if count >= min_lines {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("apply made no progress");
}

#[test]
fn sigkill_mid_apply_then_reapply_converges() {
    let s = Sandbox::new();
    let n = 24;
    s.write("slow.yaml", &slow_stack(n));
    let mut child = s
        .command(&["apply", "slow.yaml", "--auto-approve", "--parallelism", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_state(&s, 3);
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();

    // Everything in state exists for real, and the lock of the dead process is broken.
    let in_state = s.state_list("slow.yaml");
    let saved = in_state.len();
    assert!(
        saved > 0 && saved < 2 * n,
        "partial progress was saved: {saved}"
    );
    for (address, _) in &in_state {
        if let Some(i) = address.strip_prefix("file") {
            assert_eq!(
                s.read(&format!("files/{i}.txt")),
                i,
                "state holds only what exists"
            );
        }
    }
    let plan = s.run(&["plan", "slow.yaml"]);
    plan.ok();
    assert!(
        plan.stderr.contains("broke a stale state lock") || !plan.stderr.contains("locked"),
        "{}",
        plan.all()
    );
    let expected = format!(
        "Plan: {} to add, 0 to change, 0 to replace, 0 to destroy.",
        2 * n - saved
    );
    assert_eq!(
        summary_line(&plan.stdout),
        expected,
        "nothing done is redone"
    );

    s.run(&[
        "apply",
        "slow.yaml",
        "--auto-approve",
        "--parallelism",
        "10",
    ])
    .ok();
    let all = s.state_list("slow.yaml");
    assert_eq!(all.len(), 2 * n, "nothing lost, nothing duplicated");
    for i in 0..n {
        assert_eq!(s.read(&format!("files/{i}.txt")), i.to_string());
    }
    assert!(s.run(&["plan", "slow.yaml"]).stdout.contains("No changes."));
}

#[test]
fn sigint_finishes_in_flight_work_saves_state_and_exits_130() {
    let s = Sandbox::new();
    s.write("slow.yaml", &slow_stack(20));
    let child = s
        .command(&["apply", "slow.yaml", "--auto-approve", "--parallelism", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_state(&s, 2);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert!(stderr.contains("not started (interrupted)"), "{stderr}");
    let saved = s.state_list("slow.yaml").len();
    assert!(saved > 0 && saved < 40, "{saved}");
    // The lock was released cleanly: the next run needs no stale-lock breaking.
    let plan = s.run(&["plan", "slow.yaml"]);
    plan.ok();
    assert!(!plan.stderr.contains("stale"), "{}", plan.all());
    assert_eq!(
        summary_line(&plan.stdout),
        format!(
            "Plan: {} to add, 0 to change, 0 to replace, 0 to destroy.",
            40 - saved
        )
    );
}

#[test]
fn lock_contention_between_two_processes() {
    let s = Sandbox::new();
    s.write(
        "lock.yaml",
        "stack: lock\nresources:\n  wait:\n    type: core.sleep\n    properties:\n      create_duration: 3s\n",
    );
    let holder = s
        .command(&["apply", "lock.yaml", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock_file = s.path("state/lock/default/lock.json");
    let start = Instant::now();
    while !lock_file.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lock_file.exists(), "the first run holds the lock");

    // Without waiting: fails at once, naming the holder.
    let second = s.run(&["plan", "lock.yaml"]);
    assert_eq!(second.code, 1, "{}", second.all());
    assert!(second.stderr.contains("state::locked"), "{}", second.all());
    assert!(
        second.stderr.contains(&format!("pid {}", holder.id())),
        "names the holder: {}",
        second.all()
    );
    assert!(
        second.stderr.contains("`apply`"),
        "names the command: {}",
        second.all()
    );
    assert!(second.stderr.contains("force-unlock"), "{}", second.all());

    // Waiting with --lock-timeout: succeeds once the first run finishes.
    let waited = s.run(&["plan", "lock.yaml", "--lock-timeout", "30s"]);
    waited.ok();
    assert!(waited.stdout.contains("No changes."), "{}", waited.all());
    let mut holder = holder;
    assert!(holder.wait().unwrap().success());
}

#[test]
fn force_unlock_removes_a_lock_by_id() {
    let s = Sandbox::new();
    s.write(
        "u.yaml",
        "stack: u\nresources:\n  n:\n    type: core.null\n",
    );
    // A lock held by a live process (this test), as another host's run would leave it.
    let info = serde_json::json!({
        "id": "7d9c1c5e-1111-4222-8333-944455556666",
        "user": "someone",
        "host": "build-agent-7",
        "pid": std::process::id(),
        "command": "apply",
        "created": "2026-01-01T00:00:00Z"
    });
    s.write("state/u/default/lock.json", &info.to_string());
    let blocked = s.run(&["plan", "u.yaml"]);
    assert_eq!(blocked.code, 1, "{}", blocked.all());
    assert!(
        blocked.stderr.contains("someone@build-agent-7"),
        "{}",
        blocked.all()
    );

    let wrong = s.run(&["state", "force-unlock", "not-the-id", "-f", "u.yaml"]);
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    s.run(&[
        "state",
        "force-unlock",
        "7d9c1c5e-1111-4222-8333-944455556666",
        "-f",
        "u.yaml",
    ])
    .ok();
    s.run(&["plan", "u.yaml"]).ok();
}
