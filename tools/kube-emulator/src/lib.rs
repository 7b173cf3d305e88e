//! kube-emulator: an in-memory Kubernetes API server stand-in for tests.
//!
//! The binary (`src/main.rs`) serves until a signal; [`Running::start`] serves from a
//! thread of the calling process, for tests that want the API without a child process.

mod api;
mod controllers;
mod discovery;
pub mod eks_auth;
mod fields;
mod patch;
mod protobuf;
mod registry;
mod selectors;
mod status;
mod store;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A kubeconfig whose only cluster, context and user (`emulator`) point at `server`.
pub fn kubeconfig(server: &str) -> String {
    kubeconfig_with_ca(server, None)
}

/// [`kubeconfig`] for an `https://` server whose certificate `ca_pem` signed.
pub fn kubeconfig_with_ca(server: &str, ca_pem: Option<&str>) -> String {
    use base64::Engine;
    let ca = ca_pem
        .map(|pem| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
            format!("    certificate-authority-data: {b64}\n")
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {server}\n{ca}contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    namespace: default\ncurrent-context: emulator\nusers:\n- name: emulator\n  user:\n    token: emulator-dummy-token\n"
    )
}

/// How an emulator serves, beyond its address.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What the simulated aws-privateca-issuer calls (e.g. moto).
    pub aws_endpoint: Option<String>,
    /// Require EKS bearer tokens (see [`eks_auth`]); everything else gets 401.
    pub eks_auth: Option<eks_auth::EksAuth>,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<tls::ServingCert>,
}

/// Serves the API on `listener` until `shutdown` completes. `aws_endpoint` (e.g. moto) is
/// what the simulated aws-privateca-issuer calls. Needs a multi-thread tokio runtime.
pub async fn serve(
    listener: tokio::net::TcpListener,
    aws_endpoint: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let options = Options {
        aws_endpoint,
        ..Options::default()
    };
    serve_with(listener, options, shutdown).await
}

/// [`serve`] with every option.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let store = Arc::new(store::Store::new());
    controllers::spawn(store.clone(), options.aws_endpoint.clone());
    let app = Arc::new(api::App {
        store,
        addr: addr.to_string(),
        eks_auth: options.eks_auth.clone(),
    });
    let router = axum::Router::new().fallback(api::handle).with_state(app);
    // Open watches would hold a graceful shutdown forever: stop at once.
    match &options.tls {
        Some(cert) => tokio::select! {
            r = tls::serve(listener, router, cert) => r,
            _ = shutdown => Ok(()),
        },
        None => tokio::select! {
            r = axum::serve(listener, router) => r,
            _ = shutdown => Ok(()),
        },
    }
}

/// An emulator serving from its own thread and runtime; it stops when dropped.
pub struct Running {
    addr: SocketAddr,
    ca_pem: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Binds `addr` (port 0 picks a free port) before returning, so the API accepts
    /// connections as soon as this returns.
    pub fn start(addr: &str, aws_endpoint: Option<String>) -> std::io::Result<Running> {
        let options = Options {
            aws_endpoint,
            ..Options::default()
        };
        Running::start_with(addr, options)
    }

    /// [`Running::start`] with every option.
    pub fn start_with(addr: &str, options: Options) -> std::io::Result<Running> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let ca_pem = options.tls.as_ref().map(|c| c.ca_pem.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("kube-emulator {addr}"))
            .spawn(move || {
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve_with(listener, options, async {
                        let _ = stopped.await;
                    })
                    .await
                });
                if let Err(e) = served {
                    eprintln!("kube-emulator {addr}: {e}");
                }
                // Watches and simulated controllers never finish on their own.
                runtime.shutdown_background();
            })?;
        Ok(Running {
            addr,
            ca_pem,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, or `https://ADDR` when serving TLS: the API server's URL.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA of the serving certificate, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig pointing at this emulator (see [`kubeconfig_with_ca`]).
    pub fn kubeconfig(&self) -> String {
        kubeconfig_with_ca(&self.url(), self.ca_pem())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
