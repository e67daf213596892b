//! knet-podnet: the pod network.
//!
//! - [`netns`] and [`netlink`]: the kernel layer (namespaces, links,
//!   addresses, routes, neighbours, FDB) used by the plugin, the agent and
//!   the lab.
//! - [`ipam`]: host-local compatible address allocation.
//! - [`cni`]: the CNI 1.1.0 plugin (bridge behaviour, flannel-style mode).
//! - [`agent`]: the node route agent (host-gw and VXLAN).

pub mod agent;
pub mod cni;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod topology;
pub mod types;

/// Re-exported so binaries can name CIDR types without their own dependency.
pub use ipnet;
