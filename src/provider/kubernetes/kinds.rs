//! Typed kinds: `k8s.namespace`, `k8s.service_account`, `certmanager.certificate` and
//! `awspca.issuer`. Each is a table of property path ↔ object path, so building the object
//! from properties and rebuilding properties from a live object are one definition.

use super::names;
use crate::diag::Diagnostic;
use crate::provider::{Attribute, Property, ResourceSchema, Type};
use crate::value::{parse_path, Value};

pub const NAMESPACE: &str = "k8s.namespace";
pub const SERVICE_ACCOUNT: &str = "k8s.service_account";
pub const CERTIFICATE: &str = "certmanager.certificate";

/// The certificate attribute that says why its last issuance failed.
pub const LAST_ISSUANCE_FAILURE: &str = "last_issuance_failure";
/// What a plan lists as changing when a failed issuance will be triggered again.
pub const REISSUE: &str = "re-issue";

/// Whether a certificate's attributes (as last read) record a failed issuance.
pub fn issuance_failed(attributes: &Value) -> bool {
    attributes
        .get_str(LAST_ISSUANCE_FAILURE)
        .is_some_and(|f| !f.is_empty())
}
pub const ISSUER: &str = "awspca.issuer";

pub const AWSPCA_GROUP: &str = "awspca.cert-manager.io";

pub struct TypedKind {
    pub type_name: &'static str,
    pub api_version: &'static str,
    /// Whether the object lives in a namespace (which its id then names).
    pub namespacing: Namespacing,
    /// Property path (dotted) ↔ object path (dotted).
    pub fields: &'static [(&'static str, &'static str)],
}

const META: [(&str, &str); 4] = [
    ("name", "metadata.name"),
    ("namespace", "metadata.namespace"),
    ("labels", "metadata.labels"),
    ("annotations", "metadata.annotations"),
];

/// Every typed kind, in the order `schemas` lists them.
pub static KINDS: [TypedKind; 4] = [
    TypedKind {
        type_name: NAMESPACE,
        api_version: "v1",
        namespacing: Namespacing::None,
        fields: &[
            META[0],
            ("labels", "metadata.labels"),
            ("annotations", "metadata.annotations"),
        ],
    },
    TypedKind {
        type_name: SERVICE_ACCOUNT,
        api_version: "v1",
        namespacing: Namespacing::Required,
        fields: &META,
    },
    TypedKind {
        type_name: CERTIFICATE,
        api_version: "cert-manager.io/v1",
        namespacing: Namespacing::Required,
        fields: &[
            META[0],
            META[1],
            META[2],
            META[3],
            ("common_name", "spec.commonName"),
            ("dns_names", "spec.dnsNames"),
            ("is_ca", "spec.isCA"),
            ("duration", "spec.duration"),
            ("renew_before", "spec.renewBefore"),
            ("private_key.algorithm", "spec.privateKey.algorithm"),
            ("private_key.size", "spec.privateKey.size"),
            (
                "private_key.rotation_policy",
                "spec.privateKey.rotationPolicy",
            ),
            ("secret_name", "spec.secretName"),
            ("issuer.name", "spec.issuerRef.name"),
            ("issuer.kind", "spec.issuerRef.kind"),
            ("issuer.group", "spec.issuerRef.group"),
        ],
    },
    TypedKind {
        type_name: ISSUER,
        api_version: "awspca.cert-manager.io/v1beta1",
        namespacing: Namespacing::Optional,
        fields: &[
            META[0],
            META[1],
            META[2],
            META[3],
            ("arn", "spec.arn"),
            ("region", "spec.region"),
            ("secret_ref.name", "spec.secretRef.name"),
            ("secret_ref.namespace", "spec.secretRef.namespace"),
        ],
    },
];

pub fn typed(type_name: &str) -> Option<&'static TypedKind> {
    KINDS.iter().find(|k| k.type_name == type_name)
}

fn at<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    v.lookup(&parse_path(dotted)?).filter(|x| !x.is_null())
}

