//! Writes responses: header, echoed question, records with name compression,
//! EDNS0 OPT, and truncation to the client's size limit with the TC bit.

use super::rr::{Owner, RData, Record};
use super::{FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, HEADER_LEN, Query, Rcode};

/// UDP payload size knet advertises in its OPT record (the DNS flag day value).
pub const ADVERTISED_PAYLOAD: u16 = 1232;
/// Bytes an OPT record without options takes.
const OPT_LEN: usize = 11;
/// Largest offset a compression pointer can express.
const MAX_POINTER: usize = 0x3fff;

/// What to answer, before encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response<'a> {
    /// Response code (NoError when `None`).
    pub rcode: Option<Rcode>,
    /// Authoritative answer bit.
    pub authoritative: bool,
    /// Set TC even if everything fits (copied from an upstream).
    pub truncated: bool,
    /// Answer section.
    pub answer: Vec<Record<'a>>,
    /// Authority section.
    pub authority: Vec<Record<'a>>,
    /// Additional section (dropped silently when it does not fit).
    pub additional: Vec<Record<'a>>,
}

impl<'a> Response<'a> {
    /// A response with only an rcode.
    pub fn rcode(rcode: Rcode) -> Response<'a> {
        Response {
            rcode: Some(rcode),
            ..Response::default()
        }
    }
}

/// Encodes `resp` as the answer to `q`, at most `limit` bytes (use 65535 for TCP).
pub fn encode(q: &Query, resp: &Response<'_>, limit: usize) -> Vec<u8> {
    let mut w = Writer::new(q, limit);
    let rcode = resp.rcode.unwrap_or(Rcode::NoError);
    let mut flags = FLAG_QR | (q.flags & (FLAG_RD | FLAG_CD | 0x7800)) | FLAG_RA;
    if resp.authoritative {
        flags |= FLAG_AA;
    }
    let mut truncated = resp.truncated;
    let mut counts = [0u16; 3];
    for (i, sec) in [&resp.answer, &resp.authority].into_iter().enumerate() {
        for r in sec {
            if truncated || !w.record(r) {
                truncated = true;
                break;
            }
            counts[i] += 1;
        }
    }
    if !truncated {
        for r in &resp.additional {
            if !w.record(r) {
                break;
            }
            counts[2] += 1;
        }
    }
    if truncated {
        flags |= FLAG_TC;
    }
    w.finish(flags, rcode, counts)
}

/// Encodes a header-only error answer to a query that could not be parsed
/// (no question is echoed).
pub fn encode_error(id: u16, flags: u16, rcode: Rcode) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    let f = FLAG_QR | (flags & (FLAG_RD | FLAG_CD | 0x7800)) | u16::from(rcode.code());
    b[0..2].copy_from_slice(&id.to_be_bytes());
    b[2..4].copy_from_slice(&f.to_be_bytes());
    b
}

/// Compression targets of one response, kept on the stack (no allocation
/// per answer). Past [`Targets::CAP`] names are still written, just no
/// longer offered for compression: still a valid message, only larger.
struct Targets {
    at: [u16; Targets::CAP],
    len: usize,
}

impl Targets {
    const CAP: usize = 256;

    fn push(&mut self, offset: u16) {
        if let Some(slot) = self.at.get_mut(self.len) {
            *slot = offset;
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn as_slice(&self) -> &[u16] {
        &self.at[..self.len]
    }
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            at: [0; Targets::CAP],
            len: 0,
        }
    }
}

/// A response under construction.
struct Writer<'q> {
    q: &'q Query,
    buf: Vec<u8>,
    /// Offsets of label starts already written (compression targets).
    targets: Targets,
    /// Bytes available for records (the OPT record is reserved up front).
    limit: usize,
}

