//! Service ClusterIP and NodePort allocation, as kube-apiserver does it.
//!
//! - ClusterIPs come from the Service CIDR. Its first address is kept for
//!   `default/kubernetes`. A static lower band (min(max(16, size/16), 256)
//!   addresses) is left for explicitly requested IPs such as `10.96.0.10` for
//!   cluster DNS; dynamic allocation picks a random address in the upper band
//!   first and falls back to the lower one.
//! - NodePorts come from their range the same way (lower band
//!   min(max(16, size/32), 128)), for NodePort and LoadBalancer Services; a
//!   LoadBalancer with `externalTrafficPolicy: Local` also gets a
//!   `healthCheckNodePort`.
//! - Headless Services get `clusterIPs: ["None"]`, ExternalName ones nothing.
//! - Requests that are taken, out of range or malformed are refused with
//!   kube-apiserver's causes; on error nothing stays allocated.
//!
//! CONTRACT (used by the server): keep these signatures. The allocator holds
//! no state of its own on disk: the server rebuilds it from the stored
//! Services at start (`restore`), so allocations survive restarts.

mod ips;
mod ports;
mod spec;

use crate::status::Cause;
use knet_core::cidr::{Bitmap, Cidr, IpRange};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::net::IpAddr;

/// Allocates ClusterIPs from the Service CIDR and NodePorts from their range.
#[derive(Debug)]
pub struct ServiceAllocator {
    ips: IpRange,
    /// Size of the static lower band of `ips`.
    ip_static: usize,
    ports: Bitmap,
    port_base: u16,
    /// Size of the static lower band of `ports`.
    port_static: usize,
    rng: StdRng,
}

impl Default for ServiceAllocator {
    /// Over knet's defaults: `10.96.0.0/12` and `30000-32767`.
    fn default() -> Self {
        let cidr = Cidr::parse(knet_core::defaults::SERVICE_CIDR)
            .unwrap_or_else(|_| unreachable!("valid default CIDR"));
        Self::build(cidr, knet_core::defaults::NODE_PORT_RANGE)
            .unwrap_or_else(|_| unreachable!("valid defaults"))
    }
}

/// kube's `calculateRangeOffset`: the size of the static band.
fn static_band(size: usize, min: usize, max: usize, step: usize) -> usize {
    if size <= min {
        return 0;
    }
    (size / step).clamp(min, max)
}

/// What one `allocate` call took, so an error can give it all back.
#[derive(Debug, Default)]
struct Taken {
    ips: Vec<IpAddr>,
    ports: Vec<u16>,
}

impl ServiceAllocator {
    /// An allocator over `service_cidr` (e.g. `10.96.0.0/12`) and the
    /// inclusive NodePort range.
    pub fn new(service_cidr: &str, node_ports: (u16, u16)) -> Result<Self, String> {
        let cidr = Cidr::parse(service_cidr).map_err(|e| format!("service CIDR: {e}"))?;
        Self::build(cidr, node_ports)
    }

    fn build(cidr: Cidr, (lo, hi): (u16, u16)) -> Result<Self, String> {
        let ips = IpRange::new(cidr).map_err(|e| format!("service CIDR {cidr}: {e}"))?;
        if lo == 0 || hi < lo {
            return Err(format!("invalid NodePort range {lo}-{hi}"));
        }
        let port_count = usize::from(hi - lo) + 1;
        Ok(Self {
            ip_static: static_band(ips.size(), 16, 256, 16),
            ips,
            ports: Bitmap::new(port_count),
            port_base: lo,
            port_static: static_band(port_count, 16, 128, 32),
            rng: StdRng::from_os_rng(),
        })
    }

    /// Same allocator with a fixed random seed, for reproducible tests.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// The Service CIDR.
    pub fn service_cidr(&self) -> Cidr {
        self.ips.cidr()
    }

