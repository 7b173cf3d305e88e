//! State in an S3 bucket, for teams and pipelines that share one state, one lock and one
//! history.
//!
//! Layout under the state's prefix (one prefix per stack and workspace):
//! - `state.json`: the whole current state (identity, serial, resources, outputs), replaced
//!   by compare-and-swap on every write ([`objects`]);
//! - `history/<serial>.json`: one immutable snapshot per recorded serial ([`history`]);
//! - `lock.json`: the lease lock, created with `If-None-Match: *` ([`lease`]).
//!
//! The SDK is async and the store traits are not: every call runs on a runtime of this
//! module's own ([`S3Client::block`]), so a store can be used from any thread, inside an
//! async task or not.

pub mod history;
pub mod lease;
pub mod objects;

use std::future::Future;
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::provider::aws::ca_bundle;
use crate::provider::aws::shared::own_http_client;

pub use objects::S3State;

/// Where a state lives in S3, and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// The state's own prefix, without a trailing `/` (may be empty: the bucket's root).
    pub prefix: String,
    /// Default: the standard AWS chain (AWS_REGION, the profile).
    pub region: Option<String>,
    /// Server-side encryption with this KMS key, for every object written.
    pub kms_key_id: Option<String>,
    /// A named profile of the shared AWS config for the state only.
    pub profile: Option<String>,
    /// A role to assume for the state only (with the chain's credentials).
    pub role_arn: Option<String>,
    /// Another S3 endpoint (a proxy, an S3-compatible store); default: AWS_ENDPOINT_URL,
    /// then the region's.
    pub endpoint: Option<String>,
}

impl S3Location {
    /// Parses `s3://BUCKET/PREFIX` (`--state`). `None` when `text` is not an `s3://` URL.
    pub fn parse_url(text: &str) -> Option<Result<S3Location, String>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket_name(bucket) {
            return Some(Err(format!(
                "{text:?} does not name a valid S3 bucket: expected s3://BUCKET/PREFIX, where \
                 BUCKET is 3-63 lowercase letters, digits, dots and hyphens"
            )));
        }
        Some(Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            ..S3Location::default()
        }))
    }

    /// This location with `segment` appended to the prefix (a stack's workspace).
    pub fn join(&self, segment: &str) -> S3Location {
        let prefix = if self.prefix.is_empty() {
            segment.to_string()
        } else {
            format!("{}/{segment}", self.prefix)
        };
        S3Location {
            prefix,
            ..self.clone()
        }
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// `s3://BUCKET/PREFIX`, for messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// The runtime every S3 call runs on. Never dropped: dropping a runtime inside an async
/// context panics, and stores are dropped wherever their last user is.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("state-s3")
            .enable_all()
            .build()
            .expect("the S3 state runtime starts")
    })
}

/// What a conditional or plain S3 request ended in.
#[derive(Debug)]
pub enum S3Failure {
    /// 412: the object is not what the condition named (someone else wrote first).
    PreconditionFailed,
    /// 404 / NoSuchKey: the object does not exist.
    NotFound,
    /// 409 ConditionalRequestConflict: a concurrent conditional write is in flight.
    Conflict,
    Other(String),
}

impl std::fmt::Display for S3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Failure::PreconditionFailed => write!(f, "precondition failed (412)"),
            S3Failure::NotFound => write!(f, "not found (404)"),
            S3Failure::Conflict => write!(f, "conflicting conditional request (409)"),
            S3Failure::Other(m) => f.write_str(m),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(e: SdkError<E>) -> S3Failure {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_string);
    match (status, code.as_deref()) {
        (Some(412), _) | (_, Some("PreconditionFailed")) => S3Failure::PreconditionFailed,
        (Some(404), _) | (_, Some("NoSuchKey")) => S3Failure::NotFound,
        (Some(409), _) | (_, Some("ConditionalRequestConflict")) => S3Failure::Conflict,
        _ => S3Failure::Other(match (code, e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            _ => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        }),
    }
}

/// One object as read: its bytes and its ETag (what a compare-and-swap names).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// How a put is conditioned.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// `If-None-Match: *`: only if no object exists.
    Absent,
    /// `If-Match: ETAG`: only if the object is still this version.
    Matches(&'a str),
}

/// An S3 client bound to one state location.
#[derive(Clone, Debug)]
pub struct S3Client {
    client: aws_sdk_s3::Client,
    /// What the client signs with, as resolved from the chain (and the role).
    #[cfg(test)]
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    pub location: S3Location,
}

impl S3Client {
    /// Builds a client from the standard AWS chain (environment, profile, SSO, instance
    /// role; AWS_ENDPOINT_URL too), narrowed by the location's region, profile and role.
    pub fn connect(location: &S3Location) -> Result<S3Client, String> {
        S3Client::connect_with(location, None)
    }

