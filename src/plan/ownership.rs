//! One object, one owner: two resources of a stack that manage the same object (the same
//! Kubernetes namespace declared twice, say) would fight over it on every apply.

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
}
