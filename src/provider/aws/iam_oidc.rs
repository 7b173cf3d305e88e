//! `aws.iam.oidc_provider`: the IAM identity provider for a cluster's service account
//! tokens (IRSA).

use std::collections::BTreeSet;

use super::iam_policy::{create_tags, iam_tags};
use super::ownership;
use super::tags::{self, Tags};
use super::{default_in, invalid, without_nulls, AwsProvider};
use crate::diag::Diagnostic;
use crate::provider::{
    Attribute, OpContext, Property, ProviderError, ProviderResult, ResourceSchema, Snapshot, Type,
};
use crate::value::{Map, Value};

const DEFAULT_CLIENT_ID: &str = "sts.amazonaws.com";

pub fn schema() -> ResourceSchema {
    ResourceSchema {
        type_name: super::IAM_OIDC,
        description:
            "An IAM OpenID Connect identity provider, e.g. an EKS cluster's service account issuer; \
             with `mode: data`, an existing one looked up by issuer URL.",
        properties: vec![
            Property::new("url", Type::String)
                .required()
                .force_new()
                .describe("issuer URL, https://..."),
            Property::new("client_ids", Type::List(Box::new(Type::String)))
                .default(Value::List(vec![Value::from(DEFAULT_CLIENT_ID)]))
                .describe("audiences accepted"),
            Property::new("thumbprints", Type::List(Box::new(Type::String))).describe(
                "SHA-1 thumbprints (40 hex digits) of the issuer's certificate, at most 5",
            ),
            Property::new("tags", Type::Map(Box::new(Type::String)))
                .describe("tags, merged over providers.aws.tags"),
        ],
        attributes: vec![Attribute::new("arn", "ARN of the provider")],
        data_source: true,
        managed: true,
    }
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(u) = props.get_str("url") {
        if !u.starts_with("https://") || u.len() <= "https://".len() {
            out.push(invalid(
                "url",
                format!("an OIDC issuer URL starts with https://, found {u:?}"),
            ));
        }
    }
    if let Some(Value::List(t)) = props.get("thumbprints") {
        if t.len() > 5 {
            out.push(invalid(
                "thumbprints",
                format!("IAM accepts at most 5 thumbprints, found {}", t.len()),
            ));
        }
        for (i, v) in t.iter().enumerate() {
            if let Some(s) = v.as_str() {
                if s.len() != 40 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                    out.push(invalid(
                        format!("thumbprints[{i}]"),
                        format!("{s:?} is not a SHA-1 thumbprint (40 hex digits)"),
                    ));
                }
            }
        }
    }
    out
}

