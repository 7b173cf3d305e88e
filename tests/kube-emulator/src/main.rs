//! kube-emulator: an in-memory Kubernetes API server stand-in for tests.

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

use clap::Parser;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "In-memory Kubernetes API server stand-in for tests")]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// Where to write a kubeconfig that points at this server.
    #[arg(long)]
    kubeconfig: std::path::PathBuf,
    /// AWS endpoint (e.g. moto) used by the simulated aws-privateca-issuer.
    #[arg(long)]
    aws_endpoint: Option<String>,
}

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {server}\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    namespace: default\ncurrent-context: emulator\nusers:\n- name: emulator\n  user:\n    token: emulator-dummy-token\n"
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    std::fs::write(&cli.kubeconfig, kubeconfig(&format!("http://{addr}")))?;
    let store = Arc::new(store::Store::new());
    controllers::spawn(store.clone(), cli.aws_endpoint.clone());
    let app = Arc::new(api::App {
        store,
        addr: addr.to_string(),
    });
    let router = axum::Router::new().fallback(api::handle).with_state(app);
    println!("listening on {addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Open watches would hold a graceful shutdown forever: stop at once.
    tokio::select! {
        r = axum::serve(listener, router) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}
