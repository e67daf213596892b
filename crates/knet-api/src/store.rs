//! The object store: one global, monotonic resourceVersion; objects and a
//! revision log in redb; group commit (concurrent writes share one durable
//! transaction, and a write is acknowledged only after it is on disk); an
//! in-memory window of recent events that watches resume from and that new
//! events fan out through. Many changes at once (deletecollection) go through
//! [`Store::mutate_each`]: one revision and event each, large transactions.
//!
//! Objects are kept in memory as their JSON bytes (the read path never touches
//! the disk); keys are `group/plural/namespace/name` (see [`Key`]).

mod batch;
mod disk;
mod snapshot;
#[cfg(test)]
mod tests;

use crate::status::ApiError;
use disk::Disk;
use serde_json::Value;
use snapshot::Undo;
pub use snapshot::{Items, Page};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::{broadcast, oneshot};

/// How the store is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The redb file.
    pub path: PathBuf,
    /// Revisions of history kept for watch resumption (older → 410 Expired).
    pub history: usize,
    /// Capacity of the live fan-out channel; a watcher further behind gets 410.
    pub fanout: usize,
}

impl StoreConfig {
    /// Defaults: 10 000 revisions of history, 16 384 events of fan-out buffer.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            history: 10_000,
            fanout: 16_384,
        }
    }
}

/// Storage key of one object: `group/plural/namespace/name` (core group is
/// `core`, cluster-scoped objects have an empty namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// The key of object `name` of `group/plural` in `namespace` ("" if cluster-scoped).
    pub fn new(group: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self(format!(
            "{}{name}",
            Self::prefix(group, plural, Some(namespace))
        ))
    }

    /// The prefix of all keys of `group/plural`, optionally in one namespace.
    pub fn prefix(group: &str, plural: &str, namespace: Option<&str>) -> String {
        let g = if group.is_empty() { "core" } else { group };
        match namespace {
            Some(ns) => format!("{g}/{plural}/{ns}/"),
            None => format!("{g}/{plural}/"),
        }
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EventType {
    /// Object created.
    Added = 1,
    /// Object changed.
    Modified = 2,
    /// Object removed; the event carries its last state at the deleting revision.
    Deleted = 3,
}

impl EventType {
    fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Added),
            2 => Some(Self::Modified),
            3 => Some(Self::Deleted),
            _ => None,
        }
    }

    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// Key string of the object.
    pub key: String,
    /// Revision of the change.
    pub rv: u64,
    /// The object JSON at this revision (`metadata.resourceVersion` = `rv`).
    pub json: Arc<[u8]>,
}

/// Live events after a watch's backlog.
pub type EventReceiver = broadcast::Receiver<Arc<Event>>;

/// What a mutation closure decides.
#[derive(Debug)]
pub enum Mutation {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object.
    Delete,
    /// Change nothing; return this object as is.
    Keep(Value),
}

struct Pending {
    event: Arc<Event>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Resolves once a staged change is on disk (or its commit failed).
type CommitWait = oneshot::Receiver<Result<(), String>>;

/// Waits until a staged change is durable.
async fn durable(wait: CommitWait) -> Result<(), ApiError> {
    match wait.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(_) => Err(ApiError::internal("store: commit thread stopped")),
    }
}

struct State {
    objects: BTreeMap<String, (u64, Arc<[u8]>)>,
    rv: u64,
    /// What the last `history` writes replaced, oldest first: lists at an
    /// earlier revision (continue tokens) are read through it.
    undo: VecDeque<Undo>,
    /// Lists at a revision below this are too old (410).
    undo_floor: u64,
    pending: Vec<Pending>,
    failed: Option<String>,
    shutdown: bool,
}

