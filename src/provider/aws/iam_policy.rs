//! `aws.iam.policy`: a customer-managed IAM policy. A document change becomes a new default
//! version, pruning the oldest when IAM's limit of five is reached.

use aws_sdk_iam::types::Tag;

use super::ownership;
use super::policy_document::{self as doc, DocKind};
use super::tags::{self, Tags};
use super::{default_in, invalid, without_nulls, AwsProvider};
use crate::diag::Diagnostic;
use crate::provider::{
    Attribute, OpContext, Property, ProviderError, ProviderResult, ResourceSchema, Snapshot, Type,
};
use crate::value::{Map, Value};

pub fn schema() -> ResourceSchema {
    ResourceSchema {
        type_name: super::IAM_POLICY,
        description: "A customer-managed IAM policy.",
        properties: vec![
            Property::new("name", Type::String)
                .required()
                .force_new()
                .describe("policy name"),
            Property::new("path", Type::String)
                .force_new()
                .default("/")
                .describe("IAM path, beginning and ending with /"),
            Property::new("description", Type::String)
                .force_new()
                .describe("IAM cannot change a policy's description in place"),
            Property::new("document", Type::Any)
                .required()
                .describe("the policy document, as a YAML map or a JSON string"),
            Property::new("tags", Type::Map(Box::new(Type::String)))
                .describe("tags, merged over providers.aws.tags"),
        ],
        attributes: vec![
            Attribute::new("arn", "ARN of the policy"),
            Attribute::new("default_version_id", "the version in force, e.g. v2"),
        ],
        data_source: false,
        managed: true,
    }
}

pub(crate) fn validate_path(props: &Value, out: &mut Vec<Diagnostic>) {
    if let Some(p) = props.get_str("path") {
        if !(p.starts_with('/') && p.ends_with('/')) || p.len() > 512 {
            out.push(invalid(
                "path",
                format!("an IAM path begins and ends with /, found {p:?}"),
            ));
        }
    }
}

pub(crate) fn validate_name(props: &Value, max: usize, out: &mut Vec<Diagnostic>) {
    if let Some(n) = props.get_str("name") {
        let ok = !n.is_empty()
            && n.len() <= max
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !ok {
            out.push(invalid(
                "name",
                format!("{n:?} is not a valid IAM name (1 to {max} of A-Z a-z 0-9 +=,.@_-)"),
            ));
        }
    }
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    validate_name(props, 128, &mut out);
    validate_path(props, &mut out);
    if let Some(d) = props.get("document") {
        out.extend(doc::validate(d, "document", DocKind::Identity));
    }
    out
}

pub fn normalize(props: &Value, provider_tags: &Tags) -> Value {
    let Value::Map(mut m) = without_nulls(props) else {
        return props.clone();
    };
    default_in(&mut m, "path", Value::from("/"));
    if let Some(d) = m.get("document") {
        let n = doc::normalize(d);
        m.insert("document".into(), n);
    }
    tags::normalize_in(&mut m, provider_tags);
    Value::Map(m)
}

pub(crate) fn iam_tags(t: &Tags) -> ProviderResult<Vec<Tag>> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| ProviderError::new(format!("invalid tag: {e}")).with_field("tags"))
}

/// The tags an IAM create sets: the stack's and the resource's, and the ownership tags
/// that let a later create recognise the object as its own (see ownership).
pub(crate) fn create_tags(
    p: &AwsProvider,
    ctx: &OpContext,
    desired: &Value,
) -> ProviderResult<Vec<Tag>> {
    let mut all = tags::effective(&p.provider_tags(), desired);
    all.extend(ownership::creator_tags(ctx));
    iam_tags(&all)
}

fn document_text(props: &Value) -> ProviderResult<String> {
    let d = props
        .get("document")
        .ok_or_else(|| ProviderError::new("`document` is required").with_field("document"))?;
    doc::to_json_text(d).map_err(|e| ProviderError::new(e).with_field("document"))
}

