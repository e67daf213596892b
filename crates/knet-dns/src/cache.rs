//! Cache of forwarded answers (CoreDNS `cache` semantics): positive and
//! negative entries, TTL caps, TTLs counted down on every hit, and optional
//! serve-stale when every upstream fails. Time is passed in by the caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::wire::rr::records;
use crate::wire::{FLAG_TC, Rcode, be16, rtype};

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most entries kept (CoreDNS: 9984).
    pub capacity: usize,
    /// Largest TTL for positive answers.
    pub max_success_ttl: u32,
    /// Largest TTL for NXDOMAIN/NODATA answers.
    pub max_denial_ttl: u32,
    /// Smallest TTL kept.
    pub min_ttl: u32,
    /// How long past expiry an entry may still be served when upstreams fail.
    pub serve_stale: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: 9984,
            max_success_ttl: 3600,
            max_denial_ttl: 1800,
            min_ttl: 5,
            serve_stale: None,
        }
    }
}

/// Cache key: lowercase name, type, class and DO bit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Lowercase dotted name.
    pub name: String,
    /// Type.
    pub qtype: u16,
    /// Class.
    pub qclass: u16,
    /// DNSSEC OK.
    pub dnssec_ok: bool,
}

#[derive(Debug)]
struct Entry {
    msg: Vec<u8>,
    ttl_at: Vec<usize>,
    ttl: u32,
    stored: Instant,
}

/// A lookup result.
#[derive(Debug, PartialEq, Eq)]
pub enum Hit {
    /// Fresh entry (TTLs already decremented).
    Fresh(Vec<u8>),
    /// Not present or expired.
    Miss,
}

const SHARDS: usize = 16;

/// The cache; safe to share between threads.
#[derive(Debug)]
pub struct Cache {
    shards: Vec<Mutex<HashMap<Key, Entry>>>,
    cfg: CacheConfig,
}

impl Cache {
    /// An empty cache.
    pub fn new(cfg: CacheConfig) -> Cache {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            cfg,
        }
    }

    fn shard(&self, k: &Key) -> &Mutex<HashMap<Key, Entry>> {
        use std::hash::BuildHasher;
        let h = foldhash::fast::FixedState::default().hash_one(k);
        &self.shards[(h as usize) % SHARDS]
    }

    /// Looks `k` up at time `now`; `id` is written into the returned message.
    pub fn get(&self, k: &Key, id: u16, now: Instant) -> Hit {
        self.lookup(k, id, now, Duration::ZERO)
    }

    /// Like [`Cache::get`] but accepts entries up to the serve-stale window
    /// past expiry (their TTLs read 0). Used when every upstream failed.
    pub fn get_stale(&self, k: &Key, id: u16, now: Instant) -> Hit {
        match self.cfg.serve_stale {
            Some(w) => self.lookup(k, id, now, w),
            None => Hit::Miss,
        }
    }

    fn lookup(&self, k: &Key, id: u16, now: Instant, grace: Duration) -> Hit {
        let map = self.shard(k).lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = map.get(k) else {
            return Hit::Miss;
        };
        let age = now.saturating_duration_since(e.stored);
        if age >= Duration::from_secs(u64::from(e.ttl)) + grace {
            return Hit::Miss;
        }
        let age_s = age.as_secs() as u32;
        let mut msg = e.msg.clone();
        msg[0..2].copy_from_slice(&id.to_be_bytes());
        for &at in &e.ttl_at {
            let old = u32::from_be_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]]);
            let new = old.min(e.ttl).saturating_sub(age_s);
            msg[at..at + 4].copy_from_slice(&new.to_be_bytes());
        }
        Hit::Fresh(msg)
    }

    /// Stores an upstream answer if it is cacheable (NOERROR or NXDOMAIN,
    /// not truncated); returns whether it was stored.
    pub fn insert(&self, k: Key, msg: &[u8], now: Instant) -> bool {
        let Some(flags) = be16(msg, 2) else {
            return false;
        };
        let rcode = Rcode::from_code((flags & 0x0f) as u8);
        if flags & FLAG_TC != 0 || !matches!(rcode, Rcode::NoError | Rcode::NxDomain) {
            return false;
        }
        let Ok(recs) = records(msg) else {
            return false;
        };
        let mut ttl_at = Vec::new();
        let mut min = u32::MAX;
        let mut answers = 0;
        for (sec, r) in &recs {
            if r.rtype == rtype::OPT {
                continue;
            }
            answers += usize::from(*sec == 0);
            let ttl = if r.rtype == rtype::SOA && *sec == 1 {
                // Negative TTL: min(SOA TTL, SOA minimum) (RFC 2308).
                let minimum = crate::wire::be32(msg, r.end - 4).unwrap_or(r.ttl);
                r.ttl.min(minimum)
            } else {
                r.ttl
            };
            min = min.min(ttl);
            ttl_at.push(r.ttl_at);
        }
        let denial = rcode == Rcode::NxDomain || answers == 0;
        let cap = if denial {
            self.cfg.max_denial_ttl
        } else {
            self.cfg.max_success_ttl
        };
        if min == u32::MAX {
            min = self.cfg.min_ttl;
        }
        let ttl = min.clamp(self.cfg.min_ttl.min(cap), cap);
        if ttl == 0 {
            return false;
        }
        let mut map = self.shard(&k).lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.cfg.capacity / SHARDS && !map.contains_key(&k) {
            // Evict the entry closest to expiry.
            let victim = map
                .iter()
                .min_by_key(|(_, e)| e.stored + Duration::from_secs(u64::from(e.ttl)))
                .map(|(k, _)| k.clone());
            if let Some(v) = victim {
                map.remove(&v);
            }
        }
        map.insert(
            k,
            Entry {
                msg: msg.to_vec(),
                ttl_at,
                ttl,
                stored: now,
            },
        );
        true
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
