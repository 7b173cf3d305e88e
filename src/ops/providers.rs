//! Provider settings (`providers.<name>`): evaluated in one place, for configuring
//! providers and for `verify`, which reaches the same cluster and account.

use std::collections::{BTreeMap, BTreeSet};

use super::OpsResult;
use crate::config::expr::evaluate;
use crate::config::Stack;
use crate::diag::{Diagnostic, Diagnostics};
use crate::plan::eval::Values;
use crate::provider::kubernetes::connection;
use crate::provider::Registry;
use crate::value::Value;

/// The evaluated `providers.<name>` settings of a stack, real values (no secret marks:
/// providers are configured with what they need); `None` when the stack sets none.
pub fn settings(
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
    name: &str,
) -> Result<Option<Value>, Diagnostic> {
    let Some(node) = stack.providers.get(name) else {
        return Ok(None);
    };
    let scope = Values {
        variables,
        resources: Default::default(),
    };
    evaluate(node, &scope, &format!("providers.{name}")).map(|v| Some(v.unmarked()))
}

/// The settings `name` is configured with. The providers that reach the cluster share one
/// connection: helm inherits `providers.kubernetes`'s unless it sets its own, and an EKS
/// connection gets `providers.aws` to sign its token with (see
/// [`crate::provider::kubernetes::connection`]).
fn handed_over(
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
    name: &str,
) -> Result<Value, Diagnostic> {
    let own = settings(stack, variables, name)?.unwrap_or_else(Value::map);
    let kubernetes = match name {
        "helm" => settings(stack, variables, "kubernetes")?,
        "kubernetes" => None,
        _ => return Ok(own),
    };
    let merged = connection::with_inherited(own, kubernetes.as_ref(), None);
    if merged.get("eks_cluster").is_none_or(Value::is_null) {
        return Ok(merged);
    }
    let aws = settings(stack, variables, "aws")?;
    Ok(connection::with_inherited(merged, None, aws.as_ref()))
}

/// Configures every provider the stack or its state uses (`state_types`: the resource
/// types recorded in state), each with its settings.
pub async fn configure(
    registry: &Registry,
    stack: &Stack,
    variables: &BTreeMap<String, Value>,
    state_types: impl Iterator<Item = String>,
) -> OpsResult<()> {
    let mut names: BTreeSet<&'static str> = BTreeSet::new();
    for t in stack
        .resources
        .values()
        .map(|r| r.type_name.clone())
        .chain(state_types)
    {
        if let Some(p) = registry.provider_for(&t) {
            names.insert(p.name());
        }
    }
    let mut diags = Diagnostics::new();
    for name in names {
        let settings = match handed_over(stack, variables, name) {
            Ok(s) => s,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let provider = registry
            .provider(name)
            .expect("provider listed by the registry");
        if let Err(e) = provider.configure(&settings).await {
            let mut d = Diagnostic::error(
                "provider::configure_failed",
                format!("provider {name}: {}", e.message),
            )
            .with_field(format!(
                "providers.{name}{}",
                e.field.map(|f| format!(".{f}")).unwrap_or_default()
            ));
            if let Some(span) = stack.providers.get(name).map(|n| n.span.clone()) {
                d = d.with_span(span);
            }
            if let Some(h) = e.help {
                d = d.with_help(h);
            }
            diags.push(d);
        }
    }
    if diags.has_errors() {
        Err(diags.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> Stack {
        let registry = Registry::builtin();
        let (stack, diags) =
            crate::config::load::load_str(std::path::Path::new("s.yaml"), text, &registry);
        stack.unwrap_or_else(|| panic!("{diags:?}"))
    }

    #[test]
    fn settings_are_evaluated_with_the_variables_and_absent_ones_are_none() {
        let s = stack(
            "stack: s\nvariables:\n  region:\n    type: string\n    sensitive: true\n\
             providers:\n  aws:\n    region: ${var.region}\nresources:\n  n:\n    type: core.null\n",
        );
        let vars = BTreeMap::from([(
            "region".to_string(),
            Value::sensitive(Value::from("eu-west-1")),
        )]);
        let aws = settings(&s, &vars, "aws").unwrap().expect("aws is set");
        // Providers get real values, not sensitive marks.
        assert_eq!(aws.get("region"), Some(&Value::from("eu-west-1")));
        assert_eq!(settings(&s, &vars, "kubernetes").unwrap(), None);
    }

    #[test]
    fn a_setting_that_does_not_evaluate_is_an_error_on_its_field() {
        let s = stack(
            "stack: s\nvariables:\n  region:\n    type: string\n\
             providers:\n  aws:\n    region: ${var.region}\nresources:\n  n:\n    type: core.null\n",
        );
        // The variable has no value: evaluation fails rather than configuring with null.
        let err = settings(&s, &BTreeMap::new(), "aws").unwrap_err();
        assert!(
            err.field
                .as_deref()
                .is_some_and(|f| f.starts_with("providers.aws")),
            "{err:?}"
        );
    }

    #[test]
    fn helm_is_handed_the_kubernetes_connection_and_eks_gets_the_aws_settings() {
        let s = stack(
            "stack: s\nproviders:\n  aws: {region: eu-west-1}\n  kubernetes: {context: prod}\n\
             resources:\n  n:\n    type: core.null\n",
        );
        let helm = handed_over(&s, &BTreeMap::new(), "helm").unwrap();
        assert_eq!(helm.get("context"), Some(&Value::from("prod")));
        assert_eq!(helm.get("aws"), None, "no EKS connection, no AWS settings");
        let s = stack(
            "stack: s\nproviders:\n  aws: {region: eu-west-1}\n  kubernetes: {eks_cluster: prod}\n\
             resources:\n  n:\n    type: core.null\n",
        );
        for name in ["helm", "kubernetes"] {
            let v = handed_over(&s, &BTreeMap::new(), name).unwrap();
            assert_eq!(v.get("eks_cluster"), Some(&Value::from("prod")), "{name}");
            assert_eq!(
                v.get("aws").and_then(|a| a.get("region")),
                Some(&Value::from("eu-west-1")),
                "{name}"
            );
        }
        let aws = handed_over(&s, &BTreeMap::new(), "aws").unwrap();
        assert_eq!(aws.get("eks_cluster"), None);
    }
}