    /// [`S3Client::connect`] with these credentials instead of the chain's.
    pub fn connect_with(
        location: &S3Location,
        credentials: Option<aws_credential_types::Credentials>,
    ) -> Result<S3Client, String> {
        let location = location.clone();
        block(async move {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            // AWS_CA_BUNDLE or the profile's ca_bundle, as for the AWS provider.
            let ca = ca_bundle::selected(location.profile.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if let Some(client) = own_http_client(ca.as_ref())? {
                loader = loader.http_client(client);
            }
            if let Some(c) = credentials {
                loader = loader.credentials_provider(c);
            }
            if let Some(endpoint) = &location.endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            if let Some(region) = &location.region {
                loader = loader.region(Region::new(region.clone()));
            }
            if let Some(profile) = &location.profile {
                loader = loader.profile_name(profile);
            }
            let mut shared = loader.load().await;
            if shared.region().is_none() {
                return Err(format!(
                    "no AWS region for the state at {}: set `region` under `state.s3` in the \
                     stack, or AWS_REGION",
                    location.url()
                ));
            }
            if let Some(role) = &location.role_arn {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name("trustplane-state")
                    .configure(&shared)
                    .build()
                    .await;
                shared = shared
                    .into_builder()
                    .credentials_provider(
                        aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                    )
                    .build();
            }
            // An endpoint override (a local S3, a proxy) is addressed by path: bucket
            // names as host names resolve only at AWS.
            let path_style = shared.endpoint_url().is_some();
            let config = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .build();
            Ok(S3Client {
                client: aws_sdk_s3::Client::from_conf(config),
                #[cfg(test)]
                credentials: shared.credentials_provider(),
                location,
            })
        })
    }

    /// Reads `name`; `Ok(None)` only on a definite 404.
    pub fn get(&self, name: &str) -> Result<Option<Fetched>, S3Failure> {
        let request = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.location.key(name));
        block(async move {
            let out = match request.send().await.map_err(classify) {
                Ok(out) => out,
                Err(S3Failure::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| S3Failure::Other(format!("reading the object body: {e}")))?;
            Ok(Some(Fetched {
                bytes: bytes.into_bytes().to_vec(),
                etag,
            }))
        })
    }

    /// Writes `name` if `condition` holds; returns the new ETag.
    pub fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        condition: Condition<'_>,
    ) -> Result<String, S3Failure> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.location.key(name))
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        if let Some(key) = &self.location.kms_key_id {
            request = request
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(key);
        }
        block(async move {
            let out = request.send().await.map_err(classify)?;
            Ok(out.e_tag().unwrap_or_default().to_string())
        })
    }

    /// Deletes `name`, only while it is still version `etag` when one is given.
    pub fn delete(&self, name: &str, etag: Option<&str>) -> Result<(), S3Failure> {
        let mut request = self
            .client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.location.key(name));
        if let Some(etag) = etag {
            request = request.if_match(etag);
        }
        block(async move { request.send().await.map(|_| ()).map_err(classify) })
    }

    /// The names (relative to the prefix) of every object under `dir/`.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, S3Failure> {
        let client = self.client.clone();
        let bucket = self.location.bucket.clone();
        let full = self.location.key(&format!("{dir}/"));
        let strip = self.location.key("");
        block(async move {
            let mut names = Vec::new();
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(full)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(classify)?;
                for object in page.contents() {
                    if let Some(key) = object.key() {
                        names.push(key.strip_prefix(&strip).unwrap_or(key).to_string());
                    }
                }
            }
            Ok(names)
        })
    }

    /// The access key the client signs with (which credentials the chain resolved to).
    #[cfg(test)]
    pub fn access_key(&self) -> String {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = self.credentials.clone().expect("a credentials provider");
        block(async move {
            provider
                .provide_credentials()
                .await
                .expect("credentials")
                .access_key_id()
                .to_string()
        })
    }

    /// The object's `ServerSideEncryption` as S3 reports it (for tests and `state check`).
    pub fn encryption_of(&self, name: &str) -> Result<Option<String>, S3Failure> {
        let request = self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(self.location.key(name));
        block(async move {
            let out = request.send().await.map_err(classify)?;
            Ok(out.server_side_encryption().map(|s| s.as_str().to_string()))
        })
    }
}

/// Runs `future` on the S3 runtime and waits for it from this (any) thread.
fn block<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().expect("the S3 state runtime answers")
}

#[cfg(test)]
pub(crate) mod testing {
    //! One moto server for the unit tests of this process, a fresh bucket per test.

    use super::*;

    fn moto() -> &'static stand_ins::Moto {
        static MOTO: OnceLock<stand_ins::Moto> = OnceLock::new();
        MOTO.get_or_init(stand_ins::Moto::start)
    }

    /// A new bucket `name` in moto, and a state location in it.
    pub fn bucket(name: &str) -> S3Location {
        let moto = moto();
        moto.boto3(&format!(
            "boto3.client('s3', endpoint_url=endpoint, region_name=region).create_bucket(Bucket={name:?})"
        ));
        S3Location {
            bucket: name.to_string(),
            prefix: "stacks/mesh/default".to_string(),
            region: Some("us-east-1".to_string()),
            endpoint: Some(moto.url.clone()),
            ..S3Location::default()
        }
    }

    /// A client of moto, with moto's test credentials.
    pub fn client(location: &S3Location) -> S3Client {
        let credentials =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "moto");
        S3Client::connect_with(location, Some(credentials)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_urls_name_a_bucket_and_a_prefix() {
        let l = S3Location::parse_url("s3://team-state/mesh/prod/")
            .unwrap()
            .unwrap();
        assert_eq!(l.bucket, "team-state");
        assert_eq!(l.prefix, "mesh/prod");
        assert_eq!(l.key("state.json"), "mesh/prod/state.json");
        assert_eq!(l.url(), "s3://team-state/mesh/prod");
        let root = S3Location::parse_url("s3://team-state").unwrap().unwrap();
        assert_eq!(root.key("lock.json"), "lock.json");
        assert_eq!(root.join("default").key("x"), "default/x");
        assert!(S3Location::parse_url("state/mesh").is_none());
        let bad = S3Location::parse_url("s3://Bad_Bucket/x")
            .unwrap()
            .unwrap_err();
        assert!(bad.contains("s3://BUCKET/PREFIX"), "{bad}");
    }
}
