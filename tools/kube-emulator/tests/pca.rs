//! The simulated aws-privateca-issuer / cert-manager flow against moto.
//! Needs moto: the project's venv (made by `make venv`), or MOTO_PYTHON.

mod common;

use base64::Engine;
use common::Emulator;
use serde_json::Value;

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
    let moto = stand_ins::Moto::start();
    let (arn, _) = moto.root_ca("emulator test root");

    let e = Emulator::start_with(Some(&moto.url));
    let out = e.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        stand_ins::CERT_MANAGER_PCA_CRDS,
    );
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

fn condition(o: &Value, kind: &str) -> Value {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

/// What `cmctl renew` does: the Issuing condition set True, reason ManuallyTriggered, by
/// an update of the status subresource (here through `kubectl replace --subresource`).
fn renew(e: &Emulator, name: &str) {
    let mut c: Value =
        serde_json::from_str(&e.ok(&["get", "certificate", name, "-o", "json"])).unwrap();
    let conditions = c["status"]["conditions"].as_array_mut().unwrap();
    conditions.retain(|c| c["type"] != "Issuing");
    conditions.push(serde_json::json!({"type": "Issuing", "status": "True",
        "reason": "ManuallyTriggered", "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}));
    let out = e.kubectl_stdin(
        &["replace", "--subresource", "status", "-f", "-"],
        &c.to_string(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn failed_issuances_wait_for_backoff_until_renewed() {
    let moto = stand_ins::Moto::start();
    let (arn, _) = moto.root_ca("emulator failing root");
    let e = Emulator::start_with(Some(&moto.url));
    let out = e.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        stand_ins::CERT_MANAGER_PCA_CRDS,
    );
    assert!(out.status.success());
    let issuer = format!("apiVersion: awspca.cert-manager.io/v1beta1\nkind: AWSPCAIssuer\nmetadata:\n  name: pca\n  annotations: {{kube-emulator.trustplane.dev/fail-issuances: '2'}}\nspec: {{arn: '{arn}', region: us-east-1}}\n");
    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &issuer)
        .status
        .success());
    let cert = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web}\nspec:\n  secretName: web-tls\n  commonName: web.example.com\n  issuerRef: {group: awspca.cert-manager.io, kind: AWSPCAIssuer, name: pca}\n";
    assert!(e
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], cert)
        .status
        .success());
    let cpath = "/apis/cert-manager.io/v1/namespaces/default/certificates/web";
    let attempts = |n: u64| {
        e.wait_for(60, || {
            e.get_json(cpath).1["status"]["failedIssuanceAttempts"] == n
        })
    };

    // First issuance: denied as before IAM propagated, on the request and the certificate.
    assert!(attempts(1), "{}", e.get_json(cpath).1);
    let (_, c) = e.get_json(cpath);
    assert_eq!(condition(&c, "Ready")["status"], "False");
    let issuing = condition(&c, "Issuing");
    assert_eq!(
        (issuing["status"].as_str(), issuing["reason"].as_str()),
        (Some("False"), Some("Failed"))
    );
    assert!(c["status"]["lastFailureTime"].is_string());
    let (_, cr) =
        e.get_json("/apis/cert-manager.io/v1/namespaces/default/certificaterequests/web-1");
    let cr_ready = condition(&cr, "Ready");
    assert_eq!(cr_ready["reason"], "Failed");
    let msg = cr_ready["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "failed to request certificate from PCA: operation error ACM PCA: IssueCertificate"
        ) && msg.contains("api error AccessDeniedException")
            && msg.contains(&format!(
                "is not authorized to perform: acm-pca:IssueCertificate on resource: {arn}"
            )),
        "{msg}"
    );
    assert!(cr["status"]["failureTime"].is_string());
    assert_eq!(
        e.get_json("/api/v1/namespaces/default/secrets/web-tls").0,
        404
    );

    // Within the backoff nothing retries, even when something else touches the object.
    e.ok(&["label", "certificate", "web", "touched=yes"]);
    assert!(!e.wait_for(3, || e.get_json(cpath).1["status"]
        ["failedIssuanceAttempts"]
        != 1));

    // Renew: the second issuance fails too; renew again: the third is issued.
    renew(&e, "web");
    assert!(attempts(2), "{}", e.get_json(cpath).1);
    renew(&e, "web");
    assert!(
        e.wait_for(60, || ready(&e.get_json(cpath).1) == Some(true)),
        "{}",
        e.get_json(cpath).1
    );
    let (_, c) = e.get_json(cpath);
    assert_eq!(c["status"]["revision"], 1);
    assert!(c["status"].get("failedIssuanceAttempts").is_none(), "{c}");
    assert!(c["status"].get("lastFailureTime").is_none(), "{c}");
    assert!(condition(&c, "Issuing").is_null(), "{c}");
    let (_, cr) =
        e.get_json("/apis/cert-manager.io/v1/namespaces/default/certificaterequests/web-1");
    assert_eq!(condition(&cr, "Ready")["reason"], "Issued");
    assert_eq!(
        e.get_json("/api/v1/namespaces/default/secrets/web-tls").0,
        200
    );
    drop(moto);
}
