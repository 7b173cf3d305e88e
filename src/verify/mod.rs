//! `trustplane verify`: the guide's step 9 ("verify the certificate chain"), automated.
//!
//! From a stack's state it finds the Istio CA `certmanager.certificate`, reads the Secret
//! cert-manager wrote for it, fetches the AWS Private CA certificates, and hands the PEM
//! text to the pure checks of [`chain`]; [`report`] renders the result.

pub mod chain;
pub mod report;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::provider::aws::{self, PCA_CA};
use crate::provider::kubernetes::client::{self as kclient, Settings as KubeSettings};
use crate::provider::kubernetes::kinds::CERTIFICATE;
use crate::state::ResourceState;
use crate::value::Value;
use chain::{Input, PcaCa, Report};
use report::Source;

/// What to verify, resolved by the command-line layer from the stack and its state.
pub struct Target<'a> {
    pub resources: &'a BTreeMap<String, ResourceState>,
    /// Evaluated `providers.kubernetes` and `providers.aws` settings (null when absent).
    pub kubernetes: Value,
    pub aws: Value,
    /// `--certificate ADDR`; else the one `certmanager.certificate` with `is_ca: true`.
    pub certificate: Option<String>,
    /// `--workload-chain` contents.
    pub workload_pem: Option<String>,
    /// Ask AWS for the CA certificates rather than trusting state.
    pub refetch: bool,
    /// The stack file, for the commands suggested in messages.
    pub stack_file: String,
    /// Unix seconds.
    pub now: i64,
}

pub struct Verified {
    pub source: Source,
    pub report: Report,
}

/// Reads everything and runs the checks. `Err` is an error that stopped verification (no
/// state, no secret, no cluster), worded with what to do.
pub async fn run(t: &Target<'_>) -> Result<Verified, String> {
    let cert = find_certificate(t)?;
    let props = &cert.properties;
    let namespace = props
        .get_str("namespace")
        .ok_or_else(|| format!("{} has no namespace in state", cert.address))?
        .to_string();
    let secret_name = props
        .get_str("secret_name")
        .or_else(|| cert.attributes.get_str("secret_name"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{} has no secret_name in state", cert.address))?
        .to_string();
    let renew_before = props
        .get_str("renew_before")
        .and_then(|s| crate::duration::parse(s).ok())
        .map(|d| d.as_secs() as i64);

    let settings = KubeSettings::from_value(&t.kubernetes).map_err(|e| e.message)?;
    let (client, context) = kube_client(&settings).await?;
    let data = read_secret(t, cert, client, &namespace, &secret_name, &context).await?;
    let (layout, chain_pem, root_pem) = split_secret(&data).map_err(|keys| {
        format!(
            "Secret {namespace}/{secret_name} has neither tls.crt (cert-manager) nor ca-cert.pem \
             (Istio) but only {keys}: is it the Secret of {}?",
            cert.address
        )
    })?;

    let (pca, mut warnings) = pca_cas(t).await;
    let mut report = chain::verify(&Input {
        chain_pem: &chain_pem,
        root_pem: root_pem.as_deref(),
        pca: &pca,
        workload_pem: t.workload_pem.as_deref(),
        now: t.now,
        renew_before,
    });
    warnings.append(&mut report.warnings);
    report.warnings = warnings;
    Ok(Verified {
        source: Source {
            certificate: cert.address.clone(),
            namespace,
            secret: secret_name,
            layout: layout.into(),
            context,
            renew_before_seconds: renew_before,
        },
        report,
    })
}

fn find_certificate<'a>(t: &Target<'a>) -> Result<&'a ResourceState, String> {
    let certs: Vec<&ResourceState> = t
        .resources
        .values()
        .filter(|r| r.type_name == CERTIFICATE)
        .collect();
    if let Some(addr) = &t.certificate {
        return match t.resources.get(addr) {
            Some(r) if r.type_name == CERTIFICATE => Ok(r),
            Some(r) => Err(format!("{addr} is a {}, not a {CERTIFICATE}", r.type_name)),
            None => Err(format!(
                "no resource {addr} in state; the {CERTIFICATE} resources are: {}",
                names(&certs)
            )),
        };
    }
    let cas: Vec<&ResourceState> = certs
        .iter()
        .copied()
        .filter(|r| matches!(r.properties.get("is_ca"), Some(Value::Bool(true))))
        .collect();
    match cas.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no {CERTIFICATE} with is_ca: true in state{}: apply the stack first (`trustplane apply {}`), \
             or name the certificate with --certificate ADDR",
            if certs.is_empty() {
                String::new()
            } else {
                format!(" (there are: {})", names(&certs))
            },
            t.stack_file
        )),
        many => Err(format!(
            "several {CERTIFICATE} resources have is_ca: true ({}): choose one with --certificate ADDR",
            names(many)
        )),
    }
}