    /// The NodePort range, inclusive.
    pub fn node_port_range(&self) -> (u16, u16) {
        (
            self.port_base,
            self.port_base + (self.ports.size() - 1) as u16,
        )
    }

    /// `(used, free)` ClusterIPs.
    pub fn ip_counts(&self) -> (usize, usize) {
        (self.ips.used(), self.ips.free())
    }

    /// `(used, free)` NodePorts.
    pub fn port_counts(&self) -> (usize, usize) {
        (self.ports.used(), self.ports.free())
    }

    /// Whether `ip` is allocated.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.ips.has(ip)
    }

    /// Whether `port` is allocated.
    pub fn has_port(&self, port: u16) -> bool {
        port.checked_sub(self.port_base)
            .is_some_and(|i| self.ports.has(usize::from(i)))
    }

    /// Marks every address and port used by already-stored Services.
    /// Conflicts (two stored Services claiming one address) are logged and
    /// skipped: the first one keeps it.
    pub fn restore(&mut self, services: &[Value]) {
        for svc in services {
            let name = spec::full_name(svc);
            for ip in spec::cluster_ips(svc) {
                match ip.parse::<IpAddr>() {
                    Ok(ip) if self.ips.allocate(ip).is_ok() => {}
                    _ => {
                        tracing::warn!(%name, %ip, "stored Service holds an unusable or duplicate ClusterIP")
                    }
                }
            }
            for port in spec::node_ports(svc) {
                if !self.take_port(port) {
                    tracing::warn!(%name, port, "stored Service holds an unusable or duplicate NodePort");
                }
            }
        }
    }

    /// Fills `spec.clusterIP(s)` and node ports of `svc` (create: `old` None;
    /// update: `old` the stored Service, handling type changes), honouring
    /// explicit requests. Returns causes (422) when a request is taken, out of
    /// range or malformed. On error nothing stays allocated.
    pub fn allocate(&mut self, svc: &mut Value, old: Option<&Value>) -> Result<(), Vec<Cause>> {
        if !svc.get("spec").is_some_and(Value::is_object) {
            svc["spec"] = serde_json::json!({});
        }
        if let Some(old) = old {
            spec::drop_type_dependent(svc, old);
            spec::patch_allocated(svc, old);
        }
        let mut taken = Taken::default();
        let result = self
            .cluster_ips(svc, old, &mut taken)
            .and_then(|()| self.node_ports(svc, old, &mut taken));
        if result.is_err() {
            for ip in taken.ips {
                self.ips.release(ip);
            }
            for port in taken.ports {
                self.free_port(port);
            }
        }
        result
    }

    /// Releases what `svc` holds (on delete), or what `old` held that `new`
    /// no longer does when `new` is Some (on update).
    pub fn release(&mut self, old: &Value, new: Option<&Value>) {
        let keep_ips = new.map(spec::cluster_ips).unwrap_or_default();
        for ip in spec::cluster_ips(old) {
            if !keep_ips.contains(&ip)
                && let Ok(ip) = ip.parse::<IpAddr>()
            {
                self.ips.release(ip);
            }
        }
        let keep_ports = new.map(spec::node_ports).unwrap_or_default();
        for port in spec::node_ports(old) {
            if !keep_ports.contains(&port) {
                self.free_port(port);
            }
        }
    }

    fn take_port(&mut self, port: u16) -> bool {
        port.checked_sub(self.port_base)
            .is_some_and(|i| self.ports.set(usize::from(i)))
    }

    fn free_port(&mut self, port: u16) {
        if let Some(i) = port.checked_sub(self.port_base) {
            self.ports.clear(usize::from(i));
        }
    }

    /// A random start inside the dynamic (upper) band of `size` slots.
    fn random_start(&mut self, static_band: usize, size: usize) -> usize {
        if static_band >= size {
            0
        } else {
            self.rng.random_range(static_band..size)
        }
    }
}

#[cfg(test)]
mod tests;
