//! The Service proxy of one lab node: knet-proxy's sync loop programming the
//! node namespace's nftables from the API, with its health-check node ports.

use knet_proxy::apply::Netns;
use knet_proxy::metrics::Metrics;
use knet_proxy::render::RenderConfig;
use knet_proxy::runner::{LoopTiming, run_node};
use knet_proxy::source;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Runs the proxy for `node` in the namespace at `netns` until the process ends.
pub(crate) async fn run(
    client: kube::Client,
    node: String,
    netns: &Path,
    cluster_cidr: ipnet::IpNet,
) {
    let ns = Netns::named(&netns.to_string_lossy());
    let metrics = Arc::new(Metrics::default());
    let (tx, updates) = knet_proxy::feed::channel();
    tokio::spawn(source::watch_api(client, node.clone(), tx, metrics.clone()));
    let cfg = RenderConfig {
        cluster_cidrs: vec![cluster_cidr],
        ..RenderConfig::default()
    };
    let timing = LoopTiming {
        min_sync_period: Duration::from_millis(100),
        sync_period: Duration::from_secs(30),
        full_sync_period: Duration::from_secs(3600),
    };
    if let Err(e) = run_node(ns, cfg, timing, metrics, updates).await {
        tracing::error!(%node, error = %e, "proxy stopped");
    }
}
