//! ctnetlink (NETLINK_NETFILTER) for stale UDP flows: one dump of the
//! namespace's conntrack table per family, matched against the stale flows
//! in memory ([`matches`], pure), then one `IPCTNL_MSG_CT_DELETE` per match
//! carrying the entry's original tuple (and zone) exactly as dumped.

use std::net::IpAddr;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto,
    socket,
};

use super::StaleFlow;
use crate::apply::{ApplyError, Netns};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 7;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
const IPPROTO_UDP: u8 = 17;

/// One UDP conntrack entry as dumped (the fields the filter needs, plus the
/// raw attributes a delete request must repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Original destination address.
    pub(crate) orig_dst: IpAddr,
    /// Original destination port.
    pub(crate) orig_dport: u16,
    /// Reply source address (the endpoint that answered).
    pub(crate) reply_src: IpAddr,
    /// `CTA_TUPLE_ORIG` attribute, header included.
    orig_attr: Vec<u8>,
    /// `CTA_ZONE` attribute, header included, if present.
    zone_attr: Option<Vec<u8>>,
}

/// Whether `entry` belongs to `flow` (the `conntrack -D -p udp --orig-dst
/// --orig-port-dst --reply-src` filter).
pub(crate) fn matches(flow: &StaleFlow, entry: &Entry) -> bool {
    flow.port == entry.orig_dport
        && flow.dst.is_none_or(|d| d == entry.orig_dst)
        && flow.reply_src.is_none_or(|s| s == entry.reply_src)
}

/// Netlink attributes of `buf`: (type without flags, payload, whole attribute).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let whole: &[u8] = buf;
        buf = &whole[((len + 3) & !3).min(whole.len())..];
        Some((ty, &whole[4..len], &whole[..len]))
    })
}

fn find(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|a| a.0 == ty).map(|a| a.1)
}

fn addr(tuple_ip: &[u8], dst: bool) -> Option<IpAddr> {
    // CTA_IP_V4_SRC 1, V4_DST 2, V6_SRC 3, V6_DST 4.
    let (v4, v6) = if dst { (2, 4) } else { (1, 3) };
    if let Some(b) = find(tuple_ip, v4) {
        let o: [u8; 4] = b.try_into().ok()?;
        return Some(IpAddr::from(o));
    }
    let o: [u8; 16] = find(tuple_ip, v6)?.try_into().ok()?;
    Some(IpAddr::from(o))
}

/// Parses the attributes (after the nfgenmsg header) of one dumped entry;
/// `None` for non-UDP or malformed entries.
pub(crate) fn parse_entry(payload: &[u8]) -> Option<Entry> {
    let mut orig = None;
    let (mut reply, mut zone_attr) = (None, None);
    for (ty, body, whole) in attrs(payload) {
        match ty {
            CTA_TUPLE_ORIG => orig = Some((body, whole)),
            CTA_TUPLE_REPLY => reply = Some(body),
            CTA_ZONE => zone_attr = Some(whole.to_vec()),
            _ => {}
        }
    }
    let (orig, orig_whole) = orig?;
    let proto = find(orig, CTA_TUPLE_PROTO)?;
    if find(proto, CTA_PROTO_NUM)?.first() != Some(&IPPROTO_UDP) {
        return None;
    }
    let port: [u8; 2] = find(proto, CTA_PROTO_DST_PORT)?.try_into().ok()?;
    Some(Entry {
        orig_dst: addr(find(orig, CTA_TUPLE_IP)?, true)?,
        orig_dport: u16::from_be_bytes(port),
        reply_src: addr(find(reply?, CTA_TUPLE_IP)?, false)?,
        orig_attr: orig_whole.to_vec(),
        zone_attr,
    })
}

fn message(ty: u16, flags: u16, seq: u32, family: u8, attrs: &[&[u8]]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | ty).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: family, version 0, res_id 0
    for a in attrs {
        m.extend_from_slice(a);
        m.resize((m.len() + 3) & !3, 0);
    }
    let len = (m.len() as u32).to_ne_bytes();
    m[..4].copy_from_slice(&len);
    m
}

fn io(op: &str, e: nix::Error) -> ApplyError {
    ApplyError::Spawn {
        program: format!("ctnetlink {op}"),
        source: std::io::Error::from(e),
    }
}

/// Reads replies to `seq` until DONE (dump) or the ACK; dumped entries go
/// to `out`. Returns the kernel's errno for an error reply (0 = ack).
fn read_replies(
    fd: &std::os::fd::OwnedFd,
    seq: u32,
    mut out: Option<&mut Vec<Entry>>,
) -> Result<i32, ApplyError> {
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| io("recv", e))?;
        let mut msgs = &buf[..n];
        while msgs.len() >= 16 {
            let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap_or_default()) as usize;
            let ty = u16::from_ne_bytes([msgs[4], msgs[5]]);
            let mseq = u32::from_ne_bytes(msgs[8..12].try_into().unwrap_or_default());
            if len < 16 || len > msgs.len() {
                break;
            }
            let body = &msgs[16..len];
            msgs = &msgs[((len + 3) & !3).min(msgs.len())..];
            if mseq != seq {
                continue;
            }
            match ty {
                NLMSG_DONE => return Ok(0),
                NLMSG_ERROR => {
                    let code = body
                        .get(..4)
                        .map(|b| i32::from_ne_bytes(b.try_into().unwrap_or_default()))
                        .unwrap_or(0);
                    return Ok(-code);
                }
                _ => {
                    if let (Some(out), Some(attrs)) = (out.as_deref_mut(), body.get(4..))
                        && let Some(e) = parse_entry(attrs)
                    {
                        out.push(e);
                    }
                }
            }
        }
    }
}

