//! Pure checks of an Istio CA chain: PEM text in, a report out. No I/O and no clock, so
//! every rule is testable with minted certificates.
//!
//! The chain is the one cert-manager writes for the Istio CA certificate (the guide's
//! step 6): the Istio CA first, then the PCA subordinate(s), then the PCA root. Each
//! certificate is checked against the one above it (step 9: "check the issuer
//! information"), and the PCA CAs are matched by serial number (step 9.3).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

/// An AWS Private CA certificate authority, as state (or AWS) knows it.
#[derive(Debug, Clone, Default)]
pub struct PcaCa {
    /// The stack address, e.g. `root_ca`.
    pub address: String,
    pub arn: String,
    pub certificate_pem: String,
    /// Where `certificate_pem` came from: `state` or `aws`.
    pub source: String,
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    /// The issued certificate first, then its chain; the root may be included or not.
    pub chain_pem: &'a str,
    /// The root (`ca.crt`, `root-cert.pem`); `None` when the chain carries it.
    pub root_pem: Option<&'a str>,
    pub pca: &'a [PcaCa],
    /// A workload's chain as `istioctl proxy-config secret` prints it.
    pub workload_pem: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
    /// Seconds before expiry at which cert-manager renews the issued certificate; `None`:
    /// cert-manager's default, a third of its lifetime.
    pub renew_before: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// `error` fails the chain; `warning` is reported only.
    pub severity: &'static str,
}

impl Check {
    fn error(name: &str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok,
            detail: detail.into(),
            severity: "error",
        }
    }

    fn warning(name: &str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            severity: "warning",
            ..Check::error(name, ok, detail)
        }
    }

    pub fn fails(&self) -> bool {
        !self.ok && self.severity == "error"
    }
}

/// One certificate of a chain and the checks of its link to its issuer.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// `workload`, `istio CA`, `intermediate`, `root`.
    pub role: String,
    pub subject: String,
    pub subject_cn: String,
    pub issuer: String,
    /// Lowercase hex without colons or leading zero bytes, as state records it.
    pub serial_hex: String,
    /// What the guide compares (`openssl x509 -serial` through `bc`).
    pub serial_decimal: String,
    pub not_before: String,
    pub not_after: String,
    pub expires_in_days: i64,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex: one key, one value.
    pub public_key_sha256: String,
    /// The PCA CA (address) whose certificate this is.
    pub pca: Option<String>,
    pub checks: Vec<Check>,
}

impl Link {
    pub fn valid(&self) -> bool {
        !self.checks.iter().any(Check::fails)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PcaMatch {
    pub address: String,
    pub arn: String,
    pub source: String,
    pub subject: String,
    pub serial_hex: String,
    pub serial_decimal: String,
    /// Index into `links` of the chain certificate with this serial.
    pub link: Option<usize>,
    /// The chain holds exactly this certificate (not only the serial).
    pub identical: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub valid: bool,
    /// Istio appends the root once more; the duplicate is dropped before checking.
    pub duplicate_root: bool,
    pub links: Vec<Link>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    /// Issued certificate first, root last.
    pub links: Vec<Link>,
    pub pca_matches: Vec<PcaMatch>,
    pub workload: Option<WorkloadReport>,
    /// Problems not tied to one link (unreadable PEM, no root).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Why a PEM text could not be read; `number` counts PEM blocks from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("certificate {number}: invalid PEM: {reason}")]
    InvalidPem { number: usize, reason: String },
    #[error("certificate {number}: not an X.509 certificate: {reason}")]
    NotX509 { number: usize, reason: String },
}

/// Parses every certificate of a PEM text, in order.
pub fn parse_pems(text: &str) -> Result<Vec<Pem>, PemError> {
    let mut out = Vec::new();
    for (i, pem) in Pem::iter_from_buffer(text.as_bytes()).enumerate() {
        let pem = pem.map_err(|e| PemError::InvalidPem {
            number: i + 1,
            reason: e.to_string(),
        })?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        pem.parse_x509().map_err(|e| PemError::NotX509 {
            number: i + 1,
            reason: e.to_string(),
        })?;
        out.push(pem);
    }
    Ok(out)
}

fn parse(pem: &Pem) -> X509Certificate<'_> {
    pem.parse_x509().expect("checked by parse_pems")
}

/// Lowercase hex of a serial, without leading zero bytes (the DER sign byte).
pub fn serial_hex(raw: &[u8]) -> String {
    let first = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[first..])
}

