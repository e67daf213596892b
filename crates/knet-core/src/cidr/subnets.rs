//! Per-node pod CIDR blocks cut from the cluster CIDR.

use super::{Bitmap, Cidr, CidrError};

/// Most blocks a cluster CIDR may be cut into (a `/8` into `/24`s).
pub const MAX_SUBNETS: u128 = 1 << 16;

/// Hands out `/mask` blocks of a cluster CIDR (`10.244.0.0/16` → `/24`s),
/// round-robin from after the last block handed out, like the node IPAM
/// controller's range allocator.
#[derive(Debug, Clone)]
pub struct SubnetAllocator {
    cluster: Cidr,
    mask: u8,
    map: Bitmap,
    next: usize,
}

impl SubnetAllocator {
    /// An allocator over `cluster` handing out blocks of prefix `mask`.
    pub fn new(cluster: Cidr, mask: u8) -> Result<Self, CidrError> {
        let max = if cluster.is_ipv4() { 32 } else { 128 };
        let bad = || CidrError::Mask {
            cidr: cluster,
            mask,
        };
        if mask < cluster.prefix_len() || mask > max || mask - cluster.prefix_len() > 16 {
            return Err(bad());
        }
        let count = 1u128 << (mask - cluster.prefix_len());
        if count > MAX_SUBNETS {
            return Err(bad());
        }
        Ok(Self {
            cluster,
            mask,
            map: Bitmap::new(count as usize),
            next: 0,
        })
    }

    /// The cluster CIDR.
    pub fn cluster(&self) -> Cidr {
        self.cluster
    }

    /// Number of blocks in all.
    pub fn capacity(&self) -> usize {
        self.map.size()
    }

    /// Number of blocks handed out.
    pub fn used(&self) -> usize {
        self.map.used()
    }

    fn index_of(&self, block: &Cidr) -> Result<usize, CidrError> {
        if block.prefix_len() != self.mask || !self.cluster.contains_cidr(block) {
            return Err(CidrError::OutOfRange {
                addr: block.network(),
                range: self.cluster,
            });
        }
        let off = self.cluster.offset_of(block.network()).unwrap_or_default();
        Ok((off >> block.host_bits()) as usize)
    }

    /// The next free block.
    pub fn allocate_next(&mut self) -> Result<Cidr, CidrError> {
        let i = self
            .map
            .allocate_in(0, self.map.size(), self.next)
            .ok_or_else(|| CidrError::Full(self.cluster.to_string()))?;
        self.next = (i + 1) % self.map.size();
        self.cluster
            .subnet(self.mask, i as u128)
            .ok_or_else(|| CidrError::Full(self.cluster.to_string()))
    }

    /// Marks `block` (a node's existing `spec.podCIDR`) as taken.
    pub fn occupy(&mut self, block: &Cidr) -> Result<(), CidrError> {
        let i = self.index_of(block)?;
        if self.map.set(i) {
            Ok(())
        } else {
            Err(CidrError::Allocated(block.to_string()))
        }
    }

    /// Whether `block` is taken.
    pub fn is_allocated(&self, block: &Cidr) -> bool {
        self.index_of(block).is_ok_and(|i| self.map.has(i))
    }

    /// Frees `block`; returns whether it was taken.
    pub fn release(&mut self, block: &Cidr) -> bool {
        self.index_of(block).is_ok_and(|i| self.map.clear(i))
    }
}
