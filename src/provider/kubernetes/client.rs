//! The connection to the cluster: `providers.kubernetes` settings, a client built on
//! first use (so a stack that plans no Kubernetes change needs no cluster), and API
//! errors turned into messages a person can act on.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::Mutex;

use crate::provider::settings::SettingsMap;
use crate::provider::{Limits, Property, ProviderError, ProviderResult, Type};
use crate::value::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Path of a kubeconfig file; default: `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<String>,
    /// Context to use; default: the kubeconfig's current context.
    pub context: Option<String>,
    /// Per-request timeout and attempts (`timeout`, `max_attempts`).
    pub limits: Limits,
}

/// The settings `providers.kubernetes` takes.
pub fn declared_settings() -> Vec<Property> {
    let mut settings = vec![
        Property::new("kubeconfig", Type::String)
            .describe("Path of a kubeconfig file; default: KUBECONFIG, then ~/.kube/config."),
        Property::new("context", Type::String)
            .describe("Kubeconfig context to use; default: the kubeconfig's current context."),
    ];
    settings.extend(crate::provider::settings::limits());
    settings
}

impl Settings {
    pub fn from_value(v: &Value) -> ProviderResult<Settings> {
        let s = SettingsMap::check("kubernetes", &declared_settings(), v)?;
        Ok(Settings {
            kubeconfig: s.string("kubeconfig")?,
            context: s.string("context")?,
            limits: Limits::from_settings("kubernetes", v)?,
        })
    }
}

#[derive(Default)]
pub struct Cluster {
    settings: std::sync::Mutex<Settings>,
    client: Mutex<Option<Client>>,
    /// The API server's URL, once a client has been built.
    endpoint: std::sync::Mutex<Option<String>>,
}

impl Cluster {
    pub async fn configure(&self, settings: Settings) {
        *self.settings.lock().unwrap() = settings;
        *self.client.lock().await = None;
        *self.endpoint.lock().unwrap() = None;
    }

    pub fn limits(&self) -> Limits {
        self.settings.lock().unwrap().limits
    }

    pub fn endpoint(&self) -> Option<String> {
        let connected = self.endpoint.lock().unwrap().clone();
        connected.or_else(|| server_url(&self.settings.lock().unwrap()))
    }

    /// The client, built on first use.
    pub async fn client(&self) -> ProviderResult<Client> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let settings = self.settings.lock().unwrap().clone();
        let config = load_config(&settings).await?;
        *self.endpoint.lock().unwrap() = Some(config.cluster_url.to_string());
        let client = client_for(config, settings.limits)?;
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// A client for the cluster the settings select (also used by `trustplane verify`).
pub async fn connect(settings: &Settings) -> ProviderResult<Client> {
    let config = load_config(settings).await?;
    client_for(config, settings.limits)
}

/// A client whose every request is bounded by `limits.timeout`. kube's own retry layer is
/// off: the engine retries, so `max_attempts` means what it says.
fn client_for(mut config: Config, limits: Limits) -> ProviderResult<Client> {
    config.connect_timeout = Some(limits.timeout);
    config.read_timeout = Some(limits.timeout);
    config.write_timeout = Some(limits.timeout);
    config.default_retry = false;
    Client::try_from(config)
        .map_err(|e| ProviderError::new(format!("cannot build a Kubernetes client: {e}")))
}

/// The API server URL of the context the settings select, read from the kubeconfig
/// without connecting (for messages); `None` when it cannot be told.
pub fn server_url(settings: &Settings) -> Option<String> {
    let kc = match &settings.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context = settings
        .context
        .clone()
        .or_else(|| kc.current_context.clone())?;
    let cluster = kc
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    kc.clusters
        .iter()
        .find(|c| c.name == cluster)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

/// The kube context the settings select, for messages.
pub fn context_name(settings: &Settings) -> String {
    settings
        .context
        .clone()
        .or_else(|| {
            let kc = match &settings.kubeconfig {
                Some(path) => Kubeconfig::read_from(path).ok(),
                None => Kubeconfig::read().ok(),
            };
            kc?.current_context
        })
        .unwrap_or_else(|| "(in-cluster)".to_string())
}

async fn load_config(settings: &Settings) -> ProviderResult<Config> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..KubeConfigOptions::default()
    };
    let where_ = settings
        .kubeconfig
        .clone()
        .unwrap_or_else(|| "the default kubeconfig (KUBECONFIG or ~/.kube/config)".into());
    let fail = |e: String| {
        ProviderError::new(format!(
            "cannot load Kubernetes settings from {where_}: {e}"
        ))
        .with_help("set providers.kubernetes.kubeconfig (and context) in the stack, or KUBECONFIG")
    };
    match &settings.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| fail(e.to_string()))
        }
        None if settings.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| fail(e.to_string())),
        None => Config::infer().await.map_err(|e| fail(e.to_string())),
    }
}

/// The API server's own "not found": a 404 whose body is a `Status` with reason NotFound
/// (or no reason). A 404 page from something in between (a proxy, an ingress) is not.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// An API failure while doing `what` ("apply ConfigMap web/settings").
pub fn api_error(what: &str, e: kube::Error) -> ProviderError {
    match &e {
        kube::Error::Api(s) => {
            let err = ProviderError::new(format!("cannot {what}: {} ({})", s.message, s.code));
            match s.code {
                401 | 403 => err.with_help(
                    "check the credentials of the kubeconfig context and their RBAC permissions",
                ),
                429 | 500..=599 => err.retry_after(
                    s.details
                        .as_ref()
                        .map(|d| d.retry_after_seconds)
                        .filter(|secs| *secs > 0)
                        .map(|secs| std::time::Duration::from_secs(u64::from(secs))),
                ),
                _ => err,
            }
        }
        _ => ProviderError::new(format!("cannot {what}: {e}"))
            .with_help("is the cluster reachable with this kubeconfig?")
            .retryable(),
    }
}
