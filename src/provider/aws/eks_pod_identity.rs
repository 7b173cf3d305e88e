//! `aws.eks.pod_identity_association`: EKS Pod Identity, the alternative to IRSA. The EKS
//! Pod Identity Agent hands pods running as one service account the credentials of a role
//! whose trust policy lets `pods.eks.amazonaws.com` assume it (`aws.iam.role` with
//! `pod_identity: true`). A cluster holds at most one association per namespace and
//! service account; only the role changes in place.

use std::collections::HashMap;

use super::ownership;
use super::{invalid, AwsProvider};
use crate::diag::Diagnostic;
use crate::provider::{
    Attribute, OpContext, Property, ProviderError, ProviderResult, ResourceSchema, Snapshot, Type,
};
use crate::value::{Map, Value};

pub fn schema() -> ResourceSchema {
    ResourceSchema {
        type_name: super::EKS_POD_IDENTITY,
        description: "An EKS Pod Identity association: pods running as one service account \
                      get the credentials of an IAM role.",
        properties: vec![
            Property::new("cluster_name", Type::String)
                .required()
                .force_new()
                .describe("the EKS cluster"),
            Property::new("namespace", Type::String)
                .required()
                .force_new()
                .describe("the service account's namespace"),
            Property::new("service_account", Type::String)
                .required()
                .force_new()
                .describe("the service account's name"),
            Property::new("role_arn", Type::String)
                .required()
                .describe("the role the pods assume; it must trust pods.eks.amazonaws.com"),
        ],
        attributes: vec![
            Attribute::new("association_id", "EKS's id of the association (a-...)"),
            Attribute::new("association_arn", "ARN of the association"),
        ],
        data_source: false,
        managed: true,
    }
}

fn is_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for key in ["namespace", "service_account"] {
        if let Some(v) = props.get_str(key) {
            if !is_k8s_name(v) {
                out.push(invalid(
                    key,
                    format!("{v:?} is not a valid Kubernetes name"),
                ));
            }
        }
    }
    if let Some(r) = props.get_str("role_arn") {
        if !(r.starts_with("arn:") && r.contains(":role/")) {
            out.push(
                invalid("role_arn", format!("{r:?} is not an IAM role ARN"))
                    .with_help("e.g. ${issuer_role.arn}"),
            );
        }
    }
    out
}

/// The snapshot id and import id: `CLUSTER/ASSOCIATION_ID` (the tail of the ARN).
fn split_id(id: &str) -> ProviderResult<(&str, &str)> {
    id.split_once('/')
        .filter(|(c, a)| !c.is_empty() && a.starts_with("a-"))
        .ok_or_else(|| {
            ProviderError::new(format!(
                "{id:?} is not a pod identity association id (CLUSTER/a-...)"
            ))
        })
}

fn required<'v>(props: &'v Value, key: &str) -> ProviderResult<&'v str> {
    props
        .get_str(key)
        .ok_or_else(|| ProviderError::new(format!("`{key}` is required")).with_field(key))
}

pub async fn create(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let cluster = required(desired, "cluster_name")?;
    let namespace = required(desired, "namespace")?;
    let service_account = required(desired, "service_account")?;
    let mut tags: HashMap<String, String> = p.provider_tags().into_iter().collect();
    tags.extend(ownership::creator_tags(ctx));
    let role_arn = required(desired, "role_arn")?;
    let created = c
        .call("eks:CreatePodIdentityAssociation", cluster, || {
            c.eks
                .create_pod_identity_association()
                .cluster_name(cluster)
                .namespace(namespace)
                .service_account(service_account)
                .role_arn(role_arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
    let out = match created {
        Ok(out) => out,
        Err(e) if e.is("ResourceInUseException") => return adopt(p, ctx, desired).await,
        Err(e) if e.is_not_found() => {
            return Err(ProviderError::new(format!(
                "no EKS cluster named {cluster:?} in the configured region"
            ))
            .with_field("cluster_name")
            .with_help("check cluster_name and providers.aws.region"))
        }
        Err(e) => return Err(e.into()),
    };
    let id = out
        .association()
        .and_then(|a| a.association_id())
        .ok_or_else(|| ProviderError::new("CreatePodIdentityAssociation returned no id"))?;
    let prior = Snapshot {
        id: format!("{cluster}/{id}"),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &prior)
        .await
        .map_err(|e| super::after_creation(e, "pod identity association", &prior.id))?
        .ok_or_else(|| {
            ProviderError::new(format!(
                "pod identity association {} disappeared right after its creation",
                prior.id
            ))
        })
}

/// The create found the service account taken: an association this state created at this
/// address (a crash before the state recorded it) is adopted and given the desired role;
/// any other stops the create.
async fn adopt(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    let subject = || {
        format!(
            "{}/{}",
            desired.get_str("namespace").unwrap_or_default(),
            desired.get_str("service_account").unwrap_or_default()
        )
    };
    let id = find_id(p, desired).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "EKS answered that {} already has a pod identity association, but none is listed",
            subject()
        ))
        .with_field("service_account")
        .with_help("EKS may still be settling a recent delete; apply again shortly")
    })?;
    let (cluster, association) = split_id(&id)?;
    let c = p.clients()?;
    let live = c
        .call("eks:DescribePodIdentityAssociation", &id, || {
            c.eks
                .describe_pod_identity_association()
                .cluster_name(cluster)
                .association_id(association)
                .send()
        })
        .await?;
    let live_tags: Vec<(String, String)> = live
        .association()
        .and_then(|a| a.tags())
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    ownership::claim_existing(
        ctx,
        "pod identity association",
        &id,
        "service_account",
        &live_tags,
    )?;
    let found = Snapshot {
        id: id.clone(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    let live = read(p, &found).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "pod identity association {id} disappeared while it was being adopted"
        ))
    })?;
    update(p, &live, desired).await
}