struct Committed {
    events: VecDeque<Arc<Event>>,
    /// Watches from a revision below this are too old.
    compacted: u64,
    /// The newest committed revision.
    latest: u64,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
    committed: Mutex<Committed>,
    fanout: broadcast::Sender<Arc<Event>>,
    history: usize,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The store handle (cheap to clone).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// === impl Store ===

impl Store {
    /// Opens the store, recovering objects, revision and recent history, and
    /// starts the commit thread.
    pub fn open(config: &StoreConfig) -> Result<Self, ApiError> {
        let (disk, loaded) = Disk::open(&config.path, config.history)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let compacted = loaded.events.first().map(|e| e.rv - 1).unwrap_or(loaded.rv);
        let (fanout, _) = broadcast::channel(config.fanout.max(16));
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                objects: loaded.objects,
                rv: loaded.rv,
                undo: VecDeque::new(),
                undo_floor: loaded.rv,
                pending: Vec::new(),
                failed: None,
                shutdown: false,
            }),
            wake: Condvar::new(),
            committed: Mutex::new(Committed {
                events: loaded.events.into(),
                compacted,
                latest: loaded.rv,
            }),
            fanout,
            history: config.history.max(1),
            thread: Mutex::new(None),
        });
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("knet-store-commit".into())
            .spawn(move || commit_loop(&worker, disk))
            .map_err(|e| ApiError::internal(format!("store: spawn commit thread: {e}")))?;
        *lock(&inner.thread) = Some(handle);
        Ok(Self { inner })
    }

    /// Stops the commit thread after it writes what is pending, and waits
    /// for it (the database file is closed when this returns).
    pub fn shutdown(&self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.inner.thread).take() {
            let _ = h.join();
        }
    }

    /// The newest assigned revision.
    pub fn revision(&self) -> u64 {
        lock(&self.inner.state).rv
    }

    /// One object, with its revision.
    pub fn get(&self, key: &Key) -> Option<Value> {
        let json = lock(&self.inner.state)
            .objects
            .get(key.as_str())
            .map(|(_, j)| j.clone())?;
        serde_json::from_slice(&json).ok()
    }

    /// Raw JSON of every object whose key starts with `prefix`, and the
    /// revision the snapshot reflects.
    pub fn list_raw(&self, prefix: &str) -> (Vec<Arc<[u8]>>, u64) {
        let st = lock(&self.inner.state);
        let items = st
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, (_, j))| j.clone())
            .collect();
        (items, st.rv)
    }

    /// Up to `max` objects whose keys start with `prefix`, from key `start`
    /// (inclusive) on, as they were at revision `at` (None: now), and how
    /// many more the snapshot holds (with `count`; else 1 if any). Err(410
    /// Expired) when `at` is older than the retained history.
    pub fn list_page(
        &self,
        prefix: &str,
        start: &str,
        at: Option<u64>,
        max: usize,
        count: bool,
    ) -> Result<Page, ApiError> {
        let st = lock(&self.inner.state);
        let rv = at.unwrap_or(st.rv).min(st.rv);
        if rv < st.undo_floor {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                st.undo_floor
            )));
        }
        let (items, remaining) =
            snapshot::range_at(&st.objects, &st.undo, prefix, start, rv, max, count);
        Ok(Page {
            items,
            remaining,
            rv,
        })
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).objects.len()
    }

    /// Whether the store holds no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Atomically reads the object at `key` (None if absent), lets `f` decide,
    /// assigns the next revision and waits until the change is durable.
    /// Returns the resulting object (for a delete, its last state at the
    /// deleting revision) and whether anything was written.
    pub async fn mutate<F>(&self, key: &Key, f: F) -> Result<(Value, bool), ApiError>
    where
        F: FnOnce(Option<Value>) -> Result<Mutation, ApiError>,
    {
        let (out, wait) = self.stage(key, f)?;
        match wait {
            Some(wait) => {
                durable(wait).await?;
                Ok((out, true))
            }
            None => Ok((out, false)),
        }
    }

    fn stage<F>(&self, key: &Key, f: F) -> Result<(Value, Option<CommitWait>), ApiError>
    where
        F: FnOnce(Option<Value>) -> Result<Mutation, ApiError>,
    {
        let mut st = lock(&self.inner.state);
        let out = self.stage_locked(&mut st, key, f);
        drop(st);
        if matches!(out, Ok((_, Some(_)))) {
            self.inner.wake.notify_one();
        }
        out
    }

    /// [`Store::mutate`]'s decision and staging, under the state lock the
    /// caller holds: the change is visible to readers at once and queued for
    /// the commit thread (which the caller wakes).
    fn stage_locked<F>(
        &self,
        st: &mut State,
        key: &Key,
        f: F,
    ) -> Result<(Value, Option<CommitWait>), ApiError>
    where
        F: FnOnce(Option<Value>) -> Result<Mutation, ApiError>,
    {
        if let Some(e) = &st.failed {
            return Err(ApiError::internal(format!("store failed earlier: {e}")));
        }
        let current = match st.objects.get(key.as_str()) {
            Some((_, j)) => Some(
                serde_json::from_slice::<Value>(j)
                    .map_err(|e| ApiError::internal(format!("stored object unreadable: {e}")))?,
            ),
            None => None,
        };
        let existed = current.is_some();
        let (kind, mut obj) = match f(current.clone())? {
            Mutation::Keep(v) => return Ok((v, None)),
            Mutation::Put(v) if existed => (EventType::Modified, v),
            Mutation::Put(v) => (EventType::Added, v),
            Mutation::Delete => match current {
                Some(v) => (EventType::Deleted, v),
                None => return Err(ApiError::internal("store: delete of a missing object")),
            },
        };
        let rv = st.rv + 1;
        set_rv(&mut obj, rv);
        let json: Arc<[u8]> = serde_json::to_vec(&obj)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into();
        st.rv = rv;
        let prev = st.objects.get(key.as_str()).map(|(_, j)| j.clone());
        st.undo.push_back(Undo {
            rv,
            key: key.as_str().to_string(),
            prev,
        });
        while st.undo.len() > self.inner.history {
            if let Some(old) = st.undo.pop_front() {
                st.undo_floor = old.rv;
            }
        }
        if kind == EventType::Deleted {
            st.objects.remove(key.as_str());
        } else {
            st.objects
                .insert(key.as_str().to_string(), (rv, json.clone()));
        }
        let (done, wait) = oneshot::channel();
        let event = Arc::new(Event {
            kind,
            key: key.as_str().to_string(),
            rv,
            json,
        });
        st.pending.push(Pending { event, done });
        Ok((obj, Some(wait)))
    }

    /// Committed events after revision `from`, plus a receiver of every later
    /// event, taken atomically. Err(410 Expired) when `from` was compacted away.
    pub fn watch_from(&self, from: u64) -> Result<(Vec<Arc<Event>>, EventReceiver), ApiError> {
        let c = lock(&self.inner.committed);
        if from < c.compacted {
            return Err(ApiError::expired(format!(
                "too old resource version: {from} ({})",
                c.compacted + 1
            )));
        }
        let start = c.events.partition_point(|e| e.rv <= from);
        let backlog = c.events.range(start..).cloned().collect();
        Ok((backlog, self.inner.fanout.subscribe()))
    }
}

