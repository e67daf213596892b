//! A fixed-size allocation bitmap.

/// `size` slots, each free or taken, with O(1) counts and word-at-a-time
/// scans for the next free slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    size: usize,
    used: usize,
}

impl Bitmap {
    /// An empty bitmap of `size` slots.
    pub fn new(size: usize) -> Self {
        Self {
            words: vec![0; size.div_ceil(64)],
            size,
            used: 0,
        }
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of taken slots.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Number of free slots.
    pub fn free(&self) -> usize {
        self.size - self.used
    }

    /// Whether slot `i` is taken (false when out of bounds).
    pub fn has(&self, i: usize) -> bool {
        i < self.size && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Takes slot `i`; false when it was already taken or out of bounds.
    pub fn set(&mut self, i: usize) -> bool {
        if i >= self.size || self.has(i) {
            return false;
        }
        self.words[i / 64] |= 1 << (i % 64);
        self.used += 1;
        true
    }

    /// Frees slot `i`; false when it was not taken.
    pub fn clear(&mut self, i: usize) -> bool {
        if !self.has(i) {
            return false;
        }
        self.words[i / 64] &= !(1 << (i % 64));
        self.used -= 1;
        true
    }

    /// The first free slot in `[from, to)`.
    fn first_free(&self, from: usize, to: usize) -> Option<usize> {
        let to = to.min(self.size);
        let mut i = from;
        while i < to {
            let word = self.words[i / 64] | ((1u64 << (i % 64)) - 1);
            if word == u64::MAX {
                i = (i / 64 + 1) * 64;
                continue;
            }
            let bit = (!word).trailing_zeros() as usize;
            let found = (i / 64) * 64 + bit;
            return (found < to).then_some(found);
        }
        None
    }

    /// Takes the first free slot at `start` or after within `[lo, hi)`,
    /// wrapping around to `lo`. A `start` outside the band starts at `lo`.
    pub fn allocate_in(&mut self, lo: usize, hi: usize, start: usize) -> Option<usize> {
        let hi = hi.min(self.size);
        if lo >= hi {
            return None;
        }
        let start = if (lo..hi).contains(&start) { start } else { lo };
        let i = self
            .first_free(start, hi)
            .or_else(|| self.first_free(lo, start))?;
        self.set(i);
        Some(i)
    }

    /// Takes a free slot chosen from the caller's random number `r` (the
    /// first free slot at or after `r % size`, wrapping). Pure: the caller
    /// owns the randomness.
    pub fn allocate_random(&mut self, r: u64) -> Option<usize> {
        if self.size == 0 {
            return None;
        }
        let start = (r % self.size as u64) as usize;
        self.allocate_in(0, self.size, start)
    }

    /// Indices of all taken slots, ascending.
    pub fn iter_used(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.size).filter(|&i| self.has(i))
    }
}
