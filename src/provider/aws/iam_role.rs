//! `aws.iam.role`: an IAM role with a trust policy, written out or generated from the
//! `irsa` shorthand (an EKS service account assuming the role through the cluster's OIDC
//! provider, as eksctl writes it) or the `pod_identity` one (the EKS Pod Identity Agent
//! assuming it for an associated service account), and the managed policies attached to it.

use std::collections::BTreeSet;

use super::iam_policy::{create_tags, iam_tags, validate_name, validate_path};
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
        type_name: super::IAM_ROLE,
        description: "An IAM role, with its trust policy and attached managed policies.",
        properties: vec![
            Property::new("name", Type::String).required().force_new().describe("role name"),
            Property::new("path", Type::String).force_new().default("/").describe("IAM path"),
            Property::new("description", Type::String).describe("free text"),
            Property::new("assume_role_policy", Type::Any).describe("the trust policy, as a YAML map or a JSON string; or use `irsa`"),
            Property::new(
                "irsa",
                Type::Object(vec![
                    Property::new("oidc_provider", Type::String).required().describe("the cluster's IAM OIDC provider: its ARN, or the EKS issuer URL"),
                    Property::new("namespace", Type::String).required(),
                    Property::new("service_account", Type::String).required(),
                ]),
            )
            .describe("generates the trust policy that lets one Kubernetes service account assume the role"),
            Property::new("pod_identity", Type::Bool).describe(
                "generates the EKS Pod Identity trust policy (pods.eks.amazonaws.com); pair it with an aws.eks.pod_identity_association",
            ),
            Property::new("policy_arns", Type::List(Box::new(Type::String))).describe("managed policies attached to the role"),
            Property::new("tags", Type::Map(Box::new(Type::String))).describe("tags, merged over providers.aws.tags"),
        ],
        attributes: vec![
            Attribute::new("arn", "ARN of the role"),
            Attribute::new("unique_id", "IAM's stable id of the role (AROA...)"),
        ],
        data_source: false,
        managed: true,
    }
}

/// `oidc.eks.REGION.amazonaws.com/id/XYZ` from an OIDC provider ARN or an issuer URL.
pub fn issuer_host_path(provider: &str) -> Option<&str> {
    if let Some(rest) = provider.strip_prefix("https://") {
        return Some(rest.trim_end_matches('/')).filter(|s| !s.is_empty());
    }
    let (prefix, host_path) = provider.split_once(":oidc-provider/")?;
    let parts: Vec<&str> = prefix.split(':').collect();
    (parts.len() == 5
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && !host_path.is_empty())
    .then_some(host_path)
}

/// The trust policy eksctl creates for a service account.
pub fn irsa_trust_policy(provider_arn: &str, namespace: &str, service_account: &str) -> Value {
    let host_path = issuer_host_path(provider_arn).unwrap_or_default();
    let json = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{host_path}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                format!("{host_path}:aud"): "sts.amazonaws.com",
            }}
        }]
    });
    Value::from_json(json)
}

/// The principal the EKS Pod Identity Agent assumes roles as.
pub const POD_IDENTITY_PRINCIPAL: &str = "pods.eks.amazonaws.com";

/// The trust policy EKS documents for Pod Identity: the agent assumes the role and tags
/// the session with the pod's cluster, namespace and service account.
pub fn pod_identity_trust_policy() -> Value {
    Value::from_json(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"]
        }]
    }))
}

