//! `knet proxy`: the Service proxy on nftables (replaces kube-proxy).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use knet_proxy::apply::Netns;
use knet_proxy::metrics::Metrics;
use knet_proxy::model::ProxyState;
use knet_proxy::render::RenderConfig;
use knet_proxy::runner::{LoopTiming, Proxier, run_node};
use knet_proxy::{feed, serve, show, source};

/// Options of `knet proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// List each Service address and its endpoints, like `ipvsadm -Ln`.
    Services(Opts),
}

#[derive(Debug, clap::Args)]
struct Opts {
    /// Read Services/EndpointSlices/Nodes from this YAML/JSON file (re-read when
    /// it changes) instead of an API server.
    #[arg(long, global = true)]
    objects: Option<PathBuf>,
    /// kubeconfig for the API server (default: KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// This node's name (decides local endpoints and the topology zone).
    #[arg(long, global = true, env = "NODE_NAME", default_value = "")]
    node_name: String,
    /// Program the rules in this network namespace (name under /run/netns, or a path).
    #[arg(long, global = true)]
    netns: Option<String>,
    /// Pod network CIDR(s): other sources are masqueraded to ClusterIPs.
    #[arg(long, global = true, value_delimiter = ',')]
    cluster_cidr: Vec<knet_proxy::render::IpNet>,
    /// Print the nft ruleset that would be installed, then exit.
    #[arg(long)]
    dry_run: bool,
    /// Minimum seconds between syncs (bursts of changes are batched).
    #[arg(long, default_value_t = 1.0)]
    min_sync_period: f64,
    /// Seconds between periodic re-syncs.
    #[arg(long, default_value_t = 30.0)]
    sync_period: f64,
    /// Seconds between full replacements of the tables.
    #[arg(long, default_value_t = 3600.0)]
    full_sync_period: f64,
    /// /healthz and /livez address (inside --netns); empty disables.
    #[arg(long, default_value = "0.0.0.0:10256")]
    healthz_bind_address: String,
    /// Prometheus /metrics address (inside --netns); empty disables.
    #[arg(long, default_value = "127.0.0.1:10249")]
    metrics_bind_address: String,
}

/// Runs `knet proxy`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    match args.command {
        Some(Sub::Services(opts)) => rt.block_on(services(opts)),
        None => rt.block_on(proxy(args.opts)),
    }
}

fn netns(opts: &Opts) -> Netns {
    opts.netns
        .as_deref()
        .map(Netns::named)
        .unwrap_or_else(Netns::current)
}

fn render_config(opts: &Opts) -> RenderConfig {
    RenderConfig {
        cluster_cidrs: opts.cluster_cidr.clone(),
        ..RenderConfig::default()
    }
}

async fn client(opts: &Opts) -> anyhow::Result<kube::Client> {
    super::kube_client::client(opts.kubeconfig.as_deref(), "pass --kubeconfig or --objects").await
}

/// Starts the object source; the receiver gets the changed Service ports.
async fn start_source(opts: &Opts, metrics: Arc<Metrics>) -> anyhow::Result<feed::FeedRx> {
    let (tx, rx) = feed::channel();
    let node = opts.node_name.clone();
    if let Some(path) = &opts.objects {
        source::read_objects(path)?; // fail fast on a bad file
        tokio::spawn(source::watch_file(path.clone(), node, tx, metrics));
    } else {
        let client = client(opts).await?;
        tokio::spawn(source::watch_api(client, node, tx, metrics));
    }
    Ok(rx)
}

async fn first_state(opts: &Opts) -> anyhow::Result<Arc<ProxyState>> {
    if let Some(path) = &opts.objects {
        return Ok(Arc::new(source::read_objects(path)?.state(&opts.node_name)));
    }
    let (tx, mut rx) = feed::channel();
    let watch = tokio::spawn(source::watch_api(
        client(opts).await?,
        opts.node_name.clone(),
        tx,
        Arc::default(),
    ));
    let open = tokio::time::timeout(Duration::from_secs(30), rx.changed()).await;
    // One state is all a one-shot command needs: stop the watch now, before
    // the runtime's shutdown breaks its connection and it logs the error.
    watch.abort();
    let open = open.context("no answer from the API server in 30 s")?;
    anyhow::ensure!(open, "the API watch ended");
    let mut state = ProxyState::default();
    state.apply(rx.take());
    Ok(Arc::new(state))
}

async fn services(opts: Opts) -> anyhow::Result<()> {
    print!("{}", show::ipvsadm_style(&*first_state(&opts).await?));
    Ok(())
}

fn listener(netns: &Netns, addr: &str) -> anyhow::Result<Option<std::net::TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("bad listen address {addr:?}"))?;
    Ok(Some(
        netns
            .bind_tcp(addr)
            .with_context(|| format!("listening on {addr}"))?,
    ))
}

async fn proxy(opts: Opts) -> anyhow::Result<()> {
    let cfg = render_config(&opts);
    if opts.dry_run {
        print!(
            "{}",
            Proxier::full_script(&cfg, &*first_state(&opts).await?)
        );
        return Ok(());
    }
    let ns = netns(&opts);
    let metrics = Arc::new(Metrics::default());
    if let Some(l) = listener(&ns, &opts.healthz_bind_address)? {
        tokio::spawn(serve::serve_health(l, metrics.clone()));
    }
    if let Some(l) = listener(&ns, &opts.metrics_bind_address)? {
        tokio::spawn(serve::serve_metrics(l, metrics.clone()));
    }
    let updates = start_source(&opts, metrics.clone()).await?;
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let timing = LoopTiming {
        min_sync_period: secs(opts.min_sync_period),
        sync_period: secs(opts.sync_period.max(0.1)),
        full_sync_period: secs(opts.full_sync_period),
    };
    tokio::select! {
        r = run_node(ns, cfg, timing, metrics, updates) => r.context("proxy sync loop")?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; leaving rules in place"),
    }
    Ok(())
}