impl<'q> Writer<'q> {
    fn new(q: &'q Query, limit: usize) -> Writer<'q> {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(&[0u8; HEADER_LEN]);
        buf.extend_from_slice(q.qname.as_bytes());
        buf.extend_from_slice(&q.qtype.to_be_bytes());
        buf.extend_from_slice(&q.qclass.to_be_bytes());
        let mut targets = Targets::default();
        for o in q.qname.label_offsets() {
            targets.push((HEADER_LEN + o) as u16);
        }
        let reserve = if q.edns.is_some() { OPT_LEN } else { 0 };
        Writer {
            q,
            buf,
            targets,
            limit: limit.max(HEADER_LEN).saturating_sub(reserve),
        }
    }

    /// Appends one record; returns false (and leaves the buffer as it was)
    /// when it does not fit.
    fn record(&mut self, r: &Record<'_>) -> bool {
        let mark = (self.buf.len(), self.targets.len());
        match &r.owner {
            Owner::Qname => self.buf.extend_from_slice(&[0xc0, HEADER_LEN as u8]),
            Owner::Name(n) => self.name(n),
        }
        self.buf.extend_from_slice(&r.data.rtype().to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.rdata(&r.data);
        let rdlen = self.buf.len() - len_at - 2;
        if self.buf.len() > self.limit || rdlen > usize::from(u16::MAX) {
            self.buf.truncate(mark.0);
            self.targets.truncate(mark.1);
            return false;
        }
        self.buf[len_at..len_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        true
    }

    fn rdata(&mut self, d: &RData<'_>) {
        match d {
            RData::A(ip) => self.buf.extend_from_slice(&ip.octets()),
            RData::Aaaa(ip) => self.buf.extend_from_slice(&ip.octets()),
            RData::Cname(n) | RData::Ptr(n) | RData::Ns(n) => self.name(n),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                for v in [priority, weight, port] {
                    self.buf.extend_from_slice(&v.to_be_bytes());
                }
                self.name(target);
            }
            RData::Txt(t) => {
                for chunk in t.as_bytes().chunks(255) {
                    self.buf.push(chunk.len() as u8);
                    self.buf.extend_from_slice(chunk);
                }
                if t.is_empty() {
                    self.buf.push(0);
                }
            }
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname);
                self.name(rname);
                for v in [serial, refresh, retry, expire, minimum] {
                    self.buf.extend_from_slice(&v.to_be_bytes());
                }
            }
            RData::Raw(_, bytes) => self.buf.extend_from_slice(bytes),
        }
    }

