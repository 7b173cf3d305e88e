//! Running helm as a child process in its own process group.
//!
//! A Ctrl-C at the terminal signals the whole foreground process group; in its own group,
//! helm never sees it, so an upgrade is not killed half-way: trustplane decides. When a
//! run is cancelled (its future dropped, on a second Ctrl-C), helm gets SIGTERM, on which
//! it cancels the operation and marks the release failed (the next upgrade recovers it);
//! only if it has not exited after a grace period is its group killed.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How long a cancelled helm gets to record its release as failed before it is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `cmd` (stdin closed, output captured) in a new process group and waits for it.
/// Dropping the future cancels the child as described above.
pub async fn run(mut cmd: Command) -> std::io::Result<Finished> {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let mut spawned = cmd.spawn()?;
    let mut group = Group {
        stdout: spawned.stdout.take().expect("piped"),
        stderr: spawned.stderr.take().expect("piped"),
        child: Some(spawned),
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let running = group.child.as_mut().expect("just spawned");
    let (o, e, status) = tokio::join!(
        group.stdout.read_to_end(&mut stdout),
        group.stderr.read_to_end(&mut stderr),
        running.wait()
    );
    o?;
    e?;
    let status = status?;
    group.child = None; // exited: nothing to cancel
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// A child that is cancelled if dropped before it exits. Its pipes stay open until it
/// has exited: helm reports the cancellation on them, and a closed pipe would kill it
/// with SIGPIPE before it marks the release failed.
struct Group {
    child: Option<Child>,
    stdout: ChildStdout,
    stderr: ChildStderr,
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) else {
            return; // already reaped
        };
        // The group id is the child's pid (process_group(0)).
        // SAFETY: signals the child's own process group, which we created.
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let deadline = Instant::now() + CANCEL_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; the group did not stop within the grace period.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.try_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_output_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run(cmd).await.unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, b"err\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_its_own_group_and_is_terminated_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace");
        // Records its process group, then waits; on SIGTERM records that and exits.
        let script = format!(
            "trap 'echo cancelled; echo cancelled >&2; echo term >> {t}; exit 143' TERM; ps -o pgid= -p $$ | tr -d ' ' > {t}.pgid; \
             while true; do sleep 0.05; done",
            t = trace.display()
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]);
        let fut = tokio::spawn(run(cmd));
        let pgid_file = dir.path().join("trace.pgid");
        for _ in 0..200 {
            if std::fs::read_to_string(&pgid_file).is_ok_and(|s| !s.trim().is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pgid: i32 = std::fs::read_to_string(&pgid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: getpgrp has no preconditions.
        assert_ne!(
            pgid,
            unsafe { libc::getpgrp() },
            "helm runs in a group of its own"
        );
        fut.abort();
        let _ = fut.await;
        assert_eq!(std::fs::read_to_string(&trace).unwrap().trim(), "term");
    }
}