/// True when the properties ask for the Pod Identity trust policy.
pub fn wants_pod_identity(props: &Value) -> bool {
    props.get("pod_identity").and_then(Value::as_bool) == Some(true)
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    validate_name(props, 64, &mut out);
    validate_path(props, &mut out);
    let present = |k: &str| props.get(k).is_some_and(|v| !v.is_null());
    // `pod_identity: false` asks for nothing; an unknown value may turn out either way, so
    // it neither clashes with another trust source nor leaves the role without one.
    let pod_unknown = matches!(props.get("pod_identity"), Some(Value::Unknown));
    let pod_identity = matches!(props.get("pod_identity"), Some(Value::Bool(true)));
    match (present("assume_role_policy"), present("irsa"), pod_identity) {
        (true, true, _) => out.push(invalid(
            "irsa",
            "set either assume_role_policy or irsa, not both",
        )),
        (false, true, true) => out.push(
            invalid(
                "pod_identity",
                "set either irsa or pod_identity, not both: they are two ways for pods to get the role",
            )
            .with_help("keep irsa (an OIDC provider and a service account annotation) or pod_identity (an aws.eks.pod_identity_association)"),
        ),
        (true, false, true) => out.push(invalid(
            "pod_identity",
            "set either assume_role_policy or pod_identity, not both",
        )),
        (false, false, false) if !pod_unknown => out.push(
            invalid("assume_role_policy", "a role needs a trust policy").with_help(
                "set assume_role_policy, irsa: {oidc_provider, namespace, service_account}, or pod_identity: true",
            ),
        ),
        _ => {}
    }
    if let Some(d) = props.get("assume_role_policy").filter(|v| !v.is_null()) {
        out.extend(doc::validate(d, "assume_role_policy", DocKind::Trust));
    }
    if let Some(irsa) = props.get("irsa") {
        if let Some(p) = irsa.get_str("oidc_provider") {
            if issuer_host_path(p).is_none() {
                out.push(
                    invalid(
                        "irsa.oidc_provider",
                        format!("{p:?} is neither an OIDC provider ARN nor an https issuer URL"),
                    )
                    .with_help("e.g. ${oidc.arn}, or https://oidc.eks.REGION.amazonaws.com/id/ID"),
                );
            }
        }
        for key in ["namespace", "service_account"] {
            if let Some(v) = irsa.get_str(key) {
                if !is_dns_label(v) {
                    out.push(invalid(
                        format!("irsa.{key}"),
                        format!("{v:?} is not a valid Kubernetes name"),
                    ));
                }
            }
        }
    }
    if let Some(Value::List(arns)) = props.get("policy_arns") {
        for (i, a) in arns.iter().enumerate() {
            if let Some(s) = a.as_str() {
                if !(s.starts_with("arn:") && s.contains(":policy/")) {
                    out.push(invalid(
                        format!("policy_arns[{i}]"),
                        format!("{s:?} is not a managed policy ARN"),
                    ));
                }
            }
        }
    }
    out
}

