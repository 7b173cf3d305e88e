//! kube-emulator: an in-memory Kubernetes API server stand-in for tests.
//!
//! The binary (`src/main.rs`) serves until a signal; [`Running::start`] serves from a
//! thread of the calling process, for tests that want the API without a child process.

mod api;
mod controllers;
mod discovery;
mod fields;
mod patch;
mod protobuf;
mod registry;
mod selectors;
mod status;
mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A kubeconfig whose only cluster, context and user (`emulator`) point at `server`.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {server}\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    namespace: default\ncurrent-context: emulator\nusers:\n- name: emulator\n  user:\n    token: emulator-dummy-token\n"
    )
}

/// Serves the API on `listener` until `shutdown` completes. `aws_endpoint` (e.g. moto) is
/// what the simulated aws-privateca-issuer calls. Needs a multi-thread tokio runtime.
pub async fn serve(
    listener: tokio::net::TcpListener,
    aws_endpoint: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let store = Arc::new(store::Store::new());
    controllers::spawn(store.clone(), aws_endpoint);
    let app = Arc::new(api::App {
        store,
        addr: addr.to_string(),
    });
    let router = axum::Router::new().fallback(api::handle).with_state(app);
    // Open watches would hold a graceful shutdown forever: stop at once.
    tokio::select! {
        r = axum::serve(listener, router) => r,
        _ = shutdown => Ok(()),
    }
}

/// An emulator serving from its own thread and runtime; it stops when dropped.
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Binds `addr` (port 0 picks a free port) before returning, so the API accepts
    /// connections as soon as this returns.
    pub fn start(addr: &str, aws_endpoint: Option<String>) -> std::io::Result<Running> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("kube-emulator {addr}"))
            .spawn(move || {
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve(listener, aws_endpoint, async {
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
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the API server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this emulator (see [`kubeconfig`]).
    pub fn kubeconfig(&self) -> String {
        kubeconfig(&self.url())
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
