//! Resource records: walking records of a received message, and the record
//! data knet writes.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::{NameError, WireName};
use super::{be16, be32, rtype};

/// One record as found in a received message (positions, not copies).
#[derive(Debug, Clone, Copy)]
pub struct RawRecord {
    /// Owner name, decompressed.
    pub owner: WireName,
    /// Bytes the owner name occupies in the message (1 for the root).
    pub owner_len: usize,
    /// Record type.
    pub rtype: u16,
    /// Class (for OPT: the UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended rcode, version, flags).
    pub ttl: u32,
    /// Offset of the TTL field in the message.
    pub ttl_at: usize,
    /// Offset of the record data.
    pub rdata_at: usize,
    /// Length of the record data.
    pub rdlen: usize,
    /// Offset just past the record.
    pub end: usize,
}

impl RawRecord {
    /// Reads the record starting at `at`.
    pub fn parse(msg: &[u8], at: usize) -> Result<RawRecord, NameError> {
        let (owner, after) = WireName::parse(msg, at)?;
        let rtype = be16(msg, after).ok_or(NameError::Truncated)?;
        let class = be16(msg, after + 2).ok_or(NameError::Truncated)?;
        let ttl = be32(msg, after + 4).ok_or(NameError::Truncated)?;
        let rdlen = usize::from(be16(msg, after + 8).ok_or(NameError::Truncated)?);
        let rdata_at = after + 10;
        let end = rdata_at + rdlen;
        if end > msg.len() {
            return Err(NameError::Truncated);
        }
        Ok(RawRecord {
            owner,
            owner_len: after - at,
            rtype,
            class,
            ttl,
            ttl_at: after + 4,
            rdata_at,
            rdlen,
            end,
        })
    }

    /// Converts the record to owned [`RData`] for re-encoding in another message
    /// (names inside CNAME/PTR/NS rdata are decompressed; other types are
    /// copied verbatim — compression inside them is not allowed by RFC 3597).
    pub fn to_rdata(&self, msg: &[u8]) -> Result<RData<'static>, NameError> {
        let raw = &msg[self.rdata_at..self.end];
        let name_at = |msg| -> Result<String, NameError> {
            let (n, _) = WireName::parse(msg, self.rdata_at)?;
            let (s, _) = n.to_lower_dotted();
            Ok(s)
        };
        Ok(match self.rtype {
            rtype::A if raw.len() == 4 => RData::A(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
            rtype::AAAA if raw.len() == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(raw);
                RData::Aaaa(Ipv6Addr::from(b))
            }
            rtype::CNAME => RData::Cname(Cow::Owned(name_at(msg)?)),
            rtype::PTR => RData::Ptr(Cow::Owned(name_at(msg)?)),
            rtype::NS => RData::Ns(Cow::Owned(name_at(msg)?)),
            t => RData::Raw(t, raw.to_vec()),
        })
    }
}

/// Walks all records of a message after the question; returns them in order
/// with their section index (0 answer, 1 authority, 2 additional).
pub fn records(msg: &[u8]) -> Result<Vec<(u8, RawRecord)>, NameError> {
    let count = |at| be16(msg, at).map(usize::from).ok_or(NameError::Truncated);
    let qd = count(4)?;
    let sections = [count(6)?, count(8)?, count(10)?];
    let mut at = super::HEADER_LEN;
    for _ in 0..qd {
        let (_, after) = WireName::parse(msg, at)?;
        at = after + 4;
    }
    let mut out = Vec::new();
    for (sec, n) in sections.into_iter().enumerate() {
        for _ in 0..n {
            let r = RawRecord::parse(msg, at)?;
            at = r.end;
            out.push((sec as u8, r));
        }
    }
    Ok(out)
}

/// Record data knet writes. Names are lowercase dotted without trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RData<'a> {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias target.
    Cname(Cow<'a, str>),
    /// Reverse pointer target.
    Ptr(Cow<'a, str>),
    /// Name server.
    Ns(Cow<'a, str>),
    /// Service locator.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: Cow<'a, str>,
    },
    /// One character-string of text.
    Txt(Cow<'a, str>),
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: Cow<'a, str>,
        /// Responsible mailbox.
        rname: Cow<'a, str>,
        /// Serial.
        serial: u32,
        /// Refresh.
        refresh: u32,
        /// Retry.
        retry: u32,
        /// Expire.
        expire: u32,
        /// Minimum (negative TTL).
        minimum: u32,
    },
    /// Any other type, copied verbatim.
    Raw(u16, Vec<u8>),
}

impl RData<'_> {
    /// The record type.
    pub fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => rtype::A,
            RData::Aaaa(_) => rtype::AAAA,
            RData::Cname(_) => rtype::CNAME,
            RData::Ptr(_) => rtype::PTR,
            RData::Ns(_) => rtype::NS,
            RData::Srv { .. } => rtype::SRV,
            RData::Txt(_) => rtype::TXT,
            RData::Soa { .. } => rtype::SOA,
            RData::Raw(t, _) => *t,
        }
    }
}

/// Owner name of a record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The question name, written as a pointer to it (keeps the client's case).
    Qname,
    /// Another name (lowercase dotted).
    Name(Cow<'a, str>),
}

/// A record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Owner.
    pub owner: Owner<'a>,
    /// TTL in seconds.
    pub ttl: u32,
    /// Data.
    pub data: RData<'a>,
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

impl Record<'_> {
    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            owner: match self.owner {
                Owner::Qname => Owner::Qname,
                Owner::Name(n) => Owner::Name(own(n)),
            },
            ttl: self.ttl,
            data: self.data.into_owned(),
        }
    }
}

impl RData<'_> {
    /// A copy that borrows nothing.
    pub fn into_owned(self) -> RData<'static> {
        match self {
            RData::A(a) => RData::A(a),
            RData::Aaaa(a) => RData::Aaaa(a),
            RData::Cname(n) => RData::Cname(own(n)),
            RData::Ptr(n) => RData::Ptr(own(n)),
            RData::Ns(n) => RData::Ns(own(n)),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => RData::Srv {
                priority,
                weight,
                port,
                target: own(target),
            },
            RData::Txt(t) => RData::Txt(own(t)),
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => RData::Soa {
                mname: own(mname),
                rname: own(rname),
                serial,
                refresh,
                retry,
                expire,
                minimum,
            },
            RData::Raw(t, b) => RData::Raw(t, b),
        }
    }
}