fn string_set(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn normalize(props: &Value, provider_tags: &Tags) -> Value {
    let Value::Map(mut m) = without_nulls(props) else {
        return props.clone();
    };
    default_in(&mut m, "path", Value::from("/"));
    if let Some(d) = m.get("assume_role_policy") {
        let n = doc::normalize(d);
        m.insert("assume_role_policy".into(), n);
    }
    if !matches!(m.get("policy_arns"), Some(Value::Unknown))
        && !m.get("policy_arns").is_some_and(Value::contains_unknown)
    {
        let set = string_set(m.get("policy_arns"));
        m.insert(
            "policy_arns".into(),
            Value::List(set.into_iter().map(Value::from).collect()),
        );
    }
    tags::normalize_in(&mut m, provider_tags);
    Value::Map(m)
}

/// Resolves an issuer URL to the account's OIDC provider ARN (IAM names providers by
/// host and path, so the ARN ends with the URL without its scheme).
async fn provider_arn(p: &AwsProvider, given: &str) -> ProviderResult<String> {
    if !given.starts_with("https://") {
        return Ok(given.to_string());
    }
    super::iam_oidc::find_arn(p, given).await?.ok_or_else(|| {
        ProviderError::new(format!("no IAM OIDC provider for {given} in this account"))
            .with_field("irsa.oidc_provider")
            .with_help("create one with an aws.iam.oidc_provider resource and use its ${NAME.arn}")
    })
}

/// The trust policy the properties ask for.
async fn desired_trust(p: &AwsProvider, props: &Value) -> ProviderResult<Value> {
    if let Some(d) = props.get("assume_role_policy").filter(|v| !v.is_null()) {
        return doc::parse(d).map_err(|e| ProviderError::new(e).with_field("assume_role_policy"));
    }
    if wants_pod_identity(props) {
        return Ok(pod_identity_trust_policy());
    }
    let irsa = props.get("irsa").ok_or_else(|| {
        ProviderError::new("a role needs assume_role_policy, irsa or pod_identity")
            .with_field("assume_role_policy")
    })?;
    let field = |k: &str| {
        irsa.get_str(k).ok_or_else(|| {
            ProviderError::new(format!("irsa.{k} is required")).with_field(format!("irsa.{k}"))
        })
    };
    let arn = provider_arn(p, field("oidc_provider")?).await?;
    Ok(irsa_trust_policy(
        &arn,
        field("namespace")?,
        field("service_account")?,
    ))
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(&v.to_json()).unwrap_or_default()
}

pub async fn create(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let name = desired
        .get_str("name")
        .ok_or_else(|| ProviderError::new("`name` is required").with_field("name"))?;
    let trust = desired_trust(p, desired).await?;
    let tags = create_tags(p, ctx, desired)?;
    let created = c
        .call("iam:CreateRole", name, || {
            c.iam
                .create_role()
                .role_name(name)
                .path(desired.get_str("path").unwrap_or("/"))
                .set_description(desired.get_str("description").map(str::to_string))
                .assume_role_policy_document(json_text(&trust))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.is("EntityAlreadyExists") => return adopt(p, ctx, name, desired).await,
        Err(e) => return Err(e.into()),
    }
    let finish = async {
        for arn in string_set(desired.get("policy_arns")) {
            c.call("iam:AttachRolePolicy", name, || {
                c.iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(&arn)
                    .send()
            })
            .await?;
        }
        let prior = Snapshot {
            id: name.to_string(),
            properties: desired.clone(),
            attributes: Value::Null,
        };
        read(p, &prior).await?.ok_or_else(|| {
            ProviderError::new(format!("role {name} disappeared right after its creation"))
        })
    };
    finish
        .await
        .map_err(|e| super::after_creation(e, "role", name))
}

/// CreateRole found the name taken: a role this state created at this address (a crash,
/// or an AttachRolePolicy that failed after CreateRole) is adopted, and its trust policy,
/// attachments, description and tags are brought to the desired state as an update
/// would; any other role stops the create.
async fn adopt(
    p: &AwsProvider,
    ctx: &OpContext,
    name: &str,
    desired: &Value,
) -> ProviderResult<Snapshot> {
    let c = p.clients()?;
    let live_tags: Vec<(String, String)> = c
        .call("iam:ListRoleTags", name, || {
            c.iam.list_role_tags().role_name(name).send()
        })
        .await?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    ownership::claim_existing(ctx, "IAM role", name, "name", &live_tags)?;
    let found = Snapshot {
        id: name.to_string(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    let live = read(p, &found).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "role {name} disappeared while it was being adopted"
        ))
    })?;
    update(p, &live, desired).await
}

