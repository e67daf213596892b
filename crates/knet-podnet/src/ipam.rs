//! IPAM compatible with the reference `host-local` plugin: the same config
//! (`ranges`, `subnet`, `rangeStart`, `rangeEnd`, `gateway`, `routes`,
//! `dataDir`) and the same on-disk layout (`<dataDir>/<network>/<ip>` holding
//! `<containerID>\r\n<ifname>`, `last_reserved_ip.<n>`, a `lock` file taken
//! with `flock`), so either plugin can read the other's state.
//!
//! [`alloc`] is the pure address choice; [`store`] is the file store.

pub mod alloc;
pub mod store;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use alloc::{Range, RangeError};
pub use store::{FileStore, StoreError};

/// Default parent directory of host-local state.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// One `ranges` entry as it appears in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeConfig {
    /// The subnet addresses come from.
    pub subnet: Ipv4Net,
    /// First assignable address (default: network + 1, skipping the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<Ipv4Addr>,
    /// Last assignable address (default: broadcast − 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<Ipv4Addr>,
    /// Gateway (default: network + 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
}

/// A route handed to the pod (CNI `routes` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConfig {
    /// Destination.
    pub dst: Ipv4Net,
    /// Next hop; the interface's gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<Ipv4Addr>,
}

/// The `ipam` object of a network config (`type: host-local`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamConfig {
    /// `host-local` (the only IPAM type knet runs in-process).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Range sets; knet uses the first IPv4 set.
    #[serde(default)]
    pub ranges: Vec<Vec<RangeConfig>>,
    /// Legacy single-range form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ipv4Net>,
    /// Legacy single-range form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<Ipv4Addr>,
    /// Legacy single-range form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<Ipv4Addr>,
    /// Legacy single-range form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// Routes to give the pod.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Parent directory of the per-network state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl IpamConfig {
    /// The configured ranges (validated), in order of preference.
    pub fn range_set(&self) -> Result<Vec<Range>, RangeError> {
        let mut out = Vec::new();
        if let Some(set) = self.ranges.first() {
            for r in set {
                out.push(Range::new(r)?);
            }
        } else if let Some(subnet) = self.subnet {
            out.push(Range::new(&RangeConfig {
                subnet,
                range_start: self.range_start,
                range_end: self.range_end,
                gateway: self.gateway,
            })?);
        }
        if out.is_empty() {
            return Err(RangeError::NoRanges);
        }
        Ok(out)
    }

    /// `<dataDir>/<network>`.
    pub fn state_dir(&self, network: &str) -> PathBuf {
        self.data_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_DATA_DIR))
            .join(network)
    }
}

/// What IPAM hands out for one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The address, with the subnet's prefix length.
    pub address: Ipv4Net,
    /// The range's gateway.
    pub gateway: Ipv4Addr,
}

/// Errors of an allocation.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The config's ranges are invalid.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every address of the ranges is taken.
    #[error("no free IP address left in {0}")]
    Exhausted(String),
    /// The attachment already has an address.
    #[error(
        "container {id} interface {ifname} already has address {ip}; duplicate allocation is not allowed"
    )]
    Duplicate {
        /// Container id.
        id: String,
        /// Interface.
        ifname: String,
        /// The address it holds.
        ip: Ipv4Addr,
    },
}

/// Allocates one address for `(id, ifname)` on `network`, persisting it.
/// Safe under concurrent callers (the store's lock serialises them).
pub fn allocate(
    cfg: &IpamConfig,
    network: &str,
    id: &str,
    ifname: &str,
) -> Result<Allocation, IpamError> {
    let ranges = cfg.range_set()?;
    let store = FileStore::open(&cfg.state_dir(network))?;
    let _lock = store.lock()?;
    if let Some(ip) = store.find(id, ifname)?.first() {
        return Err(IpamError::Duplicate {
            id: id.to_string(),
            ifname: ifname.to_string(),
            ip: *ip,
        });
    }
    let last = store.last_reserved(0)?;
    let taken = store.reserved()?;
    let (range, ip) = alloc::next_free(&ranges, last, |ip| taken.contains(&ip))
        .ok_or_else(|| IpamError::Exhausted(describe(&ranges)))?;
    store.reserve(ip, id, ifname)?;
    store.set_last_reserved(0, ip)?;
    Ok(Allocation {
        address: Ipv4Net::new(ip, range.subnet.prefix_len()).expect("prefix from a valid net"),
        gateway: range.gateway,
    })
}

/// Releases every address held by `(id, ifname)` on `network`; returns them.
/// Releasing nothing is not an error (DEL is idempotent).
pub fn release(
    cfg: &IpamConfig,
    network: &str,
    id: &str,
    ifname: &str,
) -> Result<Vec<Ipv4Addr>, IpamError> {
    let dir = cfg.state_dir(network);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let store = FileStore::open(&dir)?;
    let _lock = store.lock()?;
    Ok(store.release(id, ifname)?)
}

fn describe(ranges: &[Range]) -> String {
    ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(",")
}
