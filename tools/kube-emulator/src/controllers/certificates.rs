//! SIMULATED aws-privateca-issuer and cert-manager: AWSPCAIssuer /
//! AWSPCAClusterIssuer become Ready once DescribeCertificateAuthority
//! succeeds; a Certificate whose issuerRef names a Ready AWS PCA issuer gets
//! a fresh key, a CSR signed by Private CA and a `kubernetes.io/tls` Secret.
//!
//! A failed issuance is handled as cert-manager handles it: the Certificate records
//! `failedIssuanceAttempts` and `lastFailureTime` and is not retried before its backoff
//! (1 hour, doubling per attempt up to 32) unless its spec changes or its `Issuing`
//! condition is set True with reason `ManuallyTriggered` (what `cmctl renew` does). The
//! issuer annotation [`FAIL_ISSUANCES`] makes the first N IssueCertificate calls fail the
//! way they do while a fresh IAM role or policy has not propagated.

use super::aws;
use crate::store::{now, PatchType, Store};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PCA_GROUP: &str = "awspca.cert-manager.io";
const CM_GROUP: &str = "cert-manager.io";
const ISSUER_MANAGER: &str = "aws-privateca-issuer";
const CERT_MANAGER: &str = "cert-manager-certificates";

/// On an AWSPCAIssuer/AWSPCAClusterIssuer: how many of its first issuances fail with the
/// AccessDeniedException IssueCertificate returns before IAM has propagated.
pub const FAIL_ISSUANCES: &str = "kube-emulator.trustplane.dev/fail-issuances";
/// cmctl renew's reason on the `Issuing` condition.
const MANUALLY_TRIGGERED: &str = "ManuallyTriggered";

#[derive(Default)]
struct State {
    /// Object key -> the generation last acted on.
    done: HashMap<String, i64>,
    /// Certificates being issued now.
    in_flight: std::collections::HashSet<String>,
    /// Issuer key -> issuances failed on purpose so far.
    failed: HashMap<String, u64>,
}

type Shared = Arc<Mutex<State>>;

