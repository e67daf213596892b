//! Where Services and EndpointSlices come from: a static objects file (tests,
//! demos) or any Kubernetes API server through kube-rs watchers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde::Deserialize as _;

use crate::feed::FeedTx;
use crate::metrics::Metrics;
use crate::model::{NodeInfo, ProxyState, Tracker, build};

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

/// Watches an objects file (polling its modification time) and queues the
/// changes on every edit. Parse errors are logged and the last state kept.
pub async fn watch_file(path: PathBuf, node: String, tx: FeedTx, metrics: Arc<Metrics>) {
    let mut last_stamp = None;
    let mut last = ProxyState::default();
    loop {
        let stamp = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if stamp != last_stamp {
            last_stamp = stamp;
            match read_objects(&path) {
                Ok(objects) => {
                    let state = objects.state(&node);
                    metrics.queued();
                    tx.send_state(&last, &state);
                    last = state;
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

enum Ev {
    Service(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
    Node(Box<watcher::Event<Node>>),
}

/// Relist buffers of one kind (`Init` … `InitDone`).
struct Relist<K> {
    buf: Option<Vec<K>>,
    done: bool,
}

impl<K> Default for Relist<K> {
    fn default() -> Self {
        Relist {
            buf: None,
            done: false,
        }
    }
}

fn zone_of(node: &Node) -> Option<String> {
    node.metadata.labels.as_ref()?.get(LABEL_ZONE).cloned()
}

/// Watches Services, EndpointSlices and this Node on an API server and
/// queues the Service ports each event changes: an event recomputes only the
/// Service it concerns ([`Tracker`]); a relist recomputes everything. The
/// first delta waits for the initial lists so the first sync is complete.
pub async fn watch_api(client: kube::Client, node: String, tx: FeedTx, metrics: Arc<Metrics>) {
    let cfg = watcher::Config::default();
    let node_cfg = watcher::Config::default().fields(&format!("metadata.name={node}"));
    let svc = watcher(kube::Api::<Service>::all(client.clone()), cfg.clone())
        .default_backoff()
        .map(|r| r.map(|e| Ev::Service(Box::new(e))));
    let eps = watcher(kube::Api::<EndpointSlice>::all(client.clone()), cfg)
        .default_backoff()
        .map(|r| r.map(|e| Ev::Slice(Box::new(e))));
    let nodes = watcher(kube::Api::<Node>::all(client), node_cfg)
        .default_backoff()
        .map(|r| r.map(|e| Ev::Node(Box::new(e))));
    let events = futures::stream::select(futures::stream::select(svc, eps), nodes);
    futures::pin_mut!(events);
    let mut tracker = Tracker::new(NodeInfo {
        name: node.clone(),
        zone: None,
    });
    let (mut svcs, mut slices, mut nodes) = (
        Relist::<Service>::default(),
        Relist::<EndpointSlice>::default(),
        Relist::<Node>::default(),
    );
    let set_zone = |t: &mut Tracker, zone: Option<String>| {
        t.set_node(NodeInfo {
            name: node.clone(),
            zone,
        })
    };
    let mut sent = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(error) => {
                tracing::warn!(%error, "watch error");
                continue;
            }
        };
        match event {
            Ev::Service(e) => match *e {
                watcher::Event::Apply(o) => tracker.apply_service(o),
                watcher::Event::Delete(o) => tracker.delete_service(&o),
                watcher::Event::Init => svcs.buf = Some(Vec::new()),
                watcher::Event::InitApply(o) => svcs.buf.get_or_insert_default().push(o),
                watcher::Event::InitDone => {
                    tracker.replace_services(svcs.buf.take().unwrap_or_default());
                    svcs.done = true;
                }
            },
            Ev::Slice(e) => match *e {
                watcher::Event::Apply(o) => tracker.apply_slice(o),
                watcher::Event::Delete(o) => tracker.delete_slice(&o),
                watcher::Event::Init => slices.buf = Some(Vec::new()),
                watcher::Event::InitApply(o) => slices.buf.get_or_insert_default().push(o),
                watcher::Event::InitDone => {
                    tracker.replace_slices(slices.buf.take().unwrap_or_default());
                    slices.done = true;
                }
            },
            Ev::Node(e) => match *e {
                watcher::Event::Apply(o) => set_zone(&mut tracker, zone_of(&o)),
                watcher::Event::Delete(_) => set_zone(&mut tracker, None),
                watcher::Event::Init => nodes.buf = Some(Vec::new()),
                watcher::Event::InitApply(o) => nodes.buf.get_or_insert_default().push(o),
                watcher::Event::InitDone => {
                    let zone = nodes
                        .buf
                        .take()
                        .unwrap_or_default()
                        .first()
                        .and_then(zone_of);
                    set_zone(&mut tracker, zone);
                    nodes.done = true;
                }
            },
        }
        if !(svcs.done && slices.done) {
            continue;
        }
        let delta = tracker.take_delta();
        if !delta.is_empty() || !sent {
            sent = true;
            metrics.queued();
            if !tx.send(delta) {
                return;
            }
        }
    }
}

/// Counts objects per kind (for logs).
pub fn summary(objects: &Objects) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("services", objects.services.len()),
        ("endpointslices", objects.slices.len()),
    ])
}
