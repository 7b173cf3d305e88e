//! Shared helpers for the end-to-end tests: each test gets a scratch directory and runs
//! the real `trustplane` binary in it.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod forward_proxy;
pub mod stand_ins;
pub mod tls_front;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished process gave: its exit code (128 + the signal that killed it) and
    /// both streams.
    pub fn of(output: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: output
                .status
                .code()
                .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "{}", self.all());
        self
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trustplane")
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("TRUSTPLANE_WORKSPACE")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().expect("run trustplane"))
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::of(c.output().expect("run trustplane"))
    }

    /// `state list` as (address, type) pairs.
    pub fn state_list(&self, stack: &str) -> Vec<(String, String)> {
        let r = self.run(&["state", "list", "-f", stack]);
        r.ok();
        r.stdout
            .lines()
            .map(|l| {
                let mut parts = l.split('\t');
                (
                    parts.next().unwrap().to_string(),
                    parts.next().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// The `Plan: ...` summary line of a plan's output.
pub fn summary_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("Plan: ") || l.starts_with("No changes."))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"))
        .to_string()
}

pub use ::stand_ins::repo_root;

/// Standard base64 with padding (kubectl patches and AWS JSON blobs), so tests need no
/// extra crate.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// True when any file under `dir` holds `needle` (a secret must be in none of them).
pub fn grep_dir(dir: &std::path::Path, needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            grep_dir(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        }
    })
}

/// A `credential_process` script in `dir`, as aws-vault or a password manager provides:
/// each run appends a line to `log`, runs `precondition` (shell; it may fail the run with
/// its own message), then prints keys moto accepts.
pub fn credential_process(
    dir: &std::path::Path,
    log: &std::path::Path,
    precondition: &str,
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho ran >> {}\n{precondition}\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \"SecretAccessKey\": \"testing\"}}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Makes `cmd` (with moto's environment already set) take its AWS credentials from
/// `profile` of the AWS config file `config` only: moto's keys removed, no credentials file.
pub fn use_profile(cmd: &mut Command, config: &std::path::Path, profile: &str) {
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_PROFILE", profile);
}