pub async fn create(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let name = desired
        .get_str("name")
        .ok_or_else(|| ProviderError::new("`name` is required").with_field("name"))?;
    let document = document_text(desired)?;
    let tags = create_tags(p, ctx, desired)?;
    let created = c
        .call("iam:CreatePolicy", name, || {
            c.iam
                .create_policy()
                .policy_name(name)
                .path(desired.get_str("path").unwrap_or("/"))
                .set_description(desired.get_str("description").map(str::to_string))
                .policy_document(&document)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
    let out = match created {
        Ok(out) => out,
        Err(e) if e.is("EntityAlreadyExists") => return adopt(p, ctx, name, desired).await,
        Err(e) => return Err(e.into()),
    };
    let arn = out
        .policy()
        .and_then(|pol| pol.arn())
        .ok_or_else(|| ProviderError::new("CreatePolicy returned no ARN"))?;
    let prior = Snapshot {
        id: arn.to_string(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &prior)
        .await
        .map_err(|e| super::after_creation(e, "policy", arn))?
        .ok_or_else(|| {
            ProviderError::new(format!("policy {arn} disappeared right after its creation"))
        })
}

/// The ARN of the account's customer-managed policy called `name`, whatever its path.
async fn find_by_name(p: &AwsProvider, name: &str) -> ProviderResult<Option<String>> {
    let c = p.clients()?;
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .call("iam:ListPolicies", name, || {
                c.iam
                    .list_policies()
                    .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        if let Some(arn) = page
            .policies()
            .iter()
            .find(|pol| pol.policy_name() == Some(name))
            .and_then(|pol| pol.arn())
        {
            return Ok(Some(arn.to_string()));
        }
        marker = page
            .marker()
            .map(str::to_string)
            .filter(|_| page.is_truncated());
        if marker.is_none() {
            return Ok(None);
        }
    }
}

/// CreatePolicy found the name taken: a policy this state created at this address (its
/// create crashed before the state recorded it) is adopted and brought to the desired
/// document and tags as an update would; any other policy stops the create.
async fn adopt(
    p: &AwsProvider,
    ctx: &OpContext,
    name: &str,
    desired: &Value,
) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let arn = find_by_name(p, name).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "IAM answered that policy {name} already exists, but no customer-managed policy of that name is listed"
        ))
        .with_field("name")
        .with_help("IAM may still be settling a recent delete; apply again shortly")
    })?;
    let live_tags: Vec<(String, String)> = c
        .call("iam:ListPolicyTags", &arn, || {
            c.iam.list_policy_tags().policy_arn(&arn).send()
        })
        .await?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    ownership::claim_existing(ctx, "IAM policy", &arn, "name", &live_tags)?;
    let found = Snapshot {
        id: arn.clone(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    let live = read(p, &found).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "policy {arn} disappeared while it was being adopted"
        ))
    })?;
    update(p, &live, desired).await
}

