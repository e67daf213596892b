//! The node route agent (`knet podnet`), like flanneld/kindnetd.
//!
//! Each pass reads the kernel ([`Agent::observe`]), computes a [`plan::Plan`]
//! from the desired node set ([`plan::plan`], pure), and applies it
//! ([`Agent::apply`]). Passes run on every node change and on a short timer,
//! so entries removed by a link flap or a manual `ip` command come back
//! within the resync period. Node sets come from the Kubernetes API
//! ([`kube`]) or a static file ([`nodes_file`]).

pub mod kube;
pub mod nodes_file;
pub mod plan;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::netlink::{Netlink, NetlinkError, VxlanSpec};
use crate::netns::{Netns, NetnsError};
use crate::types::Mac;
use plan::{Desired, Observed, Plan, Step};

/// How packets reach other nodes' pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A route `podCIDR via nodeIP` per remote node (needs L2 adjacency).
    HostGw,
    /// A VXLAN overlay (VNI 1, UDP 8472 by default).
    Vxlan,
}

impl Backend {
    /// The name used in annotations and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HostGw => "host-gw",
            Self::Vxlan => "vxlan",
        }
    }
}

/// What the agent knows about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// `spec.podCIDR`.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Ipv4Net,
    /// The node's InternalIP (underlay address, VTEP endpoint).
    #[serde(rename = "nodeIP")]
    pub node_ip: Ipv4Addr,
    /// The node's VTEP MAC, as it published it (vxlan).
    #[serde(rename = "vtepMAC", default, skip_serializing_if = "Option::is_none")]
    pub vtep_mac: Option<Mac>,
}

/// Agent settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// This node's name.
    pub node_name: String,
    /// Routing mode.
    pub backend: Backend,
    /// Underlay interface name.
    pub underlay: String,
    /// VTEP device name.
    pub vtep_name: String,
    /// VNI.
    pub vni: u32,
    /// VXLAN UDP port.
    pub port: u16,
    /// The whole pod network.
    pub cluster_cidr: Ipv4Net,
    /// Where the VTEP MAC is persisted across restarts (`vtep-mac` inside).
    pub state_dir: Option<PathBuf>,
    /// A flannel-style `subnet.env` to write for the CNI plugin.
    pub subnet_file: Option<PathBuf>,
    /// Period of the drift check.
    pub resync: Duration,
}

impl AgentConfig {
    /// Defaults of DESIGN.md for `node_name` and `backend`.
    pub fn new(node_name: &str, backend: Backend) -> Self {
        use knet_core::defaults as d;
        Self {
            node_name: node_name.to_string(),
            backend,
            underlay: "eth0".into(),
            vtep_name: format!("flannel.{}", d::VXLAN_VNI),
            vni: d::VXLAN_VNI,
            port: d::VXLAN_PORT,
            cluster_cidr: d::CLUSTER_CIDR.parse().expect("default CIDR"),
            state_dir: None,
            subnet_file: None,
            resync: Duration::from_millis(500),
        }
    }
}

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A kernel request failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Namespace handling failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// The node list does not contain this node, or it lacks a pod CIDR/IP.
    #[error("node {0} is not in the node list or has no podCIDR/InternalIP yet")]
    UnknownSelf(String),
    /// The underlay interface is missing or has no IPv4 address.
    #[error("underlay interface {0} is missing")]
    NoUnderlay(String),
    /// A state or subnet file could not be written/read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(String),
}

/// One node's route agent, bound to that node's namespace.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    ns: Netns,
    nl: Netlink,
    mac: Mac,
}

mod apply;

impl Agent {
    /// Binds to `ns` (the node's namespace) and settles the VTEP MAC: the
    /// given one, else the existing device's, else the persisted one, else a
    /// fresh random one, which is then persisted. Turns on `ip_forward`.
    pub async fn new(cfg: AgentConfig, ns: Netns, mac: Option<Mac>) -> Result<Self, AgentError> {
        let nl = Netlink::connect(&ns)?;
        let mac = match mac {
            Some(m) => m,
            None => match nl.link(&cfg.vtep_name).await?.and_then(|l| l.mac) {
                Some(m) => m,
                None => load_or_make_mac(cfg.state_dir.as_deref())?,
            },
        };
        if let Some(dir) = &cfg.state_dir {
            persist_mac(dir, mac)?;
        }
        ns.write_sysctl("net/ipv4/ip_forward", "1")?;
        Ok(Self { cfg, ns, nl, mac })
    }

    /// The VTEP MAC this node publishes.
    pub fn vtep_mac(&self) -> Mac {
        self.mac
    }

    /// The settings.
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    /// The MTU pods should use: underlay MTU, minus the overlay's cost.
    pub async fn pod_mtu(&self) -> Result<u32, AgentError> {
        let u = self.underlay().await?;
        Ok(match self.cfg.backend {
            Backend::HostGw => u.mtu,
            Backend::Vxlan => u.mtu - knet_core::defaults::VXLAN_OVERHEAD,
        })
    }

    /// The first IPv4 address of the underlay interface.
    pub async fn underlay_ipv4(&self) -> Result<Option<Ipv4Addr>, AgentError> {
        let u = self.underlay().await?;
        Ok(self
            .nl
            .addresses(u.index)
            .await?
            .into_iter()
            .find_map(|a| match a {
                IpNet::V4(v4) => Some(v4.addr()),
                IpNet::V6(_) => None,
            }))
    }

    async fn underlay(&self) -> Result<crate::netlink::Link, AgentError> {
        self.nl
            .link(&self.cfg.underlay)
            .await?
            .ok_or_else(|| AgentError::NoUnderlay(self.cfg.underlay.clone()))
    }

