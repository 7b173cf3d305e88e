//! `aws.pca.certificate_authority`: a root or subordinate AWS Private CA, created and
//! activated in one step (CSR, certificate from the parent, import), resumable after a
//! crash at any point.

use std::time::Duration;

use aws_sdk_acmpca::primitives::Blob;
use aws_sdk_acmpca::types::{
    Asn1Subject, CertificateAuthority, CertificateAuthorityConfiguration,
    CertificateAuthorityStatus as Status, CertificateAuthorityType, CertificateAuthorityUsageMode,
    CrlConfiguration, KeyAlgorithm, KeyStorageSecurityStandard, OcspConfiguration,
    RevocationConfiguration, SigningAlgorithm, Tag, Validity, ValidityPeriodType,
};

use super::certs;
use super::errors::{invalid_state, CallError};
use super::ownership::{self, CreateStep, FoundCa};
use super::tags::{self, Tags};
use super::templates::{self, CaKind, MAX_PATH_LENGTH, MAX_VALIDITY_DAYS};
use super::wait;
use super::{default_in, invalid, without_nulls, AwsProvider};
use crate::diag::Diagnostic;
use crate::provider::{
    Attribute, OpContext, Property, ProviderError, ProviderResult, ResourceSchema, Snapshot, Type,
};
use crate::value::{Map, Value};

pub const KEY_ALGORITHMS: &[&str] = &["RSA_2048", "RSA_4096", "EC_prime256v1", "EC_secp384r1"];
pub const SIGNING_ALGORITHMS: &[&str] = &[
    "SHA256WITHRSA",
    "SHA384WITHRSA",
    "SHA512WITHRSA",
    "SHA256WITHECDSA",
    "SHA384WITHECDSA",
    "SHA512WITHECDSA",
];
const USAGE_MODES: &[&str] = &["general_purpose", "short_lived_certificate"];
pub const KEY_STORAGE_STANDARDS: &[&str] = &[
    "FIPS_140_2_LEVEL_3_OR_HIGHER",
    "FIPS_140_2_LEVEL_2_OR_HIGHER",
    "CCPC_LEVEL_1_OR_HIGHER",
];
/// Regions where PCA refuses its level-3 default: the ones the CreateCertificateAuthority
/// API reference names under `KeyStorageSecurityStandard` (also the CloudFormation and SDK
/// references). Only a documented refusal is checked at plan time; a region that refuses
/// without being listed fails at apply with InvalidArgsException, changing nothing.
pub const LEVEL_2_ONLY_REGIONS: &[&str] = &["ap-northeast-3", "ap-southeast-3"];
/// The China regions, where keys are stored under the Chinese CCPC standard only.
pub const CHINA_REGIONS: &[&str] = &["cn-north-1", "cn-northwest-1"];

/// The key storage standard PCA can give a CA in `region`.
pub fn default_key_storage(region: &str) -> &'static str {
    if CHINA_REGIONS.contains(&region) {
        "CCPC_LEVEL_1_OR_HIGHER"
    } else if LEVEL_2_ONLY_REGIONS.contains(&region) {
        "FIPS_140_2_LEVEL_2_OR_HIGHER"
    } else {
        "FIPS_140_2_LEVEL_3_OR_HIGHER"
    }
}

/// Why `region` refuses `standard`, if it does.
pub fn key_storage_refusal(region: &str, standard: &str) -> Option<String> {
    let supported = default_key_storage(region);
    let ok = match supported {
        // A level-3 region also stores keys at level 2 or higher; CCPC is China's alone.
        "FIPS_140_2_LEVEL_3_OR_HIGHER" => standard != "CCPC_LEVEL_1_OR_HIGHER",
        other => standard == other,
    };
    (!ok).then(|| {
        format!(
            "AWS Private CA in {region} does not store CA keys under {standard}; it supports {supported}"
        )
    })
}

/// Properties whose change replaces the CA; their digest tags each CA (see ownership).
const IDENTITY: &[&str] = &[
    "kind",
    "subject",
    "key_algorithm",
    "signing_algorithm",
    "validity",
    "usage_mode",
    "parent",
    "path_length",
    "key_storage_security_standard",
    "region",
    "existing_arn",
];

pub fn schema() -> ResourceSchema {
    let subject = Type::Object(vec![
        Property::new("common_name", Type::String)
            .required()
            .describe("CN of the CA certificate"),
        Property::new("organization", Type::String).describe("O"),
        Property::new("organizational_unit", Type::String).describe("OU"),
        Property::new("country", Type::String).describe("C, two letters"),
        Property::new("state", Type::String).describe("ST"),
        Property::new("locality", Type::String).describe("L"),
    ]);
    let revocation = Type::Object(vec![
        Property::new(
            "crl",
            Type::Object(vec![
                Property::new("enabled", Type::Bool).required(),
                Property::new("expiration_days", Type::Number),
                Property::new("s3_bucket", Type::String),
                Property::new("custom_cname", Type::String),
            ]),
        )
        .describe("certificate revocation list published to S3"),
        Property::new(
            "ocsp",
            Type::Object(vec![
                Property::new("enabled", Type::Bool).required(),
                Property::new("custom_cname", Type::String),
            ]),
        )
        .describe("PCA-hosted OCSP responder"),
    ]);
    ResourceSchema {
        type_name: super::PCA_CA,
        description: "An AWS Private CA certificate authority, root or subordinate, created and activated (its certificate issued and imported) in one step.",
        properties: vec![
            Property::new("kind", Type::Enum(&["root", "subordinate"])).required().force_new().describe("root signs itself; subordinate is signed by `parent`"),
            Property::new("subject", subject).required().force_new().describe("distinguished name of the CA"),
            Property::new("key_algorithm", Type::String).required().force_new().describe("RSA_2048, RSA_4096, EC_prime256v1 or EC_secp384r1"),
            Property::new("signing_algorithm", Type::String).required().force_new().describe("SHA256WITHRSA, SHA384WITHRSA, SHA512WITHRSA (RSA keys) or SHA256WITHECDSA, SHA384WITHECDSA, SHA512WITHECDSA (EC keys)"),
            Property::new("validity", Type::Duration).required().force_new().describe("lifetime of the CA certificate, e.g. 10y or 1825d (at most 40y)"),
            Property::new("usage_mode", Type::Enum(USAGE_MODES)).force_new().default("general_purpose").describe("short_lived_certificate CAs issue certificates of at most 7 days, at a lower price"),
            Property::new("revocation", revocation).describe("CRL and OCSP settings"),
            Property::new("tags", Type::Map(Box::new(Type::String))).describe("tags, merged over providers.aws.tags"),
            Property::new("enabled", Type::Bool).default(true).describe("false disables the CA (it stops issuing) without deleting it"),
            Property::new("permanent_deletion_days", Type::Number).default(30).describe("restore window after delete, 7 to 30 days"),
            Property::new("parent", Type::String).force_new().describe("ARN of the CA that signs a subordinate, e.g. ${root_ca.arn}"),
            Property::new("path_length", Type::Number).force_new().describe("subordinate only: how many CA levels may follow below it, 0 to 3 (default 0)"),
            Property::new("key_storage_security_standard", Type::Enum(KEY_STORAGE_STANDARDS)).force_new().describe("how PCA's HSMs store the CA key; default: what the CA's region supports (FIPS_140_2_LEVEL_3_OR_HIGHER, FIPS_140_2_LEVEL_2_OR_HIGHER in level-2-only regions, CCPC_LEVEL_1_OR_HIGHER in China)"),
            Property::new("region", Type::String).force_new().describe("region of this CA; default: providers.aws.region"),
            Property::new("existing_arn", Type::String).force_new().describe("use this existing CA instead of creating one: it is read, never changed or deleted, and costs this stack nothing; empty means create"),
        ],
        attributes: vec![
            Attribute::new("arn", "ARN of the CA"),
            Attribute::new("status", "PCA status: ACTIVE, DISABLED, ..."),
            Attribute::new("certificate_pem", "the CA certificate, PEM"),
            Attribute::new("certificate_chain_pem", "the chain above the CA certificate, PEM (empty for a root)"),
            Attribute::new("serial", "certificate serial, lowercase hex without colons"),
            Attribute::new("serial_decimal", "certificate serial in decimal"),
            Attribute::new("not_before", "start of validity, RFC 3339"),
            Attribute::new("not_after", "end of validity, RFC 3339"),
        ],
        data_source: false,
        managed: true,
    }
}

