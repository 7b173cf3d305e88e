//! `aws.eks.cluster` (data source): what cert-manager's issuer and IRSA need to know
//! about an existing cluster.

use super::AwsProvider;
use crate::provider::{Attribute, Property, ProviderError, ProviderResult, ResourceSchema, Type};
use crate::value::{Map, Value};

pub fn schema() -> ResourceSchema {
    ResourceSchema {
        type_name: super::EKS_CLUSTER,
        description: "An existing EKS cluster, looked up by name (mode: data only).",
        properties: vec![Property::new("name", Type::String)
            .required()
            .describe("cluster name")],
        attributes: vec![
            Attribute::new("endpoint", "API server URL"),
            Attribute::new("certificate_authority_data", "base64 PEM of the cluster CA"),
            Attribute::new(
                "oidc_issuer",
                "service account issuer URL (identity.oidc.issuer)",
            ),
            Attribute::new("version", "Kubernetes version"),
            Attribute::new("arn", "ARN of the cluster"),
        ],
        data_source: true,
        managed: false,
    }
}

pub async fn read_data(p: &AwsProvider, props: &Value) -> ProviderResult<Value> {
    let name = props
        .get_str("name")
        .ok_or_else(|| ProviderError::new("`name` is required").with_field("name"))?;
    let c = p.clients()?;
    let out = match c
        .call("eks:DescribeCluster", name, || {
            c.eks.describe_cluster().name(name).send()
        })
        .await
    {
        Ok(out) => out,
        Err(e) if e.is_not_found() => {
            return Err(ProviderError::new(format!(
                "no EKS cluster named {name:?} in the configured region"
            ))
            .with_field("name")
            .with_help("check the name and `providers.aws.region`"))
        }
        Err(e) => return Err(e.into()),
    };
    let cluster = out
        .cluster
        .ok_or_else(|| ProviderError::new("DescribeCluster returned no cluster"))?;
    let s = |v: Option<&str>| v.map(Value::from).unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("name".into(), Value::from(name));
    m.insert("endpoint".into(), s(cluster.endpoint()));
    m.insert(
        "certificate_authority_data".into(),
        s(cluster.certificate_authority().and_then(|ca| ca.data())),
    );
    m.insert(
        "oidc_issuer".into(),
        s(cluster
            .identity()
            .and_then(|i| i.oidc())
            .and_then(|o| o.issuer())),
    );
    m.insert("version".into(), s(cluster.version()));
    m.insert("arn".into(), s(cluster.arn()));
    Ok(Value::Map(m))
}

/// `aws.eks.cluster` as a resource type: a data source only.
pub struct Cluster;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for Cluster {
    fn type_name(&self) -> &'static str {
        super::EKS_CLUSTER
    }

    fn schema(&self) -> ResourceSchema {
        schema()
    }

    async fn read_data(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
        properties: &Value,
    ) -> ProviderResult<Value> {
        read_data(p, properties).await
    }
}
