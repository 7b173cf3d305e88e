//! How a create survives retries and crashes: every object trustplane creates carries
//! ownership tags naming the stack, address and lineage that made it (a CA also a digest
//! of the properties that fix its identity). Before creating a CA, the provider looks for
//! one it already owns and decides here, with no I/O, whether to resume, restore or
//! create; an IAM create whose name is taken adopts the object only if it is its own.

use aws_sdk_acmpca::types::CertificateAuthorityStatus as Status;
use sha2::{Digest, Sha256};

use crate::provider::{OpContext, ProviderError};
use crate::value::Value;

pub const TAG_STACK: &str = "trustplane:stack";
pub const TAG_ADDRESS: &str = "trustplane:address";
pub const TAG_LINEAGE: &str = "trustplane:lineage";
/// Digest of the properties that force replacement: an old generation being replaced
/// carries the same address but another digest, and must not be resumed.
pub const TAG_CONFIG: &str = "trustplane:config";

/// Set by trustplane's own delete: a CA deleted on purpose is never restored by a later
/// create (only one deleted behind trustplane's back is).
pub const TAG_DELETED: &str = "trustplane:deleted";

/// Tags whose keys trustplane reserves; never compared as user tags.
pub fn is_ownership_tag(key: &str) -> bool {
    key.starts_with("trustplane:")
}

/// The tags naming who creates an object in `ctx`: enough for an object whose name fixes
/// its identity (IAM), where a create can only meet the object it made itself.
pub fn creator_tags(ctx: &OpContext) -> Vec<(String, String)> {
    vec![
        (TAG_STACK.to_string(), ctx.stack.clone()),
        (TAG_ADDRESS.to_string(), ctx.address.clone()),
        (TAG_LINEAGE.to_string(), ctx.lineage.clone()),
    ]
}

/// The ownership tags for a CA created in `ctx` with configuration digest `config`.
pub fn ownership_tags(ctx: &OpContext, config: &str) -> Vec<(String, String)> {
    let mut tags = creator_tags(ctx);
    tags.push((TAG_CONFIG.to_string(), config.to_string()));
    tags
}

/// True when the tags mark the CA as created for this lineage and address.
pub fn owned_by(ctx: &OpContext, tags: &[(String, String)]) -> bool {
    let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| tk == k && tv == v);
    has(TAG_LINEAGE, &ctx.lineage) && has(TAG_ADDRESS, &ctx.address)
}

/// A create found its name taken by the object `id` carrying `tags`: Ok when this state
/// created it at this address (a crash or a failure after the create call left it
/// unrecorded), so the create adopts it; otherwise the error that stops the create.
/// `what` names the kind ("IAM role") and `field` the property that names the object.
pub fn claim_existing(
    ctx: &OpContext,
    what: &str,
    id: &str,
    field: &str,
    tags: &[(String, String)],
) -> Result<(), ProviderError> {
    if owned_by(ctx, tags) && ctx.replacing.as_deref() != Some(id) {
        return Ok(());
    }
    let tag = |k: &str| tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| v.as_str());
    let why = if ctx.replacing.as_deref() == Some(id) {
        "it is the object this create replaces".to_string()
    } else {
        match (tag(TAG_LINEAGE), tag(TAG_ADDRESS)) {
            (None, _) => "it carries no trustplane ownership tags".to_string(),
            (Some(l), a) if l != ctx.lineage => format!(
                "its ownership tags name another state (stack {}, address {}, lineage {l})",
                tag(TAG_STACK).unwrap_or("?"),
                a.unwrap_or("?")
            ),
            (Some(_), a) => format!(
                "its ownership tags name another address of this state ({})",
                a.unwrap_or("?")
            ),
        }
    };
    Err(ProviderError::new(format!(
        "{what} {id} already exists and was not created by this state at {}: {why}",
        ctx.address
    ))
    .with_field(field)
    .with_help(format!(
        "to manage the existing {what} from this stack, import it: \
         `trustplane import {} {id} STACK_FILE`; otherwise give this resource another {field}",
        ctx.address
    )))
}

