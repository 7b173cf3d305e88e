//! What the AWS calls of one process share, once the process asks for it: one HTTPS client,
//! and one loaded configuration per distinct `providers.aws` settings.
//!
//! Left to itself, the SDK gives each loaded configuration a client of its own, which
//! parses the system's root certificates again and keeps its own connections: a fleet of
//! 50 members parsed them 50 times (a tenth of a no-op fleet plan's CPU) and opened a TLS
//! connection to the same IAM endpoint for every member. And each loaded configuration
//! resolves credentials for itself: 50 members under one assumed role or SSO profile
//! asked STS or SSO 50 times for the same credentials.
//!
//! Sharing is for a process that runs one tokio runtime for its whole life (the CLI): a
//! pooled connection is driven by a task on the runtime that opened it, and a request that
//! picks a connection whose runtime has stopped fails. Libraries and tests, which may run
//! many runtimes, keep a client and a configuration per load unless they opt in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

static SHARED: OnceLock<Shared> = OnceLock::new();

struct Shared {
    client: SharedHttpClient,
    /// Configurations by what they were loaded with; a load in flight is awaited, not
    /// repeated, by the members that ask for the same one meanwhile.
    configs: Mutex<HashMap<ConfigKey, Arc<tokio::sync::OnceCell<SdkConfig>>>>,
}

/// What a configuration is loaded with (see `Settings::load`); the rest comes from the
/// process's environment, which does not change while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConfigKey {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub timeout: Duration,
}

/// From now on, every AWS configuration trustplane loads uses one HTTPS client, and
/// configurations loaded with the same settings are loaded once. Call it only from a
/// process whose one runtime outlives every AWS call (see the module's note).
pub fn share_for_process() {
    SHARED.get_or_init(|| Shared {
        client: SharedHttpClient::new(BuiltOnFirstUse(https_client())),
        configs: Mutex::default(),
    });
}

/// The SDK client's own check at each service client's construction builds a connector
/// and throws it away (to load the root certificates early, before connectors were
/// cached): four service clients per configuration parsed the roots four times. This
/// client skips that check; its connector is built on the first request and cached.
#[derive(Debug)]
struct BuiltOnFirstUse(SharedHttpClient);

impl HttpClient for BuiltOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The process's HTTPS client, when it shares.
pub(crate) fn http_client() -> Option<SharedHttpClient> {
    SHARED.get().map(|s| s.client.clone())
}

/// The configuration `load` gives for `key`, loaded once for the process when it shares
/// (a failed load is not kept: the next asks again), and every time otherwise. `load` is
/// given the process's HTTPS client to use, when there is one.
pub(crate) async fn config<F, Fut, E>(key: ConfigKey, load: F) -> Result<SdkConfig, E>
where
    F: FnOnce(Option<SharedHttpClient>) -> Fut,
    Fut: std::future::Future<Output = Result<SdkConfig, E>>,
{
    let Some(shared) = SHARED.get() else {
        return load(None).await;
    };
    let cell = shared
        .configs
        .lock()
        .expect("shared AWS configurations")
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_try_init(|| load(Some(shared.client.clone())))
        .await
        .cloned()
}

/// The client the SDK would build by default (rustls with aws-lc, the proxy from the
/// environment), one connector per timeout setting, cached by the client.
fn https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
