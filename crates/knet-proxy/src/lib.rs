//! knet-proxy: the Service proxy (kube-proxy's job) on nftables.
//!
//! - [`model`] (pure): Services + EndpointSlices → per-node desired state;
//! - [`render`] (pure): desired state → the objects of one family's table;
//! - [`plan`] (pure): applied vs desired objects → one nft transaction;
//! - [`apply`]: runs `nft -f -` (and conntrack cleanup) in the node's netns;
//! - [`source`]: objects from a file or from any API server (kube-rs);
//! - [`runner`]: the sync loop (full resync, min-sync-period batching);
//! - [`serve`]: `/healthz`, metrics and health-check node ports;
//! - [`show`]: an `ipvsadm -Ln`-style listing of the balancer.

pub mod model;
pub mod plan;
pub mod render;

#[cfg(test)]
mod testutil;
