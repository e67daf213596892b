//! `knet podnet`: the node route agent (host-gw routes or a VXLAN overlay),
//! against an API server or a static node list.

use std::path::PathBuf;
use std::time::Duration;

use knet_podnet::agent::{Agent, AgentConfig, Backend, kube as agent_kube, nodes_file};
use knet_podnet::netns::Netns;

/// Options of `knet podnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// This node's name.
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// Routing mode: `host-gw` or `vxlan`.
    #[arg(long, default_value = "vxlan", value_parser = parse_backend)]
    backend: Backend,
    /// Read the node list from this JSON/YAML file (re-read every resync)
    /// instead of an API server: `[{name, podCIDR, nodeIP, vtepMAC}]`.
    #[arg(long)]
    nodes_file: Option<PathBuf>,
    /// kubeconfig for the API server (default: KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Act in this network namespace (a name under /run/netns, or a path).
    #[arg(long)]
    netns: Option<String>,
    /// Underlay interface.
    #[arg(long, default_value = "eth0")]
    iface: String,
    /// The pod network.
    #[arg(long, default_value = knet_core::defaults::CLUSTER_CIDR)]
    cluster_cidr: knet_podnet::ipnet::Ipv4Net,
    /// VTEP MAC to use (default: the existing device's, the persisted one, or random).
    #[arg(long)]
    vtep_mac: Option<knet_podnet::types::Mac>,
    /// Directory where the VTEP MAC is kept across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Write a flannel-style subnet.env here for the CNI plugin's `knet` mode.
    #[arg(long)]
    subnet_file: Option<PathBuf>,
    /// Milliseconds between drift checks.
    #[arg(long, default_value_t = 500)]
    resync_ms: u64,
    /// Reconcile once and exit.
    #[arg(long)]
    once: bool,
    /// Remove routes, neighbours, FDB entries and the VTEP on shutdown.
    #[arg(long)]
    cleanup_on_exit: bool,
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    match s {
        "host-gw" => Ok(Backend::HostGw),
        "vxlan" => Ok(Backend::Vxlan),
        _ => Err(format!("unknown backend {s:?}: expected host-gw or vxlan")),
    }
}

/// Runs `knet podnet`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(agent(args))
}

async fn agent(args: Args) -> anyhow::Result<()> {
    let ns = match &args.netns {
        Some(n) if n.contains('/') => Netns::open(n)?,
        Some(n) => Netns::open(PathBuf::from(knet_podnet::netns::NETNS_RUN_DIR).join(n))?,
        None => Netns::current()?,
    };
    let mut cfg = AgentConfig::new(&args.node_name, args.backend);
    cfg.underlay = args.iface.clone();
    cfg.cluster_cidr = args.cluster_cidr;
    cfg.state_dir = args.state_dir.clone();
    cfg.subnet_file = args.subnet_file.clone();
    cfg.resync = Duration::from_millis(args.resync_ms.max(50));
    // With a static node list, this node's own entry may pin its VTEP MAC
    // (peers were told that MAC by the same file).
    let file_mac = match &args.nodes_file {
        Some(path) => nodes_file::read(path)?
            .into_iter()
            .find(|n| n.name == args.node_name)
            .and_then(|n| n.vtep_mac),
        None => None,
    };
    let agent = Agent::new(cfg, ns, args.vtep_mac.or(file_mac)).await?;
    tracing::info!(node = %args.node_name, backend = args.backend.as_str(), vtep_mac = %agent.vtep_mac(), "podnet agent starting");
    if let Some(path) = &args.nodes_file {
        let nodes = nodes_file::read(path)?;
        if args.once {
            let steps = agent.reconcile(&nodes).await?;
            println!("applied {} step(s)", steps.len());
            return Ok(());
        }
        let path = path.clone();
        agent
            .run_with(
                move || nodes_file::read(&path),
                shutdown(),
                args.cleanup_on_exit,
            )
            .await?;
        return Ok(());
    }
    let client = client(&args).await?;
    agent_kube::run(&agent, client, shutdown(), args.cleanup_on_exit).await?;
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

async fn client(args: &Args) -> anyhow::Result<kube::Client> {
    super::kube_client::client(
        args.kubeconfig.as_deref(),
        "pass --kubeconfig or --nodes-file",
    )
    .await
}
