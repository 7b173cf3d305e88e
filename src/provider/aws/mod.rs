//! The `aws` provider: AWS Private CA certificate authorities, the IAM policies, roles and
//! OIDC providers and EKS Pod Identity associations that let cert-manager's
//! aws-privateca-issuer use them from EKS, and an EKS cluster lookup.
//!
//! Settings (`providers.aws` in a stack): `region`, `profile`, `endpoint` (one URL for every
//! service, e.g. a local emulator), `tags` (applied to everything taggable), and `timeout`
//! and `max_attempts` (see docs/providers.md). Anything
//! not set comes from the standard AWS environment (AWS_REGION, AWS_PROFILE,
//! AWS_ENDPOINT_URL, the credential chain).

pub(crate) mod ca_bundle;
pub mod certs;
mod credentials;
pub mod eks;
pub mod eks_pod_identity;
pub mod eks_token;
pub mod errors;
pub mod iam_oidc;
pub mod iam_policy;
pub mod iam_role;
pub mod ownership;
pub mod pacing;
pub mod pca;
pub mod policy_document;
pub mod settings;
pub mod shared;
pub mod tags;
pub mod templates;
pub mod wait;

use std::future::Future;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::diag::Diagnostic;
use crate::provider::{
    default_diff, DiffResult, Property, ProviderError, ProviderResult, ResourceSchema,
    ResourceType, Snapshot, TypedProvider,
};
use crate::retry::THROTTLED_ATTEMPTS;
use crate::value::Value;
use errors::CallError;
use pacing::{PacerRegistry, Pacing, Sent};
pub use settings::Settings;

pub const PCA_CA: &str = "aws.pca.certificate_authority";
pub const IAM_POLICY: &str = "aws.iam.policy";
pub const IAM_ROLE: &str = "aws.iam.role";
pub const IAM_OIDC: &str = "aws.iam.oidc_provider";
pub const EKS_CLUSTER: &str = "aws.eks.cluster";
pub const EKS_POD_IDENTITY: &str = "aws.eks.pod_identity_association";

/// SDK clients built from the settings, and the budget their calls draw on.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Where the calls go (an endpoint override, or the region's endpoints), for messages.
    pub endpoint: String,
    pub pca: aws_sdk_acmpca::Client,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
    pub pacing: Arc<Pacing>,
}

impl Clients {
    /// The region of the client that makes `operation` (PCA's may differ from the
    /// others': a CA can name its own region).
    fn region_of(&self, operation: &str) -> Option<String> {
        let region = if operation.starts_with("acm-pca:") {
            self.pca.config().region()
        } else if operation.starts_with("eks:") {
            self.eks.config().region()
        } else {
            self.iam.config().region()
        };
        region.map(|r| r.as_ref().to_string())
    }

    /// Waits until a call of `operation` by these clients fits the budget of their
    /// account and region, shared with every other stack of the process.
    pub async fn pace(&self, operation: &str) -> Sent {
        let region = self.region_of(operation);
        self.pacing.acquire(operation, region.as_deref()).await
    }

