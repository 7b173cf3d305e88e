//! The aws provider against moto's server on loopback: every resource type through the
//! provider API, with out-of-band changes made by a raw SDK client.

use std::net::TcpListener;

use crate::common::stand_ins;

use trustplane::provider::aws::{AwsProvider, EKS_CLUSTER, IAM_OIDC, IAM_POLICY, IAM_ROLE, PCA_CA};
use trustplane::provider::{OpContext, Provider, ResourceSchema, Snapshot};
use trustplane::retry::THROTTLED_ATTEMPTS;
use trustplane::value::Value;
use x509_parser::pem::Pem;

const REGION: &str = "us-east-1";

/// moto's server (through the launcher that fills its PCA gaps: path length, validity)
/// with the provider and SDK settings these tests use.
struct Moto(stand_ins::Moto);

impl Moto {
    fn start() -> Moto {
        Moto(stand_ins::Moto::start())
    }

    async fn provider(&self) -> AwsProvider {
        let p = AwsProvider::with_credentials("testing", "testing");
        let settings = yaml(&format!(
            "region: {REGION}\nendpoint: {}\ntags: {{team: mesh}}\n",
            self.0.url
        ));
        p.configure(&settings).await.unwrap();
        p
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.0.url)
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }
}

fn yaml(s: &str) -> Value {
    Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
}

fn schema(p: &AwsProvider, type_name: &str) -> ResourceSchema {
    p.schemas()
        .into_iter()
        .find(|s| s.type_name == type_name)
        .unwrap()
}

fn ctx(address: &str) -> OpContext {
    OpContext::new(address, "mesh", "lineage-0001")
}

fn with(props: &Value, key: &str, v: Value) -> Value {
    let mut out = props.clone();
    out.as_map_mut().unwrap().insert(key.into(), v);
    out
}

fn attr<'a>(s: &'a Snapshot, name: &str) -> &'a str {
    s.attributes
        .get_str(name)
        .unwrap_or_else(|| panic!("attribute {name} missing: {:?}", s.attributes))
}

fn parse_pem(pem: &str) -> Vec<u8> {
    Pem::iter_from_buffer(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .contents
}

const ROOT: &str = "kind: root\nsubject: {common_name: Mesh Root CA, organization: Example, country: US}\nkey_algorithm: RSA_2048\nsigning_algorithm: SHA256WITHRSA\nvalidity: 10y\ntags: {owner: platform}\n";

fn sub_props(parent: &str) -> Value {
    yaml(&format!(
        "kind: subordinate\nparent: {parent}\npath_length: 1\nsubject: {{common_name: Mesh Intermediate CA, organization: Example}}\nkey_algorithm: RSA_2048\nsigning_algorithm: SHA256WITHRSA\nvalidity: 180d\n"
    ))
}

/// Live (non-deleted) CAs carrying this address's ownership tag.
async fn owned_cas(pca: &aws_sdk_acmpca::Client, address: &str) -> Vec<(String, String)> {
    let list = pca.list_certificate_authorities().send().await.unwrap();
    let mut out = Vec::new();
    for ca in list.certificate_authorities() {
        let status = ca.status().unwrap().as_str().to_string();
        if status == "DELETED" {
            continue;
        }
        let arn = ca.arn().unwrap();
        let tags = pca
            .list_tags()
            .certificate_authority_arn(arn)
            .send()
            .await
            .unwrap();
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == "trustplane:address" && t.value() == Some(address))
        {
            out.push((arn.to_string(), status));
        }
    }
    out
}

