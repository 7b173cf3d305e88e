//! EKS-style bearer tokens: `k8s-aws-v1.` + base64url (no padding) of a presigned STS
//! `GetCallerIdentity` URL whose signature covers the `x-k8s-aws-id: CLUSTER` header.
//!
//! A real EKS API server hands the URL to aws-iam-authenticator, which checks its shape
//! and then calls STS, and STS checks the signature. The emulator cannot call STS: it
//! makes the same shape checks and, given the secret of the one access key it trusts,
//! recomputes the SigV4 query signature itself, so a token for another cluster name or
//! signed with another secret is refused as STS would refuse it.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use ring::{digest, hmac};
use std::collections::BTreeMap;

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// aws-iam-authenticator refuses longer tokens.
const MAX_TOKEN_LEN: usize = 4096;
/// STS honours a presigned GetCallerIdentity URL for 15 minutes after X-Amz-Date,
/// whatever X-Amz-Expires says.
const VALIDITY_SECS: i64 = 15 * 60;
/// The query parameters aws-iam-authenticator lets through.
const KNOWN_PARAMS: [&str; 9] = [
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

/// The one AWS key pair whose signatures the emulator can check.
#[derive(Clone, Debug)]
pub struct SigningKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Require EKS bearer tokens for `cluster_name`.
#[derive(Clone, Debug)]
pub struct EksAuth {
    pub cluster_name: String,
    /// Without it only the shape is checked (the cluster name is only in the signature).
    pub signing_key: Option<SigningKey>,
}

impl EksAuth {
    /// Ok when `token` is one STS would accept for this cluster at `now`; otherwise why not.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<(), String> {
        if token.len() > MAX_TOKEN_LEN {
            return Err("token is too large".into());
        }
        let encoded = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or_else(|| format!("token is missing expected {TOKEN_PREFIX:?} prefix"))?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|e| format!("token is not unpadded base64url: {e}"))?;
        let url = String::from_utf8(raw).map_err(|_| "token URL is not UTF-8".to_string())?;
        let rest = url
            .strip_prefix("https://")
            .ok_or("pre-signed URL is not https")?;
        let (host, path_query) = rest.split_at(rest.find('/').ok_or("pre-signed URL has no path")?);
        let host_region = sts_region(host)?;
        let query = path_query
            .strip_prefix("/?")
            .ok_or("unexpected path in pre-signed URL")?;
        let params = parse_query(query)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        expect(get("Action"), "GetCallerIdentity", "Action")?;
        expect(get("Version"), "2011-06-15", "Version")?;
        expect(
            get("X-Amz-Algorithm"),
            "AWS4-HMAC-SHA256",
            "X-Amz-Algorithm",
        )?;
        let signed_headers: Vec<&str> = get("X-Amz-SignedHeaders").split(';').collect();
        for h in ["host", CLUSTER_ID_HEADER] {
            if !signed_headers.contains(&h) {
                return Err(format!(
                    "the {h} header is not signed (X-Amz-SignedHeaders)"
                ));
            }
        }
        let expires: i64 = get("X-Amz-Expires")
            .parse()
            .map_err(|_| format!("invalid X-Amz-Expires {:?}", get("X-Amz-Expires")))?;
        if !(0..=900).contains(&expires) {
            return Err(format!("X-Amz-Expires {expires} is not within 0..=900"));
        }
        let amz_date = get("X-Amz-Date");
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| format!("invalid X-Amz-Date {amz_date:?}"))?
            .and_utc();
        if (now - signed_at).num_seconds() > VALIDITY_SECS {
            return Err(format!(
                "X-Amz-Date {amz_date} is expired (15 minute expiration)"
            ));
        }
        let credential = get("X-Amz-Credential");
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, "sts", "aws4_request"] = scope[..] else {
            return Err(format!("invalid X-Amz-Credential {credential:?}"));
        };
        if date != &amz_date[..8] {
            return Err("X-Amz-Credential date is not X-Amz-Date's".into());
        }
        if region != host_region {
            return Err(format!(
                "credential scope region {region} does not match host {host}"
            ));
        }
        let signature = get("X-Amz-Signature");
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("X-Amz-Signature is not a SHA-256 HMAC in hex".into());
        }
        let Some(key) = &self.signing_key else {
            return Ok(());
        };
        if access_key != key.access_key_id {
            return Err(format!("unknown access key {access_key}"));
        }
        let mut canonical_headers = String::new();
        for h in &signed_headers {
            let value = match *h {
                "host" => host,
                CLUSTER_ID_HEADER => self.cluster_name.as_str(),
                other => return Err(format!("signed header {other:?} is not one STS receives")),
            };
            canonical_headers.push_str(&format!("{h}:{value}\n"));
        }
        let mut canonical_query: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        canonical_query.sort();
        let canonical_query: Vec<String> = canonical_query
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let canonical_request = format!(
            "GET\n/\n{}\n{canonical_headers}\n{}\n{}",
            canonical_query.join("&"),
            signed_headers.join(";"),
            hex(digest::digest(&digest::SHA256, b"").as_ref()),
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/sts/aws4_request\n{}",
            hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
        );
        let mut k = format!("AWS4{}", key.secret_access_key).into_bytes();
        for part in [date, region, "sts", "aws4_request", &string_to_sign] {
            k = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), part.as_bytes())
                .as_ref()
                .to_vec();
        }
        if hex(&k) != signature.to_ascii_lowercase() {
            return Err(format!(
                "signature does not match (STS: SignatureDoesNotMatch) for cluster {:?}",
                self.cluster_name
            ));
        }
        Ok(())
    }
}

