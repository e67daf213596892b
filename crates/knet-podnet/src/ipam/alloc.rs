//! Pure address choice over a set of ranges (host-local's round-robin: start
//! after the last reserved address, wrap around, skip what is taken).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::RangeConfig;

/// A validated range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet.
    pub subnet: Ipv4Net,
    /// First assignable address.
    pub start: Ipv4Addr,
    /// Last assignable address.
    pub end: Ipv4Addr,
    /// Gateway (never assigned).
    pub gateway: Ipv4Addr,
}

/// Why a range is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    /// No range was configured.
    #[error("IPAM config has no ranges (set ipam.ranges or ipam.subnet)")]
    NoRanges,
    /// The subnet is too small to hold a gateway and a pod.
    #[error("subnet {0} is too small: need at least a /30")]
    TooSmall(Ipv4Net),
    /// A boundary lies outside the subnet or the range is empty.
    #[error("range {start}-{end} does not fit subnet {subnet}")]
    Outside {
        /// The subnet.
        subnet: Ipv4Net,
        /// Start.
        start: Ipv4Addr,
        /// End.
        end: Ipv4Addr,
    },
}

impl Range {
    /// Validates a config entry and fills host-local's defaults.
    pub fn new(c: &RangeConfig) -> Result<Self, RangeError> {
        let subnet = c.subnet.trunc();
        if subnet.prefix_len() > 30 {
            return Err(RangeError::TooSmall(subnet));
        }
        let net = u32::from(subnet.network());
        let bcast = u32::from(subnet.broadcast());
        let gateway = c.gateway.unwrap_or(Ipv4Addr::from(net + 1));
        let start = c.range_start.unwrap_or(Ipv4Addr::from(net + 1));
        let end = c.range_end.unwrap_or(Ipv4Addr::from(bcast - 1));
        let inside = |ip: Ipv4Addr| {
            let v = u32::from(ip);
            v > net && v < bcast
        };
        if !inside(start) || !inside(end) || start > end || !subnet.contains(&gateway) {
            return Err(RangeError::Outside { subnet, start, end });
        }
        Ok(Self {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Whether `ip` may be handed out from this range.
    pub fn assignable(&self, ip: Ipv4Addr) -> bool {
        ip >= self.start && ip <= self.end && ip != self.gateway
    }
}

/// The next free address after `last` (or from the start when `last` is in
/// no range), cycling through all ranges once.
pub fn next_free(
    ranges: &[Range],
    last: Option<Ipv4Addr>,
    taken: impl Fn(Ipv4Addr) -> bool,
) -> Option<(&Range, Ipv4Addr)> {
    let candidates: Vec<(usize, u32)> = ranges
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (u32::from(r.start)..=u32::from(r.end)).map(move |v| (i, v)))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let begin = last
        .and_then(|l| candidates.iter().position(|(_, v)| *v == u32::from(l)))
        .map(|p| p + 1)
        .unwrap_or(0);
    (0..candidates.len())
        .map(|k| candidates[(begin + k) % candidates.len()])
        .map(|(i, v)| (&ranges[i], Ipv4Addr::from(v)))
        .find(|(r, ip)| r.assignable(*ip) && !taken(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Range {
        Range::new(&RangeConfig {
            subnet: s.parse().unwrap(),
            range_start: None,
            range_end: None,
            gateway: None,
        })
        .unwrap()
    }

    #[test]
    fn defaults_follow_host_local() {
        let r = range("10.244.1.0/24");
        assert_eq!(r.gateway, Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(r.start, Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(r.end, Ipv4Addr::new(10, 244, 1, 254));
    }

    #[test]
    fn first_allocation_skips_gateway() {
        let r = [range("10.244.1.0/24")];
        let (_, ip) = next_free(&r, None, |_| false).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 244, 1, 2));
    }

    #[test]
    fn round_robin_after_last_and_wraps() {
        let r = [range("10.0.0.0/29")]; // .1 gw, .2-.6 assignable
        let (_, ip) = next_free(&r, Some(Ipv4Addr::new(10, 0, 0, 3)), |_| false).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 4));
        let (_, ip) = next_free(&r, Some(Ipv4Addr::new(10, 0, 0, 6)), |_| false).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn skips_taken_and_exhausts() {
        let r = [range("10.0.0.0/30")]; // only .2 assignable
        assert_eq!(
            next_free(&r, None, |_| false).unwrap().1,
            Ipv4Addr::new(10, 0, 0, 2)
        );
        assert!(next_free(&r, None, |ip| ip == Ipv4Addr::new(10, 0, 0, 2)).is_none());
    }

    #[test]
    fn rejects_bad_ranges() {
        let bad = RangeConfig {
            subnet: "10.0.0.0/24".parse().unwrap(),
            range_start: Some(Ipv4Addr::new(10, 0, 1, 5)),
            range_end: None,
            gateway: None,
        };
        assert!(matches!(Range::new(&bad), Err(RangeError::Outside { .. })));
        let tiny = RangeConfig {
            subnet: "10.0.0.0/31".parse().unwrap(),
            range_start: None,
            range_end: None,
            gateway: None,
        };
        assert_eq!(
            Range::new(&tiny),
            Err(RangeError::TooSmall("10.0.0.0/31".parse().unwrap()))
        );
    }

    #[test]
    fn explicit_bounds_are_honoured() {
        let r = [Range::new(&RangeConfig {
            subnet: "10.0.0.0/24".parse().unwrap(),
            range_start: Some(Ipv4Addr::new(10, 0, 0, 100)),
            range_end: Some(Ipv4Addr::new(10, 0, 0, 101)),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
        })
        .unwrap()];
        assert_eq!(
            next_free(&r, None, |_| false).unwrap().1,
            Ipv4Addr::new(10, 0, 0, 100)
        );
        assert_eq!(
            next_free(&r, None, |ip| ip.octets()[3] == 100).unwrap().1,
            Ipv4Addr::new(10, 0, 0, 101)
        );
    }
}
