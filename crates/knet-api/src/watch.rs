//! Watch streams: one JSON event per line (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`) over a chunked 200 response. A watch resumes from any
//! retained resourceVersion; an expired one, or a watcher that falls behind
//! the fan-out buffer, gets an `ERROR` event carrying a 410 Expired Status
//! (kube-rs relists on it) and the stream ends.

use crate::resources::Resource;
use crate::status::ApiError;
use crate::store::{Event, EventType, Key, Store};
use crate::table;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{broadcast, mpsc};

/// Decides which events a watcher gets and how they are rendered.
pub trait EventFilter: Send + Sync + 'static {
    /// Whether `obj` is selected.
    fn matches(&self, obj: &Value) -> bool;
    /// Whether every object is selected (no parsing needed).
    fn is_everything(&self) -> bool;
}

/// What a watch asks for.
pub struct WatchSpec {
    /// The resource watched.
    pub resource: &'static Resource,
    /// Namespace, or None for all.
    pub namespace: Option<String>,
    /// `resourceVersion`; None or 0 = send the current state first.
    pub from: Option<u64>,
    /// Render each object as a one-row Table.
    pub table: bool,
    /// Render each object as a `PartialObjectMetadata` (metadata only).
    pub metadata_only: bool,
    /// Send BOOKMARK events at this interval (`allowWatchBookmarks`).
    pub bookmarks: Option<Duration>,
    /// End the stream after this long.
    pub timeout: Duration,
    /// `sendInitialEvents=true`: end the initial events with a marked BOOKMARK.
    pub initial_events_end: bool,
}

type Tx = mpsc::Sender<Result<Bytes, std::convert::Infallible>>;

struct Watcher<F> {
    spec: WatchSpec,
    filter: F,
    prefix: String,
    /// Keys of objects the client currently has (for selector transitions).
    seen: HashSet<String>,
    last_rv: u64,
    tx: Tx,
}

/// Starts a watch; the returned channel yields the body's chunks.
pub fn start<F: EventFilter>(
    store: &Store,
    spec: WatchSpec,
    filter: F,
) -> mpsc::Receiver<Result<Bytes, std::convert::Infallible>> {
    let (tx, rx) = mpsc::channel(256);
    let prefix = Key::prefix(
        spec.resource.group,
        spec.resource.plural,
        spec.namespace.as_deref(),
    );
    let mut w = Watcher {
        spec,
        filter,
        prefix,
        seen: HashSet::new(),
        last_rv: 0,
        tx,
    };
    let store = store.clone();
    tokio::spawn(async move {
        let _ = w.run(&store).await;
    });
    rx
}

/// `ERROR` event line for `e`.
pub fn error_line(e: &ApiError) -> Bytes {
    line("ERROR", &e.to_status())
}

