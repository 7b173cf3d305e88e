//! The one definition of how trustplane reaches a cluster, shared by the `kubernetes` and
//! `helm` providers: a kubeconfig file and context, or an EKS cluster by name. `helm`
//! inherits `providers.kubernetes`'s connection unless it sets one of its own, so Helm
//! releases land in the cluster the Kubernetes objects go to.
//!
//! An EKS connection needs no kubeconfig and no `aws` CLI: the endpoint and CA come from
//! DescribeCluster, the bearer token is made in-process ([`crate::provider::aws::eks_token`])
//! and lasts 14 minutes, so a [`Resolved`] connection says when it must be resolved again.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use kube::config::Kubeconfig;

use crate::provider::aws::eks_token::{self, EksToken};
use crate::provider::aws::errors::CallError;
use crate::provider::aws::pacing::{PacerRegistry, Pacing};
use crate::provider::aws::Settings as AwsSettings;
use crate::provider::settings::SettingsMap;
use crate::provider::{Property, ProviderError, ProviderResult, Type};
use crate::value::{Map, Value};

/// The connection settings, as both providers declare them.
pub const KEYS: &[&str] = &["kubeconfig", "context", "eks_cluster", "region"];

/// Where the engine puts the evaluated `providers.aws` settings in a provider's settings
/// when the connection is an EKS cluster: the token is signed with the same identity,
/// region and endpoint as every other AWS call. Not a setting a stack can write.
pub const AWS_SETTINGS: &str = "aws";

/// The connection settings of `provider`, in [`KEYS`] order.
pub fn declared(provider: &str) -> Vec<Property> {
    let kubeconfig = if provider == "helm" {
        "Path of a kubeconfig file (~ expands). When helm sets none of kubeconfig, context \
         and eks_cluster, it uses the kubernetes provider's connection."
    } else {
        "Path of a kubeconfig file (~ expands); default: KUBECONFIG, then ~/.kube/config."
    };
    vec![
        Property::new("kubeconfig", Type::String).describe(kubeconfig),
        Property::new("context", Type::String)
            .describe("Kubeconfig context to use; default: the kubeconfig's current context."),
        Property::new("eks_cluster", Type::String).describe(
            "Name of an EKS cluster to connect to instead of a kubeconfig: endpoint and CA from \
             DescribeCluster, a token signed with the aws provider's identity.",
        ),
        Property::new("region", Type::String).describe(
            "Region of eks_cluster; default: providers.aws.region, then the AWS environment.",
        ),
    ]
}

/// `own` settings of a provider that shares the cluster connection, with
/// `providers.kubernetes`'s connection filled in when `own` names none (no kubeconfig,
/// context or eks_cluster); `aws` (the evaluated `providers.aws`) is added under
/// [`AWS_SETTINGS`] when the resulting connection is an EKS cluster.
pub fn with_inherited(own: Value, kubernetes: Option<&Value>, aws: Option<&Value>) -> Value {
    let names_one = |v: &Value| {
        ["kubeconfig", "context", "eks_cluster"]
            .iter()
            .any(|k| v.get(k).is_some_and(|x| !x.is_null()))
    };
    let mut map = match own {
        Value::Map(m) => m,
        Value::Null => Map::new(),
        other => return other, // the provider reports the wrong type
    };
    if !names_one(&Value::Map(map.clone())) {
        if let Some(Value::Map(k)) = kubernetes {
            for key in KEYS {
                if let Some(v) = k.get(*key).filter(|v| !v.is_null()) {
                    map.insert((*key).to_string(), v.clone());
                }
            }
        }
    }
    if map.get("eks_cluster").is_some_and(|v| !v.is_null()) {
        map.insert(
            AWS_SETTINGS.to_string(),
            aws.cloned().unwrap_or_else(Value::map),
        );
    }
    Value::Map(map)
}

/// Splits the engine-added [`AWS_SETTINGS`] off a provider's settings.
pub fn split_aws(settings: &Value) -> (Value, Option<Value>) {
    match settings {
        Value::Map(m) if m.contains_key(AWS_SETTINGS) => {
            let mut own = m.clone();
            let aws = own.remove(AWS_SETTINGS);
            (Value::Map(own), aws)
        }
        other => (other.clone(), None),
    }
}

/// How to reach the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connection {
    /// Path of a kubeconfig file, `~` expanded; default: `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<String>,
    /// Context to use; default: the kubeconfig's current context.
    pub context: Option<String>,
    /// An EKS cluster instead of a kubeconfig.
    pub eks: Option<Eks>,
}