/// One object, by uid too: an object deleted and created again under the same name is a
/// new object, which cert-manager acts on afresh (its generation starts at 1 again).
fn key(o: &Value) -> String {
    format!(
        "{}/{}/{}/{}",
        o["kind"].as_str().unwrap_or_default(),
        o["metadata"]["namespace"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default(),
        o["metadata"]["uid"].as_str().unwrap_or_default()
    )
}

fn ready(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn condition(status: bool, reason: &str, message: &str, generation: &Value) -> Value {
    json!({"type": "Ready", "status": if status { "True" } else { "False" }, "reason": reason,
           "message": message, "lastTransitionTime": now(), "observedGeneration": generation})
}

/// Write `status` unless it already says the same (ignoring timestamps),
/// so that our own writes do not wake us up forever.
fn set_status(store: &Store, obj: &Value, status: Value, manager: &str) {
    let strip = |s: &Value| {
        let mut s = s.clone();
        for c in s["conditions"].as_array_mut().into_iter().flatten() {
            c.as_object_mut().map(|m| m.remove("lastTransitionTime"));
        }
        s
    };
    let mut merged = obj["status"].clone();
    if !merged.is_object() {
        merged = json!({});
    }
    for (k, v) in status.as_object().into_iter().flatten() {
        if v.is_null() {
            merged.as_object_mut().unwrap().remove(k);
        } else {
            merged[k] = v.clone();
        }
    }
    if strip(&merged) == strip(&obj["status"]) {
        return;
    }
    let group = obj["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    let Some(rt) = store.lookup_kind(group, obj["kind"].as_str().unwrap_or_default()) else {
        return;
    };
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let Ok(mut fresh) = store.get(&rt, ns, name) else {
        return;
    };
    fresh["status"] = merged;
    let sub = if rt.status { "status" } else { "" };
    if let Err(e) = store.update(&rt, ns, name, fresh, manager, sub) {
        eprintln!(
            "[simulated controller] status of {}: {}",
            key(obj),
            e.message
        );
    }
}

pub async fn run(store: Arc<Store>, endpoint: Option<String>) {
    let mut rx = store.events.subscribe();
    let state: Shared = Default::default();
    eprintln!("[simulated controller] aws-privateca-issuer + cert-manager: started (AWS endpoint: {endpoint:?})");
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if e.kind == "DELETED"
            || (e.group != PCA_GROUP && !(e.group == CM_GROUP && e.plural == "certificates"))
        {
            continue;
        }
        reconcile_all(&store, &endpoint, &state);
    }
}

fn list_kind(store: &Store, group: &str, kind: &str) -> Vec<Value> {
    match store.lookup_kind(group, kind) {
        Some(rt) => store.list(&rt, None, &Default::default()).0,
        None => vec![],
    }
}

fn condition_of<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// `cmctl renew`: the Issuing condition set True with reason ManuallyTriggered.
fn manually_triggered(cert: &Value) -> bool {
    condition_of(cert, "Issuing")
        .is_some_and(|c| c["status"] == "True" && c["reason"] == MANUALLY_TRIGGERED)
}

/// cert-manager's backoff after a failed issuance: 1 hour, doubling with every further
/// failed attempt, at most 32 hours.
fn backoff_over(cert: &Value) -> bool {
    let Some(failed_at) = cert["status"]["lastFailureTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return false;
    };
    let attempts = cert["status"]["failedIssuanceAttempts"]
        .as_u64()
        .unwrap_or(1)
        .clamp(1, 6);
    let backoff = chrono::Duration::hours(1 << (attempts - 1));
    chrono::Utc::now() >= failed_at + backoff
}

fn reconcile_all(store: &Arc<Store>, endpoint: &Option<String>, state: &Shared) {
    for kind in ["AWSPCAIssuer", "AWSPCAClusterIssuer"] {
        for issuer in list_kind(store, PCA_GROUP, kind) {
            let g = issuer["metadata"]["generation"].as_i64().unwrap_or(1);
            if state.lock().unwrap().done.insert(key(&issuer), g) == Some(g) {
                continue;
            }
            let (store, endpoint) = (store.clone(), endpoint.clone());
            tokio::spawn(async move { verify_issuer(&store, endpoint.as_deref(), &issuer).await });
        }
    }
    for cert in list_kind(store, CM_GROUP, "Certificate") {
        if cert["metadata"]["deletionTimestamp"].is_string()
            || cert["spec"]["issuerRef"]["group"] != PCA_GROUP
        {
            continue;
        }
        let ns = cert["metadata"]["namespace"].as_str().unwrap_or_default();
        let iref = &cert["spec"]["issuerRef"];
        let ikind = iref["kind"].as_str().unwrap_or("AWSPCAIssuer");
        let iname = iref["name"].as_str().unwrap_or_default();
        let issuer = store.lookup_kind(PCA_GROUP, ikind).and_then(|rt| {
            store
                .get(&rt, if rt.namespaced { ns } else { "" }, iname)
                .ok()
        });
        let gen = &cert["metadata"]["generation"];
        let Some(issuer) = issuer.filter(ready) else {
            let msg = format!("Waiting for issuer {ikind}.{PCA_GROUP}/{iname} to become Ready");
            set_status(
                store,
                &cert,
                json!({"conditions": [condition(false, "Pending", &msg, gen)]}),
                CERT_MANAGER,
            );
            continue;
        };
        let g = gen.as_i64().unwrap_or(1);
        let k = key(&cert);
        {
            let mut st = state.lock().unwrap();
            if st.in_flight.contains(&k) {
                continue;
            }
            // A new spec issues at once; the same one again only when asked to or once a
            // failure's backoff is over.
            let again = st.done.get(&k) == Some(&g);
            if again && !manually_triggered(&cert) && !backoff_over(&cert) {
                continue;
            }
            st.done.insert(k.clone(), g);
            st.in_flight.insert(k.clone());
        }
        let (store, endpoint, state) = (store.clone(), endpoint.clone(), state.clone());
        tokio::spawn(async move {
            if let Err(msg) = issue(&store, endpoint.as_deref(), &cert, &issuer, &state).await {
                eprintln!("[simulated controller] Certificate {}: {msg}", key(&cert));
                record_failure(&store, &cert, &msg);
            }
            state.lock().unwrap().in_flight.remove(&k);
        });
    }
}

/// cert-manager's issuing controller after a failed CertificateRequest.
fn record_failure(store: &Store, cert: &Value, msg: &str) {
    let gen = cert["metadata"]["generation"].clone();
    let attempts = cert["status"]["failedIssuanceAttempts"]
        .as_u64()
        .unwrap_or(0)
        + 1;
    let issuing = json!({"type": "Issuing", "status": "False", "reason": "Failed",
        "message": format!("The certificate request has failed to complete and will be retried: {msg}"),
        "lastTransitionTime": now(), "observedGeneration": gen});
    set_status(
        store,
        cert,
        json!({"conditions": [condition(false, "Failed", msg, &gen), issuing],
               "failedIssuanceAttempts": attempts, "lastFailureTime": now()}),
        CERT_MANAGER,
    );
}

fn region(issuer: &Value) -> String {
    issuer["spec"]["region"]
        .as_str()
        .unwrap_or("us-east-1")
        .to_string()
}

async fn verify_issuer(store: &Store, endpoint: Option<&str>, issuer: &Value) {
    let gen = &issuer["metadata"]["generation"];
    let cond = match endpoint {
        None => condition(
            false,
            "Failed",
            "kube-emulator was started without --aws-endpoint: cannot reach AWS Private CA",
            gen,
        ),
        Some(ep) => {
            let arn = issuer["spec"]["arn"].as_str().unwrap_or_default();
            match aws::call(
                ep,
                &region(issuer),
                "DescribeCertificateAuthority",
                &json!({"CertificateAuthorityArn": arn}),
            )
            .await
            {
                Ok(_) => condition(true, "Verified", "Issuer verified", gen),
                Err(e) => condition(false, "Failed", &e, gen),
            }
        }
    };
    eprintln!(
        "[simulated controller] {} Ready={}",
        key(issuer),
        cond["status"]
    );
    set_status(store, issuer, json!({"conditions": [cond]}), ISSUER_MANAGER);
}

/// Go duration ("2160h", "1h30m", "720h0m0s") in seconds.
fn parse_duration(s: &str) -> Option<u64> {
    let (mut total, mut num) = (0f64, String::new());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return None,
            }
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    num.is_empty().then_some(total as u64)
}