/// `arn:aws[-a-z]*:acm-pca:REGION:ACCOUNT:certificate-authority/UUID`.
pub fn is_ca_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let id = resource.strip_prefix("certificate-authority/");
    *arn == "arn"
        && partition.starts_with("aws")
        && partition[3..]
            .chars()
            .all(|c| c == '-' || c.is_ascii_lowercase())
        && *service == "acm-pca"
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit())
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && id.is_some_and(|id| id.len() == 36 && uuid::Uuid::parse_str(id).is_ok())
}

fn key_family(key: &str) -> Option<&'static str> {
    if key.starts_with("RSA_") {
        Some("RSA")
    } else if key.starts_with("EC_") {
        Some("ECDSA")
    } else {
        None
    }
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let known = |k: &str| {
        props
            .get(k)
            .filter(|v| !matches!(v, Value::Unknown | Value::Null))
    };
    let kind = known("kind")
        .and_then(Value::as_str)
        .and_then(CaKind::parse);

    let key = known("key_algorithm").and_then(Value::as_str);
    if let Some(k) = key {
        if !KEY_ALGORITHMS.contains(&k) {
            out.push(with_suggestion(
                invalid("key_algorithm", format!("unknown key algorithm {k:?}")),
                k,
                KEY_ALGORITHMS,
            ));
        }
    }
    if let Some(s) = known("signing_algorithm").and_then(Value::as_str) {
        if !SIGNING_ALGORITHMS.contains(&s) {
            out.push(with_suggestion(
                invalid(
                    "signing_algorithm",
                    format!("unknown signing algorithm {s:?}"),
                ),
                s,
                SIGNING_ALGORITHMS,
            ));
        } else if let Some(family) = key
            .filter(|k| KEY_ALGORITHMS.contains(k))
            .and_then(key_family)
        {
            if !s.ends_with(&format!("WITH{family}")) {
                out.push(
                    invalid(
                        "signing_algorithm",
                        format!("{s} cannot sign with a {} key", key.unwrap_or_default()),
                    )
                    .with_help(format!(
                        "use SHA256WITH{family}, SHA384WITH{family} or SHA512WITH{family}"
                    )),
                );
            }
        }
    }

    if let Some(v) = known("validity").and_then(Value::as_str) {
        match crate::duration::parse(v) {
            Err(e) => out.push(invalid("validity", e)),
            Ok(d) if d < Duration::from_secs(86_400) => out.push(invalid(
                "validity",
                format!("validity {v} is shorter than PCA's minimum of one day"),
            )),
            Ok(d) if d.as_secs() > MAX_VALIDITY_DAYS * 86_400 => out.push(
                invalid(
                    "validity",
                    format!("validity {v} is longer than trustplane's cap of 40 years for a CA"),
                )
                .with_help("roots commonly last 10y and subordinates 5y or less"),
            ),
            Ok(_) => {}
        }
    }

    match (kind, known("parent")) {
        (Some(CaKind::Root), Some(_)) => out.push(
            invalid("parent", "a root CA has no parent")
                .with_help("remove `parent`, or use kind: subordinate"),
        ),
        (Some(CaKind::Subordinate), None)
            if !matches!(props.get("parent"), Some(Value::Unknown)) =>
        {
            out.push(
                invalid(
                    "parent",
                    "a subordinate CA needs `parent`, the ARN of the CA that signs it",
                )
                .with_help("e.g. parent: ${root_ca.arn}"),
            )
        }
        (_, Some(Value::String(p))) if !is_ca_arn(p) => out.push(
            invalid(
                "parent",
                format!("{p:?} is not a certificate authority ARN"),
            )
            .with_help("expected arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/UUID"),
        ),
        _ => {}
    }
    if let Some(pl) = known("path_length") {
        if kind == Some(CaKind::Root) {
            out.push(
                invalid(
                    "path_length",
                    "path_length applies to a subordinate CA only",
                )
                .with_help("a root's path length is not constrained by PCA's root template"),
            );
        }
        match pl.as_i64() {
            Some(n) if (0..=MAX_PATH_LENGTH).contains(&n) => {}
            _ => out.push(invalid(
                "path_length",
                format!("path_length must be 0, 1, 2 or 3, found {}", pl.render()),
            )),
        }
    }
    if let Some(d) = known("permanent_deletion_days") {
        if !d.as_i64().is_some_and(|n| (7..=30).contains(&n)) {
            out.push(invalid(
                "permanent_deletion_days",
                format!(
                    "permanent_deletion_days must be 7 to 30, found {}",
                    d.render()
                ),
            ));
        }
    }
    if let Some(c) = props
        .get("subject")
        .and_then(|s| s.get("country"))
        .and_then(Value::as_str)
    {
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            out.push(invalid(
                "subject.country",
                format!("country must be a two-letter ISO 3166 code such as US, found {c:?}"),
            ));
        }
    }
    if let Some(crl) = props.get("revocation").and_then(|r| r.get("crl")) {
        if crl.get("enabled").and_then(Value::as_bool) == Some(true)
            && crl.get("s3_bucket").is_none_or(Value::is_null)
        {
            out.push(invalid(
                "revocation.crl.s3_bucket",
                "an enabled CRL needs an S3 bucket to publish to",
            ));
        }
        if let Some(days) = crl
            .get("expiration_days")
            .filter(|v| !matches!(v, Value::Unknown))
        {
            if !days.as_i64().is_some_and(|n| (1..=5000).contains(&n)) {
                out.push(invalid(
                    "revocation.crl.expiration_days",
                    format!("expiration_days must be 1 to 5000, found {}", days.render()),
                ));
            }
        }
    }
    let region = known("region").and_then(Value::as_str);
    if let Some(r) = region {
        if r.is_empty()
            || !r
                .chars()
                .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            out.push(
                invalid("region", format!("{r:?} is not an AWS region name"))
                    .with_help("e.g. region: eu-west-1"),
            );
        }
    }
    if let Some(a) = known("existing_arn").and_then(Value::as_str) {
        if !a.is_empty() && !is_ca_arn(a) {
            out.push(
                invalid(
                    "existing_arn",
                    format!("{a:?} is not a certificate authority ARN"),
                )
                .with_help(
                    "expected arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/UUID, or \"\" to create the CA",
                ),
            );
        }
    }
    // Which region refuses which key storage is a stack check (checks/key_storage.rs),
    // which also knows providers.aws.region.
    out
}

fn with_suggestion(d: Diagnostic, input: &str, candidates: &[&str]) -> Diagnostic {
    match crate::diag::did_you_mean(input, candidates.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean {s:?}?")),
        None => d.with_help(format!("one of {}", candidates.join(", "))),
    }
}

/// Canonical revocation: `null` means both off; a disabled CRL or OCSP carries no details.
fn normalize_revocation(v: Option<&Value>) -> Value {
    if matches!(v, Some(Value::Unknown)) {
        return Value::Unknown;
    }
    let section = |name: &str, fields: &[&str]| -> Value {
        let s = v.and_then(|r| r.get(name));
        let enabled = s
            .and_then(|s| s.get("enabled"))
            .cloned()
            .unwrap_or(Value::Bool(false));
        let mut m = Map::new();
        if enabled != Value::Bool(false) {
            for f in fields {
                if let Some(x) = s.and_then(|s| s.get(f)).filter(|x| !x.is_null()) {
                    m.insert(f.to_string(), x.clone());
                }
            }
        }
        m.insert("enabled".into(), enabled);
        Value::Map(m)
    };
    let mut m = Map::new();
    m.insert(
        "crl".into(),
        section("crl", &["expiration_days", "s3_bucket", "custom_cname"]),
    );
    m.insert("ocsp".into(), section("ocsp", &["custom_cname"]));
    Value::Map(m)
}