/// `lifecycle.adopt`: the customer-managed policy with the desired name and path, read with
/// the desired properties as prior so an equivalent document keeps the stack's spelling
/// (the adoption's update then makes a new default version only when the meaning differs).
async fn find(p: &AwsProvider, desired: &Value) -> ProviderResult<Option<Snapshot>> {
    let c = p.clients()?;
    let name = desired
        .get_str("name")
        .ok_or_else(|| ProviderError::new("`name` is required").with_field("name"))?;
    let path = desired.get_str("path").unwrap_or("/");
    let mut marker: Option<String> = None;
    let arn = loop {
        let page = c
            .call("iam:ListPolicies", name, || {
                c.iam
                    .list_policies()
                    .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                    .path_prefix(path)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        // The prefix also lists deeper paths: the name and the path must both match.
        if let Some(arn) = page
            .policies()
            .iter()
            .find(|pol| pol.policy_name() == Some(name) && pol.path().unwrap_or("/") == path)
            .and_then(|pol| pol.arn())
        {
            break arn.to_string();
        }
        marker = page
            .marker()
            .map(str::to_string)
            .filter(|_| page.is_truncated());
        if marker.is_none() {
            return Ok(None);
        }
    };
    let found = Snapshot {
        id: arn,
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &found).await
}

pub async fn read(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    let c = p.clients()?;
    let arn = prior.id.as_str();
    let policy = match c
        .call("iam:GetPolicy", arn, || {
            c.iam.get_policy().policy_arn(arn).send()
        })
        .await
    {
        Ok(out) => out
            .policy
            .ok_or_else(|| ProviderError::new("GetPolicy returned no policy"))?,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let version = policy.default_version_id().unwrap_or("v1").to_string();
    let pv = c
        .call("iam:GetPolicyVersion", arn, || {
            c.iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(&version)
                .send()
        })
        .await?;
    let encoded = pv
        .policy_version()
        .and_then(|v| v.document())
        .unwrap_or("{}");
    let live_doc = doc::from_iam(encoded).map_err(ProviderError::new)?;
    // GetPolicy carries every tag (a policy has at most 50), so no ListPolicyTags.
    let live_tags: Vec<(String, String)> = policy
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();

    let mut props = match &prior.properties {
        Value::Map(m) if !m.is_empty() => m.clone(),
        _ => Map::new(),
    };
    let tags_back = tags::read_back(&live_tags, &prior.properties, &p.provider_tags());
    props.insert(
        "name".into(),
        Value::from(policy.policy_name().unwrap_or_default()),
    );
    props.insert("path".into(), Value::from(policy.path().unwrap_or("/")));
    match policy.description() {
        Some(d) => props.insert("description".into(), Value::from(d)),
        None => props.remove("description"),
    };
    // Keep the stack's spelling when it means the same as the live document.
    let keep = props
        .get("document")
        .is_some_and(|d| doc::equivalent(d, &live_doc));
    if !keep {
        props.insert("document".into(), live_doc);
    }
    props.insert("tags".into(), tags::to_value(&tags_back));

    let mut attrs = Map::new();
    attrs.insert("arn".into(), Value::from(arn));
    attrs.insert("default_version_id".into(), Value::from(version));
    Ok(Some(Snapshot {
        id: arn.to_string(),
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
    let arn = prior.id.as_str();
    let doc_changed = match (prior.properties.get("document"), desired.get("document")) {
        (Some(a), Some(b)) => !doc::equivalent(a, b),
        _ => true,
    };
    if doc_changed {
        let versions = c
            .call("iam:ListPolicyVersions", arn, || {
                c.iam.list_policy_versions().policy_arn(arn).send()
            })
            .await?;
        let mut old: Vec<_> = versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .collect();
        if versions.versions().len() >= 5 {
            old.sort_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or_default());
            if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
                c.call("iam:DeletePolicyVersion", arn, || {
                    c.iam
                        .delete_policy_version()
                        .policy_arn(arn)
                        .version_id(oldest)
                        .send()
                })
                .await?;
            }
        }
        let document = document_text(desired)?;
        c.call("iam:CreatePolicyVersion", arn, || {
            c.iam
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(&document)
                .set_as_default(true)
                .send()
        })
        .await?;
    }
    let (set, remove) = tags::changes(&p.provider_tags(), &prior.properties, desired);
    if !remove.is_empty() {
        c.call("iam:UntagPolicy", arn, || {
            c.iam
                .untag_policy()
                .policy_arn(arn)
                .set_tag_keys(Some(remove.clone()))
                .send()
        })
        .await?;
    }
    if !set.is_empty() {
        let tags = iam_tags(&set)?;
        c.call("iam:TagPolicy", arn, || {
            c.iam
                .tag_policy()
                .policy_arn(arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
    }
    let next = Snapshot {
        id: arn.to_string(),
        properties: desired.clone(),
        attributes: prior.attributes.clone(),
    };
    read(p, &next)
        .await?
        .ok_or_else(|| ProviderError::new(format!("policy {arn} disappeared during its update")))
}

pub async fn delete(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<()> {
    let c = p.clients()?;
    let arn = prior.id.as_str();
    let versions = match c
        .call("iam:ListPolicyVersions", arn, || {
            c.iam.list_policy_versions().policy_arn(arn).send()
        })
        .await
    {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // IAM refuses to delete a policy that is still attached or has other versions.
    let entities = c
        .call("iam:ListEntitiesForPolicy", arn, || {
            c.iam.list_entities_for_policy().policy_arn(arn).send()
        })
        .await?;
    for r in entities.policy_roles() {
        if let Some(role) = r.role_name() {
            c.call("iam:DetachRolePolicy", role, || {
                c.iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
            })
            .await?;
        }
    }
    for u in entities.policy_users() {
        if let Some(user) = u.user_name() {
            c.call("iam:DetachUserPolicy", user, || {
                c.iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(arn)
                    .send()
            })
            .await?;
        }
    }
    for g in entities.policy_groups() {
        if let Some(group) = g.group_name() {
            c.call("iam:DetachGroupPolicy", group, || {
                c.iam
                    .detach_group_policy()
                    .group_name(group)
                    .policy_arn(arn)
                    .send()
            })
            .await?;
        }
    }
    for v in versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = v.version_id() {
            c.call("iam:DeletePolicyVersion", arn, || {
                c.iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(id)
                    .send()
            })
            .await?;
        }
    }
    match c
        .call("iam:DeletePolicy", arn, || {
            c.iam.delete_policy().policy_arn(arn).send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `aws.iam.policy` as a resource type.
pub struct Policy;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for Policy {
    fn type_name(&self) -> &'static str {
        super::IAM_POLICY
    }

    fn schema(&self) -> ResourceSchema {
        schema()
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        validate(properties)
    }

    fn diff(
        &self,
        p: &AwsProvider,
        schema: &ResourceSchema,
        prior: &Snapshot,
        desired: &Value,
    ) -> crate::provider::DiffResult {
        super::normalized_diff(
            p,
            schema,
            prior,
            desired,
            normalize,
            Some(("document", "default_version_id")),
        )
    }

    fn identity(&self, properties: &Value) -> Option<String> {
        super::iam_identity("policy", properties)
    }

    async fn create(
        &self,
        p: &AwsProvider,
        ctx: &crate::provider::OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        create(p, ctx, desired).await
    }

    async fn read(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        read(p, prior).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        update(p, prior, desired).await
    }

    async fn delete(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        delete(p, prior).await
    }

    /// By name and path (ListPolicies): IAM holds one customer-managed policy per name.
    async fn find(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
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
    fn json_string_and_yaml_map_normalize_alike() {
        let a = yaml("name: p\ndocument: {Version: '2012-10-17', Statement: {Effect: Allow, Action: 'acm-pca:IssueCertificate', Resource: '*'}}\n");
        let b = yaml("name: p\npath: /\ndocument: '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"acm-pca:IssueCertificate\"],\"Resource\":[\"*\"]}]}'\n");
        assert_eq!(normalize(&a, &Tags::new()), normalize(&b, &Tags::new()));
    }

    #[test]
    fn validation_points_into_the_document() {
        let v = yaml("name: 'bad name'\npath: nope\ndocument: {Version: '2012-10-17', Statement: [{Effect: Maybe, Action: '*', Resource: '*'}]}\n");
        let fields: Vec<String> = validate(&v).into_iter().filter_map(|d| d.field).collect();
        assert_eq!(fields, vec!["name", "path", "document.Statement[0].Effect"]);
    }
}
