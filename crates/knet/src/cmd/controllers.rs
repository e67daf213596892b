//! `knet controllers`: the controllers against any API server (knet's or a
//! real cluster's), through a kubeconfig or the in-cluster configuration.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;

/// Options of `knet controllers`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Cluster pod CIDR that node pod CIDRs are cut from.
    #[arg(long, default_value = knet_core::defaults::CLUSTER_CIDR)]
    cluster_cidr: String,
    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = knet_core::defaults::NODE_CIDR_MASK)]
    node_cidr_mask_size: u8,
    /// Assign `spec.podCIDR` to Nodes (turn off when something else does).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    allocate_node_cidrs: bool,
    /// Address of the API server for the `kubernetes` Service's endpoints
    /// (repeatable). Without it that Service is left alone, as in a real
    /// cluster where kube-apiserver maintains it.
    #[arg(long = "apiserver-endpoint")]
    apiserver_endpoints: Vec<IpAddr>,
    /// Port of the API server behind the `kubernetes` Service.
    #[arg(long, default_value_t = 6443)]
    apiserver_port: i32,
    /// Take the `knet-controllers` Lease in kube-system before acting.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Identity in the Lease and in Events (default: hostname_random).
    #[arg(long)]
    identity: Option<String>,
    /// Concurrent workers per controller.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Concurrent workers of each endpoints controller (EndpointSlice,
    /// Endpoints, mirroring): writes in flight the API commits together.
    #[arg(long, default_value_t = 32)]
    endpoint_workers: usize,
}

async fn client(path: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    super::kube_client::client(path.map(PathBuf::as_path), "pass --kubeconfig").await
}

fn config(args: &Args) -> anyhow::Result<knet_controllers::Config> {
    let cluster_cidr = if args.allocate_node_cidrs {
        let c = args
            .cluster_cidr
            .parse()
            .with_context(|| format!("--cluster-cidr {:?} is not a CIDR", args.cluster_cidr))?;
        Some(c)
    } else {
        None
    };
    let defaults = knet_controllers::Config::default();
    Ok(knet_controllers::Config {
        cluster_cidr,
        node_cidr_prefix: args.node_cidr_mask_size,
        apiserver_endpoints: args.apiserver_endpoints.clone(),
        apiserver_port: args.apiserver_port,
        leader_elect: args.leader_elect,
        identity: args.identity.clone().unwrap_or(defaults.identity.clone()),
        workers: args.workers.max(1),
        endpoint_workers: args.endpoint_workers.max(1),
        ..defaults
    })
}

/// Runs `knet controllers` until SIGINT/SIGTERM or until the Lease is lost.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = client(args.kubeconfig.as_ref()).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = knet_controllers::run_all(client, cfg) => r.context("controllers stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
        }
    })
}