/// The form compared by diff: defaults filled, tags merged, revocation canonical.
pub fn normalize(props: &Value, provider_tags: &Tags) -> Value {
    let Value::Map(m) = without_nulls(props) else {
        return props.clone();
    };
    let mut m = m;
    default_in(&mut m, "enabled", Value::Bool(true));
    default_in(&mut m, "permanent_deletion_days", Value::Int(30));
    default_in(&mut m, "usage_mode", Value::from("general_purpose"));
    if m.get("existing_arn").and_then(Value::as_str) == Some("") {
        m.remove("existing_arn");
    }
    if m.get("kind").and_then(Value::as_str) == Some("subordinate") {
        default_in(&mut m, "path_length", Value::Int(0));
    }
    // `10y` and `3650d` are the same validity.
    if let Some(d) = m
        .get("validity")
        .and_then(Value::as_str)
        .and_then(|v| crate::duration::parse(v).ok())
    {
        m.insert(
            "validity".into(),
            Value::from(format!("{}d", templates::validity_days(d))),
        );
    }
    let revocation = normalize_revocation(m.get("revocation"));
    m.insert("revocation".into(), revocation);
    tags::normalize_in(&mut m, provider_tags);
    Value::Map(m)
}

/// The CA a resource uses instead of creating one (`existing_arn`, when not empty).
fn existing_arn(props: &Value) -> Option<&str> {
    props.get_str("existing_arn").filter(|a| !a.is_empty())
}