fn list_set(v: Option<&Value>, lower: bool) -> BTreeSet<String> {
    v.and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(|s| {
                    if lower {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set_value(s: BTreeSet<String>) -> Value {
    Value::List(s.into_iter().map(Value::from).collect())
}

pub fn normalize(props: &Value, provider_tags: &Tags) -> Value {
    let Value::Map(mut m) = without_nulls(props) else {
        return props.clone();
    };
    default_in(
        &mut m,
        "client_ids",
        Value::List(vec![Value::from(DEFAULT_CLIENT_ID)]),
    );
    if let Some(u) = m.get("url").and_then(Value::as_str) {
        let u = u.trim_end_matches('/').to_string();
        m.insert("url".into(), Value::from(u));
    }
    if !m.get("client_ids").is_some_and(Value::contains_unknown) {
        let s = list_set(m.get("client_ids"), false);
        m.insert("client_ids".into(), set_value(s));
    }
    if !m.get("thumbprints").is_some_and(Value::contains_unknown) {
        let s = list_set(m.get("thumbprints"), true);
        m.insert("thumbprints".into(), set_value(s));
    }
    tags::normalize_in(&mut m, provider_tags);
    Value::Map(m)
}

fn client_ids(props: &Value) -> BTreeSet<String> {
    match props.get("client_ids") {
        None | Some(Value::Null) => [DEFAULT_CLIENT_ID.to_string()].into(),
        v => list_set(v, false),
    }
}

pub async fn create(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let url = desired
        .get_str("url")
        .ok_or_else(|| ProviderError::new("`url` is required").with_field("url"))?;
    let thumbprints: Vec<String> = list_set(desired.get("thumbprints"), true)
        .into_iter()
        .collect();
    let tags = create_tags(p, ctx, desired)?;
    let created = c
        .call("iam:CreateOpenIDConnectProvider", url, || {
            c.iam
                .create_open_id_connect_provider()
                .url(url)
                .set_client_id_list(Some(client_ids(desired).into_iter().collect()))
                .set_thumbprint_list(Some(thumbprints.clone()).filter(|t| !t.is_empty()))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
    let out = match created {
        Ok(out) => out,
        Err(e) if e.is("EntityAlreadyExists") => return adopt(p, ctx, url, desired).await,
        Err(e) => return Err(e.into()),
    };
    let arn = out
        .open_id_connect_provider_arn
        .ok_or_else(|| ProviderError::new("CreateOpenIDConnectProvider returned no ARN"))?;
    let prior = Snapshot {
        id: arn.clone(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &prior)
        .await
        .map_err(|e| super::after_creation(e, "OIDC provider", &arn))?
        .ok_or_else(|| {
            ProviderError::new(format!(
                "OIDC provider {arn} disappeared right after its creation"
            ))
        })
}

/// CreateOpenIDConnectProvider found the issuer taken: a provider this state created at
/// this address (its create crashed before the state recorded it) is adopted and brought
/// to the desired client ids, thumbprints and tags as an update would; any other provider
/// (typically the one eksctl or the console made for the cluster) stops the create.
async fn adopt(
    p: &AwsProvider,
    ctx: &OpContext,
    url: &str,
    desired: &Value,
) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let arn = find_arn(p, url).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "IAM answered that an OIDC provider for {url} already exists, but none is listed"
        ))
        .with_field("url")
        .with_help("IAM may still be settling a recent delete; apply again shortly")
    })?;
    let live = c
        .call("iam:GetOpenIDConnectProvider", &arn, || {
            c.iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .send()
        })
        .await?;
    let live_tags: Vec<(String, String)> = live
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    ownership::claim_existing(ctx, "IAM OIDC provider", &arn, "url", &live_tags)?;
    let found = Snapshot {
        id: arn.clone(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    let live = read(p, &found).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "OIDC provider {arn} disappeared while it was being adopted"
        ))
    })?;
    update(p, &live, desired).await
}

/// The ARN of the account's OIDC provider for the issuer `url`; `None` when the account
/// has none. IAM names a provider by its issuer's host and path: the ARN ends with them.
pub async fn find_arn(p: &AwsProvider, url: &str) -> ProviderResult<Option<String>> {
    let c = p.clients()?;
    let host_path = url
        .strip_prefix("https://")
        .unwrap_or(url)
        .trim_end_matches('/');
    let suffix = format!(":oidc-provider/{host_path}");
    let list = c
        .call("iam:ListOpenIDConnectProviders", url, || {
            c.iam.list_open_id_connect_providers().send()
        })
        .await?;
    Ok(list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|e| e.arn())
        .find(|arn| arn.ends_with(&suffix))
        .map(str::to_string))
}

/// The provider for the issuer `desired` names, as it is (`lifecycle.adopt`).
async fn find(p: &AwsProvider, desired: &Value) -> ProviderResult<Option<Snapshot>> {
    let url = desired
        .get_str("url")
        .ok_or_else(|| ProviderError::new("`url` is required").with_field("url"))?;
    let Some(arn) = find_arn(p, url).await? else {
        return Ok(None);
    };
    let found = Snapshot {
        id: arn,
        properties: desired.clone(),
        attributes: Value::Null,
    };
    read(p, &found).await
}

/// `mode: data`: the existing provider for an issuer URL, with its ARN.
async fn read_data(p: &AwsProvider, props: &Value) -> ProviderResult<Value> {
    let url = props
        .get_str("url")
        .ok_or_else(|| ProviderError::new("`url` is required").with_field("url"))?;
    let missing = || {
        ProviderError::new(format!("no IAM OIDC provider for {url} in this account"))
            .with_field("url")
            .with_help(
                "check the issuer URL (aws eks describe-cluster --query cluster.identity.oidc.issuer), \
                 or create the provider: `eksctl utils associate-iam-oidc-provider`, or a managed \
                 aws.iam.oidc_provider resource",
            )
    };
    let arn = find_arn(p, url).await?.ok_or_else(missing)?;
    let found = Snapshot {
        id: arn.clone(),
        properties: Value::Null,
        attributes: Value::Null,
    };
    let live = read(p, &found).await?.ok_or_else(missing)?;
    let mut attrs = match live.properties {
        Value::Map(m) => m,
        _ => Map::new(),
    };
    attrs.insert("arn".into(), Value::from(arn));
    Ok(Value::Map(attrs))
}

