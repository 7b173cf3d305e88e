//! The local stand-ins end-to-end tests run the real binary against: moto's server for
//! AWS (through our launcher that fills its Private CA gaps) and the Kubernetes API
//! emulator. Each starts on a free loopback port and stops when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo_root;

/// The python of the project's venv (made by `make test` / tests/support/setup-venv.sh).
pub fn venv_python() -> PathBuf {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} does not exist: run `bash tests/support/setup-venv.sh` (or `make test`)",
        python.display()
    );
    python
}

pub struct Moto {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new(venv_python())
            .arg(repo_root().join("tests/support/moto_server.py"))
            .args(["--host", "127.0.0.1", "--port", "0", "--port-file"])
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "moto did not start within 60s");
            std::thread::sleep(Duration::from_millis(50));
        };
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Environment for trustplane (and boto3) to use this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Runs a python snippet with boto3 against this moto; `endpoint` and `region` are
    /// defined for it. Returns stdout; panics with stderr on failure.
    pub fn boto3(&self, code: &str) -> String {
        let script = format!(
            "import boto3, json, sys\nendpoint = {:?}\nregion = 'us-east-1'\n{code}",
            self.url
        );
        let out = Command::new(venv_python())
            .args(["-c", &script])
            .envs(self.env())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "boto3 snippet failed:\n{code}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Status of every CA in moto (name → status).
    pub fn ca_statuses(&self) -> Vec<(String, String)> {
        let out = self.boto3(
            "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name=region)\n\
             for ca in pca.list_certificate_authorities()['CertificateAuthorities']:\n\
             \x20   print(ca['CertificateAuthorityConfiguration']['Subject']['CommonName'] + '\\t' + ca['Status'])",
        );
        out.lines()
            .map(|l| {
                let (n, s) = l.split_once('\t').unwrap();
                (n.to_string(), s.to_string())
            })
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Emulator {
    child: Child,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start(aws_endpoint: Option<&str>) -> Emulator {
        let bin = std::env::var_os("KUBE_EMULATOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/debug/kube-emulator"));
        assert!(
            bin.exists(),
            "{} not found: build it with `cargo build -p kube-emulator` (make test does)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut cmd = Command::new(bin);
        cmd.args(["--addr", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig);
        if let Some(url) = aws_endpoint {
            cmd.args(["--aws-endpoint", url]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kube-emulator");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on"), "{line}");
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Emulator {
            child,
            kubeconfig,
            _dir: dir,
        }
    }

    /// kubectl against the emulator; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {}: {err}", args.join(" "));
        out
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The helm stand-in: the real Helm v4 engine behind helm's command line.
pub fn helm() -> PathBuf {
    repo_root().join("tests/helm/helm")
}
