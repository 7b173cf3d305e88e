//! `trustplane verify`: the guide's step 9 ("verify the certificate chain"), automated.
//!
//! From a stack's state it finds the Istio CA `certmanager.certificate`, reads the Secret
//! cert-manager wrote for it, fetches the AWS Private CA certificates, and hands the PEM
//! text to the pure checks of [`chain`]; [`report`] renders the result.

pub mod chain;
mod error;
pub mod fleet;
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
pub use error::{UnknownLayout, VerifyError};
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
pub async fn run(t: &Target<'_>) -> Result<Verified, VerifyError> {
    let cert = find_certificate(t)?;
    let props = &cert.properties;
    let missing = |property| VerifyError::MissingProperty {
        address: cert.address.clone(),
        property,
    };
    let namespace = props
        .get_str("namespace")
        .ok_or_else(|| missing("namespace"))?
        .to_string();
    let secret_name = props
        .get_str("secret_name")
        .or_else(|| cert.attributes.get_str("secret_name"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("secret_name"))?
        .to_string();
    let renew_before = props
        .get_str("renew_before")
        .and_then(|s| crate::duration::parse(s).ok())
        .map(|d| d.as_secs() as i64);

    let with_aws = crate::provider::kubernetes::connection::with_inherited(
        t.kubernetes.clone(),
        None,
        Some(&t.aws),
    );
    let settings = KubeSettings::from_value(&with_aws)
        .map_err(|e| VerifyError::KubernetesSettings { message: e.message })?;
    let (client, context) = kube_client(&settings).await?;
    let data = read_secret(t, cert, client, &namespace, &secret_name, &context).await?;
    let (layout, chain_pem, root_pem) =
        split_secret(&data).map_err(|layout| VerifyError::SecretLayout {
            namespace: namespace.clone(),
            secret: secret_name.clone(),
            layout,
            address: cert.address.clone(),
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

fn find_certificate<'a>(t: &Target<'a>) -> Result<&'a ResourceState, VerifyError> {
    let certs: Vec<&ResourceState> = t
        .resources
        .values()
        .filter(|r| r.type_name == CERTIFICATE)
        .collect();
    if let Some(addr) = &t.certificate {
        return match t.resources.get(addr) {
            Some(r) if r.type_name == CERTIFICATE => Ok(r),
            Some(r) => Err(VerifyError::NotACertificate {
                address: addr.clone(),
                type_name: r.type_name.clone(),
            }),
            None => Err(VerifyError::NoSuchResource {
                address: addr.clone(),
                certificates: names(&certs),
            }),
        };
    }
    let cas: Vec<&ResourceState> = certs
        .iter()
        .copied()
        .filter(|r| matches!(r.properties.get("is_ca"), Some(Value::Bool(true))))
        .collect();
    match cas.as_slice() {
        [one] => Ok(one),
        [] => Err(VerifyError::NoCaCertificate {
            certificates: names(&certs),
            stack_file: t.stack_file.clone(),
        }),
        many => Err(VerifyError::SeveralCaCertificates {
            certificates: names(many),
        }),
    }
}

fn names(rs: &[&ResourceState]) -> Vec<String> {
    rs.iter().map(|r| r.address.clone()).collect()
}

/// A client from the same settings the kubernetes provider uses, and the context name.
async fn kube_client(settings: &KubeSettings) -> Result<(Client, String), VerifyError> {
    let client = kclient::connect(settings)
        .await
        .map_err(|e| VerifyError::Connect {
            message: e.message,
            help: e.help,
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
) -> Result<BTreeMap<String, Vec<u8>>, VerifyError> {
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
        Ok(None) => Err(VerifyError::SecretNotFound {
            name: name.to_string(),
            namespace: namespace.to_string(),
            context: context.to_string(),
            certificate_name: cert_name.to_string(),
            address: cert.address.clone(),
            stack_file: t.stack_file.clone(),
        }),
        Err(e) => Err(VerifyError::ReadSecret {
            namespace: namespace.to_string(),
            name: name.to_string(),
            context: context.to_string(),
            message: kclient::api_error("read the Secret", e).message,
        }),
    }
}

/// (layout, chain PEM with the issued certificate first, root PEM).
type Split = (&'static str, String, Option<String>);

/// The chain and root from either layout: cert-manager's (`tls.crt`, `ca.crt`) or the
/// `cacerts` files Istio reads (`ca-cert.pem`, `cert-chain.pem`, `root-cert.pem`).
/// `Err`: neither layout, with the keys there are.
pub fn split_secret(data: &BTreeMap<String, Vec<u8>>) -> Result<Split, UnknownLayout> {
    let text = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(b).into_owned());
    if let Some(ca) = text("ca-cert.pem") {
        let chain = format!("{ca}\n{}", text("cert-chain.pem").unwrap_or_default());
        return Ok(("istio", chain, text("root-cert.pem")));
    }
    if let Some(tls) = text("tls.crt") {
        return Ok(("cert-manager", tls, text("ca.crt")));
    }
    Err(UnknownLayout {
        keys: data.keys().cloned().collect(),
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
        // Paced, and sent again if throttled, as the provider's own calls.
        let call = clients.call(
            "acm-pca:GetCertificateAuthorityCertificate",
            &ca.arn,
            || {
                clients
                    .pca
                    .get_certificate_authority_certificate()
                    .certificate_authority_arn(&ca.arn)
                    .send()
            },
        );
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
                "{}; using the certificate in state",
                crate::provider::ProviderError::from(e).message
            )),
            Err(_) => warnings.push(format!(
                "GetCertificateAuthorityCertificate {} timed out; using the certificate in state",
                ca.arn
            )),
        }
    }
    (cas, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    fn resource(address: &str, type_name: &str, properties: &str) -> (String, ResourceState) {
        let state = ResourceState {
            address: address.into(),
            type_name: type_name.into(),
            mode: Mode::Managed,
            provider: "kubernetes".into(),
            id: address.into(),
            properties: serde_json::from_str(properties).unwrap(),
            attributes: Value::map(),
            dependencies: vec![],
            sensitive_paths: vec![],
            retain_on_destroy: false,
            updated_at: chrono::Utc::now(),
        };
        (address.into(), state)
    }

    fn target<'a>(
        resources: &'a BTreeMap<String, ResourceState>,
        certificate: Option<&str>,
    ) -> Target<'a> {
        Target {
            resources,
            kubernetes: Value::Null,
            aws: Value::Null,
            certificate: certificate.map(String::from),
            workload_pem: None,
            refetch: false,
            stack_file: "mesh.yaml".into(),
            now: 0,
        }
    }

    fn choose(resources: &[(String, ResourceState)], certificate: Option<&str>) -> VerifyError {
        let resources: BTreeMap<_, _> = resources.iter().cloned().collect();
        find_certificate(&target(&resources, certificate))
            .map(|r| r.address.clone())
            .unwrap_err()
    }

    #[test]
    fn choosing_the_certificate_fails_with_the_kind_and_the_names() {
        let leaf = resource("leaf", CERTIFICATE, r#"{"is_ca":false}"#);
        let ns = resource("ns", "k8s.namespace", "{}");
        let e = choose(&[leaf.clone(), ns.clone()], Some("ns"));
        assert!(matches!(&e, VerifyError::NotACertificate { address, .. } if address == "ns"));
        assert_eq!(
            e.to_string(),
            "ns is a k8s.namespace, not a certmanager.certificate"
        );
        let e = choose(std::slice::from_ref(&ns), Some("gone"));
        assert!(
            matches!(&e, VerifyError::NoSuchResource { certificates, .. } if certificates.is_empty())
        );
        assert_eq!(
            e.to_string(),
            "no resource gone in state; the certmanager.certificate resources are: none"
        );
        assert_eq!(
            choose(std::slice::from_ref(&leaf), None).to_string(),
            "no certmanager.certificate with is_ca: true in state (there are: leaf): apply the \
             stack first (`trustplane apply mesh.yaml`), or name the certificate with --certificate ADDR"
        );
        assert_eq!(
            choose(&[ns], None).to_string(),
            "no certmanager.certificate with is_ca: true in state: apply the stack first \
             (`trustplane apply mesh.yaml`), or name the certificate with --certificate ADDR"
        );
        let a = resource("a", CERTIFICATE, r#"{"is_ca":true}"#);
        let b = resource("b", CERTIFICATE, r#"{"is_ca":true}"#);
        let e = choose(&[a, b, leaf], None);
        assert!(
            matches!(&e, VerifyError::SeveralCaCertificates { certificates } if certificates == &["a", "b"])
        );
        assert_eq!(
            e.to_string(),
            "several certmanager.certificate resources have is_ca: true (a, b): choose one with \
             --certificate ADDR"
        );
    }

    #[tokio::test]
    async fn a_certificate_without_a_namespace_in_state_stops_verification() {
        let ca = resource("istio_ca", CERTIFICATE, r#"{"is_ca":true}"#);
        let resources: BTreeMap<_, _> = [ca].into_iter().collect();
        let e = run(&target(&resources, None)).await.err().unwrap();
        assert!(matches!(
            &e,
            VerifyError::MissingProperty {
                property: "namespace",
                ..
            }
        ));
        assert_eq!(e.to_string(), "istio_ca has no namespace in state");
    }

    #[test]
    fn a_secret_of_neither_layout_names_its_keys() {
        assert_eq!(
            split_secret(&BTreeMap::new()).unwrap_err().to_string(),
            "no keys"
        );
        let e = VerifyError::SecretLayout {
            namespace: "istio-system".into(),
            secret: "cacerts".into(),
            layout: UnknownLayout {
                keys: vec!["a".into(), "b".into()],
            },
            address: "istio_ca".into(),
        };
        assert_eq!(
            e.to_string(),
            "Secret istio-system/cacerts has neither tls.crt (cert-manager) nor ca-cert.pem \
             (Istio) but only a, b: is it the Secret of istio_ca?"
        );
    }
}
