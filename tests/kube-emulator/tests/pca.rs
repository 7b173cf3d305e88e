//! The simulated aws-privateca-issuer / cert-manager flow against moto.
//! Needs moto: the project's venv (made by `make test`), or MOTO_PYTHON.

mod common;

use base64::Engine;
use common::Emulator;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

struct Moto(Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// AWS JSON 1.1 call to moto (which ignores signatures).
fn pca(endpoint: &str, action: &str, body: Value) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{endpoint}/"))
        .header("X-Amz-Target", format!("ACMPrivateCA.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/acm-pca/aws4_request, SignedHeaders=host, Signature=0")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn root_ca(endpoint: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let arn = pca(
        endpoint,
        "CreateCertificateAuthority",
        json!({"CertificateAuthorityConfiguration": {"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA",
               "Subject": {"CommonName": "emulator test root"}}, "CertificateAuthorityType": "ROOT"}),
    )["CertificateAuthorityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let csr = pca(
        endpoint,
        "GetCertificateAuthorityCsr",
        json!({"CertificateAuthorityArn": arn}),
    )["Csr"]
        .as_str()
        .unwrap()
        .to_string();
    let cert_arn = pca(
        endpoint,
        "IssueCertificate",
        json!({"CertificateAuthorityArn": arn, "Csr": b64.encode(csr.as_bytes()), "SigningAlgorithm": "SHA256WITHRSA",
               "TemplateArn": "arn:aws:acm-pca:::template/RootCACertificate/V1", "Validity": {"Type": "DAYS", "Value": 365}}),
    )["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = pca(
        endpoint,
        "GetCertificate",
        json!({"CertificateAuthorityArn": arn, "CertificateArn": cert_arn}),
    )["Certificate"]
        .as_str()
        .unwrap()
        .to_string();
    pca(
        endpoint,
        "ImportCertificateAuthorityCertificate",
        json!({"CertificateAuthorityArn": arn, "Certificate": b64.encode(cert.as_bytes())}),
    );
    arn
}

const CRDS: &str = r#"apiVersion: apiextensions.k8s.io/v1
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

fn ready(o: &Value) -> Option<bool> {
    let c = o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some(c["status"] == "True")
}

#[test]
fn awspca_issuer_and_certificate_against_moto() {
    // MOTO_PYTHON, else the project's venv (made by `make test`).
    let python = std::env::var("MOTO_PYTHON")
        .unwrap_or_else(|_| format!("{}/../../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    assert!(
        std::path::Path::new(&python).exists(),
        "moto is needed but {python} does not exist: run `bash tests/support/setup-venv.sh` or set MOTO_PYTHON"
    );
    let port = free_port();
    let moto = Moto(
        Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        reqwest::blocking::get(format!("{endpoint}/moto-api/")).is_ok()
    });
    assert!(up, "moto did not start");
    let arn = root_ca(&endpoint);

    let e = Emulator::start_with(&["--aws-endpoint", &endpoint]);
    let out = e.kubectl_stdin(&["apply", "--server-side", "-f", "-"], CRDS);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An issuer pointing at a CA that does not exist fails with AWS's message.
    let bad = "apiVersion: awspca.cert-manager.io/v1beta1\nkind: AWSPCAIssuer\nmetadata: {name: bad}\nspec: {arn: 'arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000', region: us-east-1}\n";
    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], bad)
        .status
        .success());
    let issuer = format!("apiVersion: awspca.cert-manager.io/v1beta1\nkind: AWSPCAIssuer\nmetadata: {{name: pca}}\nspec: {{arn: '{arn}', region: us-east-1}}\n");
    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &issuer)
        .status
        .success());
    let path = "/apis/awspca.cert-manager.io/v1beta1/namespaces/default/awspcaissuers";
    assert!(
        e.wait_for(15, || ready(&e.get_json(&format!("{path}/pca")).1)
            == Some(true))
    );
    assert!(
        e.wait_for(15, || ready(&e.get_json(&format!("{path}/bad")).1)
            == Some(false))
    );

    let cert = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web}\nspec:\n  secretName: web-tls\n  commonName: web.example.com\n  dnsNames: [web.example.com, www.example.com]\n  duration: 48h\n  issuerRef: {group: awspca.cert-manager.io, kind: AWSPCAIssuer, name: pca}\n";
    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], cert)
        .status
        .success());
    let cpath = "/apis/cert-manager.io/v1/namespaces/default/certificates/web";
    assert!(
        e.wait_for(60, || ready(&e.get_json(cpath).1) == Some(true)),
        "{}",
        e.get_json(cpath).1
    );
    let (_, c) = e.get_json(cpath);
    assert_eq!(c["status"]["revision"], 1);
    assert!(c["status"]["notAfter"].is_string() && c["status"]["renewalTime"].is_string());

    let (_, s) = e.get_json("/api/v1/namespaces/default/secrets/web-tls");
    assert_eq!(s["type"], "kubernetes.io/tls");
    assert_eq!(
        s["metadata"]["annotations"]["cert-manager.io/certificate-name"],
        "web"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |k: &str| b64.decode(s["data"][k].as_str().unwrap()).unwrap();
    assert!(String::from_utf8(field("tls.key"))
        .unwrap()
        .contains("PRIVATE KEY"));
    let mut chain: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(&field("tls.crt"))
        .map(|p| p.unwrap().contents)
        .collect();
    chain.extend(
        x509_parser::pem::Pem::iter_from_buffer(&field("ca.crt")).map(|p| p.unwrap().contents),
    );
    assert!(chain.len() >= 2);
    let parsed: Vec<_> = chain
        .iter()
        .map(|d| x509_parser::parse_x509_certificate(d).unwrap().1)
        .collect();
    assert!(parsed[0].subject().to_string().contains("web.example.com"));
    for pair in parsed.windows(2) {
        assert_eq!(
            pair[0].issuer(),
            pair[1].subject(),
            "each certificate is issued by the next"
        );
    }
    assert!(parsed
        .last()
        .unwrap()
        .subject()
        .to_string()
        .contains("emulator test root"));
    drop(moto);
}
