//! The IssueCertificate parameters that activate a CA: which issuer signs, with which PCA
//! template and validity. Pure, so each kind and path length is tested without a service.

use std::time::Duration;

/// Root or subordinate, as the stack writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKind {
    Root,
    Subordinate,
}

impl CaKind {
    pub fn parse(s: &str) -> Option<CaKind> {
        match s {
            "root" => Some(CaKind::Root),
            "subordinate" => Some(CaKind::Subordinate),
            _ => None,
        }
    }
    /// PCA's CertificateAuthorityType.
    pub fn pca_type(self) -> &'static str {
        match self {
            CaKind::Root => "ROOT",
            CaKind::Subordinate => "SUBORDINATE",
        }
    }
}

/// Longest CA validity trustplane accepts. PCA itself only requires a subordinate to end
/// before its parent; 40 years keeps roots well inside what clients parse (GeneralizedTime)
/// and rejects typos such as `100y`.
pub const MAX_VALIDITY_DAYS: u64 = 40 * 365;

/// Highest path length PCA ships a template for.
pub const MAX_PATH_LENGTH: i64 = 3;

/// Whole days, rounded up: PCA counts CA validity in days.
pub fn validity_days(validity: Duration) -> i64 {
    let secs = validity.as_secs() + u64::from(validity.subsec_nanos() > 0);
    secs.div_ceil(86_400) as i64
}

/// `aws`, `aws-cn`, `aws-us-gov`: the partition of an ARN, so templates match the CA's.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

/// The PCA template that issues this CA's own certificate.
pub fn template_arn(partition: &str, kind: CaKind, path_length: Option<i64>) -> String {
    match kind {
        CaKind::Root => format!("arn:{partition}:acm-pca:::template/RootCACertificate/V1"),
        CaKind::Subordinate => format!(
            "arn:{partition}:acm-pca:::template/SubordinateCACertificate_PathLen{}/V1",
            path_length.unwrap_or(0)
        ),
    }
}

/// Everything IssueCertificate needs besides the CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueParams {
    /// The CA that signs: the CA itself for a root, the parent for a subordinate.
    pub issuer_arn: String,
    pub template_arn: String,
    pub validity_days: i64,
    pub signing_algorithm: String,
}

/// Builds the activation request. `issuer_signing_algorithm` is the signing algorithm of
/// the CA that signs (a subordinate's parent may use another key family).
pub fn issue_params(
    ca_arn: &str,
    kind: CaKind,
    parent_arn: Option<&str>,
    path_length: Option<i64>,
    validity: Duration,
    issuer_signing_algorithm: &str,
) -> IssueParams {
    let issuer_arn = match kind {
        CaKind::Root => ca_arn.to_string(),
        CaKind::Subordinate => parent_arn.unwrap_or(ca_arn).to_string(),
    };
    IssueParams {
        template_arn: template_arn(partition_of(ca_arn), kind, path_length),
        issuer_arn,
        validity_days: validity_days(validity),
        signing_algorithm: issuer_signing_algorithm.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555";
    const PARENT: &str = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/99999999-2222-3333-4444-555555555555";

    #[test]
    fn root_signs_itself_with_the_root_template() {
        let p = issue_params(
            CA,
            CaKind::Root,
            None,
            None,
            Duration::from_secs(3650 * 86400),
            "SHA256WITHRSA",
        );
        assert_eq!(p.issuer_arn, CA);
        assert_eq!(
            p.template_arn,
            "arn:aws:acm-pca:::template/RootCACertificate/V1"
        );
        assert_eq!(p.validity_days, 3650);
        assert_eq!(p.signing_algorithm, "SHA256WITHRSA");
    }

    #[test]
    fn subordinate_is_signed_by_its_parent_with_its_path_length() {
        for n in 0..=3 {
            let p = issue_params(
                CA,
                CaKind::Subordinate,
                Some(PARENT),
                Some(n),
                Duration::from_secs(1825 * 86400),
                "SHA384WITHECDSA",
            );
            assert_eq!(p.issuer_arn, PARENT);
            assert_eq!(
                p.template_arn,
                format!("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen{n}/V1")
            );
            assert_eq!(p.validity_days, 1825);
            assert_eq!(p.signing_algorithm, "SHA384WITHECDSA");
        }
    }

    #[test]
    fn subordinate_path_length_defaults_to_zero() {
        let p = issue_params(
            CA,
            CaKind::Subordinate,
            Some(PARENT),
            None,
            Duration::from_secs(86400),
            "SHA256WITHRSA",
        );
        assert!(p
            .template_arn
            .ends_with("SubordinateCACertificate_PathLen0/V1"));
    }

    #[test]
    fn templates_follow_the_partition() {
        let cn = "arn:aws-cn:acm-pca:cn-north-1:111122223333:certificate-authority/x";
        let p = issue_params(
            cn,
            CaKind::Root,
            None,
            None,
            Duration::from_secs(86400),
            "SHA256WITHRSA",
        );
        assert_eq!(
            p.template_arn,
            "arn:aws-cn:acm-pca:::template/RootCACertificate/V1"
        );
    }

    #[test]
    fn validity_rounds_up_to_whole_days() {
        assert_eq!(validity_days(Duration::from_secs(86400)), 1);
        assert_eq!(validity_days(Duration::from_secs(86401)), 2);
        assert_eq!(validity_days(Duration::from_secs(3600)), 1);
        assert_eq!(validity_days(crate::duration::parse("10y").unwrap()), 3650);
    }
}
