//! The connection to the cluster: `providers.kubernetes` settings, a client built on
//! first use (so a stack that plans no Kubernetes change needs no cluster), and API
//! errors turned into messages a person can act on.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::Mutex;

use crate::provider::{ProviderError, ProviderResult};
use crate::value::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Path of a kubeconfig file; default: `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<String>,
    /// Context to use; default: the kubeconfig's current context.
    pub context: Option<String>,
}

impl Settings {
    pub fn from_value(v: &Value) -> ProviderResult<Settings> {
        let field = |k: &str| -> ProviderResult<Option<String>> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ProviderError::new(format!(
                    "providers.kubernetes.{k} must be a string, found {}",
                    other.type_name()
                ))
                .with_field(k)),
            }
        };
        if let Some(m) = v.as_map() {
            if let Some(k) = m
                .keys()
                .find(|k| !matches!(k.as_str(), "kubeconfig" | "context"))
            {
                return Err(ProviderError::new(format!(
                    "providers.kubernetes has no setting {k:?}"
                ))
                .with_help("the settings are kubeconfig (a path) and context"));
            }
        }
        Ok(Settings {
            kubeconfig: field("kubeconfig")?,
            context: field("context")?,
        })
    }
}

#[derive(Default)]
pub struct Cluster {
    settings: std::sync::Mutex<Settings>,
    client: Mutex<Option<Client>>,
}

impl Cluster {
    pub async fn configure(&self, settings: Settings) {
        *self.settings.lock().unwrap() = settings;
        *self.client.lock().await = None;
    }

    /// The client, built on first use.
    pub async fn client(&self) -> ProviderResult<Client> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let settings = self.settings.lock().unwrap().clone();
        let client = connect(&settings).await?;
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// A client for the cluster the settings select (also used by `trustplane verify`).
pub async fn connect(settings: &Settings) -> ProviderResult<Client> {
    let config = load_config(settings).await?;
    Client::try_from(config)
        .map_err(|e| ProviderError::new(format!("cannot build a Kubernetes client: {e}")))
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

/// The HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
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
                429 | 500..=599 => err.retryable(),
                _ => err,
            }
        }
        _ => ProviderError::new(format!("cannot {what}: {e}"))
            .with_help("is the cluster reachable with this kubeconfig?")
            .retryable(),
    }
}
