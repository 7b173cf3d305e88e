//! What the AWS calls of one process share, once the process asks for it: one HTTPS client
//! (one per CA bundle, see [`super::ca_bundle`]), and one loaded configuration per distinct
//! `providers.aws` settings.
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

use super::ca_bundle::CaBundle;

static SHARED: OnceLock<Shared> = OnceLock::new();

struct Shared {
    /// One client per CA bundle (see [`super::ca_bundle`]); `None`: the system's roots.
    clients: Mutex<HashMap<Option<CaBundle>, SharedHttpClient>>,
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
        clients: Mutex::default(),
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

/// The HTTPS client for calls trusting `ca` (`None`: the system's roots): the process's
/// own when it shares; otherwise a new one, or none (the SDK builds its default).
pub(crate) fn http_client(ca: Option<&CaBundle>) -> Result<Option<SharedHttpClient>, String> {
    let Some(shared) = SHARED.get() else {
        return own_http_client(ca);
    };
    let mut clients = shared.clients.lock().expect("shared AWS clients");
    if let Some(client) = clients.get(&ca.cloned()) {
        return Ok(Some(client.clone()));
    }
    let client = https_client(ca)?;
    clients.insert(ca.cloned(), client.clone());
    Ok(Some(client))
}

/// A client of the caller's own for calls trusting `ca`, for one that runs a runtime of its
/// own (the S3 state store); `None` without a bundle: the SDK builds its default.
pub(crate) fn own_http_client(ca: Option<&CaBundle>) -> Result<Option<SharedHttpClient>, String> {
    ca.map(|ca| https_client(Some(ca))).transpose()
}

/// The configuration `load` gives for `key`, loaded once for the process when it shares
/// (a failed load is not kept: the next asks again), and every time otherwise.
pub(crate) async fn config<F, Fut, E>(key: ConfigKey, load: F) -> Result<SdkConfig, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<SdkConfig, E>>,
{
    let Some(shared) = SHARED.get() else {
        return load().await;
    };
    let cell = shared
        .configs
        .lock()
        .expect("shared AWS configurations")
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_try_init(load).await.cloned()
}

/// The client the SDK would build by default (rustls with aws-lc, the system's roots, the
/// proxy from the environment), trusting only the certificates of `ca` when given, as the
/// AWS CLI does with a bundle. One connector per timeout setting, built on first use and
/// cached by the client.
fn https_client(ca: Option<&CaBundle>) -> Result<SharedHttpClient, String> {
    let tls = ca
        .map(|ca| {
            tls::TlsContext::builder()
                .with_trust_store(
                    tls::TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(ca.pem.clone()),
                )
                .build()
                .map_err(|e| format!("cannot use the CA bundle {}: {e}", ca.path.display()))
        })
        .transpose()?;
    Ok(SharedHttpClient::new(BuiltOnFirstUse(client_with(tls))))
}

fn client_with(tls: Option<tls::TlsContext>) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        if let Some(tls) = &tls {
            connector.set_tls_context(tls.clone());
        }
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
