//! Names derived from addresses: dashed endpoint labels, pod labels, and
//! reverse-zone names.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::index::Endpoint;
use crate::wire::rr::RData;

/// A or AAAA data for an address.
pub fn addr_rdata<'a>(ip: IpAddr) -> RData<'a> {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}

/// The DNS label of an endpoint: its `hostname`, else (with
/// `endpoint_pod_names`) its pod's name when shorter than 64 bytes, else its
/// IP with dots or colons turned into dashes (a trailing dash gets a `0`).
pub fn endpoint_label(ep: &Endpoint, pod_names: bool) -> Cow<'_, str> {
    if let Some(h) = ep.hostname() {
        return Cow::Borrowed(h);
    }
    if pod_names && let Some(p) = ep.pod_name().filter(|p| p.len() < 64) {
        return Cow::Borrowed(p);
    }
    Cow::Owned(dashed_ip(ep.ip))
}

/// `10.0.0.1` → `10-0-0-1`; `fd00::1` → `fd00--1`; `fd00::` → `fd00--0`.
pub fn dashed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.ends_with('-') {
                s.push('0');
            }
            s
        }
    }
}

/// Parses a pod label: three dashes and no `--` is IPv4, else IPv6 with
/// dashes for colons. Invalid addresses give `None`.
pub fn parse_pod_label(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label
            .replace('-', ".")
            .parse::<Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    } else {
        label
            .replace('-', ":")
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    }
}

/// Parses the part of a reverse name below its zone: `d.c.b.a` under
/// `in-addr.arpa`, 32 nibbles under `ip6.arpa`.
pub fn parse_reverse(rest: &str, zone: &str) -> Option<IpAddr> {
    let labels: Vec<&str> = rest.split('.').collect();
    if zone == "in-addr.arpa" {
        if labels.len() != 4 {
            return None;
        }
        let mut o = [0u8; 4];
        for (i, l) in labels.iter().rev().enumerate() {
            if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            o[i] = l.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(o)));
    }
    if labels.len() != 32 {
        return None;
    }
    let mut v: u128 = 0;
    for l in labels.iter().rev() {
        let [c] = l.as_bytes() else { return None };
        let d = char::from(*c).to_digit(16)?;
        v = (v << 4) | u128::from(d);
    }
    Some(IpAddr::V6(Ipv6Addr::from(v)))
}

/// The reverse name of an address (for tests and the benchmark zone).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}