#[tokio::test]
async fn ca_hierarchy_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let pca = aws_sdk_acmpca::Client::new(&moto.sdk().await);
    let s = schema(&p, PCA_CA);
    let root_props = yaml(ROOT);
    assert!(p.validate(PCA_CA, &root_props).is_empty());

    let progress = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = progress.clone();
    let root_ctx = ctx("root_ca").with_progress(std::sync::Arc::new(move |m: &str| {
        seen.lock().unwrap().push(m.to_string())
    }));
    let root = p.create(&root_ctx, PCA_CA, &root_props).await.unwrap();
    assert_eq!(attr(&root, "status"), "ACTIVE");
    assert!(attr(&root, "arn").contains(":certificate-authority/"));
    assert!(progress
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("issuing the CA certificate")));

    // read equals created, and planning the same properties changes nothing
    let read = p
        .read(&ctx("root_ca"), PCA_CA, &root)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, root);
    assert!(
        p.diff(&s, &root, &root_props).is_empty(),
        "{:?}",
        p.diff(&s, &root, &root_props)
    );

    // the subordinate, signed by the root with path length 1
    let sub_desired = sub_props(attr(&root, "arn"));
    assert!(
        p.validate(PCA_CA, &sub_desired).is_empty(),
        "{:?}",
        p.validate(PCA_CA, &sub_desired)
    );
    let sub = p
        .create(&ctx("sub_ca"), PCA_CA, &sub_desired)
        .await
        .unwrap();
    assert_eq!(attr(&sub, "status"), "ACTIVE");

    let root_der = parse_pem(attr(&root, "certificate_pem"));
    let sub_der = parse_pem(attr(&sub, "certificate_pem"));
    let (_, root_x) = x509_parser::parse_x509_certificate(&root_der).unwrap();
    let (_, sub_x) = x509_parser::parse_x509_certificate(&sub_der).unwrap();
    assert_eq!(sub_x.issuer().to_string(), root_x.subject().to_string());
    sub_x
        .verify_signature(Some(root_x.public_key()))
        .expect("the subordinate is signed by the root's key");
    root_x
        .verify_signature(None)
        .expect("the root is self-signed");
    let chain = attr(&sub, "certificate_chain_pem");
    assert_eq!(
        parse_pem(chain),
        root_der,
        "the subordinate's chain starts with the root certificate"
    );
    // the launcher fills moto's gaps: path length and requested validity, as AWS issues
    let bc = sub_x
        .basic_constraints()
        .unwrap()
        .expect("basicConstraints")
        .value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(1));
    let days = (root_x.validity().not_after.timestamp() - root_x.validity().not_before.timestamp())
        / 86_400;
    assert!((3649..=3651).contains(&days), "root validity {days} days");

    // serials in the snapshot are those of the certificate PCA hands out
    for snap in [&root, &sub] {
        let live = pca
            .get_certificate_authority_certificate()
            .certificate_authority_arn(attr(snap, "arn"))
            .send()
            .await
            .unwrap();
        let der = parse_pem(live.certificate().unwrap());
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
        // Byte-wise hex as openssl prints it (`08...`), numerically the certificate's serial.
        let serial = attr(snap, "serial");
        assert_eq!(serial.len() % 2, 0);
        assert_eq!(serial.trim_start_matches('0'), x.serial.to_str_radix(16));
        assert_eq!(
            serial,
            x.raw_serial_as_string()
                .replace(':', "")
                .trim_start_matches("00")
        );
        assert_eq!(attr(snap, "serial_decimal"), x.serial.to_string());
        assert_eq!(
            attr(snap, "not_after"),
            chrono::DateTime::from_timestamp(x.validity().not_after.timestamp(), 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }

    // update in place: tags and enabled
    let updated_props = with(
        &with(&root_props, "enabled", Value::Bool(false)),
        "tags",
        yaml("{owner: security, tier: root}"),
    );
    let d = p.diff(&s, &root, &updated_props);
    assert_eq!(d.changed, vec!["enabled".to_string(), "tags".to_string()]);
    assert!(d.requires_replace.is_empty());
    assert_eq!(d.planned_attributes.get("status"), Some(&Value::Unknown));
    assert_eq!(d.planned_attributes.get("arn"), root.attributes.get("arn"));
    let root2 = p
        .update(&ctx("root_ca"), PCA_CA, &root, &updated_props)
        .await
        .unwrap();
    assert_eq!(attr(&root2, "status"), "DISABLED");
    assert_eq!(
        attr(&root2, "serial"),
        attr(&root, "serial"),
        "certificate facts survive a disable"
    );
    assert!(
        p.diff(&s, &root2, &updated_props).is_empty(),
        "{:?}",
        p.diff(&s, &root2, &updated_props)
    );
    let live_tags = pca
        .list_tags()
        .certificate_authority_arn(attr(&root, "arn"))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = live_tags.tags().iter().map(|t| t.key()).collect();
    assert!(
        keys.contains(&"tier") && keys.contains(&"team") && keys.contains(&"trustplane:lineage"),
        "{keys:?}"
    );

    // a change of an identity property forces replacement, and says which
    let d = p.diff(
        &s,
        &root2,
        &with(&updated_props, "key_algorithm", Value::from("RSA_4096")),
    );
    assert_eq!(d.requires_replace, vec!["key_algorithm".to_string()]);

    // out-of-band: a tag removed and the CA re-enabled behind trustplane's back
    let arn = attr(&root, "arn").to_string();
    pca.untag_certificate_authority()
        .certificate_authority_arn(&arn)
        .tags(
            aws_sdk_acmpca::types::Tag::builder()
                .key("tier")
                .value("root")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    pca.update_certificate_authority()
        .certificate_authority_arn(&arn)
        .status(aws_sdk_acmpca::types::CertificateAuthorityStatus::Active)
        .send()
        .await
        .unwrap();
    let drifted = p
        .read(&ctx("root_ca"), PCA_CA, &root2)
        .await
        .unwrap()
        .unwrap();
    let d = p.diff(&s, &drifted, &updated_props);
    assert_eq!(d.changed, vec!["enabled".to_string(), "tags".to_string()]);
    assert!(drifted
        .properties
        .get("tags")
        .unwrap()
        .get("tier")
        .is_none());

    // delete: subordinate first, then root; both gone for read, and deleting twice is fine
    p.delete(&ctx("sub_ca"), PCA_CA, &sub).await.unwrap();
    p.delete(&ctx("root_ca"), PCA_CA, &drifted).await.unwrap();
    assert!(p
        .read(&ctx("sub_ca"), PCA_CA, &sub)
        .await
        .unwrap()
        .is_none());
    assert!(p
        .read(&ctx("root_ca"), PCA_CA, &root)
        .await
        .unwrap()
        .is_none());
    p.delete(&ctx("root_ca"), PCA_CA, &drifted).await.unwrap();
    let missing = Snapshot {
        id: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000".into(),
        ..Snapshot::default()
    };
    assert!(p.read(&ctx("x"), PCA_CA, &missing).await.unwrap().is_none());
    p.delete(&ctx("x"), PCA_CA, &missing).await.unwrap();
}

#[tokio::test]
async fn creating_the_same_ca_twice_finds_the_first() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let pca = aws_sdk_acmpca::Client::new(&moto.sdk().await);
    let props = yaml(ROOT);
    let first = p.create(&ctx("root_ca"), PCA_CA, &props).await.unwrap();
    let second = p.create(&ctx("root_ca"), PCA_CA, &props).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(
        owned_cas(&pca, "root_ca").await,
        vec![(first.id.clone(), "ACTIVE".to_string())]
    );

    // Deleted on purpose, then created again: a new CA, and the old one is marked.
    p.delete(&ctx("root_ca"), PCA_CA, &first).await.unwrap();
    let third = p.create(&ctx("root_ca"), PCA_CA, &props).await.unwrap();
    assert_ne!(third.id, first.id);
    let tags = pca
        .list_tags()
        .certificate_authority_arn(&first.id)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "trustplane:deleted"));
}

