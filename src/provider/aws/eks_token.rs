//! EKS bearer tokens made in-process, as `aws eks get-token` makes them: a presigned STS
//! `GetCallerIdentity` URL whose signature covers the `x-k8s-aws-id: CLUSTER` header,
//! base64url-encoded without padding behind `k8s-aws-v1.`. The cluster's authenticator
//! hands the URL to STS, which answers with the caller's identity; nothing is sent to AWS
//! here.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header naming the cluster; signing it binds the token to that cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// What `aws eks get-token` and aws-iam-authenticator send. STS ignores it: a presigned
/// GetCallerIdentity is honoured for 15 minutes after its X-Amz-Date.
const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
/// One minute short of the 15 STS allows, so a caller refreshes before a request can meet
/// an expired token (aws-iam-authenticator's margin too).
const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// A bearer token and the time from which it must be replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct EksToken {
    pub token: String,
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for EksToken {
    // A token is a credential for the cluster: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl EksToken {
    /// Whether the token can still be sent at `now`.
    pub fn is_fresh_at(&self, now: SystemTime) -> bool {
        now < self.expires_at
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EksTokenError {
    #[error("AWS region {0:?} is not a region name (expected e.g. eu-west-1)")]
    BadRegion(String),
    #[error("EKS cluster name {0:?} is empty or has characters a cluster name cannot have")]
    BadClusterName(String),
    #[error("signing the STS GetCallerIdentity request failed: {0}")]
    Signing(String),
}

/// The STS endpoint `aws eks get-token` presigns for `region`.
pub fn sts_host(region: &str) -> String {
    format!("sts.{region}.amazonaws.com")
}

/// A token for `cluster_name` in `region`, signed with `credentials` at `now`.
pub fn eks_token(
    credentials: &Credentials,
    region: &str,
    cluster_name: &str,
    now: SystemTime,
) -> Result<EksToken, EksTokenError> {
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(EksTokenError::BadRegion(region.to_string()));
    }
    // EKS names: 1-100 of letters, digits, '-' and '_'; anything else cannot name a cluster
    // and would only make a token every cluster refuses.
    let name_ok = (1..=100).contains(&cluster_name.len())
        && cluster_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(EksTokenError::BadClusterName(cluster_name.to_string()));
    }
    let url = presigned_url(credentials, region, cluster_name, now)?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    );
    Ok(EksToken {
        token,
        expires_at: now + TOKEN_LIFETIME,
    })
}

fn presigned_url(
    credentials: &Credentials,
    region: &str,
    cluster_name: &str,
    now: SystemTime,
) -> Result<String, EksTokenError> {
    let signing = |e: &dyn std::fmt::Display| EksTokenError::Signing(e.to_string());
    let base = format!(
        "https://{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts_host(region)
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| signing(&e))?
        .into();
    let request = SignableRequest::new(
        "GET",
        base.as_str(),
        [(CLUSTER_ID_HEADER, cluster_name)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| signing(&e))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| signing(&e))?
        .into_parts();
    let (_headers, query) = instructions.into_parts();
    let mut url = base;
    for (name, value) in query {
        url.push('&');
        url.push_str(&uri_encode(name));
        url.push('=');
        url.push_str(&uri_encode(&value));
    }
    Ok(url)
}

/// SigV4's query encoding: everything but unreserved characters, as upper-case `%XX`.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        )
    }

    /// 2026-11-29T23:28:40Z.
    fn signed_at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_994_920)
    }

    fn decode(token: &str) -> (String, BTreeMap<String, String>) {
        let b64 = token.strip_prefix(TOKEN_PREFIX).expect("prefix");
        assert!(!b64.contains('='), "padded: {b64}");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        let (base, query) = url.split_once('?').unwrap();
        let params = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), pct_decode(v))
            })
            .collect();
        (base.to_string(), params)
    }

    fn pct_decode(s: &str) -> String {
        let mut out = vec![];
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn token_is_a_presigned_get_caller_identity_for_the_cluster() {
        let t = eks_token(&credentials(), "eu-west-1", "prod", signed_at()).unwrap();
        let (base, q) = decode(&t.token);
        assert_eq!(base, "https://sts.eu-west-1.amazonaws.com/");
        assert_eq!(q["Action"], "GetCallerIdentity");
        assert_eq!(q["Version"], "2011-06-15");
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            q["X-Amz-Credential"],
            "AKIDEXAMPLE/20261129/eu-west-1/sts/aws4_request"
        );
        assert_eq!(q["X-Amz-Date"], "20261129T232840Z");
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert_eq!(q["X-Amz-Signature"].len(), 64);
        assert!(!q.contains_key("X-Amz-Security-Token"));
    }

    #[test]
    fn same_token_as_the_aws_cli_makes() {
        // `aws eks get-token --cluster-name prod --region eu-west-1` (aws-cli 1.45,
        // botocore 1.43) with key AKIDEXAMPLE / `secret`, at 2026-11-29T23:28:40Z.
        let aws_cli = "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMjYxMTI5JTJGZXUtd2VzdC0xJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNjExMjlUMjMyODQwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9YTYxMjYwZDhhYjE1NGJhNWFiMDBjZmUyMzg4ZmZiOGIxNzhjMmVkYjZkYzU0NDZkNWFkZDMyZjYwMzcwMjgyNg";
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let ours = eks_token(&creds, "eu-west-1", "prod", signed_at()).unwrap();
        assert_eq!(decode(&ours.token), decode(aws_cli));
        assert_eq!(ours.token, aws_cli);
    }

    #[test]
    fn token_expires_fourteen_minutes_after_signing() {
        let t = eks_token(&credentials(), "eu-west-1", "prod", signed_at()).unwrap();
        assert_eq!(t.expires_at, signed_at() + Duration::from_secs(840));
        assert!(t.is_fresh_at(signed_at() + Duration::from_secs(839)));
        assert!(!t.is_fresh_at(signed_at() + Duration::from_secs(840)));
        assert!(!format!("{t:?}").contains(TOKEN_PREFIX));
    }

    #[test]
    fn signature_binds_cluster_and_time_and_session_token_is_signed() {
        let sig = |cluster: &str, at: SystemTime| {
            let t = eks_token(&credentials(), "eu-west-1", cluster, at).unwrap();
            decode(&t.token).1["X-Amz-Signature"].clone()
        };
        assert_eq!(sig("prod", signed_at()), sig("prod", signed_at()));
        assert_ne!(sig("prod", signed_at()), sig("staging", signed_at()));
        assert_ne!(
            sig("prod", signed_at()),
            sig("prod", signed_at() + Duration::from_secs(1))
        );
        let session = Credentials::new("ASIAEXAMPLE", "secret", Some("tok/en+=".into()), None, "t");
        let t = eks_token(&session, "eu-west-1", "prod", signed_at()).unwrap();
        assert_eq!(decode(&t.token).1["X-Amz-Security-Token"], "tok/en+=");
    }

    #[test]
    fn refuses_what_cannot_name_a_region_or_cluster() {
        assert_eq!(
            eks_token(&credentials(), "EU West", "prod", signed_at()),
            Err(EksTokenError::BadRegion("EU West".into()))
        );
        for bad in ["", "a/b", "prod cluster"] {
            assert_eq!(
                eks_token(&credentials(), "eu-west-1", bad, signed_at()),
                Err(EksTokenError::BadClusterName(bad.into()))
            );
        }
    }
}
