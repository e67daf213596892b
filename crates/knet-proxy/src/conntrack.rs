//! UDP conntrack cleanup: which flows are stale after an endpoint change
//! (pure), and deleting them (behind [`Conntrack`]).
//!
//! [`ConntrackNetlink`] speaks ctnetlink (NETLINK_NETFILTER) in the node's
//! namespace; [`ConntrackTool`] (the `conntrack -D` program) is kept as an
//! alternative.

mod netlink;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use crate::apply::{ApplyError, Netns};
use crate::model::{Change, Endpoint, Protocol, ProxyState, ServicePort, changes};

/// UDP flows to delete: original destination (address or any node address
/// for a NodePort) and port, optionally only those answered by `reply_src`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleFlow {
    /// Original destination address; `None` for a NodePort (any local address).
    pub dst: Option<IpAddr>,
    /// Original destination port.
    pub port: u16,
    /// Endpoint that answered; `None` means every flow to `dst:port`.
    pub reply_src: Option<IpAddr>,
}

fn destinations(p: &ServicePort) -> Vec<(Option<IpAddr>, u16)> {
    let mut out: Vec<(Option<IpAddr>, u16)> = std::iter::once(&p.cluster_ip)
        .chain(&p.external_ips)
        .chain(&p.lb_ips)
        .map(|ip| (Some(*ip), p.port))
        .collect();
    out.extend(p.node_port.map(|np| (None, np)));
    out
}

fn endpoints(p: &ServicePort) -> BTreeSet<Endpoint> {
    p.cluster.iter().chain(&p.local).copied().collect()
}

/// Flows that point at endpoints no longer serving a UDP Service port, plus
/// every flow to a port that went from no endpoints to some (those were
/// rejected or blackholed and must not stick).
pub fn stale_udp_flows(prev: &ProxyState, next: &ProxyState) -> Vec<StaleFlow> {
    stale_udp_flows_in(&changes(prev, next))
}

/// [`stale_udp_flows`] over precomputed [`changes`].
pub fn stale_udp_flows_in(changed: &[Change<'_>]) -> Vec<StaleFlow> {
    let mut out = BTreeSet::new();
    for (_, old, new) in changed.iter().filter(|c| c.0.1.protocol == Protocol::Udp) {
        let old_eps = old.map(endpoints).unwrap_or_default();
        let new_eps = new.map(endpoints).unwrap_or_default();
        if let Some(old) = old {
            for ep in old_eps.difference(&new_eps) {
                for (dst, port) in destinations(old) {
                    out.insert(StaleFlow {
                        dst,
                        port,
                        reply_src: Some(ep.ip),
                    });
                }
            }
        }
        if let Some(new) = new.filter(|_| old_eps.is_empty() && !new_eps.is_empty()) {
            for (dst, port) in destinations(new) {
                out.insert(StaleFlow {
                    dst,
                    port,
                    reply_src: None,
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Deletes conntrack entries.
pub trait Conntrack: Send {
    /// Deletes UDP entries matching `flow`.
    fn delete_udp(&mut self, flow: &StaleFlow) -> Result<(), ApplyError>;

    /// Deletes UDP entries matching any of `flows` (one pass where the
    /// implementation can).
    fn delete_udp_all(&mut self, flows: &[StaleFlow]) -> Result<(), ApplyError> {
        let mut first_error = None;
        for flow in flows {
            if let Err(e) = self.delete_udp(flow) {
                tracing::warn!(?flow, error = %e, "conntrack cleanup failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// [`Conntrack`] over ctnetlink in a namespace: one dump per family, then a
/// delete per matching entry.
#[derive(Debug, Clone)]
pub struct ConntrackNetlink {
    netns: Netns,
}

impl ConntrackNetlink {
    /// Acts in `netns`.
    pub fn new(netns: Netns) -> ConntrackNetlink {
        ConntrackNetlink { netns }
    }
}

impl Conntrack for ConntrackNetlink {
    fn delete_udp(&mut self, flow: &StaleFlow) -> Result<(), ApplyError> {
        self.delete_udp_all(std::slice::from_ref(flow))
    }

    fn delete_udp_all(&mut self, flows: &[StaleFlow]) -> Result<(), ApplyError> {
        if flows.is_empty() {
            return Ok(());
        }
        let n = netlink::delete(&self.netns, flows)?;
        tracing::debug!(
            flows = flows.len(),
            deleted = n,
            "stale UDP conntrack entries deleted"
        );
        Ok(())
    }
}

/// [`Conntrack`] that runs the `conntrack -D` program in a namespace.
#[derive(Debug, Clone)]
pub struct ConntrackTool {
    netns: Netns,
}

impl ConntrackTool {
    /// Runs in `netns`.
    pub fn new(netns: Netns) -> ConntrackTool {
        ConntrackTool { netns }
    }
}

impl Conntrack for ConntrackTool {
    fn delete_udp(&mut self, flow: &StaleFlow) -> Result<(), ApplyError> {
        let mut cmd = Command::new("conntrack");
        cmd.args(["-D", "-p", "udp"]);
        if let Some(dst) = flow.dst {
            cmd.args(["--orig-dst", &dst.to_string()]);
            if dst.is_ipv6() {
                cmd.args(["-f", "ipv6"]);
            }
        }
        cmd.args(["--orig-port-dst", &flow.port.to_string()]);
        if let Some(src) = flow.reply_src {
            cmd.args(["--reply-src", &src.to_string()]);
        }
        let out = self.netns.run(cmd, b"")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // conntrack exits non-zero when nothing matched; that is success here.
        if out.status.success() || stderr.contains("0 flow entries") {
            Ok(())
        } else {
            Err(ApplyError::Rejected {
                stderr: stderr.into_owned(),
            })
        }
    }
}

/// Test double that records deletions.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingConntrack {
    /// Deleted flows, in order.
    pub deleted: Vec<StaleFlow>,
}

#[cfg(any(test, feature = "testing"))]
impl Conntrack for RecordingConntrack {
    fn delete_udp(&mut self, flow: &StaleFlow) -> Result<(), ApplyError> {
        self.deleted.push(flow.clone());
        Ok(())
    }
}