#[tokio::test]
async fn create_resumes_a_ca_left_pending() {
    use aws_sdk_acmpca::types::*;
    let moto = Moto::start();
    let p = moto.provider().await;
    let pca = aws_sdk_acmpca::Client::new(&moto.sdk().await);
    // What a crash right after CreateCertificateAuthority leaves behind.
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let left = pca
        .create_certificate_authority()
        .certificate_authority_type(CertificateAuthorityType::Root)
        .certificate_authority_configuration(
            CertificateAuthorityConfiguration::builder()
                .key_algorithm(KeyAlgorithm::Rsa2048)
                .signing_algorithm(SigningAlgorithm::Sha256Withrsa)
                .subject(
                    Asn1Subject::builder()
                        .common_name("Mesh Root CA")
                        .organization("Example")
                        .country("US")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .tags(tag("trustplane:stack", "mesh"))
        .tags(tag("trustplane:address", "root_ca"))
        .tags(tag("trustplane:lineage", "lineage-0001"))
        .send()
        .await
        .unwrap()
        .certificate_authority_arn
        .unwrap();
    let status = pca
        .describe_certificate_authority()
        .certificate_authority_arn(&left)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status
            .certificate_authority()
            .unwrap()
            .status()
            .unwrap()
            .as_str(),
        "PENDING_CERTIFICATE"
    );

    let snap = p
        .create(&ctx("root_ca"), PCA_CA, &yaml(ROOT))
        .await
        .unwrap();
    assert_eq!(snap.id, left, "the pending CA is resumed, not duplicated");
    assert_eq!(attr(&snap, "status"), "ACTIVE");
    assert_eq!(
        owned_cas(&pca, "root_ca").await,
        vec![(left, "ACTIVE".to_string())]
    );
    // The tags the stack asks for were added to the resumed CA.
    assert_eq!(
        snap.properties.get("tags").unwrap().get_str("owner"),
        Some("platform")
    );
}

#[tokio::test]
async fn a_ca_of_another_lineage_is_left_alone() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let pca = aws_sdk_acmpca::Client::new(&moto.sdk().await);
    let a = p
        .create(
            &OpContext::new("root_ca", "mesh", "lineage-a"),
            PCA_CA,
            &yaml(ROOT),
        )
        .await
        .unwrap();
    let b = p
        .create(
            &OpContext::new("root_ca", "mesh", "lineage-b"),
            PCA_CA,
            &yaml(ROOT),
        )
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(owned_cas(&pca, "root_ca").await.len(), 2);
}

const POLICY: &str = "name: issuer-access\ndescription: lets the issuer sign\ndocument:\n  Version: '2012-10-17'\n  Statement:\n    Effect: Allow\n    Action: [acm-pca:IssueCertificate, acm-pca:GetCertificate]\n    Resource: '*'\ntags: {app: issuer}\n";

