//! Why `verify` could not verify: one variant per failure, carrying what the message
//! names. The messages say what to do next.

use crate::provider::kubernetes::kinds::CERTIFICATE;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// `--certificate ADDR` names a resource of another type.
    #[error("{address} is a {type_name}, not a {}", CERTIFICATE)]
    NotACertificate { address: String, type_name: String },

    /// `--certificate ADDR` names no resource in state.
    #[error(
        "no resource {address} in state; the {} resources are: {}",
        CERTIFICATE,
        names(.certificates)
    )]
    NoSuchResource {
        address: String,
        certificates: Vec<String>,
    },

    /// No certificate with `is_ca: true` to choose.
    #[error(
        "no {} with is_ca: true in state{}: apply the stack first (`trustplane apply {stack_file}`), \
         or name the certificate with --certificate ADDR",
        CERTIFICATE,
        there_are(.certificates)
    )]
    NoCaCertificate {
        /// The certificates there are (none with `is_ca: true`).
        certificates: Vec<String>,
        stack_file: String,
    },

    /// More than one certificate with `is_ca: true`, and none chosen.
    #[error(
        "several {} resources have is_ca: true ({}): choose one with --certificate ADDR",
        CERTIFICATE,
        names(.certificates)
    )]
    SeveralCaCertificates { certificates: Vec<String> },

    /// The certificate's state lacks a property verification needs.
    #[error("{address} has no {property} in state")]
    MissingProperty {
        address: String,
        property: &'static str,
    },

    /// The `kubernetes` provider settings cannot be used.
    #[error("{message}")]
    KubernetesSettings { message: String },

    /// No client for the cluster.
    #[error("{message}{}", .help.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Connect {
        message: String,
        help: Option<String>,
    },

    /// The cluster answered that the certificate's Secret does not exist.
    #[error(
        "Secret {name} not found in namespace {namespace} of cluster context {context}. \
         cert-manager writes it when Certificate {namespace}/{certificate_name} ({address}) is issued: check \
         `kubectl -n {namespace} describe certificate {certificate_name}` and \
         `kubectl -n {namespace} get certificaterequests`, then run `trustplane apply {stack_file}`"
    )]
    SecretNotFound {
        name: String,
        namespace: String,
        context: String,
        /// The Certificate object's name, and its resource address.
        certificate_name: String,
        address: String,
        stack_file: String,
    },

    /// The Secret could not be read (anything but a definite "not found").
    #[error("cannot read Secret {namespace}/{name} in cluster context {context}: {message}")]
    ReadSecret {
        namespace: String,
        name: String,
        context: String,
        message: String,
    },

    /// The Secret has neither layout's keys.
    #[error(
        "Secret {namespace}/{secret} has neither tls.crt (cert-manager) nor ca-cert.pem \
         (Istio) but only {layout}: is it the Secret of {address}?"
    )]
    SecretLayout {
        namespace: String,
        secret: String,
        layout: UnknownLayout,
        address: String,
    },
}

/// A Secret holding neither cert-manager's nor Istio's keys; shows the keys it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if .keys.is_empty() { "no keys".to_string() } else { .keys.join(", ") })]
pub struct UnknownLayout {
    pub keys: Vec<String>,
}

fn names(certificates: &[String]) -> String {
    if certificates.is_empty() {
        "none".into()
    } else {
        certificates.join(", ")
    }
}

fn there_are(certificates: &[String]) -> String {
    if certificates.is_empty() {
        String::new()
    } else {
        format!(" (there are: {})", certificates.join(", "))
    }
}