/// Takes an existing CA by ARN: it must exist and be ACTIVE; nothing is created or changed.
async fn use_existing(p: &AwsProvider, arn: &str, desired: &Value) -> ProviderResult<Snapshot> {
    let ca = describe(p, arn).await.map_err(|e| {
        if e.is_not_found() {
            ProviderError::new(format!("the certificate authority {arn} does not exist"))
                .with_field("existing_arn")
                .with_help(
                    "check the ARN, its region and that this account may read it (a RAM share)",
                )
        } else {
            e.into()
        }
    })?;
    let status = status_of(&ca);
    if status != Status::Active {
        return Err(
            invalid_state(arn, &status, "an existing CA must be ACTIVE to issue")
                .with_field("existing_arn"),
        );
    }
    let prior = Snapshot {
        id: arn.to_string(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    snapshot(p, &prior)
        .await?
        .ok_or_else(|| ProviderError::new(format!("certificate authority {arn} disappeared")))
}

/// The desired CA, read from properties the engine has fully resolved.
#[derive(Debug, Clone)]
struct CaSpec {
    kind: CaKind,
    subject: Value,
    key_algorithm: String,
    signing_algorithm: String,
    validity: Duration,
    usage_mode: String,
    parent: Option<String>,
    path_length: Option<i64>,
    key_storage: Option<String>,
    region: Option<String>,
    enabled: bool,
    revocation: Value,
    config: String,
}

impl CaSpec {
    fn from(props: &Value) -> ProviderResult<CaSpec> {
        if props.contains_unknown() {
            return Err(ProviderError::new(
                "the CA's properties still hold values unknown until apply",
            ));
        }
        let errs = validate(props);
        if let Some(e) = errs.iter().find(|d| d.is_error()) {
            let mut pe = ProviderError::new(e.summary.clone());
            if let Some(f) = &e.field {
                pe = pe.with_field(f.clone());
            }
            return Err(pe);
        }
        let s = |k: &str| {
            props
                .get_str(k)
                .map(str::to_string)
                .ok_or_else(|| ProviderError::new(format!("`{k}` is required")).with_field(k))
        };
        let kind = CaKind::parse(&s("kind")?).ok_or_else(|| {
            ProviderError::new("kind must be root or subordinate").with_field("kind")
        })?;
        let validity = crate::duration::parse(&s("validity")?)
            .map_err(|e| ProviderError::new(e).with_field("validity"))?;
        let norm = normalize(props, &Tags::new());
        let identity = Value::Map(
            IDENTITY
                .iter()
                .filter_map(|k| norm.get(k).map(|v| (k.to_string(), v.clone())))
                .collect(),
        );
        Ok(CaSpec {
            kind,
            subject: props.get("subject").cloned().unwrap_or(Value::Null),
            key_algorithm: s("key_algorithm")?,
            signing_algorithm: s("signing_algorithm")?,
            validity,
            usage_mode: norm
                .get_str("usage_mode")
                .unwrap_or("general_purpose")
                .to_string(),
            parent: props.get_str("parent").map(str::to_string),
            path_length: props.get("path_length").and_then(Value::as_i64),
            key_storage: props
                .get_str("key_storage_security_standard")
                .map(str::to_string),
            region: props.get_str("region").map(str::to_string),
            enabled: norm.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            revocation: norm.get("revocation").cloned().unwrap_or(Value::Null),
            config: ownership::config_digest(&identity),
        })
    }
}

fn subject_of(v: &Value) -> Asn1Subject {
    let f = |k: &str| v.get_str(k).map(str::to_string);
    Asn1Subject::builder()
        .set_common_name(f("common_name"))
        .set_organization(f("organization"))
        .set_organizational_unit(f("organizational_unit"))
        .set_country(f("country"))
        .set_state(f("state"))
        .set_locality(f("locality"))
        .build()
}

fn revocation_config(v: &Value) -> ProviderResult<RevocationConfiguration> {
    let crl = v.get("crl");
    let ocsp = v.get("ocsp");
    let on = |s: Option<&Value>| {
        s.and_then(|s| s.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let crl_cfg = CrlConfiguration::builder()
        .enabled(on(crl))
        .set_expiration_in_days(
            crl.and_then(|c| c.get("expiration_days"))
                .and_then(Value::as_i64)
                .map(|n| n as i32),
        )
        .set_s3_bucket_name(crl.and_then(|c| c.get_str("s3_bucket")).map(str::to_string))
        .set_custom_cname(
            crl.and_then(|c| c.get_str("custom_cname"))
                .map(str::to_string),
        )
        .build()
        .map_err(|e| {
            ProviderError::new(format!("invalid CRL settings: {e}")).with_field("revocation.crl")
        })?;
    let ocsp_cfg = OcspConfiguration::builder()
        .enabled(on(ocsp))
        .set_ocsp_custom_cname(
            ocsp.and_then(|c| c.get_str("custom_cname"))
                .map(str::to_string),
        )
        .build()
        .map_err(|e| {
            ProviderError::new(format!("invalid OCSP settings: {e}")).with_field("revocation.ocsp")
        })?;
    Ok(RevocationConfiguration::builder()
        .crl_configuration(crl_cfg)
        .ocsp_configuration(ocsp_cfg)
        .build())
}

/// The live revocation configuration in the property's canonical form.
fn revocation_value(ca: &CertificateAuthority) -> Value {
    let rc = ca.revocation_configuration();
    let mut crl = Map::new();
    if let Some(c) = rc.and_then(|r| r.crl_configuration()) {
        crl.insert("enabled".into(), Value::Bool(c.enabled()));
        if let Some(d) = c.expiration_in_days() {
            crl.insert("expiration_days".into(), Value::Int(d.into()));
        }
        if let Some(b) = c.s3_bucket_name() {
            crl.insert("s3_bucket".into(), Value::from(b));
        }
        if let Some(n) = c.custom_cname() {
            crl.insert("custom_cname".into(), Value::from(n));
        }
    }
    let mut ocsp = Map::new();
    if let Some(o) = rc.and_then(|r| r.ocsp_configuration()) {
        ocsp.insert("enabled".into(), Value::Bool(o.enabled()));
        if let Some(n) = o.ocsp_custom_cname() {
            ocsp.insert("custom_cname".into(), Value::from(n));
        }
    }
    let mut m = Map::new();
    m.insert("crl".into(), Value::Map(crl));
    m.insert("ocsp".into(), Value::Map(ocsp));
    normalize_revocation(Some(&Value::Map(m)))
}

/// The region an ARN names (`arn:PARTITION:SERVICE:REGION:...`).
pub fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The clients with PCA calls going to `region` (the provider's own when `None`).
fn client_in(p: &AwsProvider, region: Option<&str>) -> ProviderResult<super::Clients> {
    let mut c = p.clients()?;
    if let Some(r) = region {
        let same = c.pca.config().region().map(|x| x.as_ref()) == Some(r);
        if !same {
            let conf = c
                .pca
                .config()
                .to_builder()
                .region(aws_sdk_acmpca::config::Region::new(r.to_string()))
                .build();
            c.pca = aws_sdk_acmpca::Client::from_conf(conf);
        }
    }
    Ok(c)
}

/// The clients for calls about one CA: PCA answers for a CA only in the region its ARN
/// names, which may not be the provider's (a parent in a central PKI account, say).
fn client_for(p: &AwsProvider, arn: &str) -> ProviderResult<super::Clients> {
    client_in(p, region_of_arn(arn))
}

/// The region a client sends to, for the region-dependent defaults.
fn client_region(c: &super::Clients) -> Option<String> {
    c.pca.config().region().map(|r| r.as_ref().to_string())
}

async fn describe(p: &AwsProvider, arn: &str) -> Result<CertificateAuthority, CallError> {
    let c = client_for(p, arn).map_err(|e| CallError {
        operation: "acm-pca:DescribeCertificateAuthority",
        resource: arn.into(),
        code: None,
        message: e.message,
        transport: false,
        status: None,
        retry_after: None,
    })?;
    let out = c
        .call("acm-pca:DescribeCertificateAuthority", arn, || {
            c.pca
                .describe_certificate_authority()
                .certificate_authority_arn(arn)
                .send()
        })
        .await?;
    // An answer without the CA is a broken answer, not "not found": only the service's
    // ResourceNotFoundException says a CA is gone.
    out.certificate_authority.ok_or_else(|| CallError {
        operation: "acm-pca:DescribeCertificateAuthority",
        resource: arn.into(),
        code: None,
        message: "the answer holds no certificate authority".into(),
        transport: false,
        status: None,
        retry_after: None,
    })
}

/// The CA's status; one PCA did not state reads as an unknown variant, which no
/// operation accepts.
fn status_of(ca: &CertificateAuthority) -> Status {
    ca.status()
        .cloned()
        .unwrap_or_else(|| Status::from("UNKNOWN"))
}

async fn list_tags(p: &AwsProvider, arn: &str) -> ProviderResult<Vec<(String, String)>> {
    let c = client_for(p, arn)?;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .call("acm-pca:ListTags", arn, || {
                c.pca
                    .list_tags()
                    .certificate_authority_arn(arn)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(page.tags().iter().map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// CAs in the account carrying this context's ownership tags and the desired common name.
async fn find_owned(
    p: &AwsProvider,
    ctx: &OpContext,
    spec: &CaSpec,
) -> ProviderResult<Vec<FoundCa>> {
    let c = client_in(p, spec.region.as_deref())?;
    let cn = spec.subject.get_str("common_name");
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .call("acm-pca:ListCertificateAuthorities", "", || {
                c.pca
                    .list_certificate_authorities()
                    .max_results(100)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for ca in page.certificate_authorities() {
            let ca_cn = ca
                .certificate_authority_configuration()
                .and_then(|cfg| cfg.subject())
                .and_then(|s| s.common_name());
            if ca_cn != cn {
                continue; // cheap filter before one ListTags per CA
            }
            let Some(arn) = ca.arn() else { continue };
            let tags = list_tags(p, arn).await?;
            if !ownership::owned_by(ctx, &tags) {
                continue;
            }
            let restorable = ownership::restorable(
                &status_of(ca),
                ca.restorable_until().map(|t| t.secs()),
                chrono::Utc::now().timestamp(),
                &tags,
            );
            found.push(FoundCa {
                arn: arn.to_string(),
                status: status_of(ca),
                config: tags
                    .iter()
                    .find(|(k, _)| k == ownership::TAG_CONFIG)
                    .map(|(_, v)| v.clone()),
                restorable,
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// True when the tags mark the CA as this state's at this address, made with the
/// configuration `spec` asks for (an older generation has another digest).
fn owned_as(ctx: &OpContext, tags: &[(String, String)], spec: &CaSpec) -> bool {
    ownership::owned_by(ctx, tags)
        && tags
            .iter()
            .any(|(k, v)| k == ownership::TAG_CONFIG && *v == spec.config)
}

/// `lifecycle.adopt`: the CA a create of `desired` would make, if the account has it. A
/// candidate is a CA (in the resource's region) that carries this state's ownership tags
/// for this address and the desired configuration's digest, or whose type, subject and key
/// algorithm are exactly the desired ones.
/// Only an ACTIVE or PENDING_CERTIFICATE candidate is adopted; a DELETED CA never is (it
/// is not a candidate), a candidate in any other state is an error, and so is more than
/// one candidate: which one is meant is not guessed.
async fn find(
    p: &AwsProvider,
    ctx: &OpContext,
    desired: &Value,
) -> ProviderResult<Option<Snapshot>> {
    if existing_arn(desired).is_some() {
        return Err(ProviderError::new(
            "existing_arn already names the CA to use; lifecycle.adopt has nothing to look for",
        )
        .with_field("existing_arn")
        .with_help("remove lifecycle.adopt from this resource"));
    }
    let spec = CaSpec::from(desired)?;
    let c = client_in(p, spec.region.as_deref())?;
    let subject = subject_of(&spec.subject);
    let mut candidates: Vec<(String, Status)> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .call("acm-pca:ListCertificateAuthorities", &ctx.address, || {
                c.pca
                    .list_certificate_authorities()
                    .max_results(100)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for ca in page.certificate_authorities() {
            let Some(arn) = ca.arn() else { continue };
            let status = status_of(ca);
            if status == Status::Deleted || ctx.replacing.as_deref() == Some(arn) {
                continue;
            }
            let cfg = ca.certificate_authority_configuration();
            let same_config = ca.r#type().map(|t| t.as_str()) == Some(spec.kind.pca_type())
                && cfg.and_then(|c| c.subject()) == Some(&subject)
                && cfg.map(|c| c.key_algorithm().as_str()) == Some(spec.key_algorithm.as_str());
            // One ListTags per CA only for those with the desired common name.
            let same_name = cfg.and_then(|c| c.subject()).and_then(|s| s.common_name())
                == subject.common_name();
            if same_config || (same_name && owned_as(ctx, &list_tags(p, arn).await?, &spec)) {
                candidates.push((arn.to_string(), status));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let (arn, status) = match candidates.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        many => {
            let arns: Vec<&str> = many.iter().map(|(a, _)| a.as_str()).collect();
            return Err(ProviderError::new(format!(
                "more than one certificate authority matches {} to adopt: {}",
                ctx.address,
                arns.join(", ")
            ))
            .with_field("subject")
            .with_help(
                "import the one meant with `trustplane import`, or delete the others, then apply again",
            ));
        }
    };
    if !matches!(status, Status::Active | Status::PendingCertificate) {
        return Err(invalid_state(
            &arn,
            &status,
            "a CA is adopted only while ACTIVE or PENDING_CERTIFICATE",
        )
        .with_help("restore or enable it first, or remove lifecycle.adopt"));
    }
    let found = Snapshot {
        id: arn,
        properties: desired.clone(),
        attributes: Value::Null,
    };
    snapshot(p, &found).await
}

pub async fn create(p: &AwsProvider, ctx: &OpContext, desired: &Value) -> ProviderResult<Snapshot> {
    if let Some(arn) = existing_arn(desired) {
        ctx.progress(&format!("using the existing certificate authority {arn}"));
        return use_existing(p, arn, desired).await;
    }
    let spec = CaSpec::from(desired)?;
    let c = client_in(p, spec.region.as_deref())?;
    ctx.progress("looking for a CA left by an earlier attempt");
    let found = find_owned(p, ctx, &spec).await?;
    // The CA being replaced carries the same ownership tags (and the same config digest
    // when the replacement was forced): resuming it would make the old CA the
    // replacement, which the replace then deletes.
    let candidates: Vec<FoundCa> = found
        .iter()
        .filter(|ca| ctx.replacing.as_deref() != Some(ca.arn.as_str()))
        .cloned()
        .collect();
    let arn = match ownership::plan_create(&candidates, &spec.config) {
        CreateStep::CreateNew => {
            let mut all_tags = tags::effective(&p.provider_tags(), desired);
            all_tags.extend(ownership::ownership_tags(ctx, &spec.config));
            let tag_list: Vec<Tag> = all_tags
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<_, _>>()
                .map_err(|e| ProviderError::new(format!("invalid tag: {e}")).with_field("tags"))?;
            let config = CertificateAuthorityConfiguration::builder()
                .key_algorithm(KeyAlgorithm::from(spec.key_algorithm.as_str()))
                .signing_algorithm(SigningAlgorithm::from(spec.signing_algorithm.as_str()))
                .subject(subject_of(&spec.subject))
                .build()
                .map_err(|e| ProviderError::new(format!("invalid CA configuration: {e}")))?;
            let region = client_region(&c).unwrap_or_default();
            let key_storage = match &spec.key_storage {
                Some(k) => {
                    if let Some(why) = key_storage_refusal(&region, k) {
                        return Err(ProviderError::new(why)
                            .with_field("key_storage_security_standard")
                            .with_help(format!(
                                "set key_storage_security_standard: {} or leave it out",
                                default_key_storage(&region)
                            )));
                    }
                    k.clone()
                }
                None => default_key_storage(&region).to_string(),
            };
            ctx.progress("creating the certificate authority");
            let revocation = revocation_config(&spec.revocation)?;
            let out = c
                .call("acm-pca:CreateCertificateAuthority", &ctx.address, || {
                    c.pca
                        .create_certificate_authority()
                        .certificate_authority_type(CertificateAuthorityType::from(
                            spec.kind.pca_type(),
                        ))
                        .certificate_authority_configuration(config.clone())
                        .revocation_configuration(revocation.clone())
                        .key_storage_security_standard(KeyStorageSecurityStandard::from(
                            key_storage.as_str(),
                        ))
                        .usage_mode(CertificateAuthorityUsageMode::from(
                            spec.usage_mode.to_ascii_uppercase().as_str(),
                        ))
                        .idempotency_token(ownership::create_token(ctx, &spec.config, &found))
                        .set_tags(Some(tag_list.clone()))
                        .send()
                })
                .await?;
            out.certificate_authority_arn
                .ok_or_else(|| ProviderError::new("CreateCertificateAuthority returned no ARN"))?
        }
        CreateStep::Resume { arn, status } => {
            ctx.progress(&format!("resuming {arn} ({})", status.as_str()));
            arn
        }
        CreateStep::Restore { arn } => {
            ctx.progress(&format!("restoring {arn} from its deletion window"));
            c.call("acm-pca:RestoreCertificateAuthority", &arn, || {
                c.pca
                    .restore_certificate_authority()
                    .certificate_authority_arn(&arn)
                    .send()
            })
            .await?;
            arn
        }
        CreateStep::Blocked { arn, reason } => {
            return Err(ProviderError::new(format!(
                "cannot create {}: {arn}: {reason}",
                ctx.address
            )));
        }
        CreateStep::Ambiguous { arns } => {
            return Err(ProviderError::new(format!(
                "more than one certificate authority is tagged as {} of this stack: {}",
                ctx.address,
                arns.join(", ")
            ))
            .with_help("delete the extra ones (or remove their trustplane:* tags), then apply again, or import the right one"));
        }
    };
    activate(p, ctx, &spec, &arn).await?;
    ensure_tags_and_revocation(p, &arn, desired, &spec).await?;
    let prior = Snapshot {
        id: arn.clone(),
        properties: desired.clone(),
        attributes: Value::Null,
    };
    snapshot(p, &prior).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "certificate authority {arn} disappeared right after its creation"
        ))
    })
}

/// Sets these tags on a CA (nothing to do when there are none).
async fn tag_ca<'a>(
    p: &AwsProvider,
    arn: &str,
    tags: impl Iterator<Item = (&'a String, &'a String)>,
) -> ProviderResult<()> {
    let list: Vec<Tag> = tags
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    if list.is_empty() {
        return Ok(());
    }
    let c = client_for(p, arn)?;
    c.call("acm-pca:TagCertificateAuthority", arn, || {
        c.pca
            .tag_certificate_authority()
            .certificate_authority_arn(arn)
            .set_tags(Some(list.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// A resumed or restored CA may predate a change of tags or revocation in the stack.
async fn ensure_tags_and_revocation(
    p: &AwsProvider,
    arn: &str,
    desired: &Value,
    spec: &CaSpec,
) -> ProviderResult<()> {
    let c = client_for(p, arn)?;
    let want = tags::effective(&p.provider_tags(), desired);
    let live: Tags = list_tags(p, arn).await?.into_iter().collect();
    tag_ca(p, arn, want.iter().filter(|(k, v)| live.get(*k) != Some(v))).await?;
    let ca = describe(p, arn).await?;
    if revocation_value(&ca) != spec.revocation {
        let revocation = revocation_config(&spec.revocation)?;
        c.call("acm-pca:UpdateCertificateAuthority", arn, || {
            c.pca
                .update_certificate_authority()
                .certificate_authority_arn(arn)
                .revocation_configuration(revocation.clone())
                .send()
        })
        .await?;
    }
    Ok(())
}

/// Drives a CA from whatever state it is in to ACTIVE (or DISABLED when `enabled: false`).
async fn activate(
    p: &AwsProvider,
    ctx: &OpContext,
    spec: &CaSpec,
    arn: &str,
) -> ProviderResult<()> {
    let c = client_for(p, arn)?;
    let mut installed = false;
    loop {
        let ca = describe(p, arn).await?;
        match status_of(&ca) {
            Status::Creating => {
                wait::until(
                    ctx,
                    "the CA to leave CREATING",
                    wait::DEFAULT_TIMEOUT,
                    || async {
                        Ok((status_of(&describe(p, arn).await?) != Status::Creating).then_some(()))
                    },
                )
                .await?;
            }
            Status::PendingCertificate if !installed => {
                install_certificate(p, ctx, spec, arn).await?;
                installed = true;
            }
            Status::Active if !spec.enabled => {
                set_status(&c, arn, Status::Disabled).await?;
                return Ok(());
            }
            Status::Disabled if spec.enabled && ca.not_after().is_some() => {
                set_status(&c, arn, Status::Active).await?;
                return Ok(());
            }
            Status::Active | Status::Disabled => return Ok(()),
            other => {
                return Err(invalid_state(
                    arn,
                    &other,
                    "activation needs it PENDING_CERTIFICATE, DISABLED or ACTIVE",
                ))
            }
        }
    }
}

async fn set_status(c: &super::Clients, arn: &str, status: Status) -> ProviderResult<()> {
    c.call("acm-pca:UpdateCertificateAuthority", arn, || {
        c.pca
            .update_certificate_authority()
            .certificate_authority_arn(arn)
            .status(status.clone())
            .send()
    })
    .await?;
    Ok(())
}

/// CSR → certificate from the issuer → import, with the chain for a subordinate.
async fn install_certificate(
    p: &AwsProvider,
    ctx: &OpContext,
    spec: &CaSpec,
    arn: &str,
) -> ProviderResult<()> {
    let c = client_for(p, arn)?;
    ctx.progress("fetching the CA's certificate signing request");
    let csr = wait::until(ctx, "the CA's CSR", wait::DEFAULT_TIMEOUT, || async {
        match c
            .call("acm-pca:GetCertificateAuthorityCsr", arn, || {
                c.pca
                    .get_certificate_authority_csr()
                    .certificate_authority_arn(arn)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out.csr),
            Err(e) if e.is("RequestInProgressException") => Ok(None),
            Err(e) => Err(e.into()),
        }
    })
    .await?;

    let (issuer_signing, chain) = match spec.kind {
        CaKind::Root => (spec.signing_algorithm.clone(), None),
        CaKind::Subordinate => {
            let parent = spec.parent.as_deref().ok_or_else(|| {
                ProviderError::new("a subordinate CA needs `parent`").with_field("parent")
            })?;
            let pca = describe(p, parent).await.map_err(|e| {
                if e.is_not_found() {
                    ProviderError::new(format!("the parent CA {parent} does not exist"))
                        .with_field("parent")
                } else {
                    e.into()
                }
            })?;
            let pstatus = status_of(&pca);
            if pstatus != Status::Active {
                return Err(invalid_state(
                    parent,
                    &pstatus,
                    &format!("it must be ACTIVE to sign {}", ctx.address),
                )
                .with_field("parent"));
            }
            if let Some(not_after) = pca.not_after() {
                let end = chrono::Utc::now().timestamp() + spec.validity.as_secs() as i64;
                if end > not_after.secs() {
                    return Err(ProviderError::new(format!(
                        "validity {} would outlast the parent CA, whose certificate ends {}",
                        crate::duration::format(spec.validity),
                        chrono::DateTime::from_timestamp(not_after.secs(), 0)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    ))
                    .with_field("validity")
                    .with_help("shorten `validity` so the subordinate ends before its parent"));
                }
            }
            let signing = pca
                .certificate_authority_configuration()
                .map(|cfg| cfg.signing_algorithm().as_str().to_string())
                .unwrap_or_else(|| spec.signing_algorithm.clone());
            let parent_client = client_for(p, parent)?;
            let pc = parent_client
                .call("acm-pca:GetCertificateAuthorityCertificate", parent, || {
                    parent_client
                        .pca
                        .get_certificate_authority_certificate()
                        .certificate_authority_arn(parent)
                        .send()
                })
                .await?;
            let parent_cert = pc.certificate.ok_or_else(|| {
                ProviderError::new(format!("the parent CA {parent} has no certificate"))
            })?;
            (
                signing,
                Some(certs::chain_for_child(
                    &parent_cert,
                    pc.certificate_chain.as_deref(),
                )),
            )
        }
    };

    let params = templates::issue_params(
        arn,
        spec.kind,
        spec.parent.as_deref(),
        spec.path_length,
        spec.validity,
        &issuer_signing,
    );
    ctx.progress(&format!(
        "issuing the CA certificate from {}",
        params.issuer_arn
    ));
    // A parent in another region (or account, shared through RAM) answers only there.
    let issuer = client_for(p, &params.issuer_arn)?;
    let validity = Validity::builder()
        .value(params.validity_days)
        .r#type(ValidityPeriodType::Days)
        .build()
        .map_err(|e| ProviderError::new(format!("invalid validity: {e}")))?;
    let issued = issuer
        .call("acm-pca:IssueCertificate", &params.issuer_arn, || {
            issuer
                .pca
                .issue_certificate()
                .certificate_authority_arn(&params.issuer_arn)
                .csr(Blob::new(csr.as_bytes()))
                .signing_algorithm(SigningAlgorithm::from(params.signing_algorithm.as_str()))
                .template_arn(&params.template_arn)
                .validity(validity.clone())
                .idempotency_token(ownership::idempotency_token(ctx, &format!("issue:{arn}")))
                .send()
        })
        .await?;
    let cert_arn = issued
        .certificate_arn
        .ok_or_else(|| ProviderError::new("IssueCertificate returned no certificate ARN"))?;
    let cert = wait::until(
        ctx,
        "the CA certificate to be issued",
        wait::DEFAULT_TIMEOUT,
        || async {
            match issuer
                .call("acm-pca:GetCertificate", &cert_arn, || {
                    issuer
                        .pca
                        .get_certificate()
                        .certificate_authority_arn(&params.issuer_arn)
                        .certificate_arn(&cert_arn)
                        .send()
                })
                .await
            {
                Ok(out) => Ok(out.certificate),
                Err(e) if e.is("RequestInProgressException") => Ok(None),
                Err(e) => Err(e.into()),
            }
        },
    )
    .await?;
    ctx.progress("importing the CA certificate");
    c.call("acm-pca:ImportCertificateAuthorityCertificate", arn, || {
        c.pca
            .import_certificate_authority_certificate()
            .certificate_authority_arn(arn)
            .certificate(Blob::new(cert.as_bytes()))
            .set_certificate_chain(chain.as_ref().map(|ch| Blob::new(ch.as_bytes())))
            .send()
    })
    .await?;
    Ok(())
}

/// The live CA as a snapshot, keeping the prior properties that cannot drift.
async fn snapshot(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    let arn = prior.id.as_str();
    let c = client_for(p, arn)?;
    let ca = match describe(p, arn).await {
        Ok(ca) => ca,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let status = status_of(&ca);
    if status == Status::Deleted {
        return Ok(None);
    }
    let live_tags = list_tags(p, arn).await?;
    let mut props = match &prior.properties {
        Value::Map(m) if !m.is_empty() => Value::Map(m.clone()),
        _ => imported_properties(&ca, &live_tags),
    };
    let provider_tags = p.provider_tags();
    let tags_back = tags::read_back(&live_tags, &props, &provider_tags);
    let used_not_owned = existing_arn(&props).is_some();
    let pm = props.as_map_mut().expect("properties are a map");
    // A CA used by ARN belongs to someone else: its settings are not this stack's drift.
    if !used_not_owned {
        if matches!(status, Status::Active | Status::Disabled) {
            pm.insert("enabled".into(), Value::Bool(status == Status::Active));
        }
        pm.insert("tags".into(), tags::to_value(&tags_back));
        pm.insert("revocation".into(), revocation_value(&ca));
    }
    // Read back only when the stack names it: an absent value means the region's default.
    if pm.contains_key("key_storage_security_standard") {
        if let Some(k) = ca.key_storage_security_standard() {
            pm.insert(
                "key_storage_security_standard".into(),
                Value::from(k.as_str()),
            );
        }
    }

    let mut attrs = Map::new();
    attrs.insert("arn".into(), Value::from(arn));
    attrs.insert("status".into(), Value::from(status.as_str()));
    let (cert, chain) = if ca.not_after().is_some() || status == Status::Active {
        match c
            .call("acm-pca:GetCertificateAuthorityCertificate", arn, || {
                c.pca
                    .get_certificate_authority_certificate()
                    .certificate_authority_arn(arn)
                    .send()
            })
            .await
        {
            Ok(out) => (out.certificate, out.certificate_chain),
            // Some states refuse the call: keep what was last seen.
            Err(e) if e.is("InvalidStateException") => (
                prior
                    .attributes
                    .get_str("certificate_pem")
                    .map(str::to_string),
                prior
                    .attributes
                    .get_str("certificate_chain_pem")
                    .map(str::to_string),
            ),
            Err(e) => return Err(e.into()),
        }
    } else {
        (None, None)
    };
    let info = cert
        .as_deref()
        .map(certs::inspect)
        .transpose()
        .map_err(|e| ProviderError::new(format!("cannot parse the certificate of {arn}: {e}")))?;
    let s = |v: Option<String>| v.map(Value::from).unwrap_or(Value::Null);
    attrs.insert("certificate_pem".into(), s(cert));
    attrs.insert(
        "certificate_chain_pem".into(),
        Value::from(chain.unwrap_or_default()),
    );
    attrs.insert("serial".into(), s(info.as_ref().map(|i| i.serial.clone())));
    attrs.insert(
        "serial_decimal".into(),
        s(info.as_ref().map(|i| i.serial_decimal.clone())),
    );
    attrs.insert(
        "not_before".into(),
        s(info.as_ref().map(|i| i.not_before.clone())),
    );
    attrs.insert(
        "not_after".into(),
        s(info.as_ref().map(|i| i.not_after.clone())),
    );
    Ok(Some(Snapshot {
        id: arn.to_string(),
        properties: props,
        attributes: Value::Map(attrs),
    }))
}

/// Properties reconstructed from a live CA, for import. `parent` cannot be read back from
/// PCA and must match the stack's.
fn imported_properties(ca: &CertificateAuthority, live_tags: &[(String, String)]) -> Value {
    let mut m = Map::new();
    let kind = match ca.r#type() {
        Some(CertificateAuthorityType::Subordinate) => "subordinate",
        _ => "root",
    };
    m.insert("kind".into(), Value::from(kind));
    if let Some(cfg) = ca.certificate_authority_configuration() {
        m.insert(
            "key_algorithm".into(),
            Value::from(cfg.key_algorithm().as_str()),
        );
        m.insert(
            "signing_algorithm".into(),
            Value::from(cfg.signing_algorithm().as_str()),
        );
        let mut subj = Map::new();
        if let Some(s) = cfg.subject() {
            for (k, v) in [
                ("common_name", s.common_name()),
                ("organization", s.organization()),
                ("organizational_unit", s.organizational_unit()),
                ("country", s.country()),
                ("state", s.state()),
                ("locality", s.locality()),
            ] {
                if let Some(v) = v {
                    subj.insert(k.into(), Value::from(v));
                }
            }
        }
        m.insert("subject".into(), Value::Map(subj));
    }
    if let (Some(nb), Some(na)) = (ca.not_before(), ca.not_after()) {
        let days = ((na.secs() - nb.secs()).max(0) + 43_200).div_euclid(86_400);
        m.insert("validity".into(), Value::from(format!("{days}d")));
    }
    if let Some(u) = ca.usage_mode() {
        m.insert(
            "usage_mode".into(),
            Value::from(u.as_str().to_ascii_lowercase()),
        );
    }
    let user_tags: Tags = live_tags
        .iter()
        .filter(|(k, _)| !ownership::is_ownership_tag(k))
        .cloned()
        .collect();
    m.insert("tags".into(), tags::to_value(&user_tags));
    Value::Map(m)
}

pub async fn read(
    p: &AwsProvider,
    _ctx: &OpContext,
    prior: &Snapshot,
) -> ProviderResult<Option<Snapshot>> {
    snapshot(p, prior).await
}

pub async fn update(
    p: &AwsProvider,
    ctx: &OpContext,
    prior: &Snapshot,
    desired: &Value,
) -> ProviderResult<Snapshot> {
    if let Some(arn) = existing_arn(desired) {
        // Never changes a CA it did not create.
        return use_existing(p, arn, desired).await;
    }
    let spec = CaSpec::from(desired)?;
    let arn = prior.id.as_str();
    let c = client_for(p, arn)?;
    let (set, remove) = tags::changes(&p.provider_tags(), &prior.properties, desired);
    if !remove.is_empty() {
        let keys: Vec<Tag> = remove
            .iter()
            .filter_map(|k| Tag::builder().key(k).build().ok())
            .collect();
        c.call("acm-pca:UntagCertificateAuthority", arn, || {
            c.pca
                .untag_certificate_authority()
                .certificate_authority_arn(arn)
                .set_tags(Some(keys.clone()))
                .send()
        })
        .await?;
    }
    tag_ca(p, arn, set.iter()).await?;
    let ca = describe(p, arn).await?;
    let status = status_of(&ca);
    if matches!(status, Status::PendingCertificate | Status::Creating) {
        // An activation that stopped half way is finished rather than patched.
        activate(p, ctx, &spec, arn).await?;
    }
    let ca = describe(p, arn).await?;
    let status = status_of(&ca);
    let want_status = match (&status, spec.enabled) {
        (Status::Active, false) => Some(Status::Disabled),
        (Status::Disabled, true) => Some(Status::Active),
        (Status::Active | Status::Disabled, _) => None,
        (other, _) => {
            return Err(invalid_state(
                arn,
                other,
                "an update needs it ACTIVE or DISABLED",
            ))
        }
    };
    let revocation_changed = revocation_value(&ca) != spec.revocation;
    if want_status.is_some() || revocation_changed {
        let mut req = c
            .pca
            .update_certificate_authority()
            .certificate_authority_arn(arn)
            .set_status(want_status);
        if revocation_changed {
            req = req.revocation_configuration(revocation_config(&spec.revocation)?);
        }
        c.call("acm-pca:UpdateCertificateAuthority", arn, || {
            req.clone().send()
        })
        .await?;
    }
    let next = Snapshot {
        id: arn.to_string(),
        properties: desired.clone(),
        attributes: prior.attributes.clone(),
    };
    snapshot(p, &next).await?.ok_or_else(|| {
        ProviderError::new(format!(
            "certificate authority {arn} disappeared during its update"
        ))
    })
}

pub async fn delete(p: &AwsProvider, prior: &Snapshot) -> ProviderResult<()> {
    if existing_arn(&prior.properties).is_some() {
        // Used by ARN, never created here: it outlives the stack.
        return Ok(());
    }
    let arn = prior.id.as_str();
    let c = client_for(p, arn)?;
    let ca = match describe(p, arn).await {
        Ok(ca) => ca,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let status = status_of(&ca);
    if status == Status::Deleted {
        return Ok(());
    }
    // Marks the deletion as intended, so a later create does not restore this CA.
    let mark = Tag::builder()
        .key(ownership::TAG_DELETED)
        .value(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .build()
        .map_err(|e| ProviderError::new(format!("invalid tag: {e}")))?;
    c.call("acm-pca:TagCertificateAuthority", arn, || {
        c.pca
            .tag_certificate_authority()
            .certificate_authority_arn(arn)
            .tags(mark.clone())
            .send()
    })
    .await?;
    if status == Status::Active {
        set_status(&c, arn, Status::Disabled).await?;
    }
    let days = prior
        .properties
        .get("permanent_deletion_days")
        .and_then(Value::as_i64)
        .unwrap_or(30) as i32;
    match c
        .call("acm-pca:DeleteCertificateAuthority", arn, || {
            c.pca
                .delete_certificate_authority()
                .certificate_authority_arn(arn)
                .permanent_deletion_time_in_days(days)
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The plan's line for a CA about to be created with its region's default key storage.
fn key_storage_line(p: &AwsProvider, prior: &Snapshot, desired: &Value) -> Option<String> {
    if !prior.id.is_empty()
        || desired.get_str("key_storage_security_standard").is_some()
        || existing_arn(desired).is_some()
    {
        return None;
    }
    let region = match desired.get_str("region") {
        Some(r) => r.to_string(),
        None => client_region(&p.clients().ok()?)?,
    };
    Some(format!(
        "key_storage_security_standard: {} (the default of {region})",
        default_key_storage(&region)
    ))
}

/// `aws.pca.certificate_authority` as a resource type.
pub struct CaType;

#[async_trait::async_trait]
impl crate::provider::ResourceType<AwsProvider> for CaType {
    fn type_name(&self) -> &'static str {
        super::PCA_CA
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
            Some(("enabled", "status")),
        )
    }

    /// A CA created without `key_storage_security_standard` gets its region's default;
    /// the plan names it, since the region decides.
    async fn plan_details(
        &self,
        p: &AwsProvider,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        Ok(key_storage_line(p, prior, desired).into_iter().collect())
    }

    // No identity: a CA is its ARN, which PCA assigns on create, so two generations are
    // always two CAs (and `OpContext::replacing` keeps create from adopting the old one).

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
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        read(p, ctx, prior).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        update(p, ctx, prior, desired).await
    }

    async fn delete(
        &self,
        p: &AwsProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        delete(p, prior).await
    }

    /// By this state's ownership tags, or by type, subject and key algorithm.
    async fn find(
        &self,
        p: &AwsProvider,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        find(p, ctx, desired).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    const ROOT: &str = "kind: root\nsubject: {common_name: Mesh Root, country: US}\nkey_algorithm: RSA_2048\nsigning_algorithm: SHA256WITHRSA\nvalidity: 10y\n";
    const PARENT: &str = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555";

    fn fields(props: &Value) -> Vec<String> {
        validate(props)
            .into_iter()
            .filter_map(|d| d.field)
            .collect()
    }

    #[test]
    fn each_region_gets_the_key_storage_it_supports() {
        assert_eq!(
            default_key_storage("us-east-1"),
            "FIPS_140_2_LEVEL_3_OR_HIGHER"
        );
        assert_eq!(
            default_key_storage("ap-southeast-3"),
            "FIPS_140_2_LEVEL_2_OR_HIGHER"
        );
        assert_eq!(default_key_storage("cn-north-1"), "CCPC_LEVEL_1_OR_HIGHER");
        assert!(key_storage_refusal("us-east-1", "FIPS_140_2_LEVEL_2_OR_HIGHER").is_none());
        assert!(key_storage_refusal("us-east-1", "CCPC_LEVEL_1_OR_HIGHER").is_some());
        assert!(key_storage_refusal("ap-northeast-3", "FIPS_140_2_LEVEL_3_OR_HIGHER").is_some());
        assert!(key_storage_refusal("cn-northwest-1", "FIPS_140_2_LEVEL_3_OR_HIGHER").is_some());
    }

    #[test]
    fn calls_about_a_ca_go_to_the_region_of_its_arn() {
        assert_eq!(region_of_arn(PARENT), Some("us-east-1"));
        assert_eq!(region_of_arn("not an arn"), None);
    }

    #[test]
    fn a_plain_root_is_valid() {
        assert!(
            validate(&yaml(ROOT)).is_empty(),
            "{:?}",
            validate(&yaml(ROOT))
        );
    }

    #[test]
    fn algorithms_are_checked_and_matched() {
        let bad = yaml(&ROOT.replace("RSA_2048", "RSA_1024"));
        assert_eq!(fields(&bad), vec!["key_algorithm"]);
        let mismatch = yaml(&ROOT.replace("SHA256WITHRSA", "SHA256WITHECDSA"));
        let d = validate(&mismatch);
        assert_eq!(d[0].field.as_deref(), Some("signing_algorithm"));
        assert_eq!(d[0].code, "aws::invalid_value");
        assert!(d[0].help.as_deref().unwrap().contains("SHA256WITHRSA"));
        let typo = yaml(&ROOT.replace("SHA256WITHRSA", "SHA256WITHRAS"));
        assert_eq!(
            validate(&typo)[0].help.as_deref(),
            Some("did you mean \"SHA256WITHRSA\"?")
        );
    }

    #[test]
    fn parent_and_path_length_follow_the_kind() {
        let root_with_parent = yaml(&format!("{ROOT}parent: {PARENT}\npath_length: 1\n"));
        assert_eq!(fields(&root_with_parent), vec!["parent", "path_length"]);
        let orphan = yaml(&ROOT.replace("kind: root", "kind: subordinate"));
        assert_eq!(fields(&orphan), vec!["parent"]);
        let sub = yaml(&format!(
            "{}parent: {PARENT}\npath_length: 4\n",
            ROOT.replace("kind: root", "kind: subordinate")
        ));
        assert_eq!(fields(&sub), vec!["path_length"]);
        let bad_arn = yaml(&format!(
            "{}parent: arn:aws:acm-pca:us-east-1:1:certificate-authority/x\n",
            ROOT.replace("kind: root", "kind: subordinate")
        ));
        assert_eq!(fields(&bad_arn), vec!["parent"]);
    }

    #[test]
    fn unknown_parent_is_accepted() {
        let mut sub = yaml(&ROOT.replace("kind: root", "kind: subordinate"));
        sub.as_map_mut()
            .unwrap()
            .insert("parent".into(), Value::Unknown);
        sub.as_map_mut()
            .unwrap()
            .insert("validity".into(), Value::Unknown);
        assert!(validate(&sub).is_empty(), "{:?}", validate(&sub));
    }

    #[test]
    fn validity_is_parsed_and_capped() {
        assert_eq!(
            fields(&yaml(&ROOT.replace("10y", "ten years"))),
            vec!["validity"]
        );
        assert_eq!(
            fields(&yaml(&ROOT.replace("10y", "100y"))),
            vec!["validity"]
        );
        assert_eq!(fields(&yaml(&ROOT.replace("10y", "12h"))), vec!["validity"]);
        assert!(fields(&yaml(&ROOT.replace("10y", "40y"))).is_empty());
        assert!(fields(&yaml(&ROOT.replace("10y", "1825d"))).is_empty());
    }

    #[test]
    fn short_lived_mode_does_not_limit_the_ca_itself() {
        assert!(validate(&yaml(&format!(
            "{ROOT}usage_mode: short_lived_certificate\n"
        )))
        .is_empty());
    }

    #[test]
    fn arns_are_recognized() {
        assert!(is_ca_arn(PARENT));
        assert!(is_ca_arn("arn:aws-us-gov:acm-pca:us-gov-west-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555"));
        assert!(!is_ca_arn("arn:aws:acm:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555"));
        assert!(!is_ca_arn(
            "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/not-a-uuid"
        ));
        assert!(!is_ca_arn("arn:aws:acm-pca:us-east-1:1111:certificate-authority/11111111-2222-3333-4444-555555555555"));
    }

    #[test]
    fn normalize_fills_defaults_and_merges_tags() {
        let provider: Tags = [("team".to_string(), "mesh".to_string())].into();
        let a = normalize(&yaml(ROOT), &provider);
        let b = normalize(
            &yaml(&format!("{ROOT}enabled: true\npermanent_deletion_days: 30\nrevocation: {{crl: {{enabled: false, expiration_days: 7}}}}\ntags: {{team: mesh}}\n")),
            &Tags::new(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn validity_compares_as_a_duration() {
        let a = normalize(&yaml(ROOT), &Tags::new());
        let b = normalize(&yaml(&ROOT.replace("10y", "3650d")), &Tags::new());
        assert_eq!(a, b);
        let c = normalize(&yaml(&ROOT.replace("10y", "3651d")), &Tags::new());
        assert_ne!(a, c);
    }

    #[test]
    fn the_config_digest_follows_identity_properties_only() {
        let a = CaSpec::from(&yaml(ROOT)).unwrap();
        let b = CaSpec::from(&yaml(&format!("{ROOT}tags: {{x: y}}\nenabled: false\n"))).unwrap();
        let c = CaSpec::from(&yaml(&ROOT.replace("Mesh Root", "Other Root"))).unwrap();
        assert_eq!(a.config, b.config);
        assert_ne!(a.config, c.config);
    }
}
