//! `knet trace`, pure part: reading the kernel's nftables trace events
//! (`nft monitor trace`) for one traced packet and telling its path through
//! a node — where it came in, which kube-proxy-style rules it met, where the
//! Service address was rewritten to an endpoint (DNAT), and where it left.

/// One line of `nft monitor trace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceLine {
    /// The trace ID (one per packet).
    pub(crate) id: String,
    /// Table name.
    pub(crate) table: String,
    /// Chain name.
    pub(crate) chain: String,
    /// What the line says.
    pub(crate) what: What,
}

/// The kinds of trace lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum What {
    /// The packet as a hook sees it.
    Packet(Packet),
    /// A rule matched: its text and verdict.
    Rule {
        /// The rule as nft prints it.
        rule: String,
        /// `jump services`, `accept`, … (None: continue).
        verdict: Option<String>,
    },
    /// The chain's policy applied.
    Policy(String),
    /// A verdict without a rule (end of a base chain).
    Verdict(String),
}

/// Addresses of a traced packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Packet {
    /// Input interface.
    pub(crate) iif: Option<String>,
    /// Output interface.
    pub(crate) oif: Option<String>,
    /// Source address.
    pub(crate) saddr: String,
    /// Destination address.
    pub(crate) daddr: String,
    /// Protocol and ports, as `tcp 56276 → 80`.
    pub(crate) l4: Option<(String, String, String)>,
}

impl Packet {
    fn endpoints(&self) -> String {
        match &self.l4 {
            Some((proto, sport, dport)) => {
                format!("{}:{sport} → {}:{dport} {proto}", self.saddr, self.daddr)
            }
            None => format!("{} → {}", self.saddr, self.daddr),
        }
    }
}

fn field<'a>(words: &[&'a str], key: &[&str]) -> Option<&'a str> {
    words
        .windows(key.len() + 1)
        .find(|w| w[..key.len()] == *key)
        .map(|w| w[key.len()].trim_matches('"'))
}

fn parse_packet(rest: &str) -> Packet {
    let w: Vec<&str> = rest.split_whitespace().collect();
    let mut p = Packet {
        iif: field(&w, &["iif"]).map(str::to_string),
        oif: field(&w, &["oif"]).map(str::to_string),
        saddr: field(&w, &["ip", "saddr"])
            .or_else(|| field(&w, &["ip6", "saddr"]))
            .unwrap_or("?")
            .to_string(),
        daddr: field(&w, &["ip", "daddr"])
            .or_else(|| field(&w, &["ip6", "daddr"]))
            .unwrap_or("?")
            .to_string(),
        l4: None,
    };
    for proto in ["tcp", "udp", "sctp"] {
        if let (Some(s), Some(d)) = (field(&w, &[proto, "sport"]), field(&w, &[proto, "dport"])) {
            p.l4 = Some((proto.to_string(), s.to_string(), d.to_string()));
        }
    }
    p
}

/// Parses one line of `nft monitor trace` (None for anything else).
pub(crate) fn parse_line(line: &str) -> Option<TraceLine> {
    let rest = line.trim().strip_prefix("trace id ")?;
    let mut it = rest.splitn(5, ' ');
    let id = it.next()?.to_string();
    let _family = it.next()?;
    let table = it.next()?.to_string();
    let chain = it.next()?.to_string();
    let tail = it.next()?.trim();
    let what = if let Some(p) = tail.strip_prefix("packet: ") {
        What::Packet(parse_packet(p))
    } else if let Some(r) = tail.strip_prefix("rule ") {
        let (rule, verdict) = match r.rfind(" (verdict ") {
            Some(i) => (
                r[..i].to_string(),
                Some(r[i + 10..].trim_end_matches(')').to_string()),
            ),
            None => (r.to_string(), None),
        };
        What::Rule { rule, verdict }
    } else if let Some(p) = tail.strip_prefix("policy ") {
        What::Policy(p.trim().to_string())
    } else if let Some(v) = tail.strip_prefix("verdict ") {
        What::Verdict(v.trim().to_string())
    } else {
        return None;
    };
    Some(TraceLine {
        id,
        table,
        chain,
        what,
    })
}

/// The story of the first traced packet among `lines`, one step a line.
/// `own_table` (knet trace's marking table) is left out.
pub(crate) fn narrate(lines: &[TraceLine], own_table: &str) -> Vec<String> {
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut last_dst: Option<String> = None;
    let mut last_src: Option<String> = None;
    let mut entered = false;
    let mut left: Option<Packet> = None;
    // The first packet's lines; a second packet-line of our own table means
    // the next packet (the trace ID can be reused).
    let mut own_packets = 0;
    for l in lines.iter().filter(|l| l.id == first.id) {
        if l.table == own_table {
            if matches!(l.what, What::Packet(_)) {
                own_packets += 1;
                if own_packets > 1 {
                    break;
                }
            }
            continue;
        }
        let at = format!("{}/{}", l.table, l.chain);
        match &l.what {
            What::Packet(p) => {
                if !entered {
                    entered = true;
                    let dev = p.iif.as_deref().unwrap_or("this node");
                    out.push(format!("in via {dev}: {}", p.endpoints()));
                }
                let dst =
                    p.l4.as_ref()
                        .map_or(p.daddr.clone(), |(_, _, d)| format!("{}:{d}", p.daddr));
                let src =
                    p.l4.as_ref()
                        .map_or(p.saddr.clone(), |(_, s, _)| format!("{}:{s}", p.saddr));
                if let Some(prev) = &last_dst
                    && *prev != dst
                {
                    out.push(format!(
                        "DNAT: destination {prev} is now {dst} (an endpoint)"
                    ));
                }
                if let Some(prev) = &last_src
                    && *prev != src
                {
                    out.push(format!("SNAT: source {prev} is now {src} (masquerade)"));
                }
                last_dst = Some(dst);
                last_src = Some(src);
                if p.oif.is_some() {
                    left = Some(p.clone());
                }
            }
            What::Rule { rule, verdict } => {
                let v = verdict.as_deref().unwrap_or("continue");
                out.push(format!("{at}: {v}   [{rule}]"));
            }
            What::Policy(p) if p != "accept" => out.push(format!("{at}: policy {p}")),
            What::Verdict(v) if v != "continue" => out.push(format!("{at}: {v}")),
            What::Policy(_) | What::Verdict(_) => {}
        }
    }
    if let Some(p) = left {
        out.push(format!(
            "out via {}: {}",
            p.oif.as_deref().unwrap_or("?"),
            p.endpoints()
        ));
    }
    out
}