pub async fn read(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    let c = p.clients()?;
    let arn = prior.id.as_str();
    let live = match c
        .call("iam:GetOpenIDConnectProvider", arn, || {
            c.iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
        })
        .await
    {
        Ok(out) => out,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut props = match &prior.properties {
        Value::Map(m) if !m.is_empty() => m.clone(),
        _ => Map::new(),
    };
    if !props.contains_key("url") {
        if let Some(u) = live.url() {
            let u = if u.starts_with("https://") {
                u.to_string()
            } else {
                format!("https://{u}")
            };
            props.insert("url".into(), Value::from(u));
        }
    }
    props.insert(
        "client_ids".into(),
        set_value(live.client_id_list().iter().cloned().collect()),
    );
    let thumbs: BTreeSet<String> = live
        .thumbprint_list()
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    if props.contains_key("thumbprints") || !thumbs.is_empty() {
        props.insert("thumbprints".into(), set_value(thumbs));
    }
    let live_tags: Vec<(String, String)> = live
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let tags_back = tags::read_back(&live_tags, &prior.properties, &p.provider_tags());
    props.insert("tags".into(), tags::to_value(&tags_back));
    let mut attrs = Map::new();
    attrs.insert("arn".into(), Value::from(arn));
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
    let live = c
        .call("iam:GetOpenIDConnectProvider", arn, || {
            c.iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
        })
        .await?;
    let have: BTreeSet<String> = live.client_id_list().iter().cloned().collect();
    let want = client_ids(desired);
    for id in want.difference(&have) {
        c.call("iam:AddClientIDToOpenIDConnectProvider", arn, || {
            c.iam
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
        })
        .await?;
    }
    for id in have.difference(&want) {
        c.call("iam:RemoveClientIDFromOpenIDConnectProvider", arn, || {
            c.iam
                .remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
        })
        .await?;
    }
    let have_t: BTreeSet<String> = live
        .thumbprint_list()
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let want_t = list_set(desired.get("thumbprints"), true);
    if have_t != want_t {
        c.call("iam:UpdateOpenIDConnectProviderThumbprint", arn, || {
            c.iam
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(want_t.iter().cloned().collect()))
                .send()
        })
        .await?;
    }
    let (set, remove) = tags::changes(&p.provider_tags(), &prior.properties, desired);
    if !remove.is_empty() {
        c.call("iam:UntagOpenIDConnectProvider", arn, || {
            c.iam
                .untag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .set_tag_keys(Some(remove.clone()))
                .send()
        })
        .await?;
    }
    if !set.is_empty() {
        let tags = iam_tags(&set)?;
        c.call("iam:TagOpenIDConnectProvider", arn, || {
            c.iam
                .tag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
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
    read(p, &next).await?.ok_or_else(|| {
        ProviderError::new(format!("OIDC provider {arn} disappeared during its update"))
    })
}

pub async fn delete(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<()> {
    let c = p.clients()?;
    let arn = prior.id.as_str();
    match c
        .call("iam:DeleteOpenIDConnectProvider", arn, || {
            c.iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `aws.iam.oidc_provider` as a resource type.
pub struct OidcProvider;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for OidcProvider {
    fn type_name(&self) -> &'static str {
        super::IAM_OIDC
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
        super::normalized_diff(p, schema, prior, desired, normalize, None)
    }

    /// An OIDC provider is its issuer URL.
    fn identity(&self, properties: &Value) -> Option<String> {
        let url = properties.get_str("url")?;
        let issuer = url.strip_prefix("https://").unwrap_or(url);
        Some(format!(
            "aws iam oidc provider {}",
            issuer.trim_end_matches('/')
        ))
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

    /// By issuer URL: the account holds at most one provider per issuer.
    async fn find(
        &self,
        p: &AwsProvider,
        _ctx: &crate::provider::OpContext,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        find(p, desired).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    #[test]
    fn defaults_and_order_do_not_make_diffs() {
        let a = normalize(&yaml("url: https://oidc.example/id/1\nthumbprints: [BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB, aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"), &Tags::new());
        let b = normalize(&yaml("url: https://oidc.example/id/1/\nclient_ids: [sts.amazonaws.com]\nthumbprints: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]\n"), &Tags::new());
        assert_eq!(a, b);
    }

    #[test]
    fn url_and_thumbprints_are_checked() {
        let v = yaml("url: http://oidc.example\nthumbprints: [abc]\n");
        let fields: Vec<String> = validate(&v).into_iter().filter_map(|d| d.field).collect();
        assert_eq!(fields, vec!["url", "thumbprints[0]"]);
    }
}