/// The id (`CLUSTER/a-...`) of the association for the namespace and service account the
/// properties name; `None` when EKS definitely has none (or no such cluster).
async fn find_id(p: &AwsProvider, desired: &Value) -> ProviderResult<Option<String>> {
    let c = p.clients()?;
    let cluster = required(desired, "cluster_name")?;
    let namespace = required(desired, "namespace")?;
    let service_account = required(desired, "service_account")?;
    let mut token: Option<String> = None;
    loop {
        let page = match c
            .call("eks:ListPodIdentityAssociations", cluster, || {
                c.eks
                    .list_pod_identity_associations()
                    .cluster_name(cluster)
                    .namespace(namespace)
                    .service_account(service_account)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
        {
            Ok(page) => page,
            // No cluster, no association: the create then names the missing cluster.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if let Some(a) = page.associations().iter().find(|a| {
            a.namespace() == Some(namespace) && a.service_account() == Some(service_account)
        }) {
            if let Some(id) = a.association_id() {
                return Ok(Some(format!("{cluster}/{id}")));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// `lifecycle.adopt`: the association of the namespace and service account, as it is.
async fn find(p: &AwsProvider, desired: &Value) -> ProviderResult<Option<Snapshot>> {
    let Some(id) = find_id(p, desired).await? else {
        return Ok(None);
    };
    let found = Snapshot {
        id,
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &found).await
}

pub async fn read(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    let c = p.clients()?;
    let (cluster, association) = split_id(&prior.id)?;
    let live = match c
        .call("eks:DescribePodIdentityAssociation", &prior.id, || {
            c.eks
                .describe_pod_identity_association()
                .cluster_name(cluster)
                .association_id(association)
                .send()
        })
        .await
    {
        Ok(out) => out,
        // Only EKS's ResourceNotFoundException (the association, or its cluster, is gone).
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let a = live.association().ok_or_else(|| {
        ProviderError::new("DescribePodIdentityAssociation returned no association")
    })?;
    let s = |v: Option<&str>| v.map(Value::from).unwrap_or(Value::Null);
    let mut props = Map::new();
    props.insert("cluster_name".into(), Value::from(cluster));
    props.insert("namespace".into(), s(a.namespace()));
    props.insert("service_account".into(), s(a.service_account()));
    props.insert("role_arn".into(), s(a.role_arn()));
    let mut attrs = Map::new();
    attrs.insert("association_id".into(), Value::from(association));
    attrs.insert("association_arn".into(), s(a.association_arn()));
    Ok(Some(Snapshot {
        id: prior.id.clone(),
        properties: Value::Map(props),
        attributes: Value::Map(attrs),
    }))
}

pub async fn update(
    p: &AwsProvider,
    prior: &Snapshot,
    desired: &Value,
) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let (cluster, association) = split_id(&prior.id)?;
    let role = required(desired, "role_arn")?;
    if prior.properties.get_str("role_arn") != Some(role) {
        c.call("eks:UpdatePodIdentityAssociation", &prior.id, || {
            c.eks
                .update_pod_identity_association()
                .cluster_name(cluster)
                .association_id(association)
                .role_arn(role)
                .send()
        })
        .await?;
    }
    read(p, prior).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "pod identity association {} disappeared during its update",
            prior.id
        ))
    })
}

pub async fn delete(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<()> {
    let c = p.clients()?;
    let (cluster, association) = split_id(&prior.id)?;
    match c
        .call("eks:DeletePodIdentityAssociation", &prior.id, || {
            c.eks
                .delete_pod_identity_association()
                .cluster_name(cluster)
                .association_id(association)
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `aws.eks.pod_identity_association` as a resource type.
pub struct PodIdentityAssociation;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for PodIdentityAssociation {
    fn type_name(&self) -> &'static str {
        super::EKS_POD_IDENTITY
    }

    fn schema(&self) -> ResourceSchema {
        schema()
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        validate(properties)
    }

    /// A cluster holds one association per namespace and service account.
    fn identity(&self, properties: &Value) -> Option<String> {
        Some(format!(
            "aws eks pod identity {} {}/{}",
            properties.get_str("cluster_name")?,
            properties.get_str("namespace")?,
            properties.get_str("service_account")?
        ))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        create(p, ctx, desired).await
    }

    async fn read(
        &self,
        p: &AwsProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        read(p, prior).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        update(p, prior, desired).await
    }

    async fn delete(
        &self,
        p: &AwsProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        delete(p, prior).await
    }

    /// By cluster, namespace and service account: EKS allows one association for them.
    async fn find(
        &self,
        p: &AwsProvider,
        _ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        find(p, desired).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    #[test]
    fn names_and_role_are_checked() {
        let bad = yaml("cluster_name: c\nnamespace: Cert_Manager\nservice_account: sa\nrole_arn: arn:aws:iam::1:policy/p\n");
        let fields: Vec<String> = validate(&bad).into_iter().filter_map(|d| d.field).collect();
        assert_eq!(fields, vec!["namespace", "role_arn"]);
        let good = yaml("cluster_name: c\nnamespace: cert-manager\nservice_account: aws-pca-issuer\nrole_arn: arn:aws:iam::111122223333:role/r\n");
        assert!(validate(&good).is_empty());
    }

    #[test]
    fn ids_name_the_cluster_and_the_association() {
        assert_eq!(
            split_id("prod/a-abcdefghijklmnopq").unwrap(),
            ("prod", "a-abcdefghijklmnopq")
        );
        assert!(split_id("a-abcdefghijklmnopq").is_err());
        assert!(split_id("prod/x").is_err());
    }
}
