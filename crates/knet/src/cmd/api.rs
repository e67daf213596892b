//! `knet api`: the embedded kubectl-compatible API server, standalone.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `knet api`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory for the store, certificates, token and kubeconfig.
    #[arg(long, env = "KNET_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = knet_core::defaults::API_ADDR)]
    listen: SocketAddr,
    /// Where to write the admin kubeconfig (default: <data-dir>/kubeconfig).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Revisions of history kept for watch resumption and list continue
    /// tokens (older ones get 410 Expired).
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Service CIDR for ClusterIPs.
    #[arg(long, default_value = knet_core::defaults::SERVICE_CIDR)]
    service_cidr: String,
}

/// Runs `knet api` until SIGINT/SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut cfg = knet_api::Config::new(&args.data_dir);
    cfg.listen = args.listen;
    cfg.kubeconfig = args.kubeconfig;
    cfg.history = args.history;
    cfg.service_cidr = args.service_cidr;
    let server = knet_api::Server::start(cfg).await?;
    let kubeconfig = std::fs::canonicalize(server.kubeconfig_path())
        .unwrap_or_else(|_| server.kubeconfig_path().to_path_buf());
    // One write, errors ignored: a caller that stops reading (a test harness
    // taking the first lines) must not bring the server down with SIGPIPE.
    let banner = format!(
        "knet API server listening on {}\nkubeconfig written to {}\nuse it with:\n  export KUBECONFIG={}\n  kubectl get namespaces\n",
        server.url(),
        kubeconfig.display(),
        kubeconfig.display()
    );
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}
