//! The query path shared by the UDP and TCP listeners: parse, answer from the
//! index, or hand off to the forwarder (with its cache), and count metrics.

mod batch;
pub mod http;
pub mod listen;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cache::{Cache, Hit, Key};
use crate::engine::autopath::{self, Walk};
use crate::engine::{self, EngineConfig, Outcome};
use crate::forward::{ForwardError, Forwarder};
use crate::metrics::Metrics;
use crate::source::SharedIndex;
use crate::wire::rr::{Owner, Record, records};
use crate::wire::writer::{Response, build_query, encode, encode_error};
use crate::wire::{FLAG_AA, FLAG_TC, ParseError, Query, Rcode, be16, parse_query, rtype};

/// Everything a listener needs to answer queries.
#[derive(Debug)]
pub struct Dns {
    /// The published index.
    pub index: SharedIndex,
    /// Cluster-zone settings.
    pub engine: EngineConfig,
    /// Upstreams for everything else (`None`: REFUSED).
    pub forwarder: Option<Arc<Forwarder>>,
    /// Cache of forwarded answers.
    pub cache: Option<Arc<Cache>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Forwarding-loop detection.
    pub loop_guard: LoopGuard,
    /// Why the data source is unhealthy (watch broken), if it is.
    pub source_problem: Mutex<Option<String>>,
}

/// CoreDNS `loop`: a random probe name sent through ourselves; seeing it come
/// back more than twice means the upstream forwards to us.
#[derive(Debug, Default)]
pub struct LoopGuard {
    probe: Mutex<Option<String>>,
    seen: AtomicU32,
    /// Probes this server is about to send through itself: their first
    /// arrival is ours, not the upstream sending them back.
    own: AtomicU32,
    /// Set once a loop was detected.
    pub detected: AtomicBool,
}

impl LoopGuard {
    /// Arms the guard with a probe name (lowercase dotted).
    pub fn arm(&self, name: String) {
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
    }

    /// Announces that the next probe arrival is one this server injects.
    pub fn expect_own(&self) {
        self.own.fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, q: &Query) {
        if q.qtype != rtype::HINFO {
            return;
        }
        let probe = self.probe.lock().unwrap_or_else(|e| e.into_inner());
        if probe.as_deref() != Some(q.name.as_str()) {
            return;
        }
        let own = self
            .own
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if own.is_ok() {
            return;
        }
        if self.seen.fetch_add(1, Ordering::Relaxed) >= 2 {
            tracing::error!(probe = %q.name, "forwarding loop detected: the upstream sends our queries back to us");
            self.detected.store(true, Ordering::Relaxed);
        }
    }
}

/// What a listener should do with a packet.
#[derive(Debug)]
pub enum Handled {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
    /// Needs the network: run [`Dns::finish`] and send its result.
    Later(Box<Job>),
}

/// An autopath walk that reached a step needing the network.
#[derive(Debug)]
struct PendingWalk {
    walk: Walk,
    /// Index of the next candidate to try.
    next: usize,
    /// The answer for the query's own name (step 0), when already known.
    first: Option<Response<'static>>,
}

