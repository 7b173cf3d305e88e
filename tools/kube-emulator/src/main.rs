//! kube-emulator: an in-memory Kubernetes API server stand-in for tests.

use clap::Parser;
use std::io::Write;

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    std::fs::write(
        &cli.kubeconfig,
        kube_emulator::kubeconfig(&format!("http://{addr}")),
    )?;
    // Launchers read the port from this line: the only way to learn a port-0 bind.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    kube_emulator::serve(listener, cli.aws_endpoint, stop).await
}
