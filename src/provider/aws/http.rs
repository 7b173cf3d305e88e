//! One HTTPS client for every AWS SDK client of a process, once the process asks for it.
//! Left to itself, the SDK gives each loaded configuration a client of its own, which
//! parses the system's root certificates again and keeps its own connections: a fleet of
//! 50 members parsed them 50 times (a tenth of a no-op fleet plan's CPU) and opened a TLS
//! connection to the same IAM endpoint for every member.
//!
//! Sharing is for a process that runs one tokio runtime for its whole life (the CLI): a
//! pooled connection is driven by a task on the runtime that opened it, and a request that
//! picks a connection whose runtime has stopped fails. Libraries and tests, which may run
//! many runtimes, keep the SDK's client per configuration unless they opt in.

use std::sync::OnceLock;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

static SHARED: OnceLock<SharedHttpClient> = OnceLock::new();

/// From now on, every AWS configuration trustplane loads uses one HTTPS client. Call it
/// only from a process whose one runtime outlives every AWS call (see the module's note).
pub fn share_for_process() {
    SHARED.get_or_init(|| SharedHttpClient::new(BuiltOnFirstUse(https_client())));
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

/// The process's client, when [`share_for_process`] was called.
pub(crate) fn shared() -> Option<SharedHttpClient> {
    SHARED.get().cloned()
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
