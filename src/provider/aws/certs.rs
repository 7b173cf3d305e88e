//! What trustplane reports about a CA certificate: serial and validity, read from the PEM.

use chrono::{DateTime, SecondsFormat, Utc};
use x509_parser::pem::Pem;

/// Facts of one certificate, in the forms the attributes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Lowercase hex without colons or leading zero bytes.
    pub serial: String,
    pub serial_decimal: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub not_after_unix: i64,
    pub subject: String,
    pub issuer: String,
}

/// Parses the first certificate of a PEM text.
pub fn inspect(pem_text: &str) -> Result<CertInfo, String> {
    let pem = Pem::iter_from_buffer(pem_text.as_bytes())
        .next()
        .ok_or("no PEM block found")?
        .map_err(|e| format!("invalid PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let raw = cert.tbs_certificate.raw_serial();
    let first = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    let validity = cert.validity();
    Ok(CertInfo {
        serial: hex::encode(&raw[first..]),
        serial_decimal: cert.serial.to_string(),
        not_before: rfc3339(validity.not_before.timestamp()),
        not_after: rfc3339(validity.not_after.timestamp()),
        not_after_unix: validity.not_after.timestamp(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
    })
}

fn rfc3339(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The PEM chain to import with a subordinate: the parent's certificate, then its chain.
pub fn chain_for_child(parent_cert: &str, parent_chain: Option<&str>) -> String {
    let mut out = parent_cert.trim_end().to_string();
    out.push('\n');
    if let Some(chain) = parent_chain.map(str::trim).filter(|c| !c.is_empty()) {
        out.push_str(chain);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed EC certificate (openssl), serial 0xc3d6..., whose DER form carries a
    // leading zero byte for the sign.
    const PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBfjCCASSgAwIBAgIJAMPWh4m5mPbqMAoGCCqGSM49BAMCMBoxGDAWBgNVBAMM
D3RydXN0cGxhbmUgdGVzdDAeFw0yNjExMjgxMzUxMzRaFw0zNjExMjgxMzUxMzRa
MBoxGDAWBgNVBAMMD3RydXN0cGxhbmUgdGVzdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABGZyc44sb/Rz/0dmkr1yd7PIiXX2HnikOuJ7JomM+4ISfdlGKVPytJV3
k1dcO/cOZ04nRbfPioGcPGyrt100XHGjUzBRMB0GA1UdDgQWBBRdT9x/P1DQzssU
tpJFYX8X726DWzAfBgNVHSMEGDAWgBRdT9x/P1DQzssUtpJFYX8X726DWzAPBgNV
HRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCmzIDNU8DD88BhL81i1JDv
NZfg3qJptFsgnFl+vRnNWQIgBxFYQJDqYVNja0mtLXd1R6U6VsDLQAvOCmIT2rEf
iWA=
-----END CERTIFICATE-----
";

    #[test]
    fn chain_joins_parent_and_its_chain() {
        assert_eq!(chain_for_child("A\n", None), "A\n");
        assert_eq!(chain_for_child("A\n", Some("B\nC\n")), "A\nB\nC\n");
        assert_eq!(chain_for_child("A", Some("  ")), "A\n");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(inspect("not a cert").is_err());
    }

    #[test]
    fn reads_serial_and_validity() {
        match inspect(PEM) {
            Ok(info) => {
                assert_eq!(info.serial, "c3d68789b998f6ea");
                assert_eq!(
                    info.serial_decimal,
                    u64::from_str_radix("c3d68789b998f6ea", 16)
                        .unwrap()
                        .to_string()
                );
                assert_eq!(info.not_before, "2026-11-28T13:51:34Z");
                assert_eq!(info.not_after, "2036-11-28T13:51:34Z");
                assert!(info.subject.contains("trustplane test"));
            }
            Err(e) => panic!("{e}"),
        }
    }
}
