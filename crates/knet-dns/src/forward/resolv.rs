//! Upstreams from `resolv.conf` text (pure parser; the caller reads the file).

use std::net::{IpAddr, SocketAddr};

/// Parses upstream addresses: `nameserver` lines of a resolv.conf, or a list
/// of `IP`, `IP:port`, `[v6]:port` entries. Port defaults to 53.
pub fn parse_upstream(s: &str) -> Option<SocketAddr> {
    let s = s.trim().trim_start_matches("dns://");
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

/// The `nameserver` entries of a resolv.conf.
pub fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("nameserver"))
                .then(|| it.next())
                .flatten()
                .and_then(|a| parse_upstream(a.split('%').next().unwrap_or(a)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameservers_and_lists() {
        let text =
            "# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\n";
        let ns = nameservers(text);
        assert_eq!(ns.len(), 2);
        assert_eq!(ns[0], "10.0.0.2:53".parse().unwrap());
        assert_eq!(
            parse_upstream("127.0.0.2:5300"),
            "127.0.0.2:5300".parse().ok()
        );
        assert_eq!(parse_upstream("[::1]:99"), "[::1]:99".parse().ok());
        assert_eq!(parse_upstream("nope"), None);
    }
}
