//! moto's server through tools/moto/moto_server.py, which fills moto's Private CA gaps.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use base64::Engine;
use serde_json::{json, Value};

use crate::{repo_root, venv_python};

/// A moto server on a loopback port of its own choosing; killed on drop.
pub struct Moto {
    child: Child,
    /// Held open for the server's life: it stops once this closes, so a server that is
    /// never dropped (kept in a static) still ends with the process that started it.
    _stdin: ChildStdin,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with_args(&[])
    }

    /// [`Moto::start`] with more launcher flags, e.g. `--iam-rewrites`.
    pub fn start_with_args(args: &[&str]) -> Moto {
        let python = venv_python();
        let mut child = Command::new(&python)
            .arg(repo_root().join("tools/moto/moto_server.py"))
            .args(["--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
        // The launcher prints this line once the server accepts connections.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "moto exited before it listened ({status:?}): {}",
                    python.display()
                );
            }
            if let Some(url) = line.trim().strip_prefix("moto listening on ") {
                break url.to_string();
            }
        };
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        // Keep draining, so later output never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let stdin = child.stdin.take().expect("moto's stdin is piped");
        Moto {
            child,
            _stdin: stdin,
            url,
            port,
        }
    }

    /// The server's process id (for the CPU time it spent).
    pub fn pid(&self) -> u32 {
        self.child.id()
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

    /// One ACM PCA call (AWS JSON 1.1) over plain HTTP; moto ignores signatures. Plain
    /// std I/O, so it works from sync tests and from inside a tokio runtime alike.
    pub fn pca(&self, action: &str, body: Value) -> Value {
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: ACMPrivateCA.{action}\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/acm-pca/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, payload) = resp.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{action}: {resp}"
        );
        // Chunked replies: the JSON object is between the first '{' and the last '}'.
        match (payload.find('{'), payload.rfind('}')) {
            (Some(a), Some(b)) => serde_json::from_str(&payload[a..=b]).unwrap(),
            _ => Value::Null,
        }
    }

    /// An active root CA named `common_name`, as an operator bootstraps one by hand;
    /// returns (CA arn, CA certificate PEM).
    pub fn root_ca(&self, common_name: &str) -> (String, String) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let arn = self.pca(
            "CreateCertificateAuthority",
            json!({"CertificateAuthorityConfiguration": {"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA",
                   "Subject": {"CommonName": common_name}}, "CertificateAuthorityType": "ROOT"}),
        )["CertificateAuthorityArn"]
            .as_str()
            .unwrap()
            .to_string();
        let csr = self.pca(
            "GetCertificateAuthorityCsr",
            json!({"CertificateAuthorityArn": arn}),
        )["Csr"]
            .as_str()
            .unwrap()
            .to_string();
        let cert_arn = self.pca(
            "IssueCertificate",
            json!({"CertificateAuthorityArn": arn, "Csr": b64.encode(csr.as_bytes()), "SigningAlgorithm": "SHA256WITHRSA",
                   "TemplateArn": "arn:aws:acm-pca:::template/RootCACertificate/V1", "Validity": {"Type": "DAYS", "Value": 365}}),
        )["CertificateArn"]
            .as_str()
            .unwrap()
            .to_string();
        let cert = self.pca(
            "GetCertificate",
            json!({"CertificateAuthorityArn": arn, "CertificateArn": cert_arn}),
        )["Certificate"]
            .as_str()
            .unwrap()
            .to_string();
        self.pca(
            "ImportCertificateAuthorityCertificate",
            json!({"CertificateAuthorityArn": arn, "Certificate": b64.encode(cert.as_bytes())}),
        );
        (arn, cert)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