/// A hex serial in any of the usual spellings (`0A:1B`, `0a1b`, `0x0a1b`), normalised.
pub fn normalise_serial(s: &str) -> String {
    let digits: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = digits.trim_start_matches('0');
    let even = if trimmed.len() % 2 == 1 {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    };
    if even.is_empty() {
        "00".into()
    } else {
        even
    }
}

fn rfc3339(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn common_name(c: &X509Certificate) -> String {
    c.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| c.subject().to_string())
}

fn constraints(c: &X509Certificate) -> (bool, Option<u32>) {
    match c.basic_constraints() {
        Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
        _ => (false, None),
    }
}

fn days(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

/// Checks a path, lowest certificate first and self-signed root last.
/// `leaf_is_ca`: the lowest certificate must itself be a CA (the Istio CA), and so counts
/// among the CAs each issuer's path length must allow.
fn check_path(
    certs: &[X509Certificate],
    roles: &[String],
    leaf_is_ca: bool,
    now: i64,
    renewal_at: Option<i64>,
) -> Vec<Link> {
    let mut links = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        let (is_ca, path_len) = constraints(c);
        let validity = c.validity();
        let (nb, na) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        let mut checks = Vec::new();
        let last = i + 1 == certs.len();
        if last {
            let same_name = c.subject().as_raw() == c.issuer().as_raw();
            let sig = c.verify_signature(None);
            checks.push(Check::error(
                "self_signed",
                same_name && sig.is_ok(),
                match (&sig, same_name) {
                    (Ok(()), true) => "a root: its own issuer, signature verifies with its own key"
                        .to_string(),
                    (_, false) => format!(
                        "not self-signed: issued by {}, which is not in the chain (the root is missing)",
                        c.issuer()
                    ),
                    (Err(e), true) => format!("claims to be self-signed but its signature does not verify with its own key: {e}"),
                },
            ));
        } else {
            let up = &certs[i + 1];
            let name_ok = c.issuer().as_raw() == up.subject().as_raw();
            checks.push(Check::error(
                "issuer_name",
                name_ok,
                if name_ok {
                    format!("issuer is {}", up.subject())
                } else {
                    format!(
                        "issuer is {}, but the next certificate is {}",
                        c.issuer(),
                        up.subject()
                    )
                },
            ));
            let sig = c.verify_signature(Some(up.public_key()));
            checks.push(Check::error(
                "signature",
                sig.is_ok(),
                match &sig {
                    Ok(()) => format!("signed by the key of {}", common_name(up)),
                    Err(e) => format!(
                        "the signature does not verify with the public key of {}: {e}",
                        common_name(up)
                    ),
                },
            ));
        }
        let in_window = nb <= now && now <= na;
        checks.push(Check::error(
            "validity",
            in_window,
            if now < nb {
                format!("not valid before {}", rfc3339(nb))
            } else if now > na {
                format!(
                    "expired {} ({} days ago)",
                    rfc3339(na),
                    days(now - na).max(1)
                )
            } else {
                format!(
                    "valid {} to {}, expires in {} days",
                    rfc3339(nb),
                    rfc3339(na),
                    days(na - now)
                )
            },
        ));
        if let Some(at) = renewal_at {
            if i > 0 {
                checks.push(Check::warning(
                    "covers_renewal",
                    na >= at,
                    if na >= at {
                        format!("still valid at the next renewal ({})", rfc3339(at))
                    } else {
                        format!(
                            "expires {} before the next renewal of the issued certificate at {}: \
                             renew this CA first or the chain breaks",
                            rfc3339(na),
                            rfc3339(at)
                        )
                    },
                ));
            }
        }
        // CAs that this certificate's path length must allow below it.
        let below = if leaf_is_ca { i } else { i.saturating_sub(1) };
        if i > 0 || leaf_is_ca {
            checks.push(Check::error(
                "ca",
                is_ca,
                if is_ca {
                    "basic constraints CA:TRUE".to_string()
                } else if i == 0 {
                    "basic constraints do not say CA:TRUE, so Istio cannot sign workload certificates with it (isCA: true on the Certificate)".to_string()
                } else {
                    "basic constraints do not say CA:TRUE, yet it issued the certificate below".to_string()
                },
            ));
        }
        if is_ca && (i > 0 || leaf_is_ca) {
            let ok = path_len.is_none_or(|n| n as usize >= below);
            checks.push(Check::error(
                "path_len",
                ok,
                match path_len {
                    None => format!("no path length limit ({below} CA(s) below)"),
                    Some(n) if ok => format!("pathLen {n} allows the {below} CA(s) below"),
                    Some(n) => format!(
                        "pathLen {n}, but {below} CA(s) are below it: a CA with pathLen {n} cannot \
                         have the Istio CA under it (do not issue the subordinate with path length 0)"
                    ),
                },
            ));
        }
        links.push(Link {
            role: roles[i].clone(),
            subject: c.subject().to_string(),
            subject_cn: common_name(c),
            issuer: c.issuer().to_string(),
            serial_hex: serial_hex(c.tbs_certificate.raw_serial()),
            serial_decimal: c.serial.to_string(),
            not_before: rfc3339(nb),
            not_after: rfc3339(na),
            expires_in_days: days(na - now),
            is_ca,
            path_len,
            public_key_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                c.public_key().raw,
            )),
            pca: None,
            checks,
        });
    }
    links
}

