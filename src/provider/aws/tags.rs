//! Tags: the stack's `providers.aws.tags` merged under each resource's own, and read back
//! limited to the keys trustplane manages, so tags added by other tools are not drift.

use std::collections::BTreeMap;

use super::ownership::is_ownership_tag;
use crate::value::{Map, Value};

pub type Tags = BTreeMap<String, String>;

/// A `tags` property as strings; unknown or non-string values are skipped.
pub fn from_value(v: Option<&Value>) -> Tags {
    v.and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    v.to_interpolated()
                        .filter(|_| !matches!(v, Value::Null))
                        .map(|s| (k.clone(), s))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn to_value(tags: &Tags) -> Value {
    Value::Map(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// What is applied: provider tags, overridden by the resource's own.
pub fn effective(provider: &Tags, props: &Value) -> Tags {
    let mut out = provider.clone();
    out.extend(from_value(props.get("tags")));
    out
}

/// The live tags trustplane manages: keys the prior properties or the provider name. With
/// no prior properties (an import) every tag but the ownership ones is taken.
pub fn read_back(live: &[(String, String)], prior_props: &Value, provider: &Tags) -> Tags {
    if prior_props.as_map().is_none_or(|m| m.is_empty()) {
        return live
            .iter()
            .filter(|(k, _)| !is_ownership_tag(k))
            .cloned()
            .collect();
    }
    let prior = from_value(prior_props.get("tags"));
    live.iter()
        .filter(|(k, _)| {
            !is_ownership_tag(k) && (prior.contains_key(k) || provider.contains_key(k))
        })
        .cloned()
        .collect()
}

/// Tags to set and keys to remove to go from the prior properties to the desired ones.
pub fn changes(provider: &Tags, prior_props: &Value, desired: &Value) -> (Tags, Vec<String>) {
    let before = effective(provider, prior_props);
    let after = effective(provider, desired);
    let set: Tags = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// For comparison: the `tags` property replaced by the effective tags.
pub fn normalize_in(props: &mut Map, provider: &Tags) {
    if matches!(props.get("tags"), Some(Value::Unknown)) {
        return;
    }
    let merged = effective(provider, &Value::Map(props.clone()));
    props.insert("tags".into(), to_value(&merged));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(tags: &[(&str, &str)]) -> Value {
        let mut m = Map::new();
        m.insert(
            "tags".into(),
            Value::Map(
                tags.iter()
                    .map(|(k, v)| (k.to_string(), Value::from(*v)))
                    .collect(),
            ),
        );
        Value::Map(m)
    }

    #[test]
    fn resource_tags_override_provider_tags() {
        let provider: Tags = [("team".into(), "mesh".into()), ("env".into(), "dev".into())].into();
        let eff = effective(&provider, &props(&[("env", "prod")]));
        assert_eq!(eff.get("env").unwrap(), "prod");
        assert_eq!(eff.get("team").unwrap(), "mesh");
    }

    #[test]
    fn read_back_ignores_foreign_and_ownership_tags() {
        let provider: Tags = [("team".into(), "mesh".into())].into();
        let live = vec![
            ("team".to_string(), "mesh".to_string()),
            ("app".to_string(), "x".to_string()),
            ("added-by-console".to_string(), "y".to_string()),
            ("trustplane:address".to_string(), "root_ca".to_string()),
        ];
        let got = read_back(&live, &props(&[("app", "x")]), &provider);
        assert_eq!(got.len(), 2);
        assert!(got.contains_key("team") && got.contains_key("app"));
    }

    #[test]
    fn import_takes_every_tag_but_ownership() {
        let live = vec![
            ("app".to_string(), "x".to_string()),
            ("trustplane:lineage".to_string(), "l".to_string()),
        ];
        let got = read_back(&live, &Value::map(), &Tags::new());
        assert_eq!(got, [("app".to_string(), "x".to_string())].into());
    }

    #[test]
    fn changes_set_and_remove() {
        let (set, remove) = changes(
            &Tags::new(),
            &props(&[("a", "1"), ("b", "2")]),
            &props(&[("a", "1"), ("c", "3")]),
        );
        assert_eq!(set, [("c".to_string(), "3".to_string())].into());
        assert_eq!(remove, vec!["b".to_string()]);
    }
}
