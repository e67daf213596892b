//! The redb file behind the store: an `objects` table (key → object JSON), a
//! `log` table (revision → encoded event) and a `meta` table holding the last
//! revision. Every batch of writes is one durable redb transaction.

use super::{Event, EventType};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const OBJECTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("objects");
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const META_RV: &str = "rv";

/// A failure of the on-disk store.
#[derive(Debug, thiserror::Error)]
#[error("store {what}: {source}")]
pub(crate) struct DiskError {
    what: &'static str,
    #[source]
    source: redb::Error,
}

fn err<E: Into<redb::Error>>(what: &'static str) -> impl FnOnce(E) -> DiskError {
    move |e| DiskError {
        what,
        source: e.into(),
    }
}

/// What a restart recovers.
pub(crate) struct Loaded {
    /// Every live object by key, with its JSON.
    pub(crate) objects: BTreeMap<String, (u64, Arc<[u8]>)>,
    /// The last revision written.
    pub(crate) rv: u64,
    /// The newest `history` events, oldest first.
    pub(crate) events: Vec<Arc<Event>>,
}

/// The open database.
pub(crate) struct Disk {
    db: Database,
    /// Oldest revision still in the log (0 when empty).
    log_first: u64,
}

impl Disk {
    /// Opens (or creates) the database at `path` and reads everything back.
    pub(crate) fn open(path: &Path, history: usize) -> Result<(Self, Loaded), DiskError> {
        let db = Database::builder()
            .set_cache_size(16 << 20)
            .create(path)
            .map_err(err("open"))?;
        let txn = db.begin_write().map_err(err("begin"))?;
        {
            txn.open_table(OBJECTS).map_err(err("open objects"))?;
            txn.open_table(LOG).map_err(err("open log"))?;
            txn.open_table(META).map_err(err("open meta"))?;
        }
        txn.commit().map_err(err("commit"))?;
        let read = db.begin_read().map_err(err("begin read"))?;
        let objects_t = read.open_table(OBJECTS).map_err(err("open objects"))?;
        let log_t = read.open_table(LOG).map_err(err("open log"))?;
        let meta_t = read.open_table(META).map_err(err("open meta"))?;
        let rv = meta_t
            .get(META_RV)
            .map_err(err("read rv"))?
            .map(|g| g.value())
            .unwrap_or(0);
        let mut objects = BTreeMap::new();
        for row in objects_t.iter().map_err(err("scan objects"))? {
            let (k, v) = row.map_err(err("scan objects"))?;
            let json: Arc<[u8]> = Arc::from(v.value());
            let orv = object_rv(&json);
            objects.insert(k.value().to_string(), (orv, json));
        }
        let log_first = log_t
            .first()
            .map_err(err("read log"))?
            .map(|(k, _)| k.value())
            .unwrap_or(0);
        let mut events = Vec::new();
        for row in log_t.iter().map_err(err("scan log"))?.rev().take(history) {
            let (k, v) = row.map_err(err("scan log"))?;
            if let Some(e) = decode_event(k.value(), v.value()) {
                events.push(Arc::new(e));
            }
        }
        events.reverse();
        drop((objects_t, log_t, meta_t, read));
        Ok((
            Self { db, log_first },
            Loaded {
                objects,
                rv,
                events,
            },
        ))
    }

    /// Writes `batch` (ascending revisions) in one durable transaction, and
    /// drops log entries older than the newest `history` revisions.
    pub(crate) fn commit(&mut self, batch: &[Arc<Event>], history: u64) -> Result<(), DiskError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut objects = txn.open_table(OBJECTS).map_err(err("open objects"))?;
            let mut log = txn.open_table(LOG).map_err(err("open log"))?;
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            for e in batch {
                match e.kind {
                    EventType::Deleted => {
                        objects.remove(e.key.as_str()).map_err(err("delete"))?;
                    }
                    _ => {
                        objects
                            .insert(e.key.as_str(), &e.json[..])
                            .map_err(err("insert"))?;
                    }
                }
                log.insert(e.rv, encode_event(e).as_slice())
                    .map_err(err("append log"))?;
            }
            meta.insert(META_RV, last.rv).map_err(err("write rv"))?;
            if self.log_first == 0 {
                self.log_first = batch[0].rv;
            }
            let keep_from = last.rv.saturating_sub(history) + 1;
            // Compact in chunks so one transaction never grows unbounded.
            if keep_from > self.log_first + 1024 {
                log.retain_in(self.log_first..keep_from, |_, _| false)
                    .map_err(err("compact"))?;
                self.log_first = keep_from;
            }
        }
        txn.commit().map_err(err("commit"))?;
        Ok(())
    }
}

/// The `metadata.resourceVersion` inside stored JSON (0 if absent).
pub(crate) fn object_rv(json: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "resourceVersion", default)]
        rv: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Obj {
        #[serde(default)]
        metadata: Option<Meta>,
    }
    serde_json::from_slice::<Obj>(json)
        .ok()
        .and_then(|o| o.metadata)
        .and_then(|m| m.rv)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn encode_event(e: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + e.key.len() + e.json.len());
    out.push(e.kind as u8);
    out.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
    out.extend_from_slice(e.key.as_bytes());
    out.extend_from_slice(&e.json);
    out
}

fn decode_event(rv: u64, raw: &[u8]) -> Option<Event> {
    let kind = EventType::from_u8(*raw.first()?)?;
    let len = u32::from_le_bytes(raw.get(1..5)?.try_into().ok()?) as usize;
    let key = std::str::from_utf8(raw.get(5..5 + len)?).ok()?.to_string();
    let json = Arc::from(raw.get(5 + len..)?);
    Some(Event {
        kind,
        key,
        rv,
        json,
    })
}
