//! How long a provider's operations may take: the `timeout` and `max_attempts` settings
//! every networked provider takes (declared in [`super::settings::limits`]), with their
//! defaults.

use std::time::Duration;

use super::{ProviderError, ProviderResult};
use crate::value::Value;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS_CEILING: u32 = 10;

/// Bounds of one operation against a provider's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest one attempt may wait for an answer: connecting, and each request.
    pub timeout: Duration,
    /// Attempts an operation gets when its errors are worth retrying (1: no retry).
    pub max_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl Limits {
    /// The overall deadline of a read: every attempt may use its whole timeout, and the
    /// waits between attempts come out of the same budget.
    pub fn deadline(&self) -> Duration {
        self.timeout * self.max_attempts
    }

    /// Reads `providers.<provider>.timeout` and `.max_attempts` from the settings map.
    pub fn from_settings(provider: &str, settings: &Value) -> ProviderResult<Limits> {
        let mut limits = Limits::default();
        match settings.get("timeout") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                let d = crate::duration::parse(s).map_err(|e| {
                    ProviderError::new(format!("providers.{provider}.timeout: {e}"))
                        .with_field("timeout")
                })?;
                if d.is_zero() {
                    return Err(ProviderError::new(format!(
                        "providers.{provider}.timeout must be longer than 0s"
                    ))
                    .with_field("timeout")
                    .with_help("use a duration such as 10s or 2m"));
                }
                limits.timeout = d;
            }
            Some(other) => {
                return Err(ProviderError::new(format!(
                    "providers.{provider}.timeout must be a duration such as 30s, found {}",
                    other.type_name()
                ))
                .with_field("timeout"))
            }
        }
        match settings.get("max_attempts") {
            None | Some(Value::Null) => {}
            Some(Value::Int(n)) if (1..=i64::from(MAX_ATTEMPTS_CEILING)).contains(n) => {
                limits.max_attempts = *n as u32;
            }
            Some(other) => {
                return Err(ProviderError::new(format!(
                    "providers.{provider}.max_attempts must be a whole number from 1 to \
                     {MAX_ATTEMPTS_CEILING}, found {}",
                    other.render()
                ))
                .with_field("max_attempts")
                .with_help("1 disables retries; the default is 3"))
            }
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: serde_json::Value) -> Value {
        Value::from_json(json)
    }

    #[test]
    fn defaults_apply_when_unset() {
        let l = Limits::from_settings("aws", &settings(serde_json::json!({}))).unwrap();
        assert_eq!(l, Limits::default());
        assert_eq!(l.deadline(), Duration::from_secs(90));
        assert_eq!(Limits::from_settings("aws", &Value::Null).unwrap(), l);
    }

    #[test]
    fn reads_both_settings() {
        let l = Limits::from_settings(
            "kubernetes",
            &settings(serde_json::json!({"timeout": "2s", "max_attempts": 2})),
        )
        .unwrap();
        assert_eq!(l.timeout, Duration::from_secs(2));
        assert_eq!(l.max_attempts, 2);
        assert_eq!(l.deadline(), Duration::from_secs(4));
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (json, field) in [
            (serde_json::json!({"timeout": "soon"}), "timeout"),
            (serde_json::json!({"timeout": 5}), "timeout"),
            (serde_json::json!({"timeout": "0s"}), "timeout"),
            (serde_json::json!({"max_attempts": 0}), "max_attempts"),
            (serde_json::json!({"max_attempts": 50}), "max_attempts"),
            (serde_json::json!({"max_attempts": "3"}), "max_attempts"),
        ] {
            let e = Limits::from_settings("helm", &settings(json.clone())).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{json}");
            assert!(
                e.message.contains(&format!("providers.helm.{field}")),
                "{}",
                e.message
            );
        }
    }
}
