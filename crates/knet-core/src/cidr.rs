//! IP/CIDR newtypes and address allocators.
//!
//! - [`Cidr`]: an IPv4 or IPv6 network (`10.96.0.0/12`), always stored in
//!   canonical form (host bits cleared), with address ↔ offset math.
//! - [`Bitmap`]: a fixed-size allocation bitmap (next free, from a start
//!   hint, specific, release, counts) — the core of every allocator here.
//! - [`IpRange`]: addresses of a CIDR handed out one by one, as kube-apiserver
//!   does for ClusterIPs (IPv4 skips the network and broadcast addresses).
//! - [`SubnetAllocator`]: cuts a cluster CIDR into per-node blocks
//!   (`10.244.0.0/16` → `/24`s) for node IPAM.

mod bitmap;
mod subnets;

pub use bitmap::Bitmap;
pub use subnets::{MAX_SUBNETS, SubnetAllocator};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an address, CIDR or allocation request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `address/prefix`, or the prefix is too long for the family.
    #[error("invalid CIDR address: {0}")]
    Parse(String),
    /// Not an IP address.
    #[error("invalid IP address: {0}")]
    Address(String),
    /// The address is outside the range.
    #[error("{addr} is not in the valid range {range}")]
    OutOfRange {
        /// The requested address.
        addr: IpAddr,
        /// The range it was checked against.
        range: Cidr,
    },
    /// The address or block is already taken.
    #[error("{0} is already allocated")]
    Allocated(String),
    /// Nothing left to hand out.
    #[error("range {0} is full")]
    Full(String),
    /// The requested block size does not fit the cluster CIDR.
    #[error("subnet mask /{mask} does not fit in {cidr}")]
    Mask {
        /// The cluster CIDR.
        cidr: Cidr,
        /// The requested per-node prefix length.
        mask: u8,
    },
}

