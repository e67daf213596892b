//! Where Services and EndpointSlices come from: a static objects file (tests,
//! demos) or any Kubernetes API server through kube-rs watchers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde::Deserialize as _;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::model::{NodeInfo, ProxyState, build};

/// Node label carrying the zone used for topology hints.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// Errors reading objects.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read objects file {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML/JSON Kubernetes objects.
    #[error("objects file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The objects the proxy consumes.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// Services.
    pub services: Vec<Service>,
    /// EndpointSlices.
    pub slices: Vec<EndpointSlice>,
    /// Nodes (only this node's zone is used).
    pub nodes: Vec<Node>,
}

impl Objects {
    /// The desired state for node `name` (its zone comes from its Node object).
    pub fn state(&self, node_name: &str) -> ProxyState {
        build(
            &self.services,
            &self.slices,
            &node_info(node_name, &self.nodes),
        )
    }
}

fn node_info(name: &str, nodes: &[Node]) -> NodeInfo {
    let zone = nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(name))
        .and_then(|n| n.metadata.labels.as_ref()?.get(LABEL_ZONE).cloned());
    NodeInfo {
        name: name.to_string(),
        zone,
    }
}

/// Parses YAML or JSON documents (`---`-separated, or `kind: List`) holding
/// Services, EndpointSlices and Nodes; other kinds are ignored.
pub fn parse_objects(text: &str, path: &Path) -> Result<Objects, SourceError> {
    let err = |message: String| SourceError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let mut docs: Vec<serde_json::Value> = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = serde_json::Value::deserialize(doc).map_err(|e| err(e.to_string()))?;
        if v.is_null() {
            continue;
        }
        match v.get("items").and_then(|i| i.as_array()) {
            Some(items)
                if v.get("kind")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| k.ends_with("List")) =>
            {
                docs.extend(items.iter().cloned())
            }
            _ => docs.push(v),
        }
    }
    let mut out = Objects::default();
    for (i, doc) in docs.into_iter().enumerate() {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let bad = |e: serde_json::Error| err(format!("object {i} ({kind}): {e}"));
        match kind.as_str() {
            "Service" => out.services.push(serde_json::from_value(doc).map_err(bad)?),
            "EndpointSlice" => out.slices.push(serde_json::from_value(doc).map_err(bad)?),
            "Node" => out.nodes.push(serde_json::from_value(doc).map_err(bad)?),
            _ => {}
        }
    }
    Ok(out)
}

/// Reads and parses an objects file.
pub fn read_objects(path: &Path) -> Result<Objects, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_objects(&text, path)
}

/// Watches an objects file (polling its modification time) and publishes the
/// state on every change. Parse errors are logged and the last state kept.
pub async fn watch_file(
    path: PathBuf,
    node: String,
    tx: watch::Sender<Arc<ProxyState>>,
    metrics: Arc<Metrics>,
) {
    let mut last = None;
    loop {
        let stamp = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if stamp != last {
            last = stamp;
            match read_objects(&path) {
                Ok(objects) => {
                    metrics.queued();
                    tx.send_replace(Arc::new(objects.state(&node)));
                }
                Err(error) => tracing::warn!(%error, "keeping previous objects"),
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Watches Services, EndpointSlices and this Node on an API server and
/// publishes the state whenever any of them changes.
pub async fn watch_api(
    client: kube::Client,
    node: String,
    tx: watch::Sender<Arc<ProxyState>>,
    metrics: Arc<Metrics>,
) {
    let (svc_store, svc_w) = reflector::store::<Service>();
    let (eps_store, eps_w) = reflector::store::<EndpointSlice>();
    let (node_store, node_w) = reflector::store::<Node>();
    let cfg = watcher::Config::default();
    let node_cfg = watcher::Config::default().fields(&format!("metadata.name={node}"));
    let svc = reflector::reflector(
        svc_w,
        watcher(kube::Api::<Service>::all(client.clone()), cfg.clone()),
    );
    let eps = reflector::reflector(
        eps_w,
        watcher(kube::Api::<EndpointSlice>::all(client.clone()), cfg),
    );
    let nodes = reflector::reflector(node_w, watcher(kube::Api::<Node>::all(client), node_cfg));
    let events = futures::stream::select(
        futures::stream::select(
            svc.default_backoff().map(|r| r.map(|_| ())),
            eps.default_backoff().map(|r| r.map(|_| ())),
        ),
        nodes.default_backoff().map(|r| r.map(|_| ())),
    );
    futures::pin_mut!(events);
    let publish = |s: &Store<Service>, e: &Store<EndpointSlice>, n: &Store<Node>| {
        let objects = Objects {
            services: s.state().iter().map(|o| o.as_ref().clone()).collect(),
            slices: e.state().iter().map(|o| o.as_ref().clone()).collect(),
            nodes: n.state().iter().map(|o| o.as_ref().clone()).collect(),
        };
        objects.state(&node)
    };
    let mut ready = false;
    while let Some(event) = events.next().await {
        if let Err(error) = event {
            tracing::warn!(%error, "watch error");
            continue;
        }
        if !ready {
            // Wait for the initial lists so the first sync is complete. Only
            // peek: awaiting here would stop polling `events`, which is what
            // fills the stores, and the other store would never get ready.
            let peek = |f: Option<Result<(), _>>| matches!(f, Some(Ok(())));
            ready = peek(svc_store.wait_until_ready().now_or_never())
                && peek(eps_store.wait_until_ready().now_or_never());
            if !ready {
                continue;
            }
        }
        metrics.queued();
        tx.send_replace(Arc::new(publish(&svc_store, &eps_store, &node_store)));
    }
}

/// Counts objects per kind (for logs).
pub fn summary(objects: &Objects) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("services", objects.services.len()),
        ("endpointslices", objects.slices.len()),
    ])
}