async fn attached(p: &AwsProvider, name: &str) -> ProviderResult<BTreeSet<String>> {
    let c = p.clients()?;
    let mut out = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .call("iam:ListAttachedRolePolicies", name, || {
                c.iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        out.extend(
            page.attached_policies()
                .iter()
                .filter_map(|a| a.policy_arn().map(str::to_string)),
        );
        marker = page
            .marker()
            .map(str::to_string)
            .filter(|_| page.is_truncated());
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// The snapshot id is the role name (IAM addresses roles by name).
pub async fn read(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    let c = p.clients()?;
    let name = prior.id.as_str();
    // Both at once: a plan over many roles waits one round trip per role, not two. The
    // attachments only count once the role is known to exist.
    let (got, policies) = tokio::join!(
        c.call("iam:GetRole", name, || {
            c.iam.get_role().role_name(name).send()
        }),
        attached(p, name)
    );
    let role = match got {
        Ok(out) => out
            .role
            .ok_or_else(|| ProviderError::new("GetRole returned no role"))?,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let policies = policies?;
    let live_trust = doc::from_iam(role.assume_role_policy_document().unwrap_or("{}"))
        .map_err(ProviderError::new)?;
    // GetRole carries every tag (a role has at most 50), so no ListRoleTags.
    let live_tags: Vec<(String, String)> = role
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();

    let mut props = match &prior.properties {
        Value::Map(m) if !m.is_empty() => m.clone(),
        _ => Map::new(),
    };
    let tags_back = tags::read_back(&live_tags, &prior.properties, &p.provider_tags());
    props.insert("name".into(), Value::from(role.role_name()));
    props.insert("path".into(), Value::from(role.path()));
    match role.description().filter(|d| !d.is_empty()) {
        Some(d) => props.insert("description".into(), Value::from(d)),
        None => props.remove("description"),
    };
    let expected = if props.contains_key("assume_role_policy")
        || props.contains_key("irsa")
        || wants_pod_identity(&prior.properties)
    {
        Some(desired_trust(p, &Value::Map(props.clone())).await?)
    } else {
        None
    };
    let same = expected
        .as_ref()
        .is_some_and(|e| doc::equivalent(e, &live_trust));
    if !same {
        // Drift (or import): the live trust policy, written out.
        props.insert("assume_role_policy".into(), live_trust);
    }
    if props.contains_key("policy_arns") || !policies.is_empty() {
        props.insert(
            "policy_arns".into(),
            Value::List(policies.into_iter().map(Value::from).collect()),
        );
    }
    props.insert("tags".into(), tags::to_value(&tags_back));

    let mut attrs = Map::new();
    attrs.insert("arn".into(), Value::from(role.arn()));
    attrs.insert("unique_id".into(), Value::from(role.role_id()));
    Ok(Some(Snapshot {
        id: name.to_string(),
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
    let name = prior.id.as_str();
    if prior.properties.get("description") != desired.get("description") {
        c.call("iam:UpdateRole", name, || {
            c.iam
                .update_role()
                .role_name(name)
                .description(desired.get_str("description").unwrap_or_default())
                .send()
        })
        .await?;
    }
    let trust = desired_trust(p, desired).await?;
    let live = c
        .call("iam:GetRole", name, || {
            c.iam.get_role().role_name(name).send()
        })
        .await?;
    let live_trust = doc::from_iam(
        live.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or("{}"),
    )
    .map_err(ProviderError::new)?;
    if !doc::equivalent(&trust, &live_trust) {
        c.call("iam:UpdateAssumeRolePolicy", name, || {
            c.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(json_text(&trust))
                .send()
        })
        .await?;
    }
    let want = string_set(desired.get("policy_arns"));
    let have = attached(p, name).await?;
    for arn in have.difference(&want) {
        c.call("iam:DetachRolePolicy", name, || {
            c.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
        })
        .await?;
    }
    for arn in want.difference(&have) {
        c.call("iam:AttachRolePolicy", name, || {
            c.iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
        })
        .await?;
    }
    let (set, remove) = tags::changes(&p.provider_tags(), &prior.properties, desired);
    if !remove.is_empty() {
        c.call("iam:UntagRole", name, || {
            c.iam
                .untag_role()
                .role_name(name)
                .set_tag_keys(Some(remove.clone()))
                .send()
        })
        .await?;
    }
    if !set.is_empty() {
        let tags = iam_tags(&set)?;
        c.call("iam:TagRole", name, || {
            c.iam
                .tag_role()
                .role_name(name)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
    }
    let next = Snapshot {
        id: name.to_string(),
        properties: desired.clone(),
        attributes: prior.attributes.clone(),
    };
    read(p, &next)
        .await?
        .ok_or_else(|| ProviderError::new(format!("role {name} disappeared during its update")))
}

pub async fn delete(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<()> {
    let c = p.clients()?;
    let name = prior.id.as_str();
    match c
        .call("iam:GetRole", name, || {
            c.iam.get_role().role_name(name).send()
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let policies = attached(p, name).await?;
    // IAM refuses to delete a role with attached or inline policies.
    for arn in policies {
        c.call("iam:DetachRolePolicy", name, || {
            c.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(&arn)
                .send()
        })
        .await?;
    }
    let inline = c
        .call("iam:ListRolePolicies", name, || {
            c.iam.list_role_policies().role_name(name).send()
        })
        .await?;
    for pol in inline.policy_names() {
        c.call("iam:DeleteRolePolicy", name, || {
            c.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(pol)
                .send()
        })
        .await?;
    }
    match c
        .call("iam:DeleteRole", name, || {
            c.iam.delete_role().role_name(name).send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `aws.iam.role` as a resource type.
pub struct Role;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for Role {
    fn type_name(&self) -> &'static str {
        super::IAM_ROLE
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

    fn identity(&self, properties: &Value) -> Option<String> {
        super::iam_identity("role", properties)
    }

    /// A role is imported by its name.
    fn adopt_id(&self, desired: &Value) -> Option<String> {
        desired.get_str("name").map(str::to_string)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    const OIDC: &str =
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123";

    #[test]
    fn irsa_generates_the_eksctl_trust_policy() {
        let got = irsa_trust_policy(OIDC, "cert-manager", "aws-privateca-issuer");
        let want = yaml(&format!(
            "Version: '2012-10-17'\nStatement:\n- Effect: Allow\n  Principal: {{Federated: '{OIDC}'}}\n  Action: sts:AssumeRoleWithWebIdentity\n  Condition:\n    StringEquals:\n      oidc.eks.us-east-1.amazonaws.com/id/ABC123:sub: system:serviceaccount:cert-manager:aws-privateca-issuer\n      oidc.eks.us-east-1.amazonaws.com/id/ABC123:aud: sts.amazonaws.com\n"
        ));
        assert_eq!(got, want);
        assert!(doc::validate(&got, "assume_role_policy", DocKind::Trust).is_empty());
    }

    #[test]
    fn pod_identity_generates_the_trust_eks_documents_and_excludes_irsa() {
        let want = yaml("Version: '2012-10-17'\nStatement:\n- Effect: Allow\n  Principal: {Service: pods.eks.amazonaws.com}\n  Action: ['sts:AssumeRole', 'sts:TagSession']\n");
        assert_eq!(pod_identity_trust_policy(), want);
        assert!(validate(&yaml("name: r\npod_identity: true\n")).is_empty());
        let both = yaml(&format!("name: r\npod_identity: true\nirsa: {{oidc_provider: '{OIDC}', namespace: a, service_account: b}}\n"));
        let d = &validate(&both)[0];
        assert_eq!(d.field.as_deref(), Some("pod_identity"));
        assert!(d.summary.contains("irsa") && d.summary.contains("pod_identity"));
        let off = yaml("name: r\npod_identity: false\n");
        assert_eq!(
            validate(&off)[0].field.as_deref(),
            Some("assume_role_policy")
        );
    }

    #[test]
    fn issuer_host_path_from_arn_or_url() {
        assert_eq!(
            issuer_host_path(OIDC),
            Some("oidc.eks.us-east-1.amazonaws.com/id/ABC123")
        );
        assert_eq!(
            issuer_host_path("https://oidc.eks.us-east-1.amazonaws.com/id/ABC123/"),
            Some("oidc.eks.us-east-1.amazonaws.com/id/ABC123")
        );
        assert_eq!(
            issuer_host_path("oidc.eks.us-east-1.amazonaws.com/id/ABC123"),
            None
        );
        assert_eq!(issuer_host_path("arn:aws:iam::1:oidc-provider/x"), None);
    }

    #[test]
    fn exactly_one_trust_source() {
        let both = yaml(&format!("name: r\nassume_role_policy: {{Version: '2012-10-17', Statement: [{{Effect: Allow, Principal: {{Service: ec2.amazonaws.com}}, Action: 'sts:AssumeRole'}}]}}\nirsa: {{oidc_provider: '{OIDC}', namespace: a, service_account: b}}\n"));
        assert_eq!(validate(&both)[0].field.as_deref(), Some("irsa"));
        let none = yaml("name: r\n");
        assert_eq!(
            validate(&none)[0].field.as_deref(),
            Some("assume_role_policy")
        );
        let bad = yaml("name: r\nirsa: {oidc_provider: 'oidc.example', namespace: A_B, service_account: b}\npolicy_arns: [nope]\n");
        let fields: Vec<String> = validate(&bad).into_iter().filter_map(|d| d.field).collect();
        assert_eq!(
            fields,
            vec!["irsa.oidc_provider", "irsa.namespace", "policy_arns[0]"]
        );
    }

    #[test]
    fn policy_arns_compare_as_a_set() {
        let a = normalize(
            &yaml("name: r\npolicy_arns: ['arn:aws:iam::1:policy/b', 'arn:aws:iam::1:policy/a']\n"),
            &Tags::new(),
        );
        let b = normalize(&yaml("name: r\npath: /\npolicy_arns: ['arn:aws:iam::1:policy/a', 'arn:aws:iam::1:policy/b']\n"), &Tags::new());
        assert_eq!(a, b);
    }
}