impl TypedKind {
    /// The object's kind; an issuer without a namespace is cluster-scoped.
    pub fn kind(&self, props: &Value) -> &'static str {
        match self.type_name {
            NAMESPACE => "Namespace",
            SERVICE_ACCOUNT => "ServiceAccount",
            CERTIFICATE => "Certificate",
            _ if props.get("namespace").is_some_and(|n| !n.is_null()) => "AWSPCAIssuer",
            _ => "AWSPCAClusterIssuer",
        }
    }

    /// The object to apply. Defaults the issuer reference to aws-privateca-issuer's
    /// namespaced issuer, so the object states what it means.
    pub fn to_object(&self, props: &Value) -> Value {
        let mut obj = Value::map();
        obj.set_path("apiVersion", self.api_version.into());
        obj.set_path("kind", self.kind(props).into());
        for (prop, path) in self.fields {
            if let Some(v) = at(props, prop) {
                obj.set_path(path, v.clone());
            }
        }
        if self.type_name == CERTIFICATE && at(&obj, "spec.issuerRef").is_some() {
            if at(&obj, "spec.issuerRef.group").is_none() {
                obj.set_path("spec.issuerRef.group", AWSPCA_GROUP.into());
            }
            if at(&obj, "spec.issuerRef.kind").is_none() {
                obj.set_path("spec.issuerRef.kind", "AWSPCAIssuer".into());
            }
        }
        obj
    }

    /// Properties as they are live: `prior` with every object-backed property it sets
    /// replaced by the value found in `projected` (absent there → removed). Properties
    /// the stack did not set stay unset, so defaults never read back as changes.
    pub fn props_from_live(&self, prior: &Value, projected: &Value) -> Value {
        let mut props = prior.clone();
        for (prop, path) in self.fields {
            if at(prior, prop).is_none() {
                continue;
            }
            match at(projected, path) {
                Some(v) => props.set_path(prop, v.clone()),
                None => {
                    props.remove_path(prop);
                }
            }
        }
        props
    }

    /// Properties of an object being imported: every mapped field it has, less what the
    /// API server or kubectl write on their own.
    pub fn props_from_import(&self, live: &Value) -> Value {
        let mut props = Value::map();
        for (prop, path) in self.fields {
            if let Some(v) = at(live, path) {
                props.set_path(prop, v.clone());
            }
        }
        strip_server_written(&mut props);
        props
    }

    /// The id: `namespace/name`, or `name` when cluster-scoped.
    pub fn id(&self, props: &Value) -> Option<String> {
        let name = props.get_str("name")?;
        Some(match props.get_str("namespace") {
            Some(ns) if self.type_name != NAMESPACE => format!("{ns}/{name}"),
            _ => name.to_string(),
        })
    }

    /// Computed attributes beyond uid/resource_version.
    pub fn extra_attributes(&self, live: &Value, attrs: &mut Value) {
        match self.type_name {
            CERTIFICATE => {
                attrs.set_path(
                    "ready",
                    super::wait::condition_is(live, "Ready", "True").into(),
                );
                let secret = live
                    .get("spec")
                    .and_then(|s| s.get_str("secretName"))
                    .unwrap_or_default();
                attrs.set_path("secret_name", secret.into());
                let failure = super::wait::issuance_failure(live).unwrap_or_default();
                attrs.set_path(LAST_ISSUANCE_FAILURE, failure.into());
            }
            ISSUER => {
                attrs.set_path(
                    "ready",
                    super::wait::condition_is(live, "Ready", "True").into(),
                );
            }
            _ => {}
        }
    }
}

/// Labels and annotations that the API server, kubectl or trustplane itself write, left
/// out of imported properties.
pub const SERVER_WRITTEN: &[(&str, &str)] = &[
    ("labels", "kubernetes.io/metadata.name"),
    ("labels", super::apply::MANAGED_BY.0),
    (
        "annotations",
        "kubectl.kubernetes.io/last-applied-configuration",
    ),
];

/// Removes [`SERVER_WRITTEN`] entries from the `labels` and `annotations` of `v` (the
/// properties of a typed kind, or an object's metadata); maps left empty are removed.
pub fn strip_server_written(v: &mut Value) {
    for (map, key) in SERVER_WRITTEN {
        if let Some(Value::Map(m)) = v.as_map_mut().and_then(|p| p.get_mut(*map)) {
            let ours = |v: &Value| {
                *key != super::apply::MANAGED_BY.0 || v.as_str() == Some(super::apply::MANAGED_BY.1)
            };
            if m.get(*key).is_some_and(ours) {
                m.remove(*key);
            }
            if m.is_empty() {
                v.remove_path(map);
            }
        }
    }
}