/// An EKS cluster reached with the AWS identity of the `aws` provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Eks {
    pub cluster: String,
    /// `providers.aws`, with the connection's own `region` when it sets one.
    pub aws: AwsSettings,
}

impl Connection {
    /// The connection of checked settings; `aws` is what [`split_aws`] split off.
    pub fn from_settings(
        provider: &'static str,
        s: &SettingsMap<'_>,
        aws: Option<&Value>,
    ) -> ProviderResult<Connection> {
        let kubeconfig = s.string("kubeconfig")?.map(|p| expand_home(&p));
        let context = s.string("context")?;
        let region = s.string("region")?;
        let eks = match s.string("eks_cluster")? {
            None => {
                if region.is_some() {
                    return Err(ProviderError::new(format!(
                        "providers.{provider}.region is only used with eks_cluster"
                    ))
                    .with_field("region")
                    .with_help("set eks_cluster too, or remove region"));
                }
                None
            }
            Some(cluster) => {
                if kubeconfig.is_some() || context.is_some() {
                    return Err(ProviderError::new(format!(
                        "providers.{provider} sets eks_cluster and a kubeconfig or context: \
                         a connection is one or the other"
                    ))
                    .with_field("eks_cluster")
                    .with_help("remove kubeconfig and context to connect to the EKS cluster"));
                }
                let mut aws = AwsSettings::parse(aws.unwrap_or(&Value::Null))?;
                if region.is_some() {
                    aws.region = region;
                }
                Some(Eks { cluster, aws })
            }
        };
        Ok(Connection {
            kubeconfig,
            context,
            eks,
        })
    }

    /// What the connection points at, for messages: the EKS cluster, or the kubeconfig.
    pub fn describe(&self) -> String {
        match &self.eks {
            Some(e) => format!("EKS cluster {:?}", e.cluster),
            None => self
                .kubeconfig
                .clone()
                .unwrap_or_else(|| "the default kubeconfig (KUBECONFIG or ~/.kube/config)".into()),
        }
    }

    /// The kubeconfig file (or the default one) with its context, or for an EKS cluster a
    /// kubeconfig made from DescribeCluster and a fresh token.
    pub async fn resolve(&self) -> ProviderResult<Resolved> {
        match &self.eks {
            None => Ok(Resolved::File {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            }),
            Some(eks) => eks.resolve().await,
        }
    }
}

/// A connection ready to use.
pub enum Resolved {
    /// A kubeconfig on disk (`None`: the default one) and a context.
    File {
        kubeconfig: Option<String>,
        context: Option<String>,
    },
    /// An EKS cluster: a kubeconfig in memory (JSON, which is YAML) holding the
    /// endpoint, CA and a token that must be replaced from `expires_at`.
    Eks {
        cluster: String,
        endpoint: String,
        kubeconfig: String,
        /// The base64 PEM of the cluster's CA.
        ca: String,
        expires_at: SystemTime,
        /// New tokens for the same cluster and identity, for a client that outlives one.
        tokens: Arc<EksTokens>,
    },
}

/// Tokens for one EKS cluster, a new one signed whenever the last nears its expiry.
/// Signing is local (nothing is sent), so it can happen on every request.
pub struct EksTokens {
    credentials: Credentials,
    region: String,
    cluster: String,
    current: Mutex<EksToken>,
}

impl EksTokens {
    fn new(credentials: Credentials, region: String, cluster: String) -> ProviderResult<Self> {
        let first = sign(&credentials, &region, &cluster, SystemTime::now())?;
        Ok(EksTokens {
            credentials,
            region,
            cluster,
            current: Mutex::new(first),
        })
    }

    /// A token that can be sent now.
    pub fn token(&self) -> ProviderResult<EksToken> {
        self.token_at(SystemTime::now())
    }

    /// A token signed now, for a process that keeps it as long as it runs (helm): it gets
    /// the whole 15 minutes.
    pub fn new_token(&self) -> ProviderResult<EksToken> {
        let now = SystemTime::now();
        let token = sign(&self.credentials, &self.region, &self.cluster, now)?;
        *self.current.lock().expect("token lock") = token.clone();
        Ok(token)
    }

    fn token_at(&self, now: SystemTime) -> ProviderResult<EksToken> {
        let mut current = self.current.lock().expect("token lock");
        if !current.is_fresh_at(now) {
            *current = sign(&self.credentials, &self.region, &self.cluster, now)?;
        }
        Ok(current.clone())
    }
}