#[tokio::test]
async fn iam_policy_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let iam = aws_sdk_iam::Client::new(&moto.sdk().await);
    let s = schema(&p, IAM_POLICY);
    let props = yaml(POLICY);
    assert!(p.validate(IAM_POLICY, &props).is_empty());
    let c = ctx("policy");
    let pol = p.create(&c, IAM_POLICY, &props).await.unwrap();
    assert!(attr(&pol, "arn").ends_with(":policy/issuer-access"));
    assert_eq!(attr(&pol, "default_version_id"), "v1");
    assert_eq!(p.read(&c, IAM_POLICY, &pol).await.unwrap().unwrap(), pol);
    assert!(p.diff(&s, &pol, &props).is_empty());

    // the same document spelled as JSON, one-element lists, other order: no diff
    let json_doc = Value::from(
        r#"{"Statement":[{"Resource":["*"],"Action":["acm-pca:GetCertificate","acm-pca:IssueCertificate"],"Effect":"Allow"}],"Version":"2012-10-17"}"#,
    );
    assert!(p
        .diff(&s, &pol, &with(&props, "document", json_doc))
        .is_empty());

    // each document change is a new default version; the oldest is pruned at five
    let mut cur = pol.clone();
    for i in 0..6 {
        let doc = yaml(&format!(
            "Version: '2012-10-17'\nStatement: [{{Effect: Allow, Action: 'acm-pca:DescribeCertificateAuthority', Resource: 'arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/{i}'}}]\n"
        ));
        let desired = with(&props, "document", doc);
        let d = p.diff(&s, &cur, &desired);
        assert_eq!(d.changed, vec!["document".to_string()]);
        assert!(d.requires_replace.is_empty());
        assert_eq!(
            d.planned_attributes.get("default_version_id"),
            Some(&Value::Unknown)
        );
        cur = p.update(&c, IAM_POLICY, &cur, &desired).await.unwrap();
        assert!(p.diff(&s, &cur, &desired).is_empty());
    }
    assert_eq!(attr(&cur, "default_version_id"), "v7");
    let versions = iam
        .list_policy_versions()
        .policy_arn(attr(&cur, "arn"))
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 5);

    // out-of-band: someone makes another version the default
    let arn = attr(&cur, "arn").to_string();
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v5")
        .send()
        .await
        .unwrap();
    let drifted = p.read(&c, IAM_POLICY, &cur).await.unwrap().unwrap();
    assert_eq!(attr(&drifted, "default_version_id"), "v5");
    assert_eq!(
        p.diff(&s, &drifted, &cur.properties).changed,
        vec!["document".to_string()]
    );

    // renaming replaces
    let d = p.diff(
        &s,
        &cur,
        &with(&cur.properties, "name", Value::from("other")),
    );
    assert_eq!(d.requires_replace, vec!["name".to_string()]);

    p.delete(&c, IAM_POLICY, &cur).await.unwrap();
    assert!(p.read(&c, IAM_POLICY, &cur).await.unwrap().is_none());
    p.delete(&c, IAM_POLICY, &cur).await.unwrap();
}

