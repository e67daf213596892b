//! The cluster defaults of DESIGN.md (the seeds' and kubeadm's), in one place.
//! Every component takes these as flag defaults; nothing else spells them out.

/// Cluster DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// Service CIDR (kubeadm's default).
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// ClusterIP of the `kubernetes` Service (the first address of the Service CIDR).
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";
/// ClusterIP of the cluster DNS Service `kube-dns`.
pub const CLUSTER_DNS_IP: &str = "10.96.0.10";
/// Pod network (flannel's default); each node gets one block of `NODE_CIDR_MASK`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// Prefix length of each node's pod CIDR.
pub const NODE_CIDR_MASK: u8 = 24;
/// NodePort range, inclusive.
pub const NODE_PORT_RANGE: (u16, u16) = (30000, 32767);
/// TTL of cluster DNS records, seconds.
pub const DNS_TTL: u32 = 30;
/// API server listen address.
pub const API_ADDR: &str = "127.0.0.1:6443";
/// VXLAN: VNI, UDP port, and the bytes the encapsulation costs.
pub const VXLAN_VNI: u32 = 1;
/// UDP port of the VXLAN overlay (flannel's, the Linux default).
pub const VXLAN_PORT: u16 = 8472;
/// MTU cost of VXLAN encapsulation over IPv4.
pub const VXLAN_OVERHEAD: u32 = 50;
/// Kubernetes version the API server reports.
pub const KUBERNETES_VERSION: &str = "v1.33.1";