fn roles(n: usize, first: &str) -> Vec<String> {
    (0..n)
        .map(|i| match i {
            _ if i + 1 == n && n > 1 => "root".to_string(),
            0 => first.to_string(),
            _ => "intermediate".to_string(),
        })
        .collect()
}

/// The chain's certificates in order: consecutive duplicates dropped, the root appended
/// when it is given separately and not already last.
fn assemble<'p>(chain: &'p [Pem], root: &'p [Pem]) -> Vec<&'p Pem> {
    let mut out: Vec<&Pem> = Vec::new();
    for p in chain.iter().chain(root.first()) {
        if out.last().is_none_or(|l| l.contents != p.contents) {
            out.push(p);
        }
    }
    out
}

/// Runs every check.
pub fn verify(input: &Input) -> Report {
    let mut report = Report {
        valid: false,
        links: Vec::new(),
        pca_matches: Vec::new(),
        workload: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let chain = match parse_pems(input.chain_pem) {
        Ok(c) if c.is_empty() => {
            report
                .errors
                .push("the secret holds no certificate".to_string());
            return report;
        }
        Ok(c) => c,
        Err(e) => {
            report.errors.push(format!("issued chain: {e}"));
            return report;
        }
    };
    let root = match input.root_pem.map(parse_pems).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            report.errors.push(format!("root: {e}"));
            return report;
        }
    };
    if input.root_pem.is_some() && root.is_empty() {
        report
            .errors
            .push("the root certificate (ca.crt) is empty".to_string());
    }
    let chain_pems = assemble(&chain, &root);
    let certs: Vec<X509Certificate> = chain_pems.iter().map(|p| parse(p)).collect();
    let issued = &certs[0];
    let lifetime =
        issued.validity().not_after.timestamp() - issued.validity().not_before.timestamp();
    let renew_before = input.renew_before.unwrap_or(lifetime / 3);
    let renewal_at = issued.validity().not_after.timestamp() - renew_before;
    report.links = check_path(
        &certs,
        &roles(certs.len(), "istio CA"),
        true,
        input.now,
        Some(renewal_at),
    );
    if certs.len() == 1 {
        report.errors.push(
            "the chain is a single self-signed certificate: no PCA CA above the Istio CA"
                .to_string(),
        );
    }

    // Serial numbers of the chain's CAs against the PCA CAs (the guide's step 9.3).
    for ca in input.pca {
        let Ok(ca_pems) = parse_pems(&ca.certificate_pem) else {
            report.warnings.push(format!(
                "the certificate of PCA CA {} is not readable",
                ca.address
            ));
            continue;
        };
        let Some(p) = ca_pems.first() else {
            report.warnings.push(format!(
                "PCA CA {} has no certificate yet (is it active?)",
                ca.address
            ));
            continue;
        };
        let c = parse(p);
        let serial = serial_hex(c.tbs_certificate.raw_serial());
        let link = report.links.iter().position(|l| l.serial_hex == serial);
        let identical = link.is_some_and(|i| chain_pems[i].contents == p.contents);
        if let Some(i) = link {
            report.links[i].pca = Some(ca.address.clone());
        }
        report.pca_matches.push(PcaMatch {
            address: ca.address.clone(),
            arn: ca.arn.clone(),
            source: ca.source.clone(),
            subject: c.subject().to_string(),
            serial_hex: serial,
            serial_decimal: c.serial.to_string(),
            link,
            identical,
        });
    }
    if input.pca.is_empty() {
        report.warnings.push(
            "no aws.pca.certificate_authority in state: the chain's CAs were not matched to AWS Private CA"
                .to_string(),
        );
    } else {
        let n = report.links.len();
        let missing: Vec<&str> = report
            .pca_matches
            .iter()
            .filter(|m| !m.identical)
            .map(|m| m.address.as_str())
            .collect();
        let all_pca_in_chain = missing.is_empty();
        for i in 1..n {
            let m = report.pca_matches.iter().find(|m| m.link == Some(i));
            let check = match m {
                Some(m) if m.identical => Check::error(
                    "pca",
                    true,
                    format!(
                        "is PCA CA {} (serial {} = {})",
                        m.address, m.serial_hex, m.serial_decimal
                    ),
                ),
                Some(m) => Check::error(
                    "pca",
                    false,
                    format!(
                        "has the serial of PCA CA {} but is not its certificate",
                        m.address
                    ),
                ),
                // The issuer of the Istio CA must be a PCA CA. A CA above it may be
                // outside AWS (an external root): only when every PCA CA of state is in
                // the chain; else it stands where a PCA CA should.
                None if i == 1 => Check::error(
                    "pca",
                    false,
                    format!(
                        "serial {} matches no PCA CA in state: the Istio CA was not issued by AWS Private CA",
                        report.links[i].serial_hex
                    ),
                ),
                None if !all_pca_in_chain => Check::error(
                    "pca",
                    false,
                    format!(
                        "serial {} matches no PCA CA in state, and {} of state is not in the chain",
                        report.links[i].serial_hex,
                        missing.join(", ")
                    ),
                ),
                None => Check::warning(
                    "pca",
                    false,
                    format!(
                        "serial {} matches no PCA CA in state (a CA outside AWS Private CA?)",
                        report.links[i].serial_hex
                    ),
                ),
            };
            report.links[i].checks.push(check);
        }
    }

    if let Some(text) = input.workload_pem {
        report.workload = Some(check_workload(
            text,
            &chain_pems,
            input.now,
            &mut report.errors,
        ));
    }
    report.valid = report.errors.is_empty()
        && report.links.iter().all(Link::valid)
        && report.workload.as_ref().is_none_or(|w| w.valid);
    report
}