/// One autopath step's outcome before any network I/O.
enum Step {
    Done(Response<'static>),
    Forward,
    Chase(Response<'static>, String),
}

/// A query waiting for an upstream.
#[derive(Debug)]
pub struct Job {
    q: Query,
    raw: Vec<u8>,
    chase: Option<(Response<'static>, String)>,
    autopath: Option<PendingWalk>,
    limit: usize,
    tcp: bool,
    v6: bool,
    start: Instant,
}

impl Dns {
    /// A server state with no forwarder and no cache.
    pub fn new(index: SharedIndex, engine: EngineConfig) -> Dns {
        Dns {
            index,
            engine,
            forwarder: None,
            cache: None,
            metrics: Arc::new(Metrics::default()),
            loop_guard: LoopGuard::default(),
            source_problem: Mutex::new(None),
        }
    }

    /// True when `/ready` should say OK: synced and the source is healthy.
    pub fn ready(&self) -> Result<(), String> {
        if !self.index.load().synced {
            return Err("kubernetes: not yet synced".into());
        }
        match &*self
            .source_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            Some(p) => Err(format!("kubernetes: {p}")),
            None => Ok(()),
        }
    }

    /// Answers one packet from the index, or defers it to [`Dns::finish`].
    pub fn handle(&self, packet: &[u8], tcp: bool, v6: bool, rotate: usize) -> Handled {
        self.handle_from(packet, tcp, v6, None, rotate)
    }

    /// [`Dns::handle`] for a packet from `src` (used by `autopath`, which
    /// identifies the client pod by its address).
    pub fn handle_from(
        &self,
        packet: &[u8],
        tcp: bool,
        v6: bool,
        src: Option<IpAddr>,
        rotate: usize,
    ) -> Handled {
        self.handle_at(packet, tcp, v6, src, rotate, Instant::now())
    }

    /// [`Dns::handle_from`] for a packet received at `start` (the UDP
    /// workers read the clock once per `recvmmsg` batch: every answer of a
    /// batch leaves in the same `sendmmsg`, so they all waited from then).
    pub(crate) fn handle_at(
        &self,
        packet: &[u8],
        tcp: bool,
        v6: bool,
        src: Option<IpAddr>,
        rotate: usize,
        start: Instant,
    ) -> Handled {
        let q = match parse_query(packet) {
            Ok(q) => q,
            Err(ParseError::Drop) => return Handled::Drop,
            Err(ParseError::FormErr { id, flags, .. }) => {
                let out = encode_error(id, flags, Rcode::FormErr);
                let sizes = (packet.len(), out.len());
                self.metrics
                    .request(tcp, v6, 0, false, 1, start.elapsed(), sizes);
                return Handled::Reply(out);
            }
            Err(ParseError::NotImp { id, flags, .. }) => {
                let out = encode_error(id, flags, Rcode::NotImp);
                let sizes = (packet.len(), out.len());
                self.metrics
                    .request(tcp, v6, 0, false, 4, start.elapsed(), sizes);
                return Handled::Reply(out);
            }
        };
        self.loop_guard.observe(&q);
        let limit = if tcp { 65535 } else { q.udp_limit() };
        if q.qclass != 1 && q.qclass != 255 {
            return Handled::Reply(self.done(
                &q,
                &Response::rcode(Rcode::Refused),
                limit,
                tcp,
                v6,
                start,
            ));
        }
        let snap = self.index.load();
        if let Some(src) = src.filter(|_| self.engine.autopath)
            && let Some(walk) = autopath::walk(&self.engine, &snap, src, &q.name)
        {
            return self.walk_local(q, walk, &snap, rotate, (limit, tcp, v6, start));
        }
        let outcome = engine::resolve(&self.engine, &snap, &q.name, q.odd_labels, q.qtype, rotate);
        let chase = match outcome {
            Outcome::Answer(r) => return Handled::Reply(self.done(&q, &r, limit, tcp, v6, start)),
            Outcome::Forward => None,
            Outcome::Chase { partial, target } => Some((partial.into_owned(), target)),
        };
        Handled::Later(Box::new(Job {
            raw: packet.to_vec(),
            q,
            chase,
            autopath: None,
            limit,
            tcp,
            v6,
            start,
        }))
    }

    /// Walks an autopath search list as far as the index alone can; defers
    /// to [`Dns::finish`] at the first step that needs an upstream.
    fn walk_local(
        &self,
        q: Query,
        walk: Walk,
        snap: &crate::index::Snapshot,
        rotate: usize,
        (limit, tcp, v6, start): (usize, bool, bool, Instant),
    ) -> Handled {
        let mut first = None;
        for (i, cand) in walk.candidates.iter().enumerate() {
            match engine::resolve(&self.engine, snap, cand, q.odd_labels, q.qtype, rotate) {
                Outcome::Answer(r) => {
                    if autopath::ends_walk(&r) {
                        self.metrics.autopath_success.inc();
                        let r = autopath::rewrite(r.into_owned(), i, cand);
                        return Handled::Reply(self.done(&q, &r, limit, tcp, v6, start));
                    }
                    if i == 0 {
                        first = Some(r.into_owned());
                    }
                }
                Outcome::Forward | Outcome::Chase { .. } => {
                    return Handled::Later(Box::new(Job {
                        raw: Vec::new(),
                        q,
                        chase: None,
                        autopath: Some(PendingWalk {
                            walk,
                            next: i,
                            first,
                        }),
                        limit,
                        tcp,
                        v6,
                        start,
                    }));
                }
            }
        }
        let r = first.unwrap_or_else(|| Response::rcode(Rcode::NxDomain));
        Handled::Reply(self.done(&q, &r, limit, tcp, v6, start))
    }

    /// Continues an autopath walk with the forwarder; the first answer that
    /// is not NXDOMAIN (or an error) wins, else the answer to step 0.
    async fn walk_remote(&self, q: &Query, p: PendingWalk) -> Reply {
        let PendingWalk {
            walk,
            next,
            mut first,
        } = p;
        for (i, cand) in walk.candidates.iter().enumerate().skip(next) {
            let step = {
                let snap = self.index.load();
                let rotate = usize::from(q.id);
                match engine::resolve(&self.engine, &snap, cand, q.odd_labels, q.qtype, rotate) {
                    Outcome::Answer(r) => Step::Done(r.into_owned()),
                    Outcome::Forward => Step::Forward,
                    Outcome::Chase { partial, target } => Step::Chase(partial.into_owned(), target),
                }
            };
            let resp = match step {
                Step::Done(r) => r,
                Step::Forward => match self.forward(q, cand, q.qtype, None).await {
                    Ok(Reply::Raw(b)) => from_upstream(&b),
                    Ok(Reply::Built(r)) => r,
                    Err(rcode) => Response::rcode(rcode),
                },
                Step::Chase(partial, target) => match self.chase(q, partial, &target).await {
                    Reply::Built(r) => r,
                    Reply::Raw(b) => from_upstream(&b),
                },
            };
            if autopath::ends_walk(&resp) {
                self.metrics.autopath_success.inc();
                return Reply::Built(autopath::rewrite(resp, i, cand));
            }
            if i == 0 {
                first = Some(resp);
            }
        }
        Reply::Built(first.unwrap_or_else(|| Response::rcode(Rcode::NxDomain)))
    }

    fn done(
        &self,
        q: &Query,
        r: &Response<'_>,
        limit: usize,
        tcp: bool,
        v6: bool,
        start: Instant,
    ) -> Vec<u8> {
        let out = encode(q, r, limit);
        let dnssec = q.edns.is_some_and(|e| e.dnssec_ok);
        self.metrics.request(
            tcp,
            v6,
            q.qtype,
            dnssec,
            out[3] & 0x0f,
            start.elapsed(),
            (q.len, out.len()),
        );
        out
    }

    /// Completes a deferred query through the cache and the forwarder.
    pub async fn finish(&self, job: Box<Job>) -> Vec<u8> {
        let Job {
            q,
            raw,
            chase,
            autopath,
            limit,
            tcp,
            v6,
            start,
        } = *job;
        let resp = match (autopath, chase) {
            (Some(walk), _) => Ok(self.walk_remote(&q, walk).await),
            (None, None) => self.forward(&q, &q.name, q.qtype, Some(&raw)).await,
            (None, Some((partial, target))) => Ok(self.chase(&q, partial, &target).await),
        };
        let out = match resp {
            Ok(Reply::Raw(mut bytes)) => {
                if bytes.len() > limit {
                    let t = Response {
                        truncated: true,
                        ..Response::default()
                    };
                    bytes = encode(&q, &t, limit);
                }
                bytes
            }
            Ok(Reply::Built(r)) => encode(&q, &r, limit),
            Err(rcode) => encode(&q, &Response::rcode(rcode), limit),
        };
        let dnssec = q.edns.is_some_and(|e| e.dnssec_ok);
        self.metrics.request(
            tcp,
            v6,
            q.qtype,
            dnssec,
            out.get(3).map_or(2, |b| b & 0x0f),
            start.elapsed(),
            (q.len, out.len()),
        );
        out
    }

    /// Forwards `name`/`qtype` (the client's own packet when `raw` is given),
    /// using the cache; the answer carries the client's ID.
    async fn forward(
        &self,
        q: &Query,
        name: &str,
        qtype: u16,
        raw: Option<&[u8]>,
    ) -> Result<Reply, Rcode> {
        let Some(fwd) = &self.forwarder else {
            return Err(Rcode::Refused);
        };
        let key = Key {
            name: name.to_string(),
            qtype,
            qclass: q.qclass,
            dnssec_ok: q.edns.is_some_and(|e| e.dnssec_ok),
        };
        if let Some(cache) = &self.cache {
            if let Hit::Fresh(b) = cache.get(&key, q.id, Instant::now()) {
                self.metrics.cache_hits.inc();
                return Ok(Reply::Raw(b));
            }
            self.metrics.cache_misses.inc();
        }
        let built;
        let packet = match raw {
            Some(r) => r,
            None => {
                built = build_query(q.id, name, qtype, true);
                &built
            }
        };
        match fwd.exchange(name, packet).await {
            Ok(b) => {
                if let Some(cache) = &self.cache {
                    cache.insert(key, &b, Instant::now());
                    self.metrics
                        .cache_entries
                        .store(cache.len() as i64, Ordering::Relaxed);
                }
                Ok(Reply::Raw(b))
            }
            Err(ForwardError::Overloaded) => Err(Rcode::Refused),
            Err(e) => {
                tracing::debug!(name, error = %e, "forwarding failed");
                let stale = self
                    .cache
                    .as_ref()
                    .map(|c| c.get_stale(&key, q.id, Instant::now()));
                match stale {
                    Some(Hit::Fresh(b)) => {
                        self.metrics.cache_served_stale.inc();
                        Ok(Reply::Raw(b))
                    }
                    _ => Err(Rcode::ServFail),
                }
            }
        }
    }

    /// Appends the upstream's answer for an ExternalName target to the CNAME.
    async fn chase(&self, q: &Query, mut partial: Response<'static>, target: &str) -> Reply {
        let Ok(Reply::Raw(b)) = self.forward(q, target, q.qtype, None).await else {
            return Reply::Built(partial);
        };
        let flags = be16(&b, 2).unwrap_or(0);
        if flags & FLAG_TC != 0 {
            partial.truncated = true;
        }
        let rcode = Rcode::from_code((flags & 0x0f) as u8);
        if rcode != Rcode::NoError {
            partial.rcode = Some(rcode);
        }
        for (sec, r) in records(&b).unwrap_or_default() {
            if sec != 0 {
                continue;
            }
            let Ok(data) = r.to_rdata(&b) else { continue };
            partial.answer.push(Record {
                owner: Owner::Name(r.owner.to_lower_dotted().0.into()),
                ttl: r.ttl,
                data,
            });
        }
        Reply::Built(partial)
    }
}

/// An upstream message as a response to re-encode under another question:
/// its rcode, AA and TC bits and records (OPT dropped; names lowercase).
fn from_upstream(b: &[u8]) -> Response<'static> {
    let flags = be16(b, 2).unwrap_or(0);
    let rcode = Rcode::from_code((flags & 0x0f) as u8);
    let mut r = Response {
        rcode: (rcode != Rcode::NoError).then_some(rcode),
        authoritative: flags & FLAG_AA != 0,
        truncated: flags & FLAG_TC != 0,
        ..Response::default()
    };
    for (sec, raw) in records(b).unwrap_or_default() {
        if raw.rtype == rtype::OPT {
            continue;
        }
        let Ok(data) = raw.to_rdata(b) else { continue };
        let rec = Record {
            owner: Owner::Name(raw.owner.to_lower_dotted().0.into()),
            ttl: raw.ttl,
            data,
        };
        match sec {
            0 => r.answer.push(rec),
            1 => r.authority.push(rec),
            _ => r.additional.push(rec),
        }
    }
    r
}

/// An answer produced off the fast path.
enum Reply {
    /// An upstream message, ready to send.
    Raw(Vec<u8>),
    /// A response to encode.
    Built(Response<'static>),
}

#[cfg(test)]
mod loop_guard_tests {
    use super::*;

    fn probe(name: &str) -> Query {
        let q = crate::wire::writer::build_query(7, name, rtype::HINFO, false);
        crate::wire::parse_query(&q).expect("a valid query")
    }

    #[test]
    fn own_probes_are_not_a_loop_but_returning_ones_are() {
        let g = LoopGuard::default();
        g.arm("1.2".into());
        for _ in 0..3 {
            g.expect_own();
            g.observe(&probe("1.2"));
        }
        assert!(
            !g.detected.load(Ordering::Relaxed),
            "three self-sent probes are not a loop"
        );
        g.observe(&probe("other.name"));
        g.observe(&probe("1.2"));
        g.observe(&probe("1.2"));
        assert!(
            !g.detected.load(Ordering::Relaxed),
            "two returns are tolerated, as in CoreDNS"
        );
        g.observe(&probe("1.2"));
        assert!(
            g.detected.load(Ordering::Relaxed),
            "the third probe coming back is a loop"
        );
    }
}
