//! The DNS message codec: pure, allocation-light, and total — every input either
//! parses or yields a [`ParseError`] that says how to answer (FORMERR, NOTIMP,
//! or drop). Nothing here panics on untrusted bytes.
//!
//! Queries are parsed into a [`Query`] holding the question name twice: the
//! original wire bytes (so answers preserve the client's case) and a lowercase
//! dotted form used for lookups. Responses are written by [`writer::Writer`]
//! with name compression and truncation to the client's limit.

pub mod name;
pub mod rr;
pub mod writer;

pub use name::{NameError, WireName};

/// Resource record types knet knows by name.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Pointer (reverse lookups).
    pub const PTR: u16 = 12;
    /// Host info (used by loop detection probes).
    pub const HINFO: u16 = 13;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service locator.
    pub const SRV: u16 = 33;
    /// EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Any type.
    pub const ANY: u16 = 255;
}

/// Response codes used by knet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// No error.
    NoError,
    /// The query could not be parsed.
    FormErr,
    /// The server could not answer (e.g. before the first sync).
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// The opcode is not implemented.
    NotImp,
    /// The server refuses (zone transfers, concurrency limit).
    Refused,
}

impl Rcode {
    /// The 4-bit wire value.
    pub fn code(self) -> u8 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
        }
    }

    /// The mnemonic, as CoreDNS labels its metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
        }
    }

    /// Decodes a wire value; unknown codes become `ServFail`.
    pub fn from_code(c: u8) -> Rcode {
        match c & 0x0f {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            _ => Rcode::ServFail,
        }
    }
}

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Largest UDP payload assumed without EDNS0.
pub const CLASSIC_UDP_LIMIT: u16 = 512;
/// Header flag: this message is a response.
pub const FLAG_QR: u16 = 0x8000;
/// Header flag: authoritative answer.
pub const FLAG_AA: u16 = 0x0400;
/// Header flag: truncated.
pub const FLAG_TC: u16 = 0x0200;
/// Header flag: recursion desired.
pub const FLAG_RD: u16 = 0x0100;
/// Header flag: recursion available.
pub const FLAG_RA: u16 = 0x0080;
/// Header flag: checking disabled.
pub const FLAG_CD: u16 = 0x0010;

/// EDNS0 options of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requester's UDP payload size (as sent, not clamped).
    pub payload: u16,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// EDNS version (only 0 is supported; others get BADVERS).
    pub version: u8,
}

/// A parsed single-question query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Message ID.
    pub id: u16,
    /// Header flags as received (opcode, RD, CD …).
    pub flags: u16,
    /// Question name, decompressed, original case.
    pub qname: WireName,
    /// Question name, lowercase, dotted, without the trailing dot (root is "").
    pub name: String,
    /// True when a label contains bytes that cannot appear in a Kubernetes name
    /// (such names never match cluster records).
    pub odd_labels: bool,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// EDNS0, when the query carried an OPT record.
    pub edns: Option<Edns>,
    /// Size of the query message in bytes.
    pub len: usize,
}

impl Query {
    /// Largest response this client accepts over UDP (at least 512, at most 65535).
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => usize::from(e.payload.max(CLASSIC_UDP_LIMIT)),
            None => usize::from(CLASSIC_UDP_LIMIT),
        }
    }

    /// True when recursion was desired.
    pub fn rd(&self) -> bool {
        self.flags & FLAG_RD != 0
    }
}

/// Why a packet could not be parsed, and thus how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Too short to carry a header, or a response: drop silently.
    #[error("not a DNS query, dropped")]
    Drop,
    /// Header readable but the rest is malformed: answer FORMERR with this ID.
    #[error("malformed query: {reason}")]
    FormErr {
        /// ID to echo.
        id: u16,
        /// Flags to echo (RD, opcode).
        flags: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// Opcode other than QUERY: answer NOTIMP.
    #[error("opcode {opcode} not implemented")]
    NotImp {
        /// ID to echo.
        id: u16,
        /// Flags to echo.
        flags: u16,
        /// The opcode.
        opcode: u8,
    },
}

/// Reads a big-endian u16 at `at`, if present.
pub(crate) fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian u32 at `at`, if present.
pub(crate) fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses a query. Exactly one question is required; an OPT record in the
/// additional section is honoured; other additional records are skipped.
pub fn parse_query(buf: &[u8]) -> Result<Query, ParseError> {
    let (Some(id), Some(flags)) = (be16(buf, 0), be16(buf, 2)) else {
        return Err(ParseError::Drop);
    };
    if buf.len() < HEADER_LEN || flags & FLAG_QR != 0 {
        return Err(ParseError::Drop);
    }
    let formerr = |reason| ParseError::FormErr { id, flags, reason };
    let opcode = ((flags >> 11) & 0x0f) as u8;
    if opcode != 0 {
        return Err(ParseError::NotImp { id, flags, opcode });
    }
    let counts = [be16(buf, 4), be16(buf, 6), be16(buf, 8), be16(buf, 10)];
    let [Some(qd), Some(an), Some(ns), Some(ar)] = counts else {
        return Err(ParseError::Drop);
    };
    if qd != 1 {
        return Err(formerr("query must carry exactly one question"));
    }
    let (qname, mut at) =
        WireName::parse(buf, HEADER_LEN).map_err(|_| formerr("bad question name"))?;
    let (Some(qtype), Some(qclass)) = (be16(buf, at), be16(buf, at + 2)) else {
        return Err(formerr("question truncated"));
    };
    at += 4;
    let mut edns = None;
    let skip = usize::from(an) + usize::from(ns);
    for i in 0..skip + usize::from(ar) {
        let rec = rr::RawRecord::parse(buf, at).map_err(|_| formerr("bad record"))?;
        at = rec.end;
        if i >= skip && rec.rtype == rtype::OPT {
            if edns.is_some() || rec.owner_len != 1 {
                return Err(formerr("bad OPT record"));
            }
            edns = Some(Edns {
                payload: rec.class,
                dnssec_ok: rec.ttl & 0x8000 != 0,
                version: (rec.ttl >> 16) as u8,
            });
        }
    }
    let (name, odd_labels) = qname.to_lower_dotted();
    Ok(Query {
        id,
        flags,
        qname,
        name,
        odd_labels,
        qtype,
        qclass,
        edns,
        len: buf.len(),
    })
}

#[cfg(test)]
mod tests;