    /// Reads what the planner needs from the kernel.
    pub async fn observe(&self) -> Result<Observed, AgentError> {
        let underlay = self.nl.link(&self.cfg.underlay).await?;
        let vtep = self.nl.link(&self.cfg.vtep_name).await?;
        let (vtep_addrs, fdb) = match &vtep {
            Some(v) => (
                self.nl.addresses(v.index).await?,
                self.nl.fdb(v.index).await?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Observed {
            underlay,
            vtep,
            vtep_addrs,
            routes: self.nl.routes().await?,
            neighbours: self.nl.neighbours().await?,
            fdb,
        })
    }

    /// The desired state for `nodes` (which must include this node).
    pub async fn desired(&self, nodes: &[NodeInfo]) -> Result<Desired, AgentError> {
        let this = nodes
            .iter()
            .find(|n| n.name == self.cfg.node_name)
            .cloned()
            .ok_or_else(|| AgentError::UnknownSelf(self.cfg.node_name.clone()))?;
        let u = self.underlay().await?;
        let mut peers: Vec<NodeInfo> = nodes
            .iter()
            .filter(|n| n.name != this.name)
            .cloned()
            .collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        let vtep = VxlanSpec {
            name: self.cfg.vtep_name.clone(),
            vni: self.cfg.vni,
            port: self.cfg.port,
            local: this.node_ip,
            dev: u.index,
            mtu: u.mtu - knet_core::defaults::VXLAN_OVERHEAD,
            mac: self.mac,
            learning: false,
        };
        Ok(Desired {
            backend: self.cfg.backend,
            cluster_cidr: self.cfg.cluster_cidr,
            this,
            peers,
            vtep,
        })
    }

    /// Observe–plan–apply until the kernel matches (at most a few passes:
    /// creating the VTEP needs a second look). Returns the steps applied.
    pub async fn reconcile(&self, nodes: &[NodeInfo]) -> Result<Vec<Step>, AgentError> {
        let desired = self.desired(nodes).await?;
        let mut applied = Vec::new();
        for _ in 0..4 {
            let plan = plan::plan(&desired, &self.observe().await?);
            if plan.is_empty() {
                break;
            }
            tracing::debug!(node = %self.cfg.node_name, ?plan, "applying");
            self.apply(&plan).await?;
            applied.extend(plan.steps);
        }
        if let Some(path) = &self.cfg.subnet_file {
            self.write_subnet_file(path, &desired).await?;
        }
        Ok(applied)
    }

    /// Removes everything the agent made: its routes, neighbour and FDB
    /// entries, and the VTEP.
    pub async fn cleanup(&self) -> Result<(), AgentError> {
        let o = self.observe().await?;
        let Some(u) = &o.underlay else { return Ok(()) };
        let vtep = o.vtep.as_ref().map(|v| v.index);
        let mut steps = Vec::new();
        for r in &o.routes {
            let via_underlay = r.oif == Some(u.index) && r.gateway.is_some();
            if self.cfg.cluster_cidr.contains(&r.dst)
                && (via_underlay || (vtep.is_some() && r.oif == vtep))
            {
                steps.push(Step::DeleteRoute(r.clone()));
            }
        }
        if let Some(v) = vtep {
            steps.push(Step::DeleteVtep(v));
        }
        self.apply(&Plan { steps }).await
    }

    async fn write_subnet_file(
        &self,
        path: &std::path::Path,
        d: &Desired,
    ) -> Result<(), AgentError> {
        let env = crate::cni::conf::SubnetEnv {
            network: Some(self.cfg.cluster_cidr),
            subnet: d.this.pod_cidr,
            mtu: Some(self.pod_mtu().await?),
            ipmasq: Some(false),
        };
        let text = env.render();
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        let file_err = |source| AgentError::File {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(file_err)?;
        }
        std::fs::write(path, text).map_err(|source| AgentError::File {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reconciles `source()` now and every resync period until `shutdown`
    /// resolves; then cleans up if `cleanup` is set. Errors of one pass are
    /// logged and retried on the next.
    pub async fn run_with<F>(
        &self,
        mut source: F,
        shutdown: impl std::future::Future<Output = ()>,
        cleanup: bool,
    ) -> Result<(), AgentError>
    where
        F: FnMut() -> Result<Vec<NodeInfo>, AgentError>,
    {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.cfg.resync);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    match source() {
                        Ok(nodes) => match self.reconcile(&nodes).await {
                            Ok(steps) if !steps.is_empty() => tracing::info!(node = %self.cfg.node_name, n = steps.len(), ?steps, "reconciled"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(node = %self.cfg.node_name, error = %e, "reconcile failed"),
                        },
                        Err(e) => tracing::warn!(error = %e, "cannot read the node list"),
                    }
                }
            }
        }
        if cleanup {
            self.cleanup().await?;
        }
        Ok(())
    }

    /// The namespace the agent acts in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }
}

/// `ip addr` form of a /32 on the VTEP.
pub fn vtep_address(pod_cidr: Ipv4Net) -> IpNet {
    IpNet::V4(Ipv4Net::new(pod_cidr.network(), 32).expect("/32"))
}

fn load_or_make_mac(dir: Option<&std::path::Path>) -> Result<Mac, AgentError> {
    if let Some(d) = dir {
        let path = d.join("vtep-mac");
        if let Some(m) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Ok(m);
        }
    }
    Ok(Mac::local_unicast(rand::random()))
}

fn persist_mac(dir: &std::path::Path, mac: Mac) -> Result<(), AgentError> {
    let path = dir.join("vtep-mac");
    let file_err = |source| AgentError::File {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(file_err)?;
    std::fs::write(&path, mac.to_string()).map_err(|source| AgentError::File {
        path: path.clone(),
        source,
    })
}