impl Store {
    /// The newest committed revision, if `rx` has already received every
    /// event up to it (so a BOOKMARK at it cannot overtake a pending event).
    pub fn bookmark_revision(&self, rx: &broadcast::Receiver<Arc<Event>>) -> Option<u64> {
        let c = lock(&self.inner.committed);
        rx.is_empty().then_some(c.latest)
    }
}

/// Sets `metadata.resourceVersion` to `rv` (as a string, as Kubernetes does).
pub fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.as_object_mut() {
        let meta = m
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
    }
}

fn commit_loop(inner: &Inner, mut disk: Disk) {
    loop {
        let batch = {
            let mut st = lock(&inner.state);
            while st.pending.is_empty() && !st.shutdown {
                st = inner.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.pending.is_empty() {
                return;
            }
            std::mem::take(&mut st.pending)
        };
        let events: Vec<Arc<Event>> = batch.iter().map(|p| p.event.clone()).collect();
        match disk.commit(&events, inner.history as u64) {
            Ok(()) => {
                publish(inner, &events);
                for p in batch {
                    let _ = p.done.send(Ok(()));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "store commit failed; refusing further writes");
                lock(&inner.state).failed = Some(msg.clone());
                for p in batch {
                    let _ = p.done.send(Err(msg.clone()));
                }
            }
        }
    }
}

fn publish(inner: &Inner, events: &[Arc<Event>]) {
    let mut c = lock(&inner.committed);
    for e in events {
        c.latest = e.rv;
        c.events.push_back(e.clone());
        let _ = inner.fanout.send(e.clone());
    }
    while c.events.len() > inner.history {
        if let Some(old) = c.events.pop_front() {
            c.compacted = old.rv;
        }
    }
}