    /// Makes one AWS call under its pacing bucket, mapping its failure. `send` must make
    /// a request of these clients: the budget is the one of their account and region.
    ///
    /// A throttled call is sent again here, up to [`THROTTLED_ATTEMPTS`] times: the
    /// service did nothing, and the throttle has slowed the operation's bucket down, so
    /// the next attempt waits its turn there (after a `Retry-After`, if one came).
    /// Retrying where the call is made keeps a throttle from failing a step half done (a
    /// read after a create); other failures are left to the engine's retries. A throttle
    /// that lasts through every attempt is an error the engine does not retry again.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        resource: &str,
        send: impl Fn() -> Fut,
    ) -> Result<T, CallError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 1;
        loop {
            let sent = self.pace(operation).await;
            let result = send()
                .await
                .map_err(|e| CallError::from_sdk(operation, resource, e));
            match result {
                Err(e) if e.is_throttling() => {
                    sent.throttled();
                    if attempt >= THROTTLED_ATTEMPTS {
                        return Err(CallError {
                            message: format!("{} (throttled {attempt} times)", e.message),
                            retry_after: None,
                            ..e
                        });
                    }
                    if let Some(after) = e.retry_after {
                        tokio::time::sleep(after).await;
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[derive(Debug)]
struct Configured {
    settings: Settings,
    clients: Clients,
}

/// The `aws` provider. `AwsProvider::default()` takes credentials from the standard chain.
pub struct AwsProvider {
    configured: RwLock<Option<Arc<Configured>>>,
    /// Fixed credentials, for embedding and tests against a local emulator.
    credentials: Option<aws_sdk_iam::config::Credentials>,
    /// Where the pacers come from: the process's, so that every stack calling one
    /// account and region shares its quotas.
    pacers: Arc<PacerRegistry>,
}

impl Default for AwsProvider {
    fn default() -> AwsProvider {
        AwsProvider {
            configured: RwLock::default(),
            credentials: None,
            pacers: PacerRegistry::global(),
        }
    }
}

impl AwsProvider {
    /// A provider that signs with these credentials instead of the standard chain.
    pub fn with_credentials(access_key_id: &str, secret_access_key: &str) -> AwsProvider {
        AwsProvider {
            credentials: Some(aws_sdk_iam::config::Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "trustplane-static",
            )),
            ..AwsProvider::default()
        }
    }

    /// The same provider pacing its calls with `pacers` instead of the process's.
    #[must_use]
    pub fn with_pacers(self, pacers: Arc<PacerRegistry>) -> AwsProvider {
        AwsProvider { pacers, ..self }
    }

    fn state(&self) -> ProviderResult<Arc<Configured>> {
        self.configured
            .read()
            .expect("aws provider lock")
            .clone()
            .ok_or_else(|| {
                ProviderError::new("the aws provider is not configured").with_help(
                    "this is a bug in the engine: configure is called before any AWS call",
                )
            })
    }

    pub(crate) fn clients(&self) -> ProviderResult<Clients> {
        Ok(self.state()?.clients.clone())
    }

    pub(crate) fn provider_tags(&self) -> tags::Tags {
        self.configured
            .read()
            .expect("aws provider lock")
            .as_ref()
            .map(|c| c.settings.tags.clone())
            .unwrap_or_default()
    }
}

/// Every `aws` type, in the order `schemas` lists them.
static TYPES: &[&dyn ResourceType<AwsProvider>] = &[
    &pca::CaType,
    &iam_policy::Policy,
    &iam_role::Role,
    &iam_oidc::OidcProvider,
    &eks::Cluster,
    &eks_pod_identity::PodIdentityAssociation,
];

#[async_trait]
impl TypedProvider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn types(&self) -> &'static [&'static dyn ResourceType<Self>] {
        TYPES
    }

    fn settings(&self) -> Vec<Property> {
        settings::declared()
    }

    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        let settings = Settings::parse(settings)?;
        let clients = settings
            .build_clients_with(self.credentials.clone(), self.pacers.clone())
            .await?;
        *self.configured.write().expect("aws provider lock") =
            Some(Arc::new(Configured { settings, clients }));
        Ok(())
    }

    fn limits(&self) -> crate::provider::Limits {
        self.configured
            .read()
            .expect("aws provider lock")
            .as_ref()
            .map(|c| c.settings.limits)
            .unwrap_or_default()
    }

    fn endpoint(&self) -> Option<String> {
        self.configured
            .read()
            .expect("aws provider lock")
            .as_ref()
            .map(|c| c.clients.endpoint.clone())
    }
}

/// The diff of a type whose properties have several spellings of one value (durations,
/// defaults, tags the provider adds): both sides are normalised first. `recomputed` are
/// the attributes an in-place update of `trigger` changes.
pub(crate) fn normalized_diff(
    p: &AwsProvider,
    schema: &ResourceSchema,
    prior: &Snapshot,
    desired: &Value,
    normalize: fn(&Value, &tags::Tags) -> Value,
    recomputed: Option<(&str, &str)>,
) -> DiffResult {
    let provider_tags = p.provider_tags();
    let before = Snapshot {
        properties: normalize(&prior.properties, &provider_tags),
        ..prior.clone()
    };
    let mut result = default_diff(schema, &before, &normalize(desired, &provider_tags));
    if let Some((trigger, attribute)) = recomputed {
        if result.requires_replace.is_empty() && result.changed.iter().any(|c| c == trigger) {
            result
                .planned_attributes
                .set_path(attribute, Value::Unknown);
        }
    }
    result
}