#[tokio::test]
async fn oidc_provider_and_irsa_role_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let iam = aws_sdk_iam::Client::new(&moto.sdk().await);
    let c = ctx("iam");
    let issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

    // OIDC provider
    let so = schema(&p, IAM_OIDC);
    let oidc_props = yaml(&format!(
        "url: {issuer}\nthumbprints: ['9E99A48A9960B14926BB7F3B02E22DA2B0AB7280']\n"
    ));
    assert!(p.validate(IAM_OIDC, &oidc_props).is_empty());
    let oidc = p.create(&c, IAM_OIDC, &oidc_props).await.unwrap();
    let oidc_arn = attr(&oidc, "arn").to_string();
    assert!(oidc_arn.ends_with(
        ":oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    ));
    assert!(
        p.diff(&so, &oidc, &oidc_props).is_empty(),
        "{:?}",
        p.diff(&so, &oidc, &oidc_props)
    );
    assert_eq!(p.read(&c, IAM_OIDC, &oidc).await.unwrap().unwrap(), oidc);
    // client ids are updatable in place (moto lacks Add/RemoveClientID, so only planned here)
    let more_ids = with(
        &oidc_props,
        "client_ids",
        yaml("[sts.amazonaws.com, example-audience]"),
    );
    let d = p.diff(&so, &oidc, &more_ids);
    assert_eq!(d.changed, vec!["client_ids".to_string()]);
    assert!(d.requires_replace.is_empty());
    // thumbprints and tags are applied in place
    let oidc_new = with(
        &with(
            &oidc_props,
            "thumbprints",
            yaml("['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']"),
        ),
        "tags",
        yaml("{cluster: mesh}"),
    );
    let d = p.diff(&so, &oidc, &oidc_new);
    assert_eq!(
        d.changed,
        vec!["tags".to_string(), "thumbprints".to_string()]
    );
    assert!(d.requires_replace.is_empty());
    let oidc = p.update(&c, IAM_OIDC, &oidc, &oidc_new).await.unwrap();
    assert!(
        p.diff(&so, &oidc, &oidc_new).is_empty(),
        "{:?}",
        oidc.properties
    );
    let live = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&oidc_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.thumbprint_list(),
        ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string()]
    );
    // out-of-band: the thumbprint rotated by hand
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&oidc_arn)
        .thumbprint_list("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        .send()
        .await
        .unwrap();
    let drifted = p.read(&c, IAM_OIDC, &oidc).await.unwrap().unwrap();
    assert_eq!(
        p.diff(&so, &drifted, &oidc_new).changed,
        vec!["thumbprints".to_string()]
    );
    let d = p.diff(
        &so,
        &oidc,
        &with(&oidc_new, "url", Value::from("https://other.example/id/1")),
    );
    assert_eq!(d.requires_replace, vec!["url".to_string()]);

    // a policy to attach
    let pol = p.create(&c, IAM_POLICY, &yaml(POLICY)).await.unwrap();
    let pol_arn = attr(&pol, "arn").to_string();

    // role with the irsa shorthand
    let sr = schema(&p, IAM_ROLE);
    let role_props = yaml(&format!(
        "name: privateca-issuer\ndescription: cert-manager issuer\nirsa: {{oidc_provider: '{oidc_arn}', namespace: cert-manager, service_account: aws-privateca-issuer}}\npolicy_arns: ['{pol_arn}']\ntags: {{app: issuer}}\n"
    ));
    assert!(
        p.validate(IAM_ROLE, &role_props).is_empty(),
        "{:?}",
        p.validate(IAM_ROLE, &role_props)
    );
    let role = p.create(&c, IAM_ROLE, &role_props).await.unwrap();
    assert!(attr(&role, "arn").ends_with(":role/privateca-issuer"));
    assert!(!attr(&role, "unique_id").is_empty());
    assert_eq!(p.read(&c, IAM_ROLE, &role).await.unwrap().unwrap(), role);
    assert!(
        p.diff(&sr, &role, &role_props).is_empty(),
        "{:?}",
        p.diff(&sr, &role, &role_props)
    );

    // the trust policy is the one eksctl writes
    let live = iam
        .get_role()
        .role_name("privateca-issuer")
        .send()
        .await
        .unwrap();
    let trust = trustplane::provider::aws::policy_document::from_iam(
        live.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .unwrap();
    let cond = trust.get("Statement").unwrap().as_list().unwrap()[0]
        .get("Condition")
        .unwrap()
        .get("StringEquals")
        .unwrap();
    assert_eq!(
        cond.get_str("oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub"),
        Some("system:serviceaccount:cert-manager:aws-privateca-issuer")
    );

    // update the trust in place (issuer URL form, other namespace) and the description
    let role_new = with(
        &with(&role_props, "irsa", yaml(&format!("{{oidc_provider: '{issuer}', namespace: istio-system, service_account: aws-privateca-issuer}}"))),
        "description",
        Value::from("issuer for istio"),
    );
    let d = p.diff(&sr, &role, &role_new);
    assert_eq!(
        d.changed,
        vec!["description".to_string(), "irsa".to_string()]
    );
    assert!(d.requires_replace.is_empty());
    let role = p.update(&c, IAM_ROLE, &role, &role_new).await.unwrap();
    assert!(
        p.diff(&sr, &role, &role_new).is_empty(),
        "{:?}",
        role.properties
    );
    let live = iam
        .get_role()
        .role_name("privateca-issuer")
        .send()
        .await
        .unwrap();
    assert!(live
        .role()
        .unwrap()
        .assume_role_policy_document()
        .unwrap()
        .contains("istio-system"));

    // out-of-band: the policy detached, and the trust policy rewritten
    iam.detach_role_policy()
        .role_name("privateca-issuer")
        .policy_arn(&pol_arn)
        .send()
        .await
        .unwrap();
    iam.update_assume_role_policy()
        .role_name("privateca-issuer")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let drifted = p.read(&c, IAM_ROLE, &role).await.unwrap().unwrap();
    let d = p.diff(&sr, &drifted, &role_new);
    assert_eq!(
        d.changed,
        vec!["assume_role_policy".to_string(), "policy_arns".to_string()]
    );
    let role = p.update(&c, IAM_ROLE, &drifted, &role_new).await.unwrap();
    assert!(
        p.diff(&sr, &role, &role_new).is_empty(),
        "{:?}",
        role.properties
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("privateca-issuer")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 1);

    let d = p.diff(&sr, &role, &with(&role_new, "name", Value::from("renamed")));
    assert_eq!(d.requires_replace, vec!["name".to_string()]);

    // delete detaches first; everything is gone afterwards
    p.delete(&c, IAM_ROLE, &role).await.unwrap();
    assert!(p.read(&c, IAM_ROLE, &role).await.unwrap().is_none());
    p.delete(&c, IAM_ROLE, &role).await.unwrap();
    p.delete(&c, IAM_POLICY, &pol).await.unwrap();
    p.delete(&c, IAM_OIDC, &oidc).await.unwrap();
    assert!(p.read(&c, IAM_OIDC, &oidc).await.unwrap().is_none());
}

#[tokio::test]
async fn eks_cluster_data_source() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let eks = aws_sdk_eks::Client::new(&moto.sdk().await);
    eks.create_cluster()
        .name("mesh")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let s = schema(&p, EKS_CLUSTER);
    assert!(s.data_source && !s.managed);
    let v = p
        .read_data(&ctx("cluster"), EKS_CLUSTER, &yaml("name: mesh"))
        .await
        .unwrap();
    assert!(v.get_str("arn").unwrap().ends_with(":cluster/mesh"));
    assert!(v
        .get_str("oidc_issuer")
        .unwrap()
        .starts_with("https://oidc.eks.us-east-1.amazonaws.com/id/"));
    assert!(v.get_str("endpoint").is_some());
    assert!(v.get_str("version").is_some());
    let err = p
        .read_data(&ctx("cluster"), EKS_CLUSTER, &yaml("name: nope"))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("no EKS cluster named \"nope\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_error_that_says_so() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = AwsProvider::with_credentials("testing", "testing");
    p.configure(&yaml(&format!(
        "region: {REGION}\nendpoint: http://127.0.0.1:{port}\n"
    )))
    .await
    .unwrap();
    let prior = Snapshot {
        id: "some-role".into(),
        ..Snapshot::default()
    };
    let err = p.read(&ctx("r"), IAM_ROLE, &prior).await.unwrap_err();
    assert!(err.retryable);
    assert!(
        err.message.contains("cannot reach AWS for iam:GetRole"),
        "{}",
        err.message
    );
    assert!(err.help.unwrap().contains("providers.aws.endpoint"));
}

#[tokio::test]
async fn import_reads_back_what_the_stack_would_write() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let c = ctx("imported");

    // A CA: everything but parent/path_length is read back from PCA.
    let ca_props = yaml(&ROOT.replace("10y", "365d").replace(
        "kind: root\n",
        "kind: root\nusage_mode: short_lived_certificate\n",
    ));
    let ca = p.create(&c, PCA_CA, &ca_props).await.unwrap();
    let imported = p.import(&c, PCA_CA, &ca.id).await.unwrap().unwrap();
    assert_eq!(imported.attributes, ca.attributes);
    let d = p.diff(&schema(&p, PCA_CA), &imported, &ca_props);
    assert!(d.is_empty(), "{d:?}\n{:?}", imported.properties);

    // A role and a policy, by name and ARN.
    let pol = p.create(&c, IAM_POLICY, &yaml(POLICY)).await.unwrap();
    let role_props = yaml(&format!(
        "name: app\nassume_role_policy: {{Version: '2012-10-17', Statement: [{{Effect: Allow, Principal: {{Service: ec2.amazonaws.com}}, Action: 'sts:AssumeRole'}}]}}\npolicy_arns: ['{}']\ntags: {{app: x}}\n",
        pol.id
    ));
    p.create(&c, IAM_ROLE, &role_props).await.unwrap();
    let role = p.import(&c, IAM_ROLE, "app").await.unwrap().unwrap();
    let d = p.diff(&schema(&p, IAM_ROLE), &role, &role_props);
    assert!(d.is_empty(), "{d:?}\n{:?}", role.properties);
    let pol_imported = p.import(&c, IAM_POLICY, &pol.id).await.unwrap().unwrap();
    let d = p.diff(&schema(&p, IAM_POLICY), &pol_imported, &yaml(POLICY));
    assert!(d.is_empty(), "{d:?}\n{:?}", pol_imported.properties);
    assert!(p.import(&c, IAM_ROLE, "missing").await.unwrap().is_none());
}

