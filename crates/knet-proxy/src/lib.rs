//! knet-proxy: the Service proxy (kube-proxy's job) on nftables.
//!
//! - [`model`] (pure): Services + EndpointSlices → per-node desired state;
//! - [`render`] (pure): desired state → the objects of one family's table;
//! - [`plan`] (pure): applied vs desired objects → one nft transaction;
//! - [`apply`]: loads transactions in the node's network namespace (libnftables
//!   on a long-lived worker thread, else `nft -f -`);
//! - [`conntrack`]: stale UDP flows (pure) and their deletion over ctnetlink;
//! - [`feed`]: changed Service ports from sources to the sync loop;
//! - [`source`]: objects from a file or from any API server (kube-rs);
//! - [`runner`]: the sync loop (full resync, min-sync-period batching);
//! - [`serve`]: `/healthz`, `/livez`, metrics and health-check node ports;
//! - [`show`]: an `ipvsadm -Ln`-style listing of the balancer.

pub mod apply;
pub mod conntrack;
pub mod feed;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod render;
pub mod runner;
pub mod serve;
pub mod show;
pub mod source;

#[cfg(test)]
mod testutil;
