//! The Kubernetes API emulator (tools/kube-emulator), run as a process like a real
//! API server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::repo_root;

/// A running emulator with its kubeconfig; killed on drop.
pub struct Emulator {
    child: Child,
    /// `127.0.0.1:PORT`, as the emulator reported it.
    pub addr: String,
    /// `http` or `https` (with `--tls`), as the emulator's kubeconfig says.
    pub scheme: &'static str,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// The emulator at `KUBE_EMULATOR`, else the workspace's dev build
    /// (target/debug/kube-emulator, which `make test` builds).
    pub fn start(aws_endpoint: Option<&str>) -> Emulator {
        Emulator::start_with_args(aws_endpoint, &[])
    }

    /// [`Emulator::start`] with more command-line flags, e.g. `--require-eks-token`.
    pub fn start_with_args(aws_endpoint: Option<&str>, args: &[&str]) -> Emulator {
        let bin = std::env::var_os("KUBE_EMULATOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/debug/kube-emulator"));
        assert!(
            bin.exists(),
            "{} not found: build it with `cargo build -p kube-emulator` (make test does), \
             or set KUBE_EMULATOR",
            bin.display()
        );
        Emulator::start_bin_with_args(&bin, aws_endpoint, args)
    }

    /// The emulator binary at `bin`; `aws_endpoint` (e.g. a [`crate::Moto`]'s url) is what
    /// its simulated aws-privateca-issuer calls.
    pub fn start_bin(bin: &Path, aws_endpoint: Option<&str>) -> Emulator {
        Emulator::start_bin_with_args(bin, aws_endpoint, &[])
    }

    /// [`Emulator::start_bin`] with more command-line flags.
    pub fn start_bin_with_args(bin: &Path, aws_endpoint: Option<&str>, args: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut cmd = Command::new(bin);
        cmd.args(["--addr", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig);
        if let Some(url) = aws_endpoint {
            cmd.args(["--aws-endpoint", url]);
        }
        cmd.args(args);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("kube-emulator printed {line:?}"))
            .to_string();
        // Keep draining, so later output never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        // The kubeconfig is written before the line above is printed.
        let https = std::fs::read_to_string(&kubeconfig)
            .unwrap_or_else(|e| panic!("read {}: {e}", kubeconfig.display()))
            .contains("server: https://");
        Emulator {
            child,
            addr,
            scheme: if https { "https" } else { "http" },
            kubeconfig,
            _dir: dir,
        }
    }

    /// The server's process id (for the CPU time it spent).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://ADDR` (`https://` with `--tls`), the API server's URL.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The CA that signed the serving certificate (PEM), when serving TLS.
    pub fn ca_pem(&self) -> Option<String> {
        use base64::Engine;
        let kubeconfig = std::fs::read_to_string(&self.kubeconfig).ok()?;
        let b64 = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))?;
        let pem = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(pem).ok()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// kubectl against the emulator, `stdin` fed to it.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// kubectl against the emulator; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.kubectl_output(args, None);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {}: {err}", args.join(" "));
        out
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CRDs of cert-manager and aws-privateca-issuer that the emulator's simulated
/// controllers serve, with the short names the real CRDs declare.
pub const CERT_MANAGER_PCA_CRDS: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: awspcaissuers.awspca.cert-manager.io}
spec:
  group: awspca.cert-manager.io
  scope: Namespaced
  names: {kind: AWSPCAIssuer, plural: awspcaissuers, singular: awspcaissuer, listKind: AWSPCAIssuerList}
  versions: [{name: v1beta1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: awspcaclusterissuers.awspca.cert-manager.io}
spec:
  group: awspca.cert-manager.io
  scope: Cluster
  names: {kind: AWSPCAClusterIssuer, plural: awspcaclusterissuers, singular: awspcaclusterissuer, listKind: AWSPCAClusterIssuerList}
  versions: [{name: v1beta1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, plural: certificates, singular: certificate, listKind: CertificateList, shortNames: [cert]}
  versions: [{name: v1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificaterequests.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: CertificateRequest, plural: certificaterequests, singular: certificaterequest, listKind: CertificateRequestList, shortNames: [cr]}
  versions: [{name: v1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
"#;