/// An IPv4 or IPv6 network in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// The address as a 128-bit number (IPv4 in the low 32 bits).
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn u128_to_ip(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

// === impl Cidr ===

impl Cidr {
    /// A network from an address (host bits are cleared) and prefix length.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::Parse(format!("{addr}/{prefix}")));
        }
        let c = Self { addr, prefix };
        let base = ip_to_u128(addr) & c.mask();
        Ok(Self {
            addr: u128_to_ip(base, addr.is_ipv4()),
            prefix,
        })
    }

    /// Parses `address/prefix`. Host bits are cleared (`10.96.0.5/12` is
    /// `10.96.0.0/12`), as Go's `net.ParseCIDR` returns the network.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError::Parse(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Self::new(addr, prefix).map_err(|_| bad())
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv4 network.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    fn bits(&self) -> u8 {
        if self.is_ipv4() { 32 } else { 128 }
    }

    /// Number of host bits (`32 - prefix` for IPv4).
    pub fn host_bits(&self) -> u8 {
        self.bits() - self.prefix
    }

    fn mask(&self) -> u128 {
        let host = self.host_bits();
        let all = if self.is_ipv4() {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    /// Number of addresses, saturating at `u128::MAX` for `::/0`.
    pub fn size(&self) -> u128 {
        let host = self.host_bits();
        if host >= 128 {
            u128::MAX
        } else {
            1u128 << host
        }
    }

    /// The last address (the IPv4 broadcast address).
    pub fn last(&self) -> IpAddr {
        let base = ip_to_u128(self.addr);
        u128_to_ip(base + (self.size() - 1), self.is_ipv4())
    }

    /// Whether `ip` is inside the network (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4() && ip_to_u128(ip) & self.mask() == ip_to_u128(self.addr)
    }

    /// Whether `other` lies entirely inside this network.
    pub fn contains_cidr(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains_cidr(other) || other.contains_cidr(self)
    }

    /// The address `offset` places after the network address, if inside.
    pub fn addr_at(&self, offset: u128) -> Option<IpAddr> {
        (offset < self.size()).then(|| u128_to_ip(ip_to_u128(self.addr) + offset, self.is_ipv4()))
    }

    /// How far `ip` is from the network address, if inside.
    pub fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        self.contains(ip)
            .then(|| ip_to_u128(ip) - ip_to_u128(self.addr))
    }

    /// The `index`-th sub-network of prefix length `prefix` (`10.244.3.0/24`
    /// is index 3 of `/24` in `10.244.0.0/16`).
    pub fn subnet(&self, prefix: u8, index: u128) -> Option<Cidr> {
        if prefix < self.prefix || prefix > self.bits() {
            return None;
        }
        let count_bits = prefix - self.prefix;
        if count_bits < 128 && index >= (1u128 << count_bits) {
            return None;
        }
        let step_bits = self.bits() - prefix;
        let step = if step_bits >= 128 {
            0
        } else {
            index << step_bits
        };
        let addr = u128_to_ip(ip_to_u128(self.addr) + step, self.is_ipv4());
        Some(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses an IP address written the way Kubernetes accepts it (no leading
/// zeros in IPv4 octets, no zone).
pub fn parse_ip(s: &str) -> Result<IpAddr, CidrError> {
    s.parse().map_err(|_| CidrError::Address(s.to_string()))
}

// === impl IpRange ===

/// The allocatable addresses of a CIDR, tracked in a [`Bitmap`]. As in
/// kube-apiserver, an IPv4 range excludes the network and broadcast
/// addresses; an IPv6 range excludes the network address and is capped at
/// 2^16 addresses.
#[derive(Debug, Clone)]
pub struct IpRange {
    cidr: Cidr,
    /// Numeric value of the first allocatable address.
    base: u128,
    map: Bitmap,
}

/// Most addresses an IPv6 range tracks.
pub const MAX_IPV6_RANGE: u128 = 1 << 16;

impl IpRange {
    /// A range over `cidr`; errors when it holds no usable address.
    pub fn new(cidr: Cidr) -> Result<Self, CidrError> {
        let size = if cidr.is_ipv4() {
            cidr.size().saturating_sub(2)
        } else {
            cidr.size().saturating_sub(1).min(MAX_IPV6_RANGE)
        };
        if size == 0 {
            return Err(CidrError::Full(cidr.to_string()));
        }
        Ok(Self {
            cidr,
            base: ip_to_u128(cidr.network()) + 1,
            map: Bitmap::new(size as usize),
        })
    }

    /// The CIDR the range was built from.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    /// Number of allocatable addresses.
    pub fn size(&self) -> usize {
        self.map.size()
    }

    /// Number of allocated addresses.
    pub fn used(&self) -> usize {
        self.map.used()
    }

    /// Number of free addresses.
    pub fn free(&self) -> usize {
        self.map.free()
    }

    /// The index of `ip` in the range, if allocatable.
    pub fn index_of(&self, ip: IpAddr) -> Option<usize> {
        if !self.cidr.contains(ip) {
            return None;
        }
        let n = ip_to_u128(ip);
        (n >= self.base && n - self.base < self.map.size() as u128)
            .then(|| (n - self.base) as usize)
    }

    /// The address at `index`.
    pub fn addr(&self, index: usize) -> Option<IpAddr> {
        (index < self.map.size())
            .then(|| u128_to_ip(self.base + index as u128, self.cidr.is_ipv4()))
    }

    /// Whether `ip` is allocatable here (inside, not network/broadcast).
    pub fn in_range(&self, ip: IpAddr) -> bool {
        self.index_of(ip).is_some()
    }

    /// Whether `ip` is allocated.
    pub fn has(&self, ip: IpAddr) -> bool {
        self.index_of(ip).is_some_and(|i| self.map.has(i))
    }

    /// Allocates exactly `ip`.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<(), CidrError> {
        let i = self.index_of(ip).ok_or(CidrError::OutOfRange {
            addr: ip,
            range: self.cidr,
        })?;
        if self.map.set(i) {
            Ok(())
        } else {
            Err(CidrError::Allocated(ip.to_string()))
        }
    }

    /// Allocates the first free address at index `start` or after, wrapping
    /// within `[lo, hi)`.
    pub fn allocate_in(&mut self, lo: usize, hi: usize, start: usize) -> Option<IpAddr> {
        let i = self.map.allocate_in(lo, hi, start)?;
        self.addr(i)
    }

    /// Allocates the first free address.
    pub fn allocate_next(&mut self) -> Option<IpAddr> {
        let i = self.map.allocate_in(0, self.map.size(), 0)?;
        self.addr(i)
    }

    /// Frees `ip`; returns whether it was allocated.
    pub fn release(&mut self, ip: IpAddr) -> bool {
        self.index_of(ip).is_some_and(|i| self.map.clear(i))
    }
}

#[cfg(test)]
mod tests;
