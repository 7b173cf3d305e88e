//! What the helm provider tests run against: the `helm` test executable (Helm's Go SDK
//! through the repository's venv), the Kubernetes API emulator, and a loopback HTTP chart
//! repository. A missing venv or emulator fails the test with how to get it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use trustplane::provider::helm::HelmProvider;
use trustplane::provider::Provider;
use trustplane::value::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/helm/helm, after checking the venv it needs.
pub fn helm_bin() -> PathBuf {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the helm tests need the venv with helm-python-sdk: run `python3 -m venv .venv && \
         .venv/bin/pip install helm-python-sdk==0.2.2 pyyaml` in {}",
        root.display()
    );
    let ok = Command::new(&python)
        .args(["-c", "import helm_python, yaml"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import helm_python and yaml: run `.venv/bin/pip install \
         helm-python-sdk==0.2.2 pyyaml`",
        python.display()
    );
    root.join("tests/helm/helm")
}

pub fn chart(name: &str) -> String {
    repo_root()
        .join("tests/charts")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A running kube-emulator with its kubeconfig; killed on drop.
pub struct Emulator {
    child: Child,
    pub kubeconfig: PathBuf,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start() -> Emulator {
        let bin = std::env::var_os("KUBE_EMULATOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/debug/kube-emulator"));
        assert!(
            bin.exists(),
            "the helm tests need the Kubernetes API emulator at {}: build it with \
             `cargo build -p kube-emulator` (or set KUBE_EMULATOR)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kube-emulator");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // Keep draining, so later output never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("kube-emulator printed {line:?}"))
            .to_string();
        Emulator {
            child,
            kubeconfig,
            addr,
            _dir: dir,
        }
    }

    /// GET a path of the API server; returns the status code.
    pub fn get_status(&self, path: &str) -> u16 {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Runs tests/helm/helm against this cluster, as an operator would out of band.
    pub fn helm(&self, args: &[&str]) -> String {
        let out = Command::new(helm_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A helm provider configured for this cluster and the test helm.
    pub async fn provider(&self) -> HelmProvider {
        let p = HelmProvider::default();
        let settings = serde_json::json!({
            "binary": helm_bin(),
            "kubeconfig": self.kubeconfig,
        });
        p.configure(&Value::from_json(settings)).await.unwrap();
        p
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP chart repository on loopback serving packaged charts and index.yaml, from a
/// thread (the test runtime's tokio has no networking).
pub struct ChartRepo {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl ChartRepo {
    pub async fn serve(charts: &[&str]) -> ChartRepo {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let helm = helm_bin();
        for c in charts {
            run_ok(
                Command::new(&helm)
                    .args(["package", &chart(c), "-d"])
                    .arg(dir.path()),
            );
        }
        run_ok(
            Command::new(&helm)
                .args(["repo", "index"])
                .arg(dir.path())
                .args(["--url", &url]),
        );
        let root = dir.path().to_path_buf();
        // The thread ends with the test process; a request after the TempDir is gone
        // gets a 404.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve_file(stream, &root);
            }
        });
        ChartRepo { url, _dir: dir }
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn serve_file(mut stream: std::net::TcpStream, root: &Path) {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let name = Path::new(path.trim_start_matches('/'))
        .file_name()
        .map(|n| root.join(n));
    let (status, body) = match name.and_then(|p| std::fs::read(p).ok()) {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}