/// A loopback HTTP server speaking just enough HTTP/1.1 for the SDK: each request's
/// `X-Amz-Target` and body go to `handler`, which returns the status and JSON answer.
async fn scripted_server<F>(mut handler: F) -> String
where
    F: FnMut(&str, &str) -> (u16, String) + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (mut head, mut body) = (String::new(), String::new());
            // Read the headers and the body announced by Content-Length.
            while let Ok(read) = sock.read(&mut chunk).await {
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        head = text[..end].to_string();
                        body = text[end + 4..].to_string();
                        break;
                    }
                }
            }
            let target = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                        .map(|(_, v)| v.trim().to_string())
                })
                .unwrap_or_default();
            let (status, payload) = handler(&target, &body);
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
            let _ = sock.write_all(answer.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    url
}

fn pca_error(kind: &str) -> (u16, String) {
    (
        400,
        format!(r#"{{"__type":"{kind}","message":"{kind} from the test server"}}"#),
    )
}

/// Answers the first `throttle` requests with ThrottlingException and the rest with
/// `body`; returns the URL and a request counter.
async fn throttling_server(
    throttle: usize,
    body: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let url = scripted_server(move |_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) < throttle {
            pca_error("ThrottlingException")
        } else {
            (200, body.to_string())
        }
    })
    .await;
    (url, count)
}

/// The provider as the engine calls it: retried within its limits.
fn retrying(p: AwsProvider) -> trustplane::retry::Retrying {
    trustplane::retry::Retrying(std::sync::Arc::new(p))
}

#[tokio::test]
async fn throttled_calls_are_retried() {
    let (url, count) = throttling_server(
        2,
        r#"{"CertificateAuthority":{"Arn":"arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000","Status":"DELETED"}}"#,
    )
    .await;
    let p = AwsProvider::with_credentials("testing", "testing");
    p.configure(&yaml(&format!(
        "region: {REGION}\nendpoint: {url}\nmax_attempts: 3\n"
    )))
    .await
    .unwrap();
    let prior = Snapshot {
        id: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000".into(),
        ..Snapshot::default()
    };
    let read = retrying(p).read(&ctx("ca"), PCA_CA, &prior).await.unwrap();
    assert!(read.is_none(), "a DELETED CA reads as gone");
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two throttled answers, then success"
    );
}