/// Deletes the UDP entries of the current thread's namespace matching any
/// of `flows`; returns how many were deleted.
fn delete_here(flows: &[StaleFlow]) -> Result<usize, ApplyError> {
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| io("socket", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| io("bind", e))?;
    let kernel = NetlinkAddr::new(0, 0);
    let mut seq = 1u32;
    let mut deleted = 0;
    let families = [
        (
            libc::AF_INET as u8,
            flows.iter().any(|f| !f.dst.is_some_and(|d| d.is_ipv6())),
        ),
        (
            libc::AF_INET6 as u8,
            flows.iter().any(|f| f.dst.is_none_or(|d| d.is_ipv6())),
        ),
    ];
    for (family, wanted) in families {
        if !wanted {
            continue;
        }
        seq += 1;
        let dump = message(
            IPCTNL_MSG_CT_GET,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            family,
            &[],
        );
        sendto(fd.as_raw_fd(), &dump, &kernel, MsgFlags::empty()).map_err(|e| io("send", e))?;
        let mut entries = Vec::new();
        let errno = read_replies(&fd, seq, Some(&mut entries))?;
        if errno != 0 {
            return Err(io("dump", nix::Error::from_raw(errno)));
        }
        for e in entries
            .iter()
            .filter(|e| flows.iter().any(|f| matches(f, e)))
        {
            seq += 1;
            let mut attrs: Vec<&[u8]> = vec![&e.orig_attr];
            attrs.extend(e.zone_attr.as_deref());
            let del = message(
                IPCTNL_MSG_CT_DELETE,
                NLM_F_REQUEST | NLM_F_ACK,
                seq,
                family,
                &attrs,
            );
            sendto(fd.as_raw_fd(), &del, &kernel, MsgFlags::empty()).map_err(|e| io("send", e))?;
            match read_replies(&fd, seq, None)? {
                0 => deleted += 1,
                libc::ENOENT => {} // expired meanwhile
                errno => return Err(io("delete", nix::Error::from_raw(errno))),
            }
        }
    }
    Ok(deleted)
}

/// Deletes the UDP entries of `netns` matching any of `flows`.
pub(crate) fn delete(netns: &Netns, flows: &[StaleFlow]) -> Result<usize, ApplyError> {
    let netns = netns.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            netns.enter()?;
            delete_here(flows)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ApplyError::Spawn {
                program: "conntrack thread".into(),
                source: std::io::Error::other("panicked"),
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nest(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = parts.concat();
        attr(ty | 0x8000, &body)
    }

    fn attr(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(body);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    fn tuple(ty: u16, src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        nest(
            ty,
            &[
                nest(CTA_TUPLE_IP, &[attr(1, &src), attr(2, &dst)]),
                nest(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[proto]),
                        attr(2, &sport.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn parses_a_dumped_udp_entry_and_filters_like_conntrack_d() {
        let orig = tuple(
            CTA_TUPLE_ORIG,
            [10, 244, 1, 5],
            [10, 96, 0, 10],
            17,
            40000,
            53,
        );
        let reply = tuple(
            CTA_TUPLE_REPLY,
            [10, 244, 2, 7],
            [10, 244, 1, 5],
            17,
            5353,
            40000,
        );
        let payload = [orig.clone(), reply, attr(CTA_ZONE, &3u16.to_be_bytes())].concat();
        let e = parse_entry(&payload).expect("udp entry");
        assert_eq!(e.orig_dst, "10.96.0.10".parse::<IpAddr>().unwrap());
        assert_eq!(e.orig_dport, 53);
        assert_eq!(e.reply_src, "10.244.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            e.orig_attr, orig,
            "delete repeats the original tuple verbatim"
        );
        assert!(e.zone_attr.is_some());
        let flow = |dst: Option<&str>, port, src: Option<&str>| StaleFlow {
            dst: dst.map(|d| d.parse().unwrap()),
            port,
            reply_src: src.map(|s| s.parse().unwrap()),
        };
        assert!(matches(
            &flow(Some("10.96.0.10"), 53, Some("10.244.2.7")),
            &e
        ));
        assert!(matches(&flow(Some("10.96.0.10"), 53, None), &e));
        assert!(
            matches(&flow(None, 53, None), &e),
            "NodePort: any destination"
        );
        assert!(!matches(
            &flow(Some("10.96.0.10"), 53, Some("10.244.2.8")),
            &e
        ));
        assert!(!matches(&flow(Some("10.96.0.11"), 53, None), &e));
        assert!(!matches(&flow(Some("10.96.0.10"), 54, None), &e));
        let tcp = tuple(CTA_TUPLE_ORIG, [1, 1, 1, 1], [2, 2, 2, 2], 6, 1, 53);
        let reply = tuple(CTA_TUPLE_REPLY, [2, 2, 2, 2], [1, 1, 1, 1], 6, 53, 1);
        assert_eq!(
            parse_entry(&[tcp, reply].concat()),
            None,
            "TCP is left alone"
        );
    }
}
