//! What the helm provider tests run against: the `helm` test executable (Helm's Go SDK
//! through the repository's venv), the Kubernetes API emulator, and a loopback HTTP chart
//! repository. A missing venv or emulator fails the test with how to get it.

use std::io::{Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;

use trustplane::provider::helm::HelmProvider;
use trustplane::provider::Provider;
use trustplane::value::Value;

use crate::common::{repo_root, stand_ins};

/// tools/helm/helm, after checking the venv it needs.
pub fn helm_bin() -> PathBuf {
    stand_ins::helm()
}

pub fn chart(name: &str) -> String {
    repo_root()
        .join("tests/charts")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The Kubernetes API emulator, with what the helm tests do to it.
pub struct Emulator(stand_ins::Emulator);

impl Deref for Emulator {
    type Target = stand_ins::Emulator;
    fn deref(&self) -> &stand_ins::Emulator {
        &self.0
    }
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator(stand_ins::Emulator::start(None))
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

    /// Runs tools/helm/helm against this cluster, as an operator would out of band.
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

/// An HTTP chart repository on loopback serving packaged charts and index.yaml, from a
/// thread (the test runtime's tokio has no networking).
pub struct ChartRepo {
    pub url: String,
    /// Requests refused for a missing or wrong login (a repository served with one).
    pub refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl ChartRepo {
    pub async fn serve(charts: &[&str]) -> ChartRepo {
        ChartRepo::serve_with_login(charts, None).await
    }

    /// A repository that answers 401 unless the request carries this HTTP basic login,
    /// as a private chart repository (Artifactory, Nexus, ChartMuseum with auth) does.
    pub async fn serve_with_login(charts: &[&str], login: Option<(&str, &str)>) -> ChartRepo {
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
        let expected = login.map(|(user, password)| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        });
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = refused.clone();
        // The thread ends with the test process; a request after the TempDir is gone
        // gets a 404.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve_file(stream, &root, expected.as_deref(), &counter);
            }
        });
        ChartRepo {
            url,
            refused,
            _dir: dir,
        }
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

fn serve_file(
    mut stream: std::net::TcpStream,
    root: &Path,
    login: Option<&str>,
    refused: &std::sync::atomic::AtomicUsize,
) {
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
    let authorized = login.is_none_or(|expected| {
        request.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("authorization")
                    && v.trim().split_once(' ').is_some_and(|(scheme, token)| {
                        scheme.eq_ignore_ascii_case("basic") && token == expected
                    })
            })
        })
    });
    let (status, body) = if !authorized {
        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ("401 Unauthorized", b"login required".to_vec())
    } else {
        match name.and_then(|p| std::fs::read(p).ok()) {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found".to_vec()),
        }
    };
    let challenge = if authorized {
        ""
    } else {
        "WWW-Authenticate: Basic realm=\"charts\"\r\n"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{challenge}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}