fn meta_props(namespaced: Namespacing) -> Vec<Property> {
    let mut out = vec![Property::new("name", Type::String)
        .required()
        .force_new()
        .describe("metadata.name; a change replaces the object.")];
    match namespaced {
        Namespacing::Required => out.push(
            Property::new("namespace", Type::String)
                .required()
                .force_new()
                .describe("metadata.namespace; a change replaces the object."),
        ),
        Namespacing::Optional => out.push(
            Property::new("namespace", Type::String)
                .force_new()
                .describe("Namespace of an AWSPCAIssuer; absent → an AWSPCAClusterIssuer."),
        ),
        Namespacing::None => {}
    }
    out.push(
        Property::new("labels", Type::Map(Box::new(Type::String))).describe("metadata.labels."),
    );
    out.push(
        Property::new("annotations", Type::Map(Box::new(Type::String)))
            .describe("metadata.annotations."),
    );
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Namespacing {
    None,
    Optional,
    Required,
}

fn attrs(extra: &[(&'static str, &'static str)]) -> Vec<Attribute> {
    let mut out = vec![
        Attribute::new("uid", "metadata.uid of the object."),
        Attribute::new(
            "resource_version",
            "metadata.resourceVersion when last read.",
        ),
    ];
    out.extend(extra.iter().map(|(n, d)| Attribute::new(n, d)));
    out
}

pub fn schemas(common: &[Property]) -> Vec<ResourceSchema> {
    let with = |mut props: Vec<Property>| {
        props.extend(common.iter().cloned());
        props
    };
    let mut cert = meta_props(Namespacing::Required);
    cert.extend([
        Property::new("common_name", Type::String).describe("spec.commonName."),
        Property::new("dns_names", Type::List(Box::new(Type::String))).describe("spec.dnsNames."),
        Property::new("is_ca", Type::Bool).describe("spec.isCA."),
        Property::new("duration", Type::Duration)
            .describe("spec.duration, in Go's format (2160h), passed through as written."),
        Property::new("renew_before", Type::Duration)
            .describe("spec.renewBefore; must be shorter than duration."),
        Property::new(
            "private_key",
            Type::Object(vec![
                Property::new("algorithm", Type::Enum(&["RSA", "ECDSA", "Ed25519"])),
                Property::new("size", Type::Number)
                    .describe("RSA: 2048, 3072, 4096 or 8192; ECDSA: 256, 384 or 521."),
                Property::new("rotation_policy", Type::Enum(&["Never", "Always"])),
            ]),
        )
        .describe("spec.privateKey."),
        Property::new("secret_name", Type::String)
            .required()
            .describe("spec.secretName: the Secret that receives the certificate."),
        Property::new(
            "issuer",
            Type::Object(vec![
                Property::new("name", Type::String).required(),
                Property::new("kind", Type::String).describe("Default AWSPCAIssuer."),
                Property::new("group", Type::String).describe("Default awspca.cert-manager.io."),
            ]),
        )
        .required()
        .describe("spec.issuerRef."),
    ]);
    let mut issuer = meta_props(Namespacing::Optional);
    issuer.extend([
        Property::new("arn", Type::String)
            .required()
            .describe("ARN of the AWS Private CA."),
        Property::new("region", Type::String).describe("AWS region of the CA."),
        Property::new(
            "secret_ref",
            Type::Object(vec![
                Property::new("name", Type::String).required(),
                Property::new("namespace", Type::String),
            ]),
        )
        .describe("A Secret holding AWS credentials, when not using IRSA."),
    ]);
    vec![
        ResourceSchema {
            type_name: NAMESPACE,
            description: "A Kubernetes Namespace.",
            properties: with(meta_props(Namespacing::None)),
            attributes: attrs(&[]),
            data_source: false,
            managed: true,
        },
        ResourceSchema {
            type_name: SERVICE_ACCOUNT,
            description: "A Kubernetes ServiceAccount (e.g. with an IRSA role annotation).",
            properties: with(meta_props(Namespacing::Required)),
            attributes: attrs(&[]),
            data_source: false,
            managed: true,
        },
        ResourceSchema {
            type_name: CERTIFICATE,
            description: "A cert-manager Certificate (cert-manager.io/v1).",
            properties: with(cert),
            attributes: attrs(&[
                ("ready", "The Ready condition is True."),
                ("secret_name", "The Secret holding the issued certificate."),
                (
                    LAST_ISSUANCE_FAILURE,
                    "Why the last issuance failed, while the certificate is not Ready; empty otherwise.",
                ),
            ]),
            data_source: false,
            managed: true,
        },
        ResourceSchema {
            type_name: ISSUER,
            description: "An aws-privateca-issuer AWSPCAIssuer or AWSPCAClusterIssuer.",
            properties: with(issuer),
            attributes: attrs(&[("ready", "The Ready condition is True.")]),
            data_source: false,
            managed: true,
        },
    ]
}

fn err(code: &'static str, field: &str, summary: String) -> Diagnostic {
    Diagnostic::error(code, summary).with_field(field)
}

/// Plan-time checks of a typed kind.
pub fn validate(type_name: &str, props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let name_rule = if type_name == NAMESPACE {
        names::dns1123_label
    } else {
        names::dns1123_subdomain
    };
    if let Some(name) = props.get_str("name") {
        if let Err(e) = name_rule(name) {
            out.push(err("k8s::invalid_name", "name", e));
        }
    }
    if let Some(ns) = props.get_str("namespace") {
        if let Err(e) = names::dns1123_label(ns) {
            out.push(err("k8s::invalid_name", "namespace", e));
        }
    }
    validate_metadata_maps(props, "", &mut out);
    match type_name {
        CERTIFICATE => validate_certificate(props, &mut out),
        ISSUER => validate_issuer(props, &mut out),
        _ => {}
    }
    out
}

/// Label and annotation keys (and label values), under `prefix` (`manifest.metadata.`).
pub fn validate_metadata_maps(meta: &Value, prefix: &str, out: &mut Vec<Diagnostic>) {
    for map in ["labels", "annotations"] {
        let Some(m) = meta.get(map).and_then(Value::as_map) else {
            continue;
        };
        for (k, v) in m {
            let field = format!("{prefix}{map}.{k}");
            if let Err(e) = names::qualified_key(k) {
                out.push(err("k8s::invalid_label", &field, e));
            }
            if map == "labels" {
                if let Some(Err(e)) = v.as_str().map(names::label_value) {
                    out.push(err("k8s::invalid_label", &field, e));
                }
            }
        }
    }
}

fn validate_certificate(props: &Value, out: &mut Vec<Diagnostic>) {
    let duration = duration_field(props, "duration", out);
    let renew = duration_field(props, "renew_before", out);
    if let (Some(d), Some(r)) = (duration, renew) {
        if r >= d {
            out.push(
                err(
                    "k8s::invalid_certificate",
                    "renew_before",
                    format!(
                        "renew_before ({}) must be shorter than duration ({})",
                        props.get_str("renew_before").unwrap_or_default(),
                        props.get_str("duration").unwrap_or_default()
                    ),
                )
                .with_help("cert-manager renews this long before expiry; a common choice is 360h with a 2160h duration"),
            );
        }
    }
    if let Some(s) = props.get_str("secret_name") {
        if let Err(e) = names::dns1123_subdomain(s) {
            out.push(err("k8s::invalid_name", "secret_name", e));
        }
    }
    if let Some(cn) = props.get_str("common_name") {
        if cn.len() > 64 {
            out.push(err(
                "k8s::invalid_certificate",
                "common_name",
                format!(
                    "common_name is {} characters long; X.509 allows at most 64",
                    cn.len()
                ),
            ));
        }
    }
    if let Some(list) = props.get("dns_names").and_then(Value::as_list) {
        for (i, n) in list.iter().enumerate() {
            if let Some(Err(e)) = n.as_str().map(names::dns_name) {
                out.push(err(
                    "k8s::invalid_certificate",
                    &format!("dns_names[{i}]"),
                    e,
                ));
            }
        }
    }
    let key = props.get("private_key");
    let algorithm = key.and_then(|k| k.get_str("algorithm")).unwrap_or("RSA");
    if let Some(size) = key
        .and_then(|k| k.get("size"))
        .filter(|s| !matches!(s, Value::Unknown))
    {
        let allowed: &[i64] = match algorithm {
            "RSA" => &[2048, 3072, 4096, 8192],
            "ECDSA" => &[256, 384, 521],
            _ => &[],
        };
        if !size.as_i64().is_some_and(|s| allowed.contains(&s)) {
            let expected = if allowed.is_empty() {
                format!("{algorithm} keys have a fixed size: remove private_key.size")
            } else {
                format!(
                    "{algorithm} key sizes are {}",
                    allowed
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            out.push(
                err(
                    "k8s::invalid_certificate",
                    "private_key.size",
                    format!(
                        "private_key.size {} is not valid for {algorithm}",
                        size.render()
                    ),
                )
                .with_detail(expected),
            );
        }
    }
}

fn duration_field(
    props: &Value,
    field: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<std::time::Duration> {
    let text = props.get_str(field)?;
    match crate::duration::parse(text) {
        Ok(d) => Some(d),
        Err(e) => {
            out.push(
                err("k8s::invalid_duration", field, format!("{field}: {e}"))
                    .with_help("cert-manager takes Go durations such as 2160h, 360h or 1h30m"),
            );
            None
        }
    }
}

fn validate_issuer(props: &Value, out: &mut Vec<Diagnostic>) {
    if let Some(arn) = props.get_str("arn") {
        let parts: Vec<&str> = arn.split(':').collect();
        let ok = parts.len() >= 6
            && parts[0] == "arn"
            && parts[2] == "acm-pca"
            && parts[5].starts_with("certificate-authority/");
        if !ok {
            out.push(
                err(
                    "k8s::invalid_issuer",
                    "arn",
                    format!("{arn:?} is not the ARN of an AWS Private CA"),
                )
                .with_detail("expected arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID"),
            );
        }
    }
    if let Some(ns) = props.get("secret_ref").and_then(|s| s.get_str("namespace")) {
        if let Err(e) = names::dns1123_label(ns) {
            out.push(err("k8s::invalid_name", "secret_ref.namespace", e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn codes_and_fields(d: &[Diagnostic]) -> Vec<(&str, &str)> {
        d.iter()
            .map(|d| (d.code, d.field.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn certificate_object_has_cert_manager_shape_and_issuer_defaults() {
        let props = v(
            r#"{"name":"istio-ca","namespace":"istio-system","common_name":"mesh",
            "is_ca":true,"duration":"2160h","renew_before":"360h",
            "private_key":{"algorithm":"ECDSA","size":256},"secret_name":"cacerts",
            "issuer":{"name":"pca"},"force":true}"#,
        );
        let obj = typed(CERTIFICATE).unwrap().to_object(&props);
        assert_eq!(
            obj,
            v(r#"{"apiVersion":"cert-manager.io/v1","kind":"Certificate",
            "metadata":{"name":"istio-ca","namespace":"istio-system"},
            "spec":{"commonName":"mesh","isCA":true,"duration":"2160h","renewBefore":"360h",
            "privateKey":{"algorithm":"ECDSA","size":256},"secretName":"cacerts",
            "issuerRef":{"name":"pca","kind":"AWSPCAIssuer","group":"awspca.cert-manager.io"}}}"#)
        );
    }

    #[test]
    fn issuer_without_namespace_is_cluster_scoped() {
        let k = typed(ISSUER).unwrap();
        let cluster = k.to_object(&v(r#"{"name":"pca","arn":"a","region":"eu-west-1"}"#));
        assert_eq!(cluster.get_str("kind"), Some("AWSPCAClusterIssuer"));
        assert_eq!(k.id(&v(r#"{"name":"pca"}"#)).unwrap(), "pca");
        let ns = k.to_object(&v(
            r#"{"name":"pca","namespace":"cm","arn":"a","secret_ref":{"name":"s"}}"#,
        ));
        assert_eq!(ns.get_str("kind"), Some("AWSPCAIssuer"));
        assert_eq!(
            ns.get("spec").unwrap().get("secretRef"),
            Some(&v(r#"{"name":"s"}"#))
        );
    }

    #[test]
    fn live_properties_follow_only_what_the_stack_set() {
        let k = typed(CERTIFICATE).unwrap();
        let prior = v(
            r#"{"name":"c","namespace":"n","secret_name":"s","issuer":{"name":"pca"},
            "labels":{"a":"1"},"wait_for":{"condition":"Ready=True"}}"#,
        );
        let mut projected = k.to_object(&prior);
        // Unchanged object: the properties read back identical, defaults included.
        assert_eq!(k.props_from_live(&prior, &projected), prior);
        projected.set_path("metadata.labels", v(r#"{"a":"2"}"#));
        projected.remove_path("spec.secretName");
        let live = k.props_from_live(&prior, &projected);
        assert_eq!(live.get("labels"), Some(&v(r#"{"a":"2"}"#)));
        assert_eq!(live.get("secret_name"), None);
        assert_eq!(live.get("wait_for"), prior.get("wait_for"));
    }

    #[test]
    fn import_drops_what_the_server_writes() {
        let live = v(
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x",
            "uid":"u","labels":{"kubernetes.io/metadata.name":"x"}}}"#,
        );
        assert_eq!(
            typed(NAMESPACE).unwrap().props_from_import(&live),
            v(r#"{"name":"x"}"#)
        );
    }

    #[test]
    fn certificate_errors_name_their_fields() {
        let d = validate(
            CERTIFICATE,
            &v(
                r#"{"name":"Bad_Name","namespace":"n","duration":"90 days","renew_before":"1h",
            "private_key":{"algorithm":"ECDSA","size":2048},"secret_name":"s",
            "dns_names":["ok.example.com","not valid"],"issuer":{"name":"i"}}"#,
            ),
        );
        assert_eq!(
            codes_and_fields(&d),
            [
                ("k8s::invalid_name", "name"),
                ("k8s::invalid_duration", "duration"),
                ("k8s::invalid_certificate", "dns_names[1]"),
                ("k8s::invalid_certificate", "private_key.size"),
            ]
        );
        let d = validate(
            CERTIFICATE,
            &v(
                r#"{"name":"c","namespace":"n","duration":"360h","renew_before":"2160h","secret_name":"s"}"#,
            ),
        );
        assert_eq!(
            codes_and_fields(&d),
            [("k8s::invalid_certificate", "renew_before")]
        );
        let d = validate(
            CERTIFICATE,
            &v(
                r#"{"name":"c","namespace":"n","duration":"2160h","renew_before":"1h30m","secret_name":"s",
            "private_key":{"algorithm":"Ed25519"}}"#,
            ),
        );
        assert!(d.is_empty(), "{d:?}");
        let d = validate(
            CERTIFICATE,
            &v(
                r#"{"name":"c","namespace":"n","secret_name":"s","private_key":{"algorithm":"Ed25519","size":256}}"#,
            ),
        );
        assert_eq!(
            codes_and_fields(&d),
            [("k8s::invalid_certificate", "private_key.size")]
        );
    }

    #[test]
    fn unknown_values_are_accepted() {
        let props = Value::Map(
            [
                ("name".to_string(), Value::Unknown),
                ("namespace".to_string(), Value::Unknown),
                ("duration".to_string(), Value::Unknown),
                ("arn".to_string(), Value::Unknown),
                ("private_key".to_string(), v(r#"{"algorithm":"RSA"}"#)),
            ]
            .into_iter()
            .collect(),
        );
        assert!(validate(CERTIFICATE, &props).is_empty());
        assert!(validate(ISSUER, &props).is_empty());
    }

    #[test]
    fn issuer_and_namespace_checks() {
        let d = validate(ISSUER, &v(r#"{"name":"p","arn":"arn:aws:s3:::bucket"}"#));
        assert_eq!(codes_and_fields(&d), [("k8s::invalid_issuer", "arn")]);
        let d = validate(
            ISSUER,
            &v(
                r#"{"name":"p","arn":"arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/abc"}"#,
            ),
        );
        assert!(d.is_empty());
        let d = validate(
            NAMESPACE,
            &v(r#"{"name":"a.b","labels":{"istio-injection":"enabled","x":"-bad"}}"#),
        );
        assert_eq!(
            codes_and_fields(&d),
            [
                ("k8s::invalid_name", "name"),
                ("k8s::invalid_label", "labels.x")
            ]
        );
    }
}
