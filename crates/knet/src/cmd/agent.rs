//! `knet agent`: the lab's node agent (the kubelet's role) against any API
//! server — it runs the pods bound to one node as network namespaces and
//! host processes, exactly as inside `knet up`.

use crate::lab;
use knet_lab::agent::{self, node::NodeInfo, registry::Registry, sandbox::NodeEnv};
use knet_lab::files::resolv::{ClusterDns, ResolvConf};
use knet_lab::podnet::CniNetwork;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `knet agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// This node's name (pods with `spec.nodeName` = this are run here).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// This node's address (its InternalIP and the pods' hostIP).
    #[arg(long)]
    node_ip: std::net::Ipv4Addr,
    /// kubeconfig of the API server (default: $KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The node's network namespace (default: this process's).
    #[arg(long, default_value = "/proc/self/ns/net")]
    netns: PathBuf,
    /// Register the Node object (labels, addresses, Ready condition) like a kubelet.
    #[arg(long)]
    register: bool,
    /// Where pod files, logs and IPAM state go.
    #[arg(long, default_value = "/run/knet/agent")]
    state_dir: PathBuf,
    /// Cluster DNS address written into ClusterFirst pods' resolv.conf.
    #[arg(long, default_value = knet_core::defaults::CLUSTER_DNS_IP)]
    cluster_dns: String,
    /// Cluster domain.
    #[arg(long, default_value = knet_core::defaults::CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// The cluster's pod network: traffic from pods to anything outside it is masqueraded.
    #[arg(long, default_value = knet_core::defaults::CLUSTER_CIDR)]
    cluster_cidr: String,
    /// Pod interface MTU (1450 under a VXLAN overlay).
    #[arg(long, default_value_t = 1500)]
    mtu: u32,
    /// Prefix of pod network namespace names (under /run/netns).
    #[arg(long, default_value = "knet-pod-")]
    netns_prefix: String,
}

/// Runs `knet agent`.
pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client =
            super::kube_client::client(a.kubeconfig.as_deref(), "pass --kubeconfig").await?;
        if a.register {
            let info = NodeInfo {
                name: a.node_name.clone(),
                ip: a.node_ip.to_string(),
                control_plane: false,
                taint: false,
                kernel: lab::kernel_release(),
                version: knet_core::defaults::KUBERNETES_VERSION.to_string(),
            };
            agent::register_node(client.clone(), info).await?;
        }
        let cidr = lab::wait_pod_cidr(&client, &a.node_name).await?;
        let node_resolv =
            ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let env = NodeEnv {
            node_name: a.node_name.clone(),
            node_ip: a.node_ip.to_string(),
            node_netns: a.netns.clone(),
            state_dir: a.state_dir.clone(),
            netns_prefix: a.netns_prefix.clone(),
            knet_exe: std::env::current_exe()?,
            dns: ClusterDns {
                server: a.cluster_dns.clone(),
                domain: a.cluster_domain.clone(),
            },
            node_resolv,
            service_account: None,
        };
        let net = CniNetwork::new(
            &a.netns,
            &cidr,
            &a.cluster_cidr,
            a.mtu,
            &a.state_dir.join("ipam"),
        )
        .map_err(anyhow::Error::msg)?;
        eprintln!(
            "knet agent: running pods of node {} (pod CIDR {cidr})",
            a.node_name
        );
        agent::run(client, env, net, Arc::new(Registry::default())).await?;
        Ok(())
    })
}