/// A throttle is tried again where the call is made, paced by the operation's bucket,
/// up to THROTTLED_ATTEMPTS times; the engine does not retry that again (the attempts
/// would multiply into many more than anyone configured).
#[tokio::test]
async fn persistent_throttling_ends_after_the_throttled_attempts() {
    let (url, count) = throttling_server(usize::MAX, "").await;
    let p = AwsProvider::with_credentials("testing", "testing");
    p.configure(&yaml(&format!(
        "region: {REGION}\nendpoint: {url}\nmax_attempts: 2\n"
    )))
    .await
    .unwrap();
    let prior = Snapshot {
        id: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000".into(),
        ..Snapshot::default()
    };
    let err = retrying(p)
        .read(&ctx("ca"), PCA_CA, &prior)
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("AWS throttled acm-pca:DescribeCertificateAuthority"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains(&url),
        "names the endpoint: {}",
        err.message
    );
    assert!(
        err.message
            .contains(&format!("throttled {THROTTLED_ATTEMPTS} times")),
        "{}",
        err.message
    );
    assert!(!err.retryable);
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        THROTTLED_ATTEMPTS as usize,
        "max_attempts: 2 did not multiply them"
    );
}

/// A self-signed certificate the scripted PCA hands out (made with openssl).
const SCRIPTED_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfjCCASSgAwIBAgIJAMPWh4m5mPbqMAoGCCqGSM49BAMCMBoxGDAWBgNVBAMM
D3RydXN0cGxhbmUgdGVzdDAeFw0yNjExMjgxMzUxMzRaFw0zNjExMjgxMzUxMzRa
MBoxGDAWBgNVBAMMD3RydXN0cGxhbmUgdGVzdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABGZyc44sb/Rz/0dmkr1yd7PIiXX2HnikOuJ7JomM+4ISfdlGKVPytJV3
k1dcO/cOZ04nRbfPioGcPGyrt100XHGjUzBRMB0GA1UdDgQWBBRdT9x/P1DQzssU
tpJFYX8X726DWzAfBgNVHSMEGDAWgBRdT9x/P1DQzssUtpJFYX8X726DWzAPBgNV
HRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCmzIDNU8DD88BhL81i1JDv
NZfg3qJptFsgnFl+vRnNWQIgBxFYQJDqYVNja0mtLXd1R6U6VsDLQAvOCmIT2rEf
iWA=
-----END CERTIFICATE-----
";

/// The whole activation against a scripted PCA that is slow in every way PCA can be:
/// CREATING first, the CSR and the certificate not ready at once. Checks the requests
/// themselves (template, validity, token, ownership tags), which moto does not enforce.
#[tokio::test]
async fn activation_waits_through_slow_states_and_sends_the_right_requests() {
    use std::sync::{Arc, Mutex};
    const ARN: &str = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555";
    let calls: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let log = calls.clone();
    let url = scripted_server(move |target, body| {
        let op = target.trim_start_matches("ACMPrivateCA.").to_string();
        let mut log = log.lock().unwrap();
        log.push((op.clone(), serde_json::from_str(body).unwrap_or_default()));
        let count = |name: &str| log.iter().filter(|(o, _)| o == name).count();
        let imported = count("ImportCertificateAuthorityCertificate") > 0;
        let ok = |v: serde_json::Value| (200, v.to_string());
        match op.as_str() {
            "ListCertificateAuthorities" => ok(serde_json::json!({"CertificateAuthorities": []})),
            "CreateCertificateAuthority" => ok(serde_json::json!({"CertificateAuthorityArn": ARN})),
            "DescribeCertificateAuthority" => {
                let status = match (count("DescribeCertificateAuthority"), imported) {
                    (1 | 2, _) => "CREATING",
                    (_, false) => "PENDING_CERTIFICATE",
                    (_, true) => "ACTIVE",
                };
                let mut ca = serde_json::json!({
                    "Arn": ARN, "Status": status, "Type": "ROOT",
                    "CertificateAuthorityConfiguration": {"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA", "Subject": {"CommonName": "Mesh Root CA"}},
                    "RevocationConfiguration": {"CrlConfiguration": {"Enabled": false}, "OcspConfiguration": {"Enabled": false}}
                });
                if imported {
                    ca["NotBefore"] = serde_json::json!(1_800_000_000);
                    ca["NotAfter"] = serde_json::json!(2_100_000_000);
                }
                ok(serde_json::json!({"CertificateAuthority": ca}))
            }
            "GetCertificateAuthorityCsr" if count("GetCertificateAuthorityCsr") == 1 => pca_error("RequestInProgressException"),
            "GetCertificateAuthorityCsr" => ok(serde_json::json!({"Csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"})),
            "IssueCertificate" => ok(serde_json::json!({"CertificateArn": format!("{ARN}/certificate/abc")})),
            "GetCertificate" if count("GetCertificate") <= 2 => pca_error("RequestInProgressException"),
            "GetCertificate" => ok(serde_json::json!({"Certificate": SCRIPTED_CERT})),
            "ImportCertificateAuthorityCertificate" => ok(serde_json::json!({})),
            "ListTags" => ok(serde_json::json!({"Tags": []})),
            "GetCertificateAuthorityCertificate" => ok(serde_json::json!({"Certificate": SCRIPTED_CERT})),
            other => panic!("unexpected call {other}"),
        }
    })
    .await;
    let p = AwsProvider::with_credentials("testing", "testing");
    p.configure(&yaml(&format!("region: {REGION}\nendpoint: {url}\n")))
        .await
        .unwrap();
    let progress: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = progress.clone();
    let c = ctx("root_ca").with_progress(Arc::new(move |m: &str| {
        seen.lock().unwrap().push(m.to_string())
    }));
    let props = yaml("kind: root\nsubject: {common_name: Mesh Root CA}\nkey_algorithm: EC_prime256v1\nsigning_algorithm: SHA256WITHECDSA\nvalidity: 10y\n");
    let snap = p.create(&c, PCA_CA, &props).await.unwrap();
    assert_eq!(snap.id, ARN);
    assert_eq!(attr(&snap, "status"), "ACTIVE");
    assert_eq!(attr(&snap, "serial"), "c3d68789b998f6ea");

    let calls = calls.lock().unwrap();
    let ops: Vec<&str> = calls
        .iter()
        .map(|(o, _)| o.as_str())
        .filter(|o| *o != "DescribeCertificateAuthority")
        .collect();
    assert_eq!(
        &ops[..8],
        [
            "ListCertificateAuthorities",
            "CreateCertificateAuthority",
            "GetCertificateAuthorityCsr",
            "GetCertificateAuthorityCsr",
            "IssueCertificate",
            "GetCertificate",
            "GetCertificate",
            "GetCertificate",
        ]
    );
    assert_eq!(ops[8], "ImportCertificateAuthorityCertificate");
    let body = |name: &str| &calls.iter().find(|(o, _)| o == name).unwrap().1;
    let create = body("CreateCertificateAuthority");
    assert_eq!(create["CertificateAuthorityType"], "ROOT");
    assert_eq!(create["UsageMode"], "GENERAL_PURPOSE");
    let token = create["IdempotencyToken"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() <= 36);
    let tag_keys: Vec<&str> = create["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Key"].as_str().unwrap())
        .collect();
    for key in [
        "trustplane:stack",
        "trustplane:address",
        "trustplane:lineage",
        "trustplane:config",
    ] {
        assert!(tag_keys.contains(&key), "{tag_keys:?}");
    }
    let issue = body("IssueCertificate");
    assert_eq!(issue["CertificateAuthorityArn"], ARN);
    assert_eq!(
        issue["TemplateArn"],
        "arn:aws:acm-pca:::template/RootCACertificate/V1"
    );
    assert_eq!(
        issue["Validity"],
        serde_json::json!({"Value": 3650, "Type": "DAYS"})
    );
    assert_eq!(issue["SigningAlgorithm"], "SHA256WITHECDSA");
    let import = body("ImportCertificateAuthorityCertificate");
    assert!(
        import.get("CertificateChain").is_none(),
        "a root imports no chain"
    );

    let progress = progress.lock().unwrap();
    for expected in [
        "waiting for the CA to leave CREATING",
        "waiting for the CA's CSR",
        "waiting for the CA certificate to be issued",
    ] {
        assert!(
            progress.iter().any(|m| m == expected),
            "{expected:?} not in {progress:?}"
        );
    }
}