/// An IAM entity is its name, unique in an account whatever its case.
pub(crate) fn iam_identity(kind: &str, properties: &Value) -> Option<String> {
    let name = properties.get_str("name")?.to_ascii_lowercase();
    Some(format!("aws iam {kind} {name}"))
}

/// An error after an IAM entity was created, before its create finished: it is not
/// retried within this apply; the entity carries this state's ownership tags, so the next
/// apply's create adopts it (see ownership).
pub(crate) fn after_creation(e: ProviderError, what: &str, id: &str) -> ProviderError {
    ProviderError {
        retryable: false,
        retry_after: None,
        throttled: false,
        help: Some(format!(
            "{what} {id} was created but not recorded in state; it carries this state's \
             ownership tags, so applying again adopts it and finishes its creation"
        )),
        ..e
    }
}

/// Drops null fields so that "absent" and "null" compare equal.
pub(crate) fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::List(l) => Value::List(l.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Sets `key` to `default` when absent or null.
pub(crate) fn default_in(m: &mut crate::value::Map, key: &str, default: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), default);
    }
}

/// A validation diagnostic about one property.
pub(crate) fn invalid(field: impl Into<String>, summary: impl Into<String>) -> Diagnostic {
    Diagnostic::error("aws::invalid_value", summary).with_field(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    const CREATE_CA: &str = "acm-pca:CreateCertificateAuthority";

    async fn configured(pacers: &Arc<PacerRegistry>, region: &str) -> AwsProvider {
        let p = AwsProvider::with_credentials("KEY", "secret").with_pacers(pacers.clone());
        TypedProvider::configure(
            &p,
            &yaml(&format!("region: {region}\nendpoint: http://127.0.0.1:9\n")),
        )
        .await
        .unwrap();
        p
    }

    #[tokio::test(start_paused = true)]
    async fn providers_of_one_account_and_region_share_one_budget() {
        let pacers = Arc::new(PacerRegistry::default());
        let a = configured(&pacers, "us-east-1").await.clients().unwrap();
        let b = configured(&pacers, "us-east-1").await.clients().unwrap();
        let start = tokio::time::Instant::now();
        tokio::join!(a.pace(CREATE_CA), b.pace(CREATE_CA), a.pace(CREATE_CA));
        assert_eq!(
            start.elapsed(),
            std::time::Duration::from_secs(2),
            "three creates at 1/s from two providers"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn providers_of_another_region_do_not_share_and_a_ca_paces_in_its_own_region() {
        let pacers = Arc::new(PacerRegistry::default());
        let east = configured(&pacers, "us-east-1").await.clients().unwrap();
        let west = configured(&pacers, "eu-west-1").await.clients().unwrap();
        let start = tokio::time::Instant::now();
        tokio::join!(east.pace(CREATE_CA), west.pace(CREATE_CA));
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);

        // A CA with `region: eu-west-1` in the us-east-1 provider: its PCA client goes
        // to eu-west-1, and so does its budget.
        let mut ca_client = east.clone();
        ca_client.pca = aws_sdk_acmpca::Client::from_conf(
            east.pca
                .config()
                .to_builder()
                .region(aws_sdk_acmpca::config::Region::new("eu-west-1"))
                .build(),
        );
        let start = tokio::time::Instant::now();
        ca_client.pace(CREATE_CA).await;
        assert_eq!(
            start.elapsed(),
            std::time::Duration::from_secs(1),
            "eu-west-1's token went to the other provider"
        );
        assert_eq!(pacers.keys().len(), 2, "{:?}", pacers.keys());
    }

    const VALID: &[(&str, &str)] = &[
        (PCA_CA, "kind: subordinate\nparent: arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555\npath_length: 1\nsubject: {common_name: CA, country: US}\nkey_algorithm: EC_prime256v1\nsigning_algorithm: SHA256WITHECDSA\nvalidity: 5y\nrevocation: {crl: {enabled: true, s3_bucket: b, expiration_days: 7}}\ntags: {a: b}\npermanent_deletion_days: 7\n"),
        (IAM_POLICY, "name: p\npath: /x/\ndocument: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: '*', Resource: '*'}]}\n"),
        (IAM_ROLE, "name: r\nirsa: {oidc_provider: 'arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X', namespace: ns, service_account: sa}\npolicy_arns: ['arn:aws:iam::111122223333:policy/p']\n"),
        (IAM_OIDC, "url: https://oidc.example/id/1\nthumbprints: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"),
        (IAM_ROLE, "name: r\npod_identity: true\n"),
        (EKS_POD_IDENTITY, "cluster_name: c\nnamespace: cert-manager\nservice_account: aws-pca-issuer\nrole_arn: 'arn:aws:iam::111122223333:role/r'\n"),
    ];

    #[test]
    fn an_error_after_an_iam_creation_is_not_retried_and_says_the_next_apply_adopts_it() {
        let e = after_creation(
            ProviderError::new("iam:GetRole failed on the service side").retryable(),
            "role",
            "issuer",
        );
        assert!(!e.retryable);
        assert!(e.message.contains("iam:GetRole"));
        assert!(e
            .help
            .unwrap()
            .contains("role issuer was created but not recorded in state; it carries this state's ownership tags, so applying again adopts it"));
    }

    #[test]
    fn every_schema_is_served_and_documented() {
        let p = AwsProvider::default();
        let names: Vec<&str> = p.schemas().iter().map(|s| s.type_name).collect();
        assert_eq!(
            names,
            vec![
                PCA_CA,
                IAM_POLICY,
                IAM_ROLE,
                IAM_OIDC,
                EKS_CLUSTER,
                EKS_POD_IDENTITY
            ]
        );
        for s in p.schemas() {
            assert!(!s.description.is_empty());
            let doc = format!(
                "{}/docs/resources/{}.md",
                env!("CARGO_MANIFEST_DIR"),
                s.type_name
            );
            let text = std::fs::read_to_string(&doc).unwrap_or_else(|_| panic!("{doc} is missing"));
            for prop in &s.properties {
                assert!(
                    text.contains(&format!("`{}`", prop.name)),
                    "{doc} does not document {}",
                    prop.name
                );
            }
            for attr in &s.attributes {
                assert!(
                    text.contains(&format!("`{}`", attr.name)),
                    "{doc} does not document {}",
                    attr.name
                );
            }
        }
    }

    #[test]
    fn valid_properties_pass_and_any_unknown_value_is_accepted() {
        let p = AwsProvider::default();
        for (type_name, text) in VALID {
            let props = yaml(text);
            assert!(
                p.validate(type_name, &props).is_empty(),
                "{type_name}: {:?}",
                p.validate(type_name, &props)
            );
            for key in props.as_map().unwrap().keys() {
                let mut v = props.clone();
                v.as_map_mut().unwrap().insert(key.clone(), Value::Unknown);
                let diags = p.validate(type_name, &v);
                assert!(
                    diags.is_empty(),
                    "{type_name} with {key} unknown: {diags:?}"
                );
            }
        }
        let mut nested = yaml(VALID[0].1);
        nested.set_path("subject.country", Value::Unknown);
        nested.set_path("revocation.crl.expiration_days", Value::Unknown);
        assert!(p.validate(PCA_CA, &nested).is_empty());
        assert!(p.validate(PCA_CA, &Value::Unknown).is_empty());
    }

    #[test]
    fn diff_reports_replacement_and_ignores_spelling() {
        let p = AwsProvider::default();
        let schema = pca::schema();
        let props = yaml(VALID[0].1);
        let prior = Snapshot {
            id: "arn".into(),
            properties: props.clone(),
            attributes: yaml("{arn: x, status: ACTIVE}"),
        };
        assert!(p.diff(&schema, &prior, &props.clone()).is_empty());
        let mut respelled = props.clone();
        respelled.set_path("validity", Value::from("1825d"));
        respelled.set_path("enabled", Value::Bool(true));
        assert!(p.diff(&schema, &prior, &respelled).is_empty());
        let mut unknown_parent = props.clone();
        unknown_parent.set_path("parent", Value::Unknown);
        let d = p.diff(&schema, &prior, &unknown_parent);
        assert_eq!(d.requires_replace, vec!["parent".to_string()]);
        assert_eq!(d.planned_attributes.get("arn"), Some(&Value::Unknown));
    }
}