fn split_pems(chain: &str) -> Vec<String> {
    chain
        .split("-----BEGIN CERTIFICATE-----")
        .filter(|p| p.contains("-----END CERTIFICATE-----"))
        .map(|p| {
            format!("-----BEGIN CERTIFICATE-----{}", p.trim_end())
                .trim()
                .to_string()
                + "\n"
        })
        .collect()
}

struct Key {
    pem: String,
    pair: rcgen::KeyPair,
}

fn generate_key(spec: &Value) -> Result<Key, String> {
    let pk = &spec["privateKey"];
    let algo = pk["algorithm"].as_str().unwrap_or("RSA");
    if algo == "ECDSA" {
        let alg = match pk["size"].as_u64().unwrap_or(256) {
            384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            _ => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let pair = rcgen::KeyPair::generate_for(alg).map_err(|e| e.to_string())?;
        return Ok(Key {
            pem: pair.serialize_pem(),
            pair,
        });
    }
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let bits = pk["size"].as_u64().unwrap_or(2048) as usize;
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).map_err(|e| e.to_string())?;
    let pkcs8 = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let pair = rcgen::KeyPair::from_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| e.to_string())?;
    // cert-manager's default encoding is PKCS#1 for RSA.
    let pem = if pk["encoding"].as_str() == Some("PKCS8") {
        pkcs8.to_string()
    } else {
        key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| e.to_string())?
            .to_string()
    };
    Ok(Key { pem, pair })
}