/// Short digest of a JSON-able value (the force-new properties).
pub fn config_digest(identity: &Value) -> String {
    let text = serde_json::to_string(&identity.to_json()).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// PCA idempotency tokens are at most 36 characters: a hash of who creates what.
pub fn idempotency_token(ctx: &OpContext, config: &str) -> String {
    token_of(ctx, config)
}

/// The CreateCertificateAuthority token. PCA answers a repeated token (within five
/// minutes) with the CA it made the first time, even if that CA has since been deleted;
/// counting the deleted generations found makes a create after a deliberate delete new,
/// while a retry of the same create (which sees the same generations) reuses the token.
/// The create of a replacement names the CA it replaces, so that PCA cannot answer it
/// with that CA.
pub fn create_token(ctx: &OpContext, config: &str, existing: &[FoundCa]) -> String {
    let generation = existing
        .iter()
        .filter(|ca| {
            ca.status == Status::Deleted && ca.config.as_deref().is_none_or(|c| c == config)
        })
        .count();
    match &ctx.replacing {
        Some(old) => token_of(ctx, &format!("{config}#{generation}#replacing {old}")),
        None => token_of(ctx, &format!("{config}#{generation}")),
    }
}

fn token_of(ctx: &OpContext, config: &str) -> String {
    let mut h = Sha256::new();
    for part in [ctx.lineage.as_str(), ctx.address.as_str(), config] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Whether a DELETED CA may be brought back by a create: inside its restore window and
/// not deleted by trustplane itself.
pub fn restorable(
    status: &Status,
    restorable_until: Option<i64>,
    now: i64,
    tags: &[(String, String)],
) -> bool {
    *status == Status::Deleted
        && restorable_until.is_some_and(|t| t > now)
        && !tags.iter().any(|(k, _)| k == TAG_DELETED)
}

/// A CA found with this lineage's and address's ownership tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCa {
    pub arn: String,
    pub status: Status,
    /// The `trustplane:config` tag, if any. A CA without it (tagged by hand) is taken as
    /// matching.
    pub config: Option<String>,
    /// For a DELETED CA: whether its restore window is still open.
    pub restorable: bool,
}

/// What create does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateStep {
    /// Nothing owned exists: CreateCertificateAuthority.
    CreateNew,
    /// Continue the activation of this CA from its current status.
    Resume { arn: String, status: Status },
    /// Restore this CA from its deletion window, then continue its activation.
    Restore { arn: String },
    /// Something is in the way that needs a person.
    Blocked { arn: String, reason: String },
    /// More than one live CA claims this address.
    Ambiguous { arns: Vec<String> },
}

