//! kube-emulator: an in-memory Kubernetes API server stand-in for tests.

use clap::Parser;
use kube_emulator::eks_auth::{EksAuth, SigningKey};
use kube_emulator::tls::ServingCert;
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
    /// Serve HTTPS with a fresh self-signed CA (written into the kubeconfig), as a real
    /// API server does; kubectl sends bearer tokens only over TLS.
    #[arg(long)]
    tls: bool,
    /// Require EKS bearer tokens (`k8s-aws-v1.` + a presigned STS GetCallerIdentity URL)
    /// for this cluster name; any other request gets 401.
    #[arg(long, value_name = "CLUSTER")]
    require_eks_token: Option<String>,
    /// The access key whose signatures are recomputed (with --eks-secret-access-key):
    /// a token for another cluster name or signed with another secret is refused.
    #[arg(long, requires_all = ["require_eks_token", "eks_secret_access_key"])]
    eks_access_key_id: Option<String>,
    #[arg(long, requires = "eks_access_key_id")]
    eks_secret_access_key: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    let tls = if cli.tls {
        Some(ServingCert::generate().map_err(std::io::Error::other)?)
    } else {
        None
    };
    let ca_pem = tls.as_ref().map(|c| c.ca_pem.as_str());
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::fs::write(
        &cli.kubeconfig,
        kube_emulator::kubeconfig_with_ca(&format!("{scheme}://{addr}"), ca_pem),
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
    let signing_key = cli.eks_access_key_id.zip(cli.eks_secret_access_key).map(
        |(access_key_id, secret_access_key)| SigningKey {
            access_key_id,
            secret_access_key,
        },
    );
    let options = kube_emulator::Options {
        aws_endpoint: cli.aws_endpoint,
        eks_auth: cli.require_eks_token.map(|cluster_name| EksAuth {
            cluster_name,
            signing_key,
        }),
        tls,
    };
    kube_emulator::serve_with(listener, options, stop).await
}