/// The first packet's last destination address (after any DNAT) and the
/// interface it came in on: what `ip route get` is asked about.
pub(crate) fn final_hop(lines: &[TraceLine], own_table: &str) -> Option<(String, String)> {
    let first = lines.first()?;
    let mut iif = None;
    let mut dst = None;
    for l in lines
        .iter()
        .filter(|l| l.id == first.id && l.table != own_table)
    {
        if let What::Packet(p) = &l.what {
            if iif.is_none() {
                iif.clone_from(&p.iif);
            }
            dst = Some(p.daddr.clone());
        }
    }
    Some((dst?, iif?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"trace id 70f8a734 ip knet-trace pre packet: iif "cbr0" ether saddr f2:9f ip saddr 10.244.1.5 ip daddr 10.100.237.16 ip ttl 64 tcp sport 56276 tcp dport 80 tcp flags == syn
trace id 70f8a734 ip knet-trace pre rule ip saddr 10.244.1.5 meta nftrace set 1 (verdict continue)
trace id 70f8a734 ip knet-trace pre policy accept
trace id 70f8a734 ip knet-proxy nat-prerouting packet: iif "cbr0" ip saddr 10.244.1.5 ip daddr 10.100.237.16 tcp sport 56276 tcp dport 80
trace id 70f8a734 ip knet-proxy nat-prerouting rule jump services (verdict jump services)
trace id 70f8a734 ip knet-proxy pick-tcp-2 rule dnat ip to ip daddr . tcp dport . numgen random mod 2 map @addr-eps-tcp (verdict accept)
trace id 70f8a734 ip knet-proxy filter-prerouting-post-dnat packet: iif "cbr0" ip saddr 10.244.1.5 ip daddr 10.244.2.3 tcp sport 56276 tcp dport 8080
trace id 70f8a734 ip knet-proxy filter-prerouting-post-dnat policy accept
trace id 70f8a734 ip knet-proxy nat-postrouting packet: oif "flannel.1" ip saddr 10.244.1.5 ip daddr 10.244.2.3 tcp sport 56276 tcp dport 8080
trace id 70f8a734 ip knet-proxy masquerading rule meta mark & 0x00004000 == 0x00000000 return (verdict return)
trace id 70f8a734 ip knet-trace pre packet: iif "cbr0" ip saddr 10.244.1.5 ip daddr 10.100.237.16 tcp sport 56276 tcp dport 80
trace id 70f8a734 ip knet-proxy nat-prerouting rule jump services (verdict jump services)
something else"#;

    fn lines() -> Vec<TraceLine> {
        TRACE.lines().filter_map(parse_line).collect()
    }

    #[test]
    fn trace_lines_are_parsed() {
        let l = lines();
        assert_eq!(l.len(), 12, "the last line is not a trace line");
        assert_eq!(l[0].table, "knet-trace");
        let What::Packet(p) = &l[0].what else {
            panic!("packet line")
        };
        assert_eq!(p.iif.as_deref(), Some("cbr0"));
        assert_eq!(p.l4, Some(("tcp".into(), "56276".into(), "80".into())));
        assert_eq!(
            l[4].what,
            What::Rule {
                rule: "jump services".into(),
                verdict: Some("jump services".into())
            }
        );
        assert_eq!(l[2].what, What::Policy("accept".into()));
    }

    #[test]
    fn the_first_packet_is_told_with_its_dnat_and_exit() {
        let story = narrate(&lines(), "knet-trace");
        assert_eq!(
            story,
            vec![
                "in via cbr0: 10.244.1.5:56276 → 10.100.237.16:80 tcp",
                "knet-proxy/nat-prerouting: jump services   [jump services]",
                "knet-proxy/pick-tcp-2: accept   [dnat ip to ip daddr . tcp dport . numgen random mod 2 map @addr-eps-tcp]",
                "DNAT: destination 10.100.237.16:80 is now 10.244.2.3:8080 (an endpoint)",
                "knet-proxy/masquerading: return   [meta mark & 0x00004000 == 0x00000000 return]",
                "out via flannel.1: 10.244.1.5:56276 → 10.244.2.3:8080 tcp",
            ]
        );
        assert!(narrate(&[], "knet-trace").is_empty());
        assert_eq!(
            final_hop(&lines(), "knet-trace"),
            Some(("10.244.2.3".into(), "cbr0".into()))
        );
    }
}