    /// Writes a dotted name, compressing against earlier names.
    fn name(&mut self, name: &str) {
        let name = name.trim_end_matches('.');
        let mut rest = name;
        while !rest.is_empty() {
            if let Some(ptr) = self.find(rest) {
                self.buf.extend_from_slice(&(0xc000 | ptr).to_be_bytes());
                return;
            }
            let (label, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let label = &label.as_bytes()[..label.len().min(63)];
            if self.buf.len() <= MAX_POINTER {
                self.targets.push(self.buf.len() as u16);
            }
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
            rest = tail;
        }
        self.buf.push(0);
    }

    /// Finds a written name equal (case-insensitively) to `suffix`.
    fn find(&self, suffix: &str) -> Option<u16> {
        self.targets
            .as_slice()
            .iter()
            .copied()
            .find(|&t| names_equal(&self.buf, usize::from(t), suffix))
    }

    fn finish(mut self, flags: u16, rcode: Rcode, counts: [u16; 3]) -> Vec<u8> {
        let mut ar = counts[2];
        let mut ext_rcode = 0u8;
        if let Some(e) = self.q.edns {
            if e.version != 0 {
                ext_rcode = 1; // BADVERS (16) = 1 << 4 | 0
            }
            self.buf.push(0);
            self.buf.extend_from_slice(&super::rtype::OPT.to_be_bytes());
            self.buf
                .extend_from_slice(&ADVERTISED_PAYLOAD.to_be_bytes());
            let do_bit = if e.dnssec_ok { 0x8000u16 } else { 0 };
            self.buf.push(ext_rcode);
            self.buf.push(0);
            self.buf.extend_from_slice(&do_bit.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
            ar += 1;
        }
        let code = if ext_rcode != 0 { 0 } else { rcode.code() };
        let b = &mut self.buf;
        b[0..2].copy_from_slice(&self.q.id.to_be_bytes());
        b[2..4].copy_from_slice(&(flags | u16::from(code)).to_be_bytes());
        b[4..6].copy_from_slice(&1u16.to_be_bytes());
        b[6..8].copy_from_slice(&counts[0].to_be_bytes());
        b[8..10].copy_from_slice(&counts[1].to_be_bytes());
        b[10..12].copy_from_slice(&ar.to_be_bytes());
        self.buf
    }
}

/// Compares the (possibly compressed) name at `at` in `buf` with a dotted
/// name, case-insensitively, label by label without splitting `dotted`.
fn names_equal(buf: &[u8], mut at: usize, dotted: &str) -> bool {
    let want = dotted.as_bytes();
    // Start of the next label of `want`; `want.len() + 1` once all matched.
    let mut pos = 0usize;
    for _ in 0..128 {
        let Some(&l) = buf.get(at) else { return false };
        if l & 0xc0 == 0xc0 {
            let Some(&lo) = buf.get(at + 1) else {
                return false;
            };
            at = (usize::from(l & 0x3f) << 8) | usize::from(lo);
            continue;
        }
        if l == 0 {
            return pos == want.len() + 1;
        }
        let end = pos + usize::from(l);
        // The label must end exactly at a dot or at the end of `want`.
        if end > want.len() || want.get(end).is_some_and(|&c| c != b'.') {
            return false;
        }
        let Some(have) = buf.get(at + 1..at + 1 + usize::from(l)) else {
            return false;
        };
        if !have.eq_ignore_ascii_case(&want[pos..end]) {
            return false;
        }
        pos = end + 1;
        at += 1 + usize::from(l);
    }
    false
}

/// Builds a query message (RD set; an EDNS0 OPT advertising
/// [`ADVERTISED_PAYLOAD`] when `edns`). Used to chase ExternalName targets,
/// for health checks and for loop probes.
pub fn build_query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&FLAG_RD.to_be_bytes());
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    let wire = super::WireName::from_dotted(name).unwrap_or_else(|_| super::WireName::root());
    b.extend_from_slice(wire.as_bytes());
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        b.push(0);
        b.extend_from_slice(&super::rtype::OPT.to_be_bytes());
        b.extend_from_slice(&ADVERTISED_PAYLOAD.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    b
}

impl Response<'_> {
    /// A copy that borrows nothing (to outlive the snapshot it came from).
    pub fn into_owned(self) -> Response<'static> {
        let own = |v: Vec<Record<'_>>| v.into_iter().map(Record::into_owned).collect();
        Response {
            rcode: self.rcode,
            authoritative: self.authoritative,
            truncated: self.truncated,
            answer: own(self.answer),
            authority: own(self.authority),
            additional: own(self.additional),
        }
    }
}

#[cfg(test)]
mod name_tests {
    use super::names_equal;

    #[test]
    fn names_equal_follows_pointers_and_ignores_case() {
        // 0: "svc" "Cluster" "local" 0; 19: "ns" + pointer to 4.
        let mut buf = b"\x03svc\x07Cluster\x05local\x00".to_vec();
        buf.extend_from_slice(b"\x02ns\xc0\x04");
        assert!(names_equal(&buf, 0, "svc.cluster.local"));
        assert!(names_equal(&buf, 4, "CLUSTER.local"));
        assert!(names_equal(&buf, 19, "ns.cluster.local"));
        assert!(!names_equal(&buf, 19, "ns.cluster"));
        assert!(!names_equal(&buf, 19, "ns.cluster.local.x"));
        assert!(!names_equal(&buf, 0, "svcx.cluster.local"));
        assert!(!names_equal(&buf, 0, "sv.cluster.local"));
        assert!(!names_equal(&buf, 4, "cluster..local"));
        assert!(!names_equal(&buf, 4, "clusterx.local"));
        // A pointer loop ends the comparison instead of spinning.
        assert!(!names_equal(b"\xc0\x00", 0, "a"));
    }
}
