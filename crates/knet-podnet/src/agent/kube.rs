//! The agent against a Kubernetes API server (any: knet's own or a real
//! kube-apiserver) through kube-rs: reads Nodes with a reflector, publishes
//! this node's flannel-style annotations, and reconciles on a timer.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};

use super::{Agent, AgentError, Backend, NodeInfo};
use crate::types::Mac;

/// Annotation: the backend a node runs (`vxlan`, `host-gw`).
pub const ANN_BACKEND_TYPE: &str = "flannel.alpha.coreos.com/backend-type";
/// Annotation: backend data, `{"VNI":1,"VtepMAC":"…"}` for vxlan.
pub const ANN_BACKEND_DATA: &str = "flannel.alpha.coreos.com/backend-data";
/// Annotation: the node's public (underlay) IP.
pub const ANN_PUBLIC_IP: &str = "flannel.alpha.coreos.com/public-ip";

/// What a Node object says, if it has a pod CIDR and an address (its
/// InternalIP, else the public-ip annotation its agent published).
pub fn node_info(node: &Node) -> Option<NodeInfo> {
    node_info_or(node, None)
}

/// Like [`node_info`], with `fallback_ip` when the node names no address
/// (used for this node: its underlay address).
pub fn node_info_or(node: &Node, fallback_ip: Option<std::net::Ipv4Addr>) -> Option<NodeInfo> {
    let name = node.metadata.name.clone()?;
    let pod_cidr = node.spec.as_ref()?.pod_cidr.as_deref()?.parse().ok()?;
    let node_ip = node_ip(node).or(fallback_ip)?;
    Some(NodeInfo {
        name,
        pod_cidr,
        node_ip,
        vtep_mac: published_mac(node),
    })
}

fn node_ip(node: &Node) -> Option<std::net::Ipv4Addr> {
    node.status
        .as_ref()
        .and_then(|st| st.addresses.as_ref())
        .into_iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .and_then(|a| a.address.parse().ok())
        .or_else(|| {
            node.metadata
                .annotations
                .as_ref()?
                .get(ANN_PUBLIC_IP)?
                .parse()
                .ok()
        })
}

/// The VTEP MAC in a node's backend-data annotation.
pub fn published_mac(node: &Node) -> Option<Mac> {
    let data = node.metadata.annotations.as_ref()?.get(ANN_BACKEND_DATA)?;
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v["VtepMAC"].as_str()?.parse().ok()
}

/// The annotations this node publishes.
pub fn annotations(
    backend: Backend,
    vni: u32,
    mac: Mac,
    public_ip: std::net::Ipv4Addr,
) -> BTreeMap<String, String> {
    let data = match backend {
        Backend::Vxlan => serde_json::json!({"VNI": vni, "VtepMAC": mac.to_string()}),
        Backend::HostGw => serde_json::json!(null),
    };
    BTreeMap::from([
        (ANN_BACKEND_TYPE.to_string(), backend.as_str().to_string()),
        (ANN_BACKEND_DATA.to_string(), data.to_string()),
        (ANN_PUBLIC_IP.to_string(), public_ip.to_string()),
    ])
}

/// Runs the agent: watches Nodes, publishes this node's annotations once
/// its Node has a pod CIDR and address, reconciles until `shutdown`.
pub async fn run(
    agent: &Agent,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()>,
    cleanup: bool,
) -> Result<(), AgentError> {
    let api: Api<Node> = Api::all(client);
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    let watch = tokio::spawn(async move {
        stream
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "node watch error");
                }
            })
            .await
    });
    let name = agent.config().node_name.clone();
    let own_ip = agent.underlay_ipv4().await?;
    let published = std::sync::Mutex::new(false);
    let res = agent
        .run_with(
            || {
                let nodes: Vec<NodeInfo> = reader
                    .state()
                    .iter()
                    .filter_map(|n| {
                        let own = n.metadata.name.as_deref() == Some(name.as_str());
                        node_info_or(n, if own { own_ip } else { None })
                    })
                    .collect();
                let own = reader
                    .state()
                    .into_iter()
                    .find(|n| n.metadata.name.as_deref() == Some(&name));
                // Read the flag first: a guard in the `if let` scrutinee would
                // live through the block, and publish_later locks it again.
                let done = *published.lock().expect("not poisoned");
                if let (Some(info), false) = (own.and_then(|o| node_info_or(&o, own_ip)), done) {
                    publish_later(api.clone(), agent, &info, &published);
                }
                Ok(nodes)
            },
            shutdown,
            cleanup,
        )
        .await;
    watch.abort();
    res
}

/// Patches this node's annotations (in the background; retried next pass
/// if it fails, since `published` stays false).
fn publish_later(
    api: Api<Node>,
    agent: &Agent,
    info: &NodeInfo,
    published: &std::sync::Mutex<bool>,
) {
    let cfg = agent.config();
    let ann = annotations(cfg.backend, cfg.vni, agent.vtep_mac(), info.node_ip);
    let name = info.name.clone();
    *published.lock().expect("not poisoned") = true;
    tokio::spawn(async move {
        let patch = serde_json::json!({"metadata": {"annotations": ann}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracing::info!(node = %name, "published node annotations"),
            Err(e) => tracing::warn!(node = %name, error = %e, "cannot publish node annotations"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_info_reads_spec_status_and_annotations() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "annotations": {ANN_BACKEND_DATA: "{\"VNI\":1,\"VtepMAC\":\"0e:00:00:00:00:07\"}"}},
            "spec": {"podCIDR": "10.244.3.0/24"},
            "status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.50.4"}]}
        }))
        .unwrap();
        let info = node_info(&node).unwrap();
        assert_eq!(info.pod_cidr.to_string(), "10.244.3.0/24");
        assert_eq!(info.node_ip.to_string(), "192.168.50.4");
        assert_eq!(info.vtep_mac.unwrap().to_string(), "0e:00:00:00:00:07");
        node.spec = None;
        assert!(node_info(&node).is_none(), "no podCIDR yet");
    }

    #[test]
    fn annotations_shape() {
        let a = annotations(
            Backend::Vxlan,
            1,
            "0e:00:00:00:00:01".parse().unwrap(),
            "192.168.50.1".parse().unwrap(),
        );
        assert_eq!(a[ANN_BACKEND_TYPE], "vxlan");
        assert_eq!(
            a[ANN_BACKEND_DATA],
            r#"{"VNI":1,"VtepMAC":"0e:00:00:00:00:01"}"#
        );
        assert_eq!(a[ANN_PUBLIC_IP], "192.168.50.1");
    }
}