/// Decides how a create proceeds given the owned CAs found for the desired configuration.
pub fn plan_create(existing: &[FoundCa], config: &str) -> CreateStep {
    let same: Vec<&FoundCa> = existing
        .iter()
        .filter(|ca| ca.config.as_deref().is_none_or(|c| c == config))
        .collect();
    let live: Vec<&FoundCa> = same
        .iter()
        .copied()
        .filter(|ca| {
            matches!(
                ca.status,
                Status::Creating | Status::PendingCertificate | Status::Active | Status::Disabled
            )
        })
        .collect();
    match live.as_slice() {
        [one] => {
            return CreateStep::Resume {
                arn: one.arn.clone(),
                status: one.status.clone(),
            }
        }
        [] => {}
        many => {
            return CreateStep::Ambiguous {
                arns: many.iter().map(|ca| ca.arn.clone()).collect(),
            }
        }
    }
    if let Some(ca) = same
        .iter()
        .find(|ca| ca.status == Status::Deleted && ca.restorable)
    {
        return CreateStep::Restore {
            arn: ca.arn.clone(),
        };
    }
    if let Some(ca) = same
        .iter()
        .find(|ca| matches!(ca.status, Status::Failed | Status::Expired))
    {
        return CreateStep::Blocked {
            arn: ca.arn.clone(),
            reason: format!(
                "an earlier attempt left this CA {}; delete it (aws acm-pca delete-certificate-authority) and apply again",
                ca.status.as_str()
            ),
        };
    }
    CreateStep::CreateNew
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(arn: &str, status: Status, config: Option<&str>, restorable: bool) -> FoundCa {
        FoundCa {
            arn: arn.into(),
            status,
            config: config.map(str::to_string),
            restorable,
        }
    }

    #[test]
    fn nothing_found_creates() {
        assert_eq!(plan_create(&[], "c1"), CreateStep::CreateNew);
    }

    #[test]
    fn pending_or_active_is_resumed() {
        for status in [
            Status::Creating,
            Status::PendingCertificate,
            Status::Active,
            Status::Disabled,
        ] {
            let step = plan_create(&[ca("a", status.clone(), Some("c1"), false)], "c1");
            assert_eq!(
                step,
                CreateStep::Resume {
                    arn: "a".into(),
                    status: status.clone()
                }
            );
        }
    }

    #[test]
    fn hand_tagged_ca_without_config_tag_is_resumed() {
        let step = plan_create(&[ca("a", Status::PendingCertificate, None, false)], "c1");
        assert!(matches!(step, CreateStep::Resume { .. }));
    }

    #[test]
    fn deleted_within_window_is_restored_rather_than_recreated() {
        let step = plan_create(&[ca("a", Status::Deleted, Some("c1"), true)], "c1");
        assert_eq!(step, CreateStep::Restore { arn: "a".into() });
        let gone = plan_create(&[ca("a", Status::Deleted, Some("c1"), false)], "c1");
        assert_eq!(gone, CreateStep::CreateNew);
    }

    #[test]
    fn a_live_ca_wins_over_a_deleted_one() {
        let step = plan_create(
            &[
                ca("old", Status::Deleted, Some("c1"), true),
                ca("new", Status::Active, Some("c1"), false),
            ],
            "c1",
        );
        assert_eq!(
            step,
            CreateStep::Resume {
                arn: "new".into(),
                status: Status::Active
            }
        );
    }

    #[test]
    fn an_older_generation_with_another_config_is_ignored() {
        // Replacement: the CA being replaced is still ACTIVE under the same address.
        let step = plan_create(&[ca("old", Status::Active, Some("c0"), false)], "c1");
        assert_eq!(step, CreateStep::CreateNew);
        let deleted = plan_create(&[ca("old", Status::Deleted, Some("c0"), true)], "c1");
        assert_eq!(deleted, CreateStep::CreateNew);
    }

    #[test]
    fn two_live_cas_are_ambiguous() {
        let step = plan_create(
            &[
                ca("a", Status::Active, Some("c1"), false),
                ca("b", Status::PendingCertificate, Some("c1"), false),
            ],
            "c1",
        );
        assert_eq!(
            step,
            CreateStep::Ambiguous {
                arns: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn failed_ca_blocks_with_advice() {
        let step = plan_create(&[ca("a", Status::Failed, Some("c1"), false)], "c1");
        assert!(
            matches!(step, CreateStep::Blocked { ref arn, ref reason } if arn == "a" && reason.contains("delete"))
        );
    }

    #[test]
    fn only_a_ca_deleted_behind_our_back_is_restorable() {
        let none: Vec<(String, String)> = Vec::new();
        let ours = vec![(TAG_DELETED.to_string(), "2026-01-01T00:00:00Z".to_string())];
        assert!(restorable(&Status::Deleted, Some(200), 100, &none));
        assert!(
            !restorable(&Status::Deleted, Some(200), 100, &ours),
            "deleted on purpose"
        );
        assert!(
            !restorable(&Status::Deleted, Some(50), 100, &none),
            "window closed"
        );
        assert!(!restorable(&Status::Deleted, None, 100, &none));
        assert!(!restorable(&Status::Active, Some(200), 100, &none));
    }

    #[test]
    fn tokens_fit_pca_and_depend_on_identity() {
        let ctx = OpContext::new("root_ca", "prod", "lineage-1");
        let t = idempotency_token(&ctx, "c1");
        assert!(t.len() <= 36);
        assert_eq!(t, idempotency_token(&ctx, "c1"));
        assert_ne!(t, idempotency_token(&ctx, "c2"));
        assert_ne!(
            t,
            idempotency_token(&OpContext::new("sub_ca", "prod", "lineage-1"), "c1")
        );
    }

    #[test]
    fn a_create_after_a_delete_gets_a_new_token() {
        let ctx = OpContext::new("root_ca", "prod", "l1");
        let first = create_token(&ctx, "c1", &[]);
        assert_eq!(
            first,
            create_token(&ctx, "c1", &[]),
            "a retry reuses the token"
        );
        let after_delete = create_token(&ctx, "c1", &[ca("a", Status::Deleted, Some("c1"), false)]);
        assert_ne!(first, after_delete);
        // Another configuration's deleted generation does not count.
        assert_eq!(
            first,
            create_token(&ctx, "c1", &[ca("a", Status::Deleted, Some("c0"), false)])
        );
        assert!(after_delete.len() <= 36);
    }

    #[test]
    fn a_taken_name_is_adopted_only_when_this_state_created_it_there() {
        let ctx = OpContext::new("issuer", "prod", "l1");
        let ours = creator_tags(&ctx);
        assert!(claim_existing(&ctx, "IAM role", "r", "name", &ours).is_ok());

        let refused = |ctx: &OpContext, tags: &[(String, String)]| {
            claim_existing(ctx, "IAM role", "r", "name", tags).unwrap_err()
        };
        let untagged = refused(&ctx, &[("team".into(), "mesh".into())]);
        assert!(untagged.message.contains(
            "IAM role r already exists and was not created by this state at issuer: it carries no trustplane ownership tags"
        ), "{}", untagged.message);
        assert_eq!(untagged.field.as_deref(), Some("name"));
        assert!(untagged
            .help
            .unwrap()
            .contains("`trustplane import issuer r STACK_FILE`"));

        let other_state = refused(&OpContext::new("issuer", "prod", "l2"), &ours);
        assert!(
            other_state
                .message
                .contains("another state (stack prod, address issuer, lineage l1)"),
            "{}",
            other_state.message
        );
        let other_address = refused(&OpContext::new("other", "prod", "l1"), &ours);
        assert!(other_address
            .message
            .contains("another address of this state (issuer)"));

        let mut replacing = ctx.clone();
        replacing.replacing = Some("r".into());
        assert!(refused(&replacing, &ours)
            .message
            .contains("this create replaces"));
    }

    #[test]
    fn ca_tags_are_the_creator_tags_and_the_digest() {
        let ctx = OpContext::new("root_ca", "prod", "l1");
        let mut want = creator_tags(&ctx);
        want.push((TAG_CONFIG.to_string(), "c1".to_string()));
        assert_eq!(ownership_tags(&ctx, "c1"), want);
    }

    #[test]
    fn ownership_needs_lineage_and_address() {
        let ctx = OpContext::new("root_ca", "prod", "l1");
        let tags = ownership_tags(&ctx, "c1");
        assert!(owned_by(&ctx, &tags));
        assert!(!owned_by(&OpContext::new("root_ca", "prod", "l2"), &tags));
        assert!(!owned_by(&OpContext::new("other", "prod", "l1"), &tags));
    }
}
