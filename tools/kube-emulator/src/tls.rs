//! HTTPS serving, as a real (EKS) API server does: clients that take credentials from a
//! kubeconfig (kubectl, client-go) send a bearer token only over TLS.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::sync::Arc;

/// A throwaway CA and the serving certificate it signed for `127.0.0.1` and `localhost`.
#[derive(Clone)]
pub struct ServingCert {
    /// What a kubeconfig's `certificate-authority-data` holds.
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert").finish_non_exhaustive()
    }
}

impl ServingCert {
    pub fn generate() -> Result<ServingCert, String> {
        let err = |e: rcgen::Error| format!("serving certificate: {e}");
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kube-emulator-ca");
        let ca = ca.self_signed(&ca_key).map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
            .map_err(err)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let leaf = leaf.signed_by(&key, &ca, &ca_key).map_err(err)?;
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key_der)
        .map_err(|e| e.to_string())?;
        Ok(ServingCert {
            ca_pem: ca.pem(),
            config: Arc::new(config),
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Serves `router` over TLS on `listener`, one task per connection, until an accept fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    cert: &ServingCert,
) -> std::io::Result<()> {
    let acceptor = cert.acceptor();
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            // A client that gives up during the handshake is not the server's problem.
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