fn csr(spec: &Value, key: &Key) -> Result<String, String> {
    let dns: Vec<String> = spec["dnsNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect();
    let mut params = rcgen::CertificateParams::new(dns).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = spec["commonName"].as_str() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    params
        .serialize_request(&key.pair)
        .and_then(|r| r.pem())
        .map_err(|e| e.to_string())
}

fn validity(spec: &Value) -> (u64, Value) {
    let secs = spec["duration"]
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(2160 * 3600)
        .max(3600);
    let hours = secs.div_ceil(3600);
    let v = if hours.is_multiple_of(24) {
        json!({"Type": "DAYS", "Value": hours / 24})
    } else {
        json!({"Type": "HOURS", "Value": hours})
    };
    (secs, v)
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// What aws-privateca-issuer (Go SDK v2) reports when its role may not yet call
/// IssueCertificate: IAM had not propagated the role or policy.
fn access_denied(ca_arn: &str) -> String {
    let account = ca_arn.split(':').nth(4).unwrap_or("123456789012");
    format!(
        "operation error ACM PCA: IssueCertificate, https response error StatusCode: 400, \
         RequestID: {}, api error AccessDeniedException: User: \
         arn:aws:sts::{account}:assumed-role/aws-privateca-issuer/aws-go-sdk-{} is not \
         authorized to perform: acm-pca:IssueCertificate on resource: {ca_arn} because no \
         identity-based policy allows the acm-pca:IssueCertificate action",
        uuid::Uuid::new_v4(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// Whether this issuance is one the issuer's [`FAIL_ISSUANCES`] annotation makes fail.
fn must_fail(issuer: &Value, state: &Shared) -> bool {
    let budget = issuer["metadata"]["annotations"][FAIL_ISSUANCES]
        .as_str()
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut st = state.lock().unwrap();
    let failed = st.failed.entry(key(issuer)).or_default();
    if *failed < budget {
        *failed += 1;
        true
    } else {
        false
    }
}

/// The CertificateRequest of this attempt, replacing a failed one of the same revision
/// (cert-manager deletes a failed request before it tries again).
fn certificate_request(store: &Store, cert: &Value, revision: i64, csr_pem: &str, status: Value) {
    let Some(crt) = store.lookup_kind(CM_GROUP, "CertificateRequest") else {
        return;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let ns = cert["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = cert["metadata"]["name"].as_str().unwrap_or_default();
    let cr_name = format!("{name}-{revision}");
    let _ = store.delete(&crt, ns, &cr_name);
    let cr = json!({
        "apiVersion": crt.api_version(), "kind": "CertificateRequest",
        "metadata": {"name": cr_name, "namespace": ns,
                     "annotations": {"cert-manager.io/certificate-name": name, "cert-manager.io/certificate-revision": revision.to_string()}},
        "spec": {"request": b64.encode(csr_pem.as_bytes()), "issuerRef": cert["spec"]["issuerRef"], "isCA": cert["spec"]["isCA"].as_bool().unwrap_or(false)},
    });
    if let Ok(created) = store.create(&crt, ns, cr, CERT_MANAGER) {
        set_status(store, &created, status, ISSUER_MANAGER);
    }
}

async fn issue(
    store: &Store,
    endpoint: Option<&str>,
    cert: &Value,
    issuer: &Value,
    state: &Shared,
) -> Result<(), String> {
    let ep = endpoint
        .ok_or("kube-emulator was started without --aws-endpoint: cannot reach AWS Private CA")?;
    let spec = cert["spec"].clone();
    let ns = cert["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = cert["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret_name = spec["secretName"]
        .as_str()
        .ok_or("spec.secretName is required")?
        .to_string();
    let arn = issuer["spec"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let region = region(issuer);

    let spec2 = spec.clone();
    let (key, csr_pem) = tokio::task::spawn_blocking(move || -> Result<(Key, String), String> {
        let key = generate_key(&spec2)?;
        let csr = csr(&spec2, &key)?;
        Ok((key, csr))
    })
    .await
    .map_err(|e| e.to_string())??;

    let ca = aws::call(
        ep,
        &region,
        "DescribeCertificateAuthority",
        &json!({"CertificateAuthorityArn": arn}),
    )
    .await?;
    let key_alg = ca["CertificateAuthority"]["CertificateAuthorityConfiguration"]["KeyAlgorithm"]
        .as_str()
        .unwrap_or("RSA_2048");
    let signing = if key_alg.starts_with("EC") {
        "SHA256WITHECDSA"
    } else {
        "SHA256WITHRSA"
    };
    let template = if spec["isCA"].as_bool() == Some(true) {
        "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
    } else {
        "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
    };
    let (duration, validity) = validity(&spec);
    let b64 = base64::engine::general_purpose::STANDARD;
    let revision = cert["status"]["revision"].as_i64().unwrap_or(0) + 1;
    if must_fail(issuer, state) {
        // aws-privateca-issuer v1.4 marks the request Failed with the SDK's error.
        let msg = format!(
            "failed to request certificate from PCA: {}",
            access_denied(&arn)
        );
        let failed = json!({"failureTime": now(), "conditions": [{"type": "Ready", "status": "False",
            "reason": "Failed", "message": msg, "lastTransitionTime": now()}]});
        certificate_request(store, cert, revision, &csr_pem, failed);
        return Err(msg);
    }
    let issued = aws::call(
        ep,
        &region,
        "IssueCertificate",
        &json!({"CertificateAuthorityArn": arn, "Csr": b64.encode(csr_pem.as_bytes()), "SigningAlgorithm": signing,
                "TemplateArn": template, "Validity": validity, "IdempotencyToken": uuid::Uuid::new_v4().simple().to_string()[..32].to_string()}),
    )
    .await?;
    let cert_arn = issued["CertificateArn"]
        .as_str()
        .ok_or("IssueCertificate returned no CertificateArn")?
        .to_string();
    let mut got = None;
    for _ in 0..50 {
        match aws::call(
            ep,
            &region,
            "GetCertificate",
            &json!({"CertificateAuthorityArn": arn, "CertificateArn": cert_arn}),
        )
        .await
        {
            Ok(v) => {
                got = Some(v);
                break;
            }
            Err(e) if e.contains("RequestInProgressException") => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => return Err(e),
        }
    }
    let got = got.ok_or("GetCertificate: still in progress after 10s")?;
    let leaf = got["Certificate"]
        .as_str()
        .ok_or("GetCertificate returned no Certificate")?
        .trim()
        .to_string()
        + "\n";
    let chain = split_pems(got["CertificateChain"].as_str().unwrap_or_default());
    // As aws-privateca-issuer: the chain minus its root follows the leaf; the root is ca.crt.
    let (tls_crt, ca_crt) = match chain.split_last() {
        Some((root, middle)) => (leaf.clone() + &middle.concat(), root.clone()),
        None => (leaf.clone(), String::new()),
    };

    let (_, pem) = x509_parser::pem::parse_x509_pem(leaf.as_bytes())
        .map_err(|e| format!("issued certificate: {e}"))?;
    let x = pem
        .parse_x509()
        .map_err(|e| format!("issued certificate: {e}"))?;
    let (nb, na) = (
        x.validity().not_before.timestamp(),
        x.validity().not_after.timestamp(),
    );
    let renew_before = spec["renewBefore"]
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(duration / 3) as i64;

    let dns: Vec<&str> = spec["dnsNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let iref = &spec["issuerRef"];
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {
            "name": secret_name, "namespace": ns,
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {
                "cert-manager.io/certificate-name": name,
                "cert-manager.io/issuer-name": iref["name"],
                "cert-manager.io/issuer-kind": iref["kind"],
                "cert-manager.io/issuer-group": iref["group"],
                "cert-manager.io/common-name": spec["commonName"].as_str().unwrap_or_default(),
                "cert-manager.io/alt-names": dns.join(","),
                "cert-manager.io/ip-sans": "",
                "cert-manager.io/uri-sans": "",
            },
        },
        "data": {"tls.crt": b64.encode(&tls_crt), "tls.key": b64.encode(&key.pem), "ca.crt": b64.encode(&ca_crt)},
    });
    let srt = store.lookup("", "v1", "secrets").unwrap();
    store
        .patch(
            &srt,
            &ns,
            &secret_name,
            PatchType::Apply,
            secret,
            "cert-manager-certificates-issuing",
            true,
            "",
        )
        .map_err(|e| format!("writing Secret {ns}/{secret_name}: {}", e.message))?;

    let issued = json!({"certificate": b64.encode(&tls_crt), "ca": b64.encode(&ca_crt),
        "conditions": [{"type": "Ready", "status": "True", "reason": "Issued", "message": "Certificate fetched from issuer successfully", "lastTransitionTime": now()}]});
    certificate_request(store, cert, revision, &csr_pem, issued);

    let gen = cert["metadata"]["generation"].clone();
    let status = json!({
        "conditions": [condition(true, "Ready", "Certificate is up to date and has not expired", &gen)],
        "notBefore": rfc3339(nb), "notAfter": rfc3339(na), "renewalTime": rfc3339(na - renew_before), "revision": revision,
        // An issuance that succeeds clears the record of failed ones.
        "failedIssuanceAttempts": null, "lastFailureTime": null,
    });
    let fresh = store
        .get(
            &store
                .lookup_kind(CM_GROUP, "Certificate")
                .ok_or("Certificate CRD vanished")?,
            &ns,
            &name,
        )
        .map_err(|e| e.message)?;
    set_status(store, &fresh, status, CERT_MANAGER);
    eprintln!("[simulated controller] Certificate {ns}/{name} issued into Secret {secret_name} (revision {revision})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_chains() {
        assert_eq!(parse_duration("2160h"), Some(2160 * 3600));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("720h0m0s"), Some(720 * 3600));
        assert_eq!(
            validity(&json!({"duration": "48h"})).1,
            json!({"Type": "DAYS", "Value": 2})
        );
        assert_eq!(
            validity(&json!({"duration": "5h"})).1,
            json!({"Type": "HOURS", "Value": 5})
        );
        let two = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n";
        assert_eq!(split_pems(two).len(), 2);
    }
}