/// A workload chain: leaf, Istio CA, intermediates, root, and (as Istio sends it) the
/// root again. It must pass through the secret's Istio CA and end at the same root.
fn check_workload(
    text: &str,
    secret_chain: &[&Pem],
    now: i64,
    errors: &mut Vec<String>,
) -> WorkloadReport {
    let mut report = WorkloadReport {
        valid: false,
        duplicate_root: false,
        links: Vec::new(),
        checks: Vec::new(),
    };
    let mut pems = match parse_pems(text) {
        Ok(p) if p.len() >= 2 => p,
        Ok(p) => {
            errors.push(format!(
                "workload chain: {} certificate(s); expected the workload certificate and its chain",
                p.len()
            ));
            return report;
        }
        Err(e) => {
            errors.push(format!("workload chain: {e}"));
            return report;
        }
    };
    let n = pems.len();
    if pems[n - 1].contents == pems[n - 2].contents {
        report.duplicate_root = true;
        pems.pop();
    }
    let certs: Vec<X509Certificate> = pems.iter().map(parse).collect();
    let mut r = roles(certs.len(), "workload");
    if r.len() > 2 {
        r[1] = "istio CA".into();
    }
    report.links = check_path(&certs, &r, false, now, None);
    let expected = secret_chain.len() + 1;
    report.checks.push(Check::warning(
        "length",
        certs.len() == expected,
        format!(
            "{} certificates{} (workload + the {} of the secret's chain)",
            n,
            if report.duplicate_root {
                ", the last a copy of the root"
            } else {
                ""
            },
            secret_chain.len()
        ),
    ));
    let istio_ca = &secret_chain[0].contents;
    let through = pems.get(1).is_some_and(|p| &p.contents == istio_ca);
    report.checks.push(Check::error(
        "istio_ca",
        through,
        if through {
            "issued by the Istio CA certificate of the secret".to_string()
        } else {
            format!(
                "not issued by the secret's Istio CA (serial {}); the workload's issuer is {}: \
                 istiod may still use an older cacerts (restart istiod) or another CA",
                serial_hex(parse(secret_chain[0]).tbs_certificate.raw_serial()),
                report
                    .links
                    .get(1)
                    .map(|l| format!("{} serial {}", l.subject, l.serial_hex))
                    .unwrap_or_default()
            )
        },
    ));
    let root = &secret_chain[secret_chain.len() - 1].contents;
    let same_root = pems.last().is_some_and(|p| &p.contents == root);
    report.checks.push(Check::error(
        "same_root",
        same_root,
        if same_root {
            "ends at the same root as the secret".to_string()
        } else {
            format!(
                "ends at {}, not at the secret's root",
                report
                    .links
                    .last()
                    .map(|l| l.subject.as_str())
                    .unwrap_or("")
            )
        },
    ));
    report.valid = report.links.iter().all(Link::valid) && !report.checks.iter().any(Check::fails);
    report
}