fn line(kind: &str, obj: &Value) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn raw_line(kind: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// The client went away.
struct Gone;

impl<F: EventFilter> Watcher<F> {
    async fn send(&self, b: Bytes) -> Result<(), Gone> {
        self.tx.send(Ok(b)).await.map_err(|_| Gone)
    }

    async fn run(&mut self, store: &Store) -> Result<(), Gone> {
        let (backlog, mut rx) = match self.spec.from.filter(|rv| *rv > 0) {
            Some(rv) => match store.watch_from(rv) {
                Ok(x) => {
                    self.last_rv = rv;
                    self.seed_seen(store, rv, &x.0);
                    x
                }
                Err(e) => return self.send(error_line(&e)).await,
            },
            None => self.initial(store).await?,
        };
        for e in backlog {
            self.deliver(&e).await?;
        }
        let deadline = tokio::time::Instant::now() + self.spec.timeout;
        let every = self.spec.bookmarks.unwrap_or(Duration::from_secs(3600));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(e) => self.deliver(&e).await?,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let e = ApiError::expired(format!(
                            "watch fell behind by {n} events; the resourceVersion {} is too old to resume from",
                            self.last_rv
                        ));
                        return self.send(error_line(&e)).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = ticker.tick(), if self.spec.bookmarks.is_some() => {
                    if let Some(rv) = store.bookmark_revision(&rx) {
                        self.last_rv = self.last_rv.max(rv);
                        self.send(self.bookmark(self.last_rv, false)).await?;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
                _ = self.tx.closed() => return Err(Gone),
            }
        }
    }

    /// Current state as ADDED events, then the events after it.
    async fn initial(
        &mut self,
        store: &Store,
    ) -> Result<(Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>), Gone> {
        let (items, rv) = store.list_raw(&self.prefix);
        let x = match store.watch_from(rv) {
            Ok(x) => x,
            Err(e) => {
                self.send(error_line(&e)).await?;
                return Err(Gone);
            }
        };
        self.last_rv = rv;
        for raw in items {
            let Ok(obj) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            if !self.filter.matches(&obj) {
                continue;
            }
            if let Some(k) = key_of(self.spec.resource, &obj) {
                self.seen.insert(k);
            }
            let l = self.render("ADDED", &obj, &raw);
            self.send(l).await?;
        }
        if self.spec.initial_events_end {
            self.send(self.bookmark(rv, true)).await?;
        }
        Ok(x)
    }

    /// For a filtered watch resumed at `rv`: which objects the client has,
    /// i.e. which matched the filter at `rv` (a later DELETED, or a change
    /// that stops matching, is sent for exactly these, as kube-apiserver
    /// decides from each event's previous object).
    fn seed_seen(&mut self, store: &Store, rv: u64, backlog: &[Arc<Event>]) {
        if self.filter.is_everything() {
            return;
        }
        // Exact: the snapshot at `rv`, while the store's undo log reaches it.
        if let Ok(page) = store.list_page(&self.prefix, "", Some(rv), usize::MAX, false) {
            for (key, raw) in page.items {
                if serde_json::from_slice::<Value>(&raw).is_ok_and(|o| self.filter.matches(&o)) {
                    self.seen.insert(key);
                }
            }
            return;
        }
        // Older than that but still in the event log: start from the objects
        // now and undo the backlog, key by key, from its first event after
        // `rv`. Created since: not seen. Deleted first: seen if its last
        // state matched. Modified first: its state at `rv` is unknown, so
        // count it as seen — a spurious DELETED is harmless to a client,
        // a missing one leaves a stale object in its cache for good.
        let mut first: HashMap<&str, &Event> = HashMap::new();
        for e in backlog {
            if e.rv > rv && e.key.starts_with(&self.prefix) {
                first.entry(e.key.as_str()).or_insert(e);
            }
        }
        let (items, _) = store.list_raw(&self.prefix);
        for raw in items {
            if let Ok(obj) = serde_json::from_slice::<Value>(&raw)
                && let Some(k) = key_of(self.spec.resource, &obj)
                && !first.contains_key(k.as_str())
                && self.filter.matches(&obj)
            {
                self.seen.insert(k);
            }
        }
        for (k, e) in first {
            let seen = match e.kind {
                EventType::Added => false,
                EventType::Deleted => {
                    serde_json::from_slice::<Value>(&e.json).is_ok_and(|o| self.filter.matches(&o))
                }
                EventType::Modified => true,
            };
            if seen {
                self.seen.insert(k.to_string());
            }
        }
    }

    fn render(&self, kind: &str, obj: &Value, raw: &[u8]) -> Bytes {
        if self.spec.table {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let t = table::table(
                self.spec.resource,
                std::slice::from_ref(obj),
                &rv,
                SystemTime::now(),
            );
            line(kind, &t)
        } else if self.spec.metadata_only {
            line(kind, &partial_metadata(obj))
        } else {
            raw_line(kind, raw)
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let r = self.spec.resource;
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta}),
        )
    }

    async fn deliver(&mut self, e: &Event) -> Result<(), Gone> {
        if e.rv <= self.last_rv || !e.key.starts_with(&self.prefix) {
            return Ok(());
        }
        self.last_rv = e.rv;
        if self.filter.is_everything() && !self.spec.table && !self.spec.metadata_only {
            return self.send(raw_line(e.kind.as_str(), &e.json)).await;
        }
        let Ok(obj) = serde_json::from_slice::<Value>(&e.json) else {
            return Ok(());
        };
        if self.filter.is_everything() {
            return self.send(self.render(e.kind.as_str(), &obj, &e.json)).await;
        }
        let now = self.filter.matches(&obj);
        let before = self.seen.contains(&e.key);
        let kind = match (e.kind, before, now) {
            (EventType::Deleted, true, _) => Some("DELETED"),
            (EventType::Deleted, false, _) => None,
            (_, true, true) => Some("MODIFIED"),
            (_, false, true) => Some("ADDED"),
            (_, true, false) => Some("DELETED"),
            (_, false, false) => None,
        };
        if kind == Some("DELETED") {
            self.seen.remove(&e.key);
        } else if kind.is_some() {
            self.seen.insert(e.key.clone());
        }
        match kind {
            Some(k) => self.send(self.render(k, &obj, &e.json)).await,
            None => Ok(()),
        }
    }
}

/// `obj` as a `meta.k8s.io/v1 PartialObjectMetadata`: its metadata only.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn key_of(r: &Resource, obj: &Value) -> Option<String> {
    let name = obj["metadata"]["name"].as_str()?;
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
    Some(Key::new(r.group, r.plural, ns, name).as_str().to_string())
}