fn names(rs: &[&ResourceState]) -> String {
    if rs.is_empty() {
        return "none".into();
    }
    rs.iter()
        .map(|r| r.address.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client from the same settings the kubernetes provider uses, and the context name.
async fn kube_client(settings: &KubeSettings) -> Result<(Client, String), String> {
    let client = kclient::connect(settings).await.map_err(|e| match e.help {
        Some(help) => format!("{} ({help})", e.message),
        None => e.message,
    })?;
    Ok((client, kclient::context_name(settings)))
}

async fn read_secret(
    t: &Target<'_>,
    cert: &ResourceState,
    client: Client,
    namespace: &str,
    name: &str,
    context: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let cert_name = cert.properties.get_str("name").unwrap_or(name);
    match api.get_opt(name).await {
        Ok(Some(secret)) => Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .chain(
                secret
                    .string_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes())),
            )
            .collect()),
        Ok(None) => Err(format!(
            "Secret {name} not found in namespace {namespace} of cluster context {context}. \
             cert-manager writes it when Certificate {namespace}/{cert_name} ({}) is issued: check \
             `kubectl -n {namespace} describe certificate {cert_name}` and \
             `kubectl -n {namespace} get certificaterequests`, then run `trustplane apply {}`",
            cert.address, t.stack_file
        )),
        Err(e) => Err(format!(
            "cannot read Secret {namespace}/{name} in cluster context {context}: {}",
            kclient::api_error("read the Secret", e).message
        )),
    }
}

/// (layout, chain PEM with the issued certificate first, root PEM).
type Split = (&'static str, String, Option<String>);

/// The chain and root from either layout: cert-manager's (`tls.crt`, `ca.crt`) or the
/// `cacerts` files Istio reads (`ca-cert.pem`, `cert-chain.pem`, `root-cert.pem`).
/// `Err`: the keys there are.
pub fn split_secret(data: &BTreeMap<String, Vec<u8>>) -> Result<Split, String> {
    let text = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(b).into_owned());
    if let Some(ca) = text("ca-cert.pem") {
        let chain = format!("{ca}\n{}", text("cert-chain.pem").unwrap_or_default());
        return Ok(("istio", chain, text("root-cert.pem")));
    }
    if let Some(tls) = text("tls.crt") {
        return Ok(("cert-manager", tls, text("ca.crt")));
    }
    Err(if data.is_empty() {
        "no keys".into()
    } else {
        data.keys().cloned().collect::<Vec<_>>().join(", ")
    })
}

/// The PCA CAs of state, with their certificates fetched again from AWS when asked
/// (state may be stale); warnings say where AWS could not be asked.
async fn pca_cas(t: &Target<'_>) -> (Vec<PcaCa>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut cas: Vec<PcaCa> = t
        .resources
        .values()
        .filter(|r| r.type_name == PCA_CA)
        .map(|r| PcaCa {
            address: r.address.clone(),
            arn: r.attributes.get_str("arn").unwrap_or(&r.id).to_string(),
            certificate_pem: r
                .attributes
                .get_str("certificate_pem")
                .unwrap_or_default()
                .to_string(),
            source: "state".into(),
        })
        .collect();
    if !t.refetch || cas.is_empty() {
        return (cas, warnings);
    }
    let clients = match aws::Settings::parse(&t.aws) {
        Ok(s) => s.build_clients(None).await.map_err(|e| e.message),
        Err(e) => Err(e.message),
    };
    let clients = match clients {
        Ok(c) => c,
        Err(e) => {
            warnings.push(format!(
                "cannot ask AWS for the CA certificates ({e}); using those in state"
            ));
            return (cas, warnings);
        }
    };
    for ca in &mut cas {
        let call = clients
            .pca
            .get_certificate_authority_certificate()
            .certificate_authority_arn(&ca.arn)
            .send();
        match tokio::time::timeout(Duration::from_secs(30), call).await {
            Ok(Ok(out)) => {
                if let Some(live) = out.certificate.filter(|c| !c.trim().is_empty()) {
                    if live.trim() != ca.certificate_pem.trim() {
                        warnings.push(format!(
                            "the certificate of {} in state differs from AWS; using AWS's \
                             (run `trustplane apply {}` to refresh state)",
                            ca.address, t.stack_file
                        ));
                    }
                    ca.certificate_pem = live;
                    ca.source = "aws".into();
                }
            }
            Ok(Err(e)) => warnings.push(format!(
                "GetCertificateAuthorityCertificate {} failed ({}); using the certificate in state",
                ca.arn,
                aws_sdk_acmpca::error::DisplayErrorContext(&e)
            )),
            Err(_) => warnings.push(format!(
                "GetCertificateAuthorityCertificate {} timed out; using the certificate in state",
                ca.arn
            )),
        }
    }
    (cas, warnings)
}
