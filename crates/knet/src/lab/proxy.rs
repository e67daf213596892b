//! The Service proxy of one lab node: knet-proxy's sync loop programming the
//! node namespace's nftables from the API, with its health-check node ports.

use knet_proxy::apply::{Netns, NftCommand};
use knet_proxy::conntrack::ConntrackTool;
use knet_proxy::metrics::Metrics;
use knet_proxy::model::ProxyState;
use knet_proxy::render::RenderConfig;
use knet_proxy::runner::{LoopTiming, Proxier, run_loop};
use knet_proxy::{serve, source};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs the proxy for `node` in the namespace at `netns` until the process ends.
pub(crate) async fn run(
    client: kube::Client,
    node: String,
    netns: &Path,
    cluster_cidr: ipnet::IpNet,
) {
    let ns = Netns::named(&netns.to_string_lossy());
    let metrics = Arc::new(Metrics::default());
    let (tx, updates) = watch::channel(Arc::new(ProxyState::default()));
    tokio::spawn(source::watch_api(client, node.clone(), tx, metrics.clone()));
    let (applied_tx, applied_rx) = watch::channel(Arc::new(ProxyState::default()));
    tokio::spawn(serve::run_health_checks(
        ns.clone(),
        applied_rx,
        metrics.clone(),
    ));
    let cfg = RenderConfig {
        cluster_cidrs: vec![cluster_cidr],
        ..RenderConfig::default()
    };
    let proxier = Proxier::new(
        Box::new(NftCommand::new(ns.clone())),
        Box::new(ConntrackTool::new(ns)),
        cfg,
        metrics,
    );
    let timing = LoopTiming {
        min_sync_period: Duration::from_millis(100),
        sync_period: Duration::from_secs(30),
        full_sync_period: Duration::from_secs(3600),
    };
    if let Err(e) = run_loop(proxier, updates, applied_tx, timing).await {
        tracing::error!(%node, error = %e, "proxy stopped");
    }
}