#[tokio::test]
async fn a_subordinate_of_a_disabled_parent_fails_with_advice_and_resumes_later() {
    let moto = Moto::start();
    let p = moto.provider().await;
    let pca = aws_sdk_acmpca::Client::new(&moto.sdk().await);
    let root_props = with(&yaml(ROOT), "enabled", Value::Bool(false));
    let root = p
        .create(&ctx("root_ca"), PCA_CA, &root_props)
        .await
        .unwrap();
    assert_eq!(attr(&root, "status"), "DISABLED");

    let sub_desired = sub_props(attr(&root, "arn"));
    let err = p
        .create(&ctx("sub_ca"), PCA_CA, &sub_desired)
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("is DISABLED, but it must be ACTIVE to sign sub_ca"),
        "{}",
        err.message
    );
    assert_eq!(err.field.as_deref(), Some("parent"));
    assert!(err.help.unwrap().contains("enabled: true"));
    let left = owned_cas(&pca, "sub_ca").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, "PENDING_CERTIFICATE");

    // Once the parent is enabled, applying again finishes the same subordinate.
    p.update(&ctx("root_ca"), PCA_CA, &root, &yaml(ROOT))
        .await
        .unwrap();
    let sub = p
        .create(&ctx("sub_ca"), PCA_CA, &sub_desired)
        .await
        .unwrap();
    assert_eq!(sub.id, left[0].0);
    assert_eq!(attr(&sub, "status"), "ACTIVE");
}

#[tokio::test]
async fn an_error_page_instead_of_an_answer_is_reported_by_its_status() {
    let url =
        scripted_server(|_, _| (502, "<html><body>bad gateway</body></html>".to_string())).await;
    let p = AwsProvider::with_credentials("testing", "testing");
    p.configure(&yaml(&format!("region: {REGION}\nendpoint: {url}\n")))
        .await
        .unwrap();
    let prior = Snapshot {
        id: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000".into(),
        ..Snapshot::default()
    };
    let err = p.read(&ctx("ca"), PCA_CA, &prior).await.unwrap_err();
    assert!(err.retryable);
    assert!(err.message.contains("HTTP 502"), "{}", err.message);
    assert!(!err.message.contains("<html>"), "{}", err.message);
}
