//! Provider settings (`providers.<name>` of a stack), declared as [`Property`]s like a
//! resource's properties: `trustplane validate` checks a stack's settings against the
//! declaration before anything runs, and a provider's `configure` reads them through
//! [`SettingsMap`], which refuses the same unknown names with the same suggestions.

use super::{Property, ProviderError, ProviderResult, Type};
use crate::value::{Map, Value};

/// `timeout` and `max_attempts`, which every networked provider takes (see
/// [`super::Limits`]).
pub fn limits() -> Vec<Property> {
    vec![
        Property::new("timeout", Type::Duration)
            .default("30s")
            .describe("The longest one request may take, connecting included."),
        Property::new("max_attempts", Type::Number)
            .default(3i64)
            .describe("Attempts an operation gets when its error is worth retrying, 1 to 10; 1 disables retries."),
    ]
}

/// A provider's settings, checked for unknown names against its declaration.
pub struct SettingsMap<'a> {
    provider: &'static str,
    map: Option<&'a Map>,
}

impl<'a> SettingsMap<'a> {
    /// Checks that `v` is a map (or nothing) whose every key is declared.
    pub fn check(
        provider: &'static str,
        declared: &[Property],
        v: &'a Value,
    ) -> ProviderResult<SettingsMap<'a>> {
        let map = match v {
            Value::Null => None,
            Value::Map(m) => Some(m),
            other => {
                return Err(ProviderError::new(format!(
                    "providers.{provider} must be a map, found {}",
                    other.type_name()
                )))
            }
        };
        let names: Vec<&str> = declared.iter().map(|p| p.name).collect();
        if let Some(key) = map
            .into_iter()
            .flat_map(Map::keys)
            .find(|k| !names.contains(&k.as_str()))
        {
            let help = match crate::diag::did_you_mean(key, names.iter().copied()) {
                Some(s) => format!("did you mean {s:?}?"),
                None if names.is_empty() => format!("the {provider} provider takes no settings"),
                None => format!("the {provider} provider takes {}", names.join(", ")),
            };
            return Err(
                ProviderError::new(format!("unknown setting providers.{provider}.{key}"))
                    .with_field(key.clone())
                    .with_help(help),
            );
        }
        Ok(SettingsMap { provider, map })
    }

    /// The value of a setting; `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// A string setting.
    pub fn string(&self, key: &str) -> ProviderResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ProviderError::new(format!(
                "providers.{}.{key} must be a string, found {}",
                self.provider,
                other.type_name()
            ))
            .with_field(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<Property> {
        let mut p = vec![Property::new("kubeconfig", Type::String)];
        p.extend(limits());
        p
    }

    #[test]
    fn unknown_names_get_a_suggestion_and_the_field() {
        let v = Value::from_json(serde_json::json!({"kubeconfg": "x"}));
        let e = SettingsMap::check("helm", &declared(), &v).err().unwrap();
        assert_eq!(e.message, "unknown setting providers.helm.kubeconfg");
        assert_eq!(e.field.as_deref(), Some("kubeconfg"));
        assert_eq!(e.help.as_deref(), Some("did you mean \"kubeconfig\"?"));
        let v = Value::from_json(serde_json::json!({"zzz": 1}));
        let e = SettingsMap::check("core", &[], &v).err().unwrap();
        assert_eq!(
            e.help.as_deref(),
            Some("the core provider takes no settings")
        );
    }

    #[test]
    fn every_setting_of_every_provider_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/providers.md"))
                .unwrap();
        let registry = crate::provider::Registry::builtin();
        for name in registry.provider_names() {
            let heading = format!("### `{name}`");
            let start = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/providers.md has no section {heading}"));
            let section = &doc[start + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            for s in registry.provider(name).unwrap().settings() {
                assert!(
                    !s.description.is_empty(),
                    "{name}.{} has no description",
                    s.name
                );
                assert!(
                    section.contains(&format!("| `{}` |", s.name)),
                    "docs/providers.md does not document {name}.{}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn strings_are_typed_and_null_is_absent() {
        let v = Value::from_json(serde_json::json!({"kubeconfig": 5, "timeout": null}));
        let s = SettingsMap::check("helm", &declared(), &v).unwrap();
        assert_eq!(s.get("timeout"), None);
        let e = s.string("kubeconfig").unwrap_err();
        assert_eq!(
            e.message,
            "providers.helm.kubeconfig must be a string, found number"
        );
        assert!(SettingsMap::check("helm", &declared(), &Value::Null)
            .unwrap()
            .get("kubeconfig")
            .is_none());
        assert!(SettingsMap::check("helm", &declared(), &Value::from("x")).is_err());
    }
}