fn sign(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> ProviderResult<EksToken> {
    eks_token::eks_token(credentials, region, cluster, now)
        .map_err(|e| ProviderError::new(format!("EKS cluster {cluster:?}: {e}")))
}

impl std::fmt::Debug for Resolved {
    // The EKS kubeconfig holds a token: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::File {
                kubeconfig,
                context,
            } => f
                .debug_struct("File")
                .field("kubeconfig", kubeconfig)
                .field("context", context)
                .finish(),
            Resolved::Eks {
                cluster,
                endpoint,
                expires_at,
                ..
            } => f
                .debug_struct("Eks")
                .field("cluster", cluster)
                .field("endpoint", endpoint)
                .field("expires_at", expires_at)
                .finish_non_exhaustive(),
        }
    }
}

impl Resolved {
    /// Whether it can still be used at `now` (a file always can).
    pub fn is_fresh_at(&self, now: SystemTime) -> bool {
        match self {
            Resolved::File { .. } => true,
            Resolved::Eks { expires_at, .. } => now < *expires_at,
        }
    }
}

impl Eks {
    async fn resolve(&self) -> ProviderResult<Resolved> {
        let name = &self.cluster;
        let shared = self.aws.load(None).await?;
        let region = shared
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default();
        let eks = aws_sdk_eks::Client::new(&shared);
        // Under the process's budget for this account and region, as the aws provider.
        let sent = Pacing::new(PacerRegistry::global(), &shared)
            .acquire("eks:DescribeCluster", Some(&region))
            .await;
        let described = eks.describe_cluster().name(name).send().await;
        let cluster = match described {
            Ok(out) => out.cluster,
            Err(e) => {
                // Told apart as the aws provider tells its calls' failures.
                let e = CallError::from_sdk("eks:DescribeCluster", name, e);
                let err = if e.is_throttling() {
                    sent.throttled();
                    ProviderError::new(format!(
                        "AWS throttled eks:DescribeCluster on {name:?} in region {region}: {}",
                        e.message
                    ))
                    .throttled(e.retry_after)
                } else if e.is_not_found() {
                    ProviderError::new(format!("no EKS cluster named {name:?} in region {region}"))
                        .with_help("check providers.kubernetes.eks_cluster and the region")
                } else {
                    ProviderError::new(format!(
                        "cannot describe EKS cluster {name:?} in region {region}: {}",
                        e.message
                    ))
                    .with_help("the AWS identity needs eks:DescribeCluster on the cluster")
                    .retryable()
                };
                return Err(err.with_field("eks_cluster"));
            }
        }
        .ok_or_else(|| ProviderError::new("DescribeCluster returned no cluster"))?;
        let endpoint = cluster.endpoint().unwrap_or_default().to_string();
        let ca = cluster
            .certificate_authority()
            .and_then(|c| c.data())
            .unwrap_or_default()
            .to_string();
        if !endpoint.starts_with("https://") || ca.is_empty() {
            return Err(ProviderError::new(format!(
                "EKS cluster {name:?} has no API endpoint or CA yet (status {:?})",
                cluster.status().map(|s| s.as_str()).unwrap_or("unknown")
            ))
            .with_field("eks_cluster")
            .with_help("wait until the cluster is ACTIVE, then rerun"));
        }
        let provider = shared.credentials_provider().ok_or_else(|| {
            ProviderError::new("no AWS credentials to sign an EKS token with")
                .with_help("configure AWS credentials as for the aws provider")
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            ProviderError::new(format!(
                "cannot load AWS credentials for EKS cluster {name:?}: {e}"
            ))
        })?;
        let tokens = Arc::new(EksTokens::new(credentials, region, name.clone())?);
        let token = tokens.token()?;
        Ok(Resolved::Eks {
            cluster: name.clone(),
            kubeconfig: eks_kubeconfig(name, &endpoint, &ca, &token.token),
            ca,
            endpoint,
            expires_at: token.expires_at,
            tokens,
        })
    }
}

/// A kubeconfig of one cluster, user and context, all named `name`; `ca` is the base64
/// PEM DescribeCluster returns.
pub fn eks_kubeconfig(name: &str, endpoint: &str, ca: &str, token: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    })
    .to_string()
}

/// Parses a kubeconfig made by [`eks_kubeconfig`].
pub fn parse_kubeconfig(text: &str) -> ProviderResult<Kubeconfig> {
    Kubeconfig::from_yaml(text)
        .map_err(|e| ProviderError::new(format!("cannot read the EKS kubeconfig: {e}")))
}

