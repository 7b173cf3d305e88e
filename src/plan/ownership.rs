//! One object, one owner: two resources of a stack that manage the same object (the same
//! Kubernetes namespace declared twice, say) would fight over it on every apply; and a
//! create-before-destroy replacement whose new object is the old one would delete what it
//! just created.

use std::collections::HashMap;

use crate::config::ResourceDecl;
use crate::diag::Diagnostic;

/// Object identities claimed so far while planning, each with its resource.
#[derive(Debug, Default)]
pub struct Claims {
    owners: HashMap<String, String>,
}

impl Claims {
    /// Claims every object of `identity` (one per line) for `decl`; an error names both
    /// resources when one is already claimed.
    pub fn claim(&mut self, decl: &ResourceDecl, identity: &str) -> Result<(), Diagnostic> {
        for object in identity.lines().filter(|l| !l.is_empty()) {
            match self.owners.get(object) {
                Some(owner) if owner != &decl.name => {
                    return Err(Diagnostic::error(
                        "plan::duplicate_object",
                        format!("{} and {owner} both manage {object}", decl.name),
                    )
                    .with_span(decl.span.clone())
                    .with_field(format!("resources.{}", decl.name))
                    .with_address(&decl.name)
                    .with_detail("each apply of one would undo the other's changes")
                    .with_help(format!(
                        "keep {object} in one resource: remove it from {} or from {owner}",
                        decl.name
                    )));
                }
                _ => {
                    self.owners.insert(object.to_string(), decl.name.clone());
                }
            }
        }
        Ok(())
    }
}

/// Refuses a create-before-destroy replacement of `address` whose new object (by
/// identity, one name per line) is one of the old ones: the create would overwrite or
/// adopt the old object, and the delete that follows would remove the replacement.
pub fn check_create_before_destroy(
    address: &str,
    old_identity: &str,
    new_identity: &str,
) -> Result<(), Diagnostic> {
    let shared = crate::provider::shared_objects(new_identity, old_identity);
    let Some(first) = shared.first() else {
        return Ok(());
    };
    Err(Diagnostic::error(
        "plan::replace_same_object",
        format!("{address} cannot be replaced create-before-destroy: the replacement is the same object ({first}) as the one it replaces"),
    )
    .with_address(address)
    .with_field(format!("resources.{address}.lifecycle.create_before_destroy"))
    .with_detail(
        "create_before_destroy creates the new object first and then deletes the old one; \
         with the same name, the create would overwrite the old object and the delete would \
         remove the replacement, leaving nothing",
    )
    .with_help(format!(
        "give the replacement a different name so both can exist at once, or remove \
         `create_before_destroy: true` from resources.{address}.lifecycle to replace it \
         destroy-then-create"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Lifecycle, Mode, Node, NodeKind};
    use crate::diag::Span;

    fn decl(name: &str) -> ResourceDecl {
        let span = Span::file_only(std::path::Path::new("s.yaml"));
        ResourceDecl {
            name: name.into(),
            type_name: "k8s.namespace".into(),
            mode: Mode::Managed,
            properties: Node {
                kind: NodeKind::Map(vec![]),
                span: span.clone(),
            },
            depends_on: vec![],
            lifecycle: Lifecycle::default(),
            span: span.clone(),
            type_span: span,
            enabled: Default::default(),
        }
    }

    #[test]
    fn a_second_owner_is_refused_naming_both() {
        let mut claims = Claims::default();
        claims.claim(&decl("a"), "v1/Namespace/x").unwrap();
        claims.claim(&decl("b"), "v1/Namespace/y").unwrap();
        let err = claims
            .claim(&decl("c"), "v1/ConfigMap/y/cm\nv1/Namespace/x")
            .unwrap_err();
        assert_eq!(err.code, "plan::duplicate_object");
        assert_eq!(err.summary, "c and a both manage v1/Namespace/x");
        // Claiming again for the same resource is fine (a replan).
        claims.claim(&decl("a"), "v1/Namespace/x").unwrap();
    }

    #[test]
    fn a_replacement_sharing_an_object_with_the_old_one_is_refused() {
        check_create_before_destroy("f", "file /a", "file /b").unwrap();
        let err = check_create_before_destroy(
            "m",
            "v1/ConfigMap/x/a\nv1/ConfigMap/x/b",
            "v1/ConfigMap/x/c\nv1/ConfigMap/x/b",
        )
        .unwrap_err();
        assert_eq!(err.code, "plan::replace_same_object");
        assert!(
            err.summary.contains("(v1/ConfigMap/x/b)"),
            "{}",
            err.summary
        );
        assert!(err.help.unwrap().contains("destroy-then-create"));
    }
}