fn expect(got: &str, want: &str, name: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{name} is {got:?}, expected {want:?}"))
    }
}

/// The region an STS host serves: `sts.REGION.amazonaws.com`, or the global
/// `sts.amazonaws.com` (signed for us-east-1).
fn sts_region(host: &str) -> Result<&str, String> {
    if host == "sts.amazonaws.com" {
        return Ok("us-east-1");
    }
    host.strip_prefix("sts.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .filter(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .ok_or_else(|| format!("unexpected hostname {host:?} in pre-signed URL"))
}

fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut seen = BTreeMap::new();
    let mut out = vec![];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (pct_decode(k)?, pct_decode(v)?);
        let lower = k.to_ascii_lowercase();
        if !KNOWN_PARAMS.contains(&lower.as_str()) {
            return Err(format!("non-whitelisted query parameter {k:?}"));
        }
        if seen.insert(lower, ()).is_some() {
            return Err(format!("duplicate query parameter {k:?}"));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn pct_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("malformed query parameter")?;
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "malformed query parameter".into())
}

/// SigV4's URI encoding: everything but unreserved characters, upper-case hex.
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `aws eks get-token --cluster-name prod --region eu-west-1` (aws-cli 1.45,
    /// botocore 1.43) with access key AKIDEXAMPLE and secret `secret`.
    const AWS_CLI_TOKEN: &str = "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMjYxMTI5JTJGZXUtd2VzdC0xJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNjExMjlUMjMyODQwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9YTYxMjYwZDhhYjE1NGJhNWFiMDBjZmUyMzg4ZmZiOGIxNzhjMmVkYjZkYzU0NDZkNWFkZDMyZjYwMzcwMjgyNg";

    fn signed_at() -> DateTime<Utc> {
        "2026-11-29T23:28:40Z".parse().unwrap()
    }

    fn auth_for(cluster: &str, secret: &str) -> EksAuth {
        EksAuth {
            cluster_name: cluster.into(),
            signing_key: Some(SigningKey {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: secret.into(),
            }),
        }
    }

    fn auth() -> EksAuth {
        auth_for("prod", "secret")
    }

    #[test]
    fn accepts_the_aws_cli_token_for_fifteen_minutes() {
        let a = auth();
        a.verify(AWS_CLI_TOKEN, signed_at()).unwrap();
        a.verify(AWS_CLI_TOKEN, signed_at() + chrono::Duration::seconds(900))
            .unwrap();
        let late = a
            .verify(AWS_CLI_TOKEN, signed_at() + chrono::Duration::seconds(901))
            .unwrap_err();
        assert!(late.contains("expired"), "{late}");
        // Without the key only the shape is checked: any cluster name passes.
        let shape_only = EksAuth {
            cluster_name: "other".into(),
            signing_key: None,
        };
        shape_only.verify(AWS_CLI_TOKEN, signed_at()).unwrap();
    }

    #[test]
    fn refuses_another_cluster_secret_or_key() {
        let e = auth_for("other", "secret")
            .verify(AWS_CLI_TOKEN, signed_at())
            .unwrap_err();
        assert!(e.contains("signature does not match"), "{e}");
        let e = auth_for("prod", "not-the-secret")
            .verify(AWS_CLI_TOKEN, signed_at())
            .unwrap_err();
        assert!(e.contains("signature does not match"), "{e}");
        let mut a = auth();
        a.signing_key.as_mut().unwrap().access_key_id = "AKIDOTHER".into();
        let e = a.verify(AWS_CLI_TOKEN, signed_at()).unwrap_err();
        assert!(e.contains("unknown access key"), "{e}");
    }

    #[test]
    fn refuses_a_token_whose_parameters_were_changed() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let url =
            String::from_utf8(b64.decode(&AWS_CLI_TOKEN[TOKEN_PREFIX.len()..]).unwrap()).unwrap();
        let e = auth()
            .verify(
                &token(&url.replace("X-Amz-Expires=60", "X-Amz-Expires=900")),
                signed_at(),
            )
            .unwrap_err();
        assert!(e.contains("signature does not match"), "{e}");
        let e = auth()
            .verify(
                &token(&url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")),
                signed_at(),
            )
            .unwrap_err();
        assert!(e.contains("X-Amz-Expires"), "{e}");
        let e = auth()
            .verify(
                &token(&url.replace("host%3Bx-k8s-aws-id", "host")),
                signed_at(),
            )
            .unwrap_err();
        assert!(e.contains("x-k8s-aws-id header is not signed"), "{e}");
        let e = auth()
            .verify(
                &token(&url.replace("sts.eu-west-1.", "sts.us-west-2.")),
                signed_at(),
            )
            .unwrap_err();
        assert!(e.contains("does not match host"), "{e}");
    }

    fn token(url: &str) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    }

    #[test]
    fn shape_errors_say_what_is_wrong() {
        let now = Utc::now();
        let a = auth();
        assert!(a.verify("Bearer-ish", now).unwrap_err().contains("prefix"));
        assert!(a
            .verify(
                &token("http://sts.amazonaws.com/?Action=GetCallerIdentity"),
                now
            )
            .unwrap_err()
            .contains("https"));
        assert!(a
            .verify(
                &token("https://evil.example.com/?Action=GetCallerIdentity"),
                now
            )
            .unwrap_err()
            .contains("hostname"));
        assert!(a
            .verify(&token("https://sts.amazonaws.com/?Action=AssumeRole"), now)
            .unwrap_err()
            .contains("Action"));
        assert!(a
            .verify(
                &token("https://sts.amazonaws.com/?Action=GetCallerIdentity&Extra=1"),
                now
            )
            .unwrap_err()
            .contains("non-whitelisted"));
        let padded = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE.encode("https://sts.amazonaws.com/?a")
        );
        assert!(a.verify(&padded, now).unwrap_err().contains("base64url"));
    }

    #[test]
    fn uri_encoding_is_sigv4s() {
        assert_eq!(
            uri_encode("AKID/20260101/us-east-1/sts/aws4_request"),
            "AKID%2F20260101%2Fus-east-1%2Fsts%2Faws4_request"
        );
        assert_eq!(uri_encode("host;x-k8s-aws-id"), "host%3Bx-k8s-aws-id");
        assert_eq!(uri_encode("a b~"), "a%20b~");
    }
}
