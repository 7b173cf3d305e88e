//! `providers.aws` settings, and the SDK clients built from them over the standard AWS
//! environment.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::Credentials;

use super::errors::REGION_HELP;
use super::pacing::{PacerRegistry, Pacing};
use super::tags::{self, Tags};
use super::Clients;
use crate::provider::settings::SettingsMap;
use crate::provider::{Limits, Property, ProviderError, ProviderResult, Type};
use crate::value::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// One endpoint URL for every service (a local emulator, a proxy).
    pub endpoint: Option<String>,
    pub tags: Tags,
    /// Per-request timeout and attempts (`timeout`, `max_attempts`).
    pub limits: Limits,
}

/// The settings `providers.aws` takes.
pub fn declared() -> Vec<Property> {
    let mut settings = vec![
        Property::new("region", Type::String)
            .describe("AWS region; default: the standard AWS environment (AWS_REGION, the profile)."),
        Property::new("profile", Type::String)
            .describe("Named profile of the shared AWS config; default: AWS_PROFILE."),
        Property::new("endpoint", Type::String).describe(
            "One http(s) URL for every service (a local emulator, a proxy); default: AWS_ENDPOINT_URL, then the region's endpoints.",
        ),
        Property::new("tags", Type::Map(Box::new(Type::String)))
            .describe("Tags applied to everything taggable, under each resource's own."),
    ];
    settings.extend(crate::provider::settings::limits());
    settings
}

impl Settings {
    pub fn parse(v: &Value) -> ProviderResult<Settings> {
        let Some(m) = v.as_map() else {
            return if v.is_null() {
                Ok(Settings::default())
            } else {
                Err(ProviderError::new(format!(
                    "providers.aws must be a map, found {}",
                    v.type_name()
                )))
            };
        };
        SettingsMap::check("aws", &declared(), v)?;
        let string = |key: &str| -> ProviderResult<Option<String>> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(other) => Err(ProviderError::new(format!(
                    "providers.aws.{key} must be a non-empty string, found {}",
                    other.type_name()
                ))
                .with_field(key)),
            }
        };
        let endpoint = string("endpoint")?;
        if let Some(e) = &endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(ProviderError::new(format!(
                    "providers.aws.endpoint must be an http(s) URL, found {e:?}"
                ))
                .with_field("endpoint"));
            }
        }
        if matches!(m.get("tags"), Some(t) if !t.is_null() && t.as_map().is_none()) {
            return Err(
                ProviderError::new("providers.aws.tags must be a map of strings")
                    .with_field("tags"),
            );
        }
        Ok(Settings {
            region: string("region")?,
            profile: string("profile")?,
            endpoint,
            tags: tags::from_value(m.get("tags")),
            limits: Limits::from_settings("aws", v)?,
        })
    }

    /// Loads the shared AWS configuration with these overrides and builds the clients,
    /// paced by the process's pacers.
    pub async fn build_clients(&self, credentials: Option<Credentials>) -> ProviderResult<Clients> {
        self.build_clients_with(credentials, PacerRegistry::global())
            .await
    }

    /// As [`Settings::build_clients`], paced by `pacers`.
    pub async fn build_clients_with(
        &self,
        credentials: Option<Credentials>,
        pacers: Arc<PacerRegistry>,
    ) -> ProviderResult<Clients> {
        let shared = self.load(credentials).await?;
        let endpoint = match shared.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!(
                "the AWS endpoints of {}",
                shared.region().map(|r| r.as_ref()).unwrap_or_default()
            ),
        };
        Ok(Clients {
            endpoint,
            pca: aws_sdk_acmpca::Client::new(&shared),
            iam: aws_sdk_iam::Client::new(&shared),
            eks: aws_sdk_eks::Client::new(&shared),
            pacing: Arc::new(Pacing::new(pacers, &shared)),
        })
    }

    /// The shared AWS configuration with these overrides (region, profile, endpoint,
    /// limits), which every AWS client of trustplane is built from; fails without a region.
    /// Given no credentials, it is loaded once per process that shares (see
    /// [`super::shared`]).
    pub async fn load(
        &self,
        credentials: Option<Credentials>,
    ) -> ProviderResult<aws_config::SdkConfig> {
        match credentials {
            Some(c) => self.load_with(Some(c)).await,
            None => {
                let key = super::shared::ConfigKey {
                    region: self.region.clone(),
                    profile: self.profile.clone(),
                    endpoint: self.endpoint.clone(),
                    timeout: self.limits.timeout,
                };
                super::shared::config(key, || self.load_with(None)).await
            }
        }
    }

    async fn load_with(
        &self,
        credentials: Option<Credentials>,
    ) -> ProviderResult<aws_config::SdkConfig> {
        let ca = super::ca_bundle::selected(self.profile.as_deref()).await?;
        let http_client = super::shared::http_client(ca.as_ref()).map_err(ProviderError::new)?;
        // The engine retries (see crate::retry), so the SDK makes one attempt per call:
        // two retry loops would multiply into attempts nobody configured. Each attempt,
        // connecting included, is bounded by `timeout`.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.limits.timeout)
            .read_timeout(self.limits.timeout)
            .operation_attempt_timeout(self.limits.timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(c) = credentials {
            loader = loader.credentials_provider(c);
        }
        if let Some(client) = http_client {
            loader = loader.http_client(client);
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(ProviderError::new("no AWS region is configured").with_help(REGION_HELP));
        }
        // Calls, EKS tokens and pacing resolve the credentials once, together.
        Ok(match shared.credentials_provider() {
            Some(chain) => shared
                .into_builder()
                .credentials_provider(super::credentials::ResolvedOnce::wrap(chain))
                .build(),
            None => shared,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    #[test]
    fn parses_all_settings() {
        let s = Settings::parse(&yaml("region: eu-west-1\nprofile: prod\nendpoint: http://127.0.0.1:5000\ntags: {team: mesh}\n")).unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.profile.as_deref(), Some("prod"));
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.tags.get("team").map(String::as_str), Some("mesh"));
        assert_eq!(Settings::parse(&Value::Null).unwrap(), Settings::default());
    }

    #[test]
    fn rejects_typos_and_bad_endpoints() {
        let e = Settings::parse(&yaml("regoin: eu-west-1\n")).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean \"region\"?"));
        let e = Settings::parse(&yaml("endpoint: localhost:5000\n")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("endpoint"));
    }
}