/// `~` and `~/…` are the home directory, as a shell would expand them.
pub fn expand_home(path: &str) -> String {
    let home = || std::env::var("HOME").ok().filter(|h| !h.is_empty());
    match path.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| path.to_string()),
        Some(rest) if rest.starts_with('/') => match home() {
            Some(h) => format!("{}{rest}", h.trim_end_matches('/')),
            None => path.to_string(),
        },
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from_json(j)
    }

    #[test]
    fn helm_inherits_the_whole_connection_only_when_it_names_none() {
        let k = v(serde_json::json!({"kubeconfig": "/k", "context": "prod", "timeout": "5s"}));
        let got = with_inherited(v(serde_json::json!({"binary": "/h"})), Some(&k), None);
        assert_eq!(
            got,
            v(serde_json::json!({"binary": "/h", "kubeconfig": "/k", "context": "prod"}))
        );
        // Its own context: nothing of the kubernetes connection is mixed in.
        let got = with_inherited(v(serde_json::json!({"context": "dev"})), Some(&k), None);
        assert_eq!(got, v(serde_json::json!({"context": "dev"})));
        assert_eq!(with_inherited(Value::Null, None, None), Value::map());
    }

    #[test]
    fn an_eks_connection_carries_the_aws_settings() {
        let k = v(serde_json::json!({"eks_cluster": "prod"}));
        let aws = v(serde_json::json!({"region": "eu-west-1"}));
        let got = with_inherited(Value::Null, Some(&k), Some(&aws));
        assert_eq!(
            got,
            v(serde_json::json!({"eks_cluster": "prod", "aws": {"region": "eu-west-1"}}))
        );
        let (own, split) = split_aws(&got);
        assert_eq!(own, v(serde_json::json!({"eks_cluster": "prod"})));
        assert_eq!(split, Some(aws));
    }

    #[test]
    fn own_region_overrides_the_aws_one_and_needs_eks_cluster() {
        let props = declared("kubernetes");
        let aws = v(serde_json::json!({"region": "eu-west-1", "endpoint": "http://127.0.0.1:1"}));
        let s = v(serde_json::json!({"eks_cluster": "prod", "region": "us-east-2"}));
        let m = SettingsMap::check("kubernetes", &props, &s).unwrap();
        let c = Connection::from_settings("kubernetes", &m, Some(&aws)).unwrap();
        let eks = c.eks.unwrap();
        assert_eq!(eks.cluster, "prod");
        assert_eq!(eks.aws.region.as_deref(), Some("us-east-2"));
        assert_eq!(eks.aws.endpoint.as_deref(), Some("http://127.0.0.1:1"));

        let s = v(serde_json::json!({"region": "us-east-2"}));
        let m = SettingsMap::check("kubernetes", &props, &s).unwrap();
        let e = Connection::from_settings("kubernetes", &m, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("region"));

        let s = v(serde_json::json!({"eks_cluster": "prod", "context": "x"}));
        let m = SettingsMap::check("kubernetes", &props, &s).unwrap();
        let e = Connection::from_settings("kubernetes", &m, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("eks_cluster"));
    }

    #[test]
    fn a_token_is_signed_again_once_it_expires() {
        let creds = Credentials::new("AKID", "SECRET", None, None, "test");
        let tokens = EksTokens::new(creds, "eu-west-1".into(), "prod".into()).unwrap();
        let first = tokens.token().unwrap();
        assert_eq!(tokens.token().unwrap(), first, "reused while fresh");
        let later = first.expires_at + std::time::Duration::from_secs(1);
        let next = tokens.token_at(later).unwrap();
        assert_ne!(next.token, first.token);
        assert!(next.is_fresh_at(later));
    }

    #[test]
    fn tilde_expands_to_home() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(expand_home("~/.kube/c"), format!("{home}/.kube/c"));
        assert_eq!(expand_home("~"), home);
        assert_eq!(expand_home("/abs/~/x"), "/abs/~/x");
        assert_eq!(expand_home("~other/x"), "~other/x");
    }

    #[test]
    fn the_eks_kubeconfig_is_one_context_with_the_token() {
        let text = eks_kubeconfig("prod", "https://127.0.0.1:6443", "Q0E=", "k8s-aws-v1.abc");
        let kc = parse_kubeconfig(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("prod"));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        assert!(kc.auth_infos[0].auth_info.as_ref().unwrap().token.is_some());
    }
}
