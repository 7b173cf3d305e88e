//! The `aws` provider: AWS Private CA certificate authorities, the IAM policies, roles and
//! OIDC providers that let cert-manager's aws-privateca-issuer use them from EKS, and an
//! EKS cluster lookup.
//!
//! Settings (`providers.aws` in a stack): `region`, `profile`, `endpoint` (one URL for every
//! service, e.g. a local emulator) and `tags` (applied to everything taggable). Anything
//! not set comes from the standard AWS environment (AWS_REGION, AWS_PROFILE,
//! AWS_ENDPOINT_URL, the credential chain).

pub mod certs;
pub mod eks;
pub mod errors;
pub mod iam_oidc;
pub mod iam_policy;
pub mod iam_role;
pub mod ownership;
pub mod pacing;
pub mod pca;
pub mod policy_document;
pub mod settings;
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
    default_diff, DiffResult, OpContext, Provider, ProviderError, ProviderResult, ResourceSchema,
    Snapshot,
};
use crate::value::Value;
use errors::CallError;
use pacing::Pacer;
pub use settings::Settings;

pub const PCA_CA: &str = "aws.pca.certificate_authority";
pub const IAM_POLICY: &str = "aws.iam.policy";
pub const IAM_ROLE: &str = "aws.iam.role";
pub const IAM_OIDC: &str = "aws.iam.oidc_provider";
pub const EKS_CLUSTER: &str = "aws.eks.cluster";

/// SDK clients built from the settings.
#[derive(Clone, Debug)]
pub struct Clients {
    pub pca: aws_sdk_acmpca::Client,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
}

#[derive(Debug)]
struct Configured {
    settings: Settings,
    clients: Clients,
}

/// The `aws` provider. `AwsProvider::default()` takes credentials from the standard chain.
#[derive(Default)]
pub struct AwsProvider {
    configured: RwLock<Option<Arc<Configured>>>,
    /// Fixed credentials, for embedding and tests against a local emulator.
    credentials: Option<aws_sdk_iam::config::Credentials>,
    pacer: Pacer,
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

    /// Makes one AWS call under its pacing bucket, mapping its failure.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        resource: &str,
        fut: Fut,
    ) -> Result<T, CallError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.pacer.acquire(operation).await;
        fut.await
            .map_err(|e| CallError::from_sdk(operation, resource, e))
    }
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::new(format!("the aws provider has no resource type {type_name}"))
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![
            pca::schema(),
            iam_policy::schema(),
            iam_role::schema(),
            iam_oidc::schema(),
            eks::schema(),
        ]
    }

    fn validate(&self, type_name: &str, properties: &Value) -> Vec<Diagnostic> {
        match type_name {
            PCA_CA => pca::validate(properties),
            IAM_POLICY => iam_policy::validate(properties),
            IAM_ROLE => iam_role::validate(properties),
            IAM_OIDC => iam_oidc::validate(properties),
            _ => Vec::new(),
        }
    }

    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        let settings = Settings::parse(settings)?;
        let clients = settings.build_clients(self.credentials.clone()).await?;
        *self.configured.write().expect("aws provider lock") =
            Some(Arc::new(Configured { settings, clients }));
        Ok(())
    }

    fn diff(&self, schema: &ResourceSchema, prior: &Snapshot, desired: &Value) -> DiffResult {
        let provider_tags = self.provider_tags();
        let normalize = |v: &Value| match schema.type_name {
            PCA_CA => pca::normalize(v, &provider_tags),
            IAM_POLICY => iam_policy::normalize(v, &provider_tags),
            IAM_ROLE => iam_role::normalize(v, &provider_tags),
            IAM_OIDC => iam_oidc::normalize(v, &provider_tags),
            _ => v.clone(),
        };
        let before = Snapshot {
            properties: normalize(&prior.properties),
            ..prior.clone()
        };
        let mut result = default_diff(schema, &before, &normalize(desired));
        // Attributes an in-place update will change.
        let changes =
            |k: &str| result.requires_replace.is_empty() && result.changed.iter().any(|c| c == k);
        if schema.type_name == IAM_POLICY && changes("document") {
            result
                .planned_attributes
                .set_path("default_version_id", Value::Unknown);
        }
        if schema.type_name == PCA_CA && changes("enabled") {
            result.planned_attributes.set_path("status", Value::Unknown);
        }
        result
    }

    async fn create(
        &self,
        ctx: &OpContext,
        type_name: &str,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        match type_name {
            PCA_CA => pca::create(self, ctx, desired).await,
            IAM_POLICY => iam_policy::create(self, desired).await,
            IAM_ROLE => iam_role::create(self, desired).await,
            IAM_OIDC => iam_oidc::create(self, desired).await,
            _ => Err(unknown_type(type_name)),
        }
    }

    async fn read(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        match type_name {
            PCA_CA => pca::read(self, ctx, prior).await,
            IAM_POLICY => iam_policy::read(self, prior).await,
            IAM_ROLE => iam_role::read(self, prior).await,
            IAM_OIDC => iam_oidc::read(self, prior).await,
            _ => Err(unknown_type(type_name)),
        }
    }

    async fn update(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        match type_name {
            PCA_CA => pca::update(self, ctx, prior, desired).await,
            IAM_POLICY => iam_policy::update(self, prior, desired).await,
            IAM_ROLE => iam_role::update(self, prior, desired).await,
            IAM_OIDC => iam_oidc::update(self, prior, desired).await,
            _ => Err(unknown_type(type_name)),
        }
    }

    async fn delete(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        match type_name {
            PCA_CA => pca::delete(self, prior).await,
            IAM_POLICY => iam_policy::delete(self, prior).await,
            IAM_ROLE => iam_role::delete(self, prior).await,
            IAM_OIDC => iam_oidc::delete(self, prior).await,
            _ => Err(unknown_type(type_name)),
        }
    }

    async fn read_data(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        properties: &Value,
    ) -> ProviderResult<Value> {
        match type_name {
            EKS_CLUSTER => eks::read_data(self, properties).await,
            _ => Err(ProviderError::new(format!(
                "{type_name} cannot be used with mode: data"
            ))),
        }
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
