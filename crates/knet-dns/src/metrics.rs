//! Prometheus metrics under CoreDNS's names, so existing dashboards and
//! alerts keep working. Lock-free counters on the query path; rendering to
//! the text exposition format is pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::wire::{Rcode, rtype};

/// Query types with their own label; the rest count as `other`.
const TYPES: [(u16, &str); 10] = [
    (rtype::A, "A"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::PTR, "PTR"),
    (rtype::TXT, "TXT"),
    (rtype::SOA, "SOA"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::MX, "MX"),
    (rtype::HINFO, "HINFO"),
];
const NTYPES: usize = TYPES.len() + 1;
const RCODES: [Rcode; 6] = [
    Rcode::NoError,
    Rcode::FormErr,
    Rcode::ServFail,
    Rcode::NxDomain,
    Rcode::NotImp,
    Rcode::Refused,
];
/// CoreDNS's duration buckets (0.25 ms doubling, 16 buckets).
const DURATION_BUCKETS: [f64; 16] = [
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];

/// CoreDNS's request/response size buckets (bytes).
const SIZE_BUCKETS: [f64; 14] = [
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];

fn type_index(t: u16) -> usize {
    TYPES
        .iter()
        .position(|(v, _)| *v == t)
        .unwrap_or(TYPES.len())
}

fn type_name(i: usize) -> &'static str {
    TYPES.get(i).map_or("other", |(_, n)| n)
}

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram over [`DURATION_BUCKETS`] (seconds).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 16],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| s <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The sum of several histograms.
    fn sum<'a>(hs: impl Iterator<Item = &'a Histogram>) -> Histogram {
        let out = Histogram::default();
        for h in hs {
            for (o, c) in out.counts.iter().zip(&h.counts) {
                o.fetch_add(c.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            out.count
                .fetch_add(h.count.load(Ordering::Relaxed), Ordering::Relaxed);
            out.sum_nanos
                .fetch_add(h.sum_nanos.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        out
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// A histogram of message sizes over [`SIZE_BUCKETS`] (bytes).
#[derive(Debug, Default)]
pub struct SizeHistogram {
    counts: [AtomicU64; 14],
    count: AtomicU64,
    sum: AtomicU64,
}

impl SizeHistogram {
    /// Records one message of `bytes`.
    pub fn observe(&self, bytes: usize) {
        let b = bytes as f64;
        if let Some(i) = SIZE_BUCKETS.iter().position(|x| b <= *x) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Renders the sum of several histograms under one label set (nothing
    /// when they are all empty).
    fn render_sum<'a>(
        hs: impl Iterator<Item = &'a SizeHistogram> + Clone,
        out: &mut String,
        name: &str,
        labels: &str,
    ) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let count: u64 = hs.clone().map(|h| load(&h.count)).sum();
        if count == 0 {
            return;
        }
        let mut cum = 0;
        for (i, b) in SIZE_BUCKETS.iter().enumerate() {
            cum += hs.clone().map(|h| load(&h.counts[i])).sum::<u64>();
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cum}");
        }
        let sum: u64 = hs.map(|h| load(&h.sum)).sum();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

#[derive(Debug, Default)]
struct Upstream {
    requests: u64,
    rcodes: BTreeMap<&'static str, u64>,
    failures: u64,
    duration: Histogram,
}

/// Per-thread query counters, cache-line aligned so UDP workers never
/// contend on the same line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    /// requests by [proto udp/tcp][family 1/2][type]
    requests: [[[Counter; NTYPES]; 2]; 2],
    responses: [Counter; 6],
    duration: [Histogram; NTYPES],
    do_requests: Counter,
    /// Query sizes by [proto udp/tcp].
    request_size: [SizeHistogram; 2],
    /// Response sizes by [proto udp/tcp].
    response_size: [SizeHistogram; 2],
}

/// Number of query-counter shards.
const SHARDS: usize = 8;

fn my_shard() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static ID: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
    ID.with(|id| *id)
}

/// All metrics of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    shards: [Shard; SHARDS],
    /// Answers served from the cache.
    pub cache_hits: Counter,
    /// Cache lookups that missed.
    pub cache_misses: Counter,
    /// Entries in the cache.
    pub cache_entries: AtomicI64,
    /// Entries evicted from the cache.
    pub cache_evictions: Counter,
    /// Stale entries served.
    pub cache_served_stale: Counter,
    /// Queries refused because `max_concurrent` was reached.
    pub forward_max_concurrent_rejects: Counter,
    /// Health checks that failed.
    pub forward_healthcheck_broken: Counter,
    upstreams: Mutex<BTreeMap<SocketAddr, Upstream>>,
    /// Service change → DNS visible, by service kind (cluster_ip, headless_with_selector, headless_without_selector).
    programming: [Histogram; 3],
    /// Panics caught on the query path.
    pub panics: Counter,
    /// Queries answered through an autopath search-path walk.
    pub autopath_success: Counter,
}

/// Service kinds of `coredns_kubernetes_dns_programming_duration_seconds`.
pub const SERVICE_KINDS: [&str; 3] = [
    "cluster_ip",
    "headless_with_selector",
    "headless_without_selector",
];

impl Metrics {
    /// Counts one request and its response (`sizes`: query and response
    /// message bytes).
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        tcp: bool,
        v6: bool,
        qtype: u16,
        dnssec_ok: bool,
        rcode: u8,
        d: Duration,
        sizes: (usize, usize),
    ) {
        let t = type_index(qtype);
        let s = &self.shards[my_shard()];
        s.request_size[usize::from(tcp)].observe(sizes.0);
        s.response_size[usize::from(tcp)].observe(sizes.1);
        s.requests[usize::from(tcp)][usize::from(v6)][t].inc();
        if let Some(c) = s.responses.get(usize::from(rcode)) {
            c.inc();
        }
        if dnssec_ok {
            s.do_requests.inc();
        }
        s.duration[t].observe(d);
    }

    /// Records a forwarded exchange that got an answer.
    pub fn forward_done(&self, to: SocketAddr, resp: &[u8], d: Duration) {
        let rcode = Rcode::from_code(resp.get(3).copied().unwrap_or(2)).as_str();
        let mut ups = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        let u = ups.entry(to).or_default();
        u.requests += 1;
        *u.rcodes.entry(rcode).or_default() += 1;
        u.duration.observe(d);
    }

    /// Records a failed forward attempt.
    pub fn forward_failed(&self, to: SocketAddr) {
        let mut ups = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        let u = ups.entry(to).or_default();
        u.requests += 1;
        u.failures += 1;
    }

    /// Records the delay between a Service/EndpointSlice change and its
    /// publication (`kind` indexes [`SERVICE_KINDS`]).
    pub fn programming(&self, kind: usize, d: Duration) {
        if let Some(h) = self.programming.get(kind) {
            h.observe(d);
        }
    }

    /// Total requests counted (all labels).
    pub fn total_requests(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.requests.iter().flatten().flatten())
            .map(Counter::get)
            .sum()
    }

    /// Renders the Prometheus text format.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(8192);
        let srv = "server=\"dns://:53\",zone=\".\",view=\"\"";
        o.push_str("# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.\n# TYPE coredns_build_info gauge\n");
        let _ = writeln!(
            o,
            "coredns_build_info{{version=\"knet-{}\",revision=\"\",goversion=\"rust\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        o.push_str("# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n# TYPE coredns_dns_requests_total counter\n");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            for f in 0..2 {
                for t in 0..NTYPES {
                    let v: u64 = self.shards.iter().map(|s| s.requests[p][f][t].get()).sum();
                    if v > 0 {
                        let _ = writeln!(
                            o,
                            "coredns_dns_requests_total{{{srv},proto=\"{proto}\",family=\"{}\",type=\"{}\"}} {v}",
                            f + 1,
                            type_name(t)
                        );
                    }
                }
            }
        }
        o.push_str("# HELP coredns_dns_responses_total Counter of response status codes.\n# TYPE coredns_dns_responses_total counter\n");
        for (i, rc) in RCODES.iter().enumerate() {
            let _ = writeln!(
                o,
                "coredns_dns_responses_total{{{srv},rcode=\"{}\",plugin=\"\"}} {}",
                rc.as_str(),
                self.shards
                    .iter()
                    .map(|s| s.responses[i].get())
                    .sum::<u64>()
            );
        }
        o.push_str("# HELP coredns_dns_do_requests_total Counter of DNS requests with DO bit set per zone.\n# TYPE coredns_dns_do_requests_total counter\n");
        let _ = writeln!(
            o,
            "coredns_dns_do_requests_total{{{srv}}} {}",
            self.shards.iter().map(|s| s.do_requests.get()).sum::<u64>()
        );
        o.push_str("# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took per zone.\n# TYPE coredns_dns_request_duration_seconds histogram\n");
        for t in 0..NTYPES {
            let h = Histogram::sum(self.shards.iter().map(|s| &s.duration[t]));
            if h.count.load(Ordering::Relaxed) > 0 {
                h.render(
                    &mut o,
                    "coredns_dns_request_duration_seconds",
                    &format!("{srv},type=\"{}\"", type_name(t)),
                );
            }
        }
        o.push_str("# HELP coredns_dns_request_size_bytes Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.\n# TYPE coredns_dns_request_size_bytes histogram\n");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            SizeHistogram::render_sum(
                self.shards.iter().map(|s| &s.request_size[p]),
                &mut o,
                "coredns_dns_request_size_bytes",
                &format!("{srv},proto=\"{proto}\""),
            );
        }
        o.push_str("# HELP coredns_dns_response_size_bytes Size of the returned response in bytes.\n# TYPE coredns_dns_response_size_bytes histogram\n");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            SizeHistogram::render_sum(
                self.shards.iter().map(|s| &s.response_size[p]),
                &mut o,
                "coredns_dns_response_size_bytes",
                &format!("{srv},proto=\"{proto}\""),
            );
        }
        self.render_cache(&mut o);
        self.render_forward(&mut o);
        o.push_str("# HELP coredns_kubernetes_dns_programming_duration_seconds Histogram of the time (in seconds) it took to program a dns instance.\n# TYPE coredns_kubernetes_dns_programming_duration_seconds histogram\n");
        for (i, kind) in SERVICE_KINDS.iter().enumerate() {
            self.programming[i].render(
                &mut o,
                "coredns_kubernetes_dns_programming_duration_seconds",
                &format!("service_kind=\"{kind}\""),
            );
        }
        o.push_str("# HELP coredns_autopath_success_total Counter of requests that did autopath.\n# TYPE coredns_autopath_success_total counter\n");
        let _ = writeln!(
            o,
            "coredns_autopath_success_total{{server=\"dns://:53\"}} {}",
            self.autopath_success.get()
        );
        o.push_str("# HELP coredns_panics_total A metrics that counts the number of panics.\n# TYPE coredns_panics_total counter\n");
        let _ = writeln!(o, "coredns_panics_total {}", self.panics.get());
        o
    }

    fn render_cache(&self, o: &mut String) {
        let s = "server=\"dns://:53\",zones=\".\",view=\"\"";
        let hits = self.cache_hits.get();
        let misses = self.cache_misses.get();
        for (name, help, kind, v) in [
            (
                "coredns_cache_entries",
                "The number of elements in the cache.",
                "gauge",
                self.cache_entries.load(Ordering::Relaxed).max(0) as u64,
            ),
            (
                "coredns_cache_hits_total",
                "The count of cache hits.",
                "counter",
                hits,
            ),
            (
                "coredns_cache_misses_total",
                "The count of cache misses.",
                "counter",
                misses,
            ),
            (
                "coredns_cache_requests_total",
                "The count of cache requests.",
                "counter",
                hits + misses,
            ),
            (
                "coredns_cache_evictions_total",
                "The count of cache evictions.",
                "counter",
                self.cache_evictions.get(),
            ),
            (
                "coredns_cache_served_stale_total",
                "The number of requests served from stale cache entries.",
                "counter",
                self.cache_served_stale.get(),
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{s}}} {v}"
            );
        }
    }

    fn render_forward(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP coredns_forward_max_concurrent_rejects_total Counter of the number of queries rejected because the concurrent queries were at maximum.\n# TYPE coredns_forward_max_concurrent_rejects_total counter\ncoredns_forward_max_concurrent_rejects_total {}",
            self.forward_max_concurrent_rejects.get()
        );
        let _ = writeln!(
            o,
            "# HELP coredns_forward_healthcheck_broken_total Counter of the number of complete failures of the healthchecks.\n# TYPE coredns_forward_healthcheck_broken_total counter\ncoredns_forward_healthcheck_broken_total {}",
            self.forward_healthcheck_broken.get()
        );
        let ups = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        o.push_str("# HELP coredns_forward_requests_total Counter of requests made per upstream.\n# TYPE coredns_forward_requests_total counter\n");
        for (to, u) in ups.iter() {
            let _ = writeln!(
                o,
                "coredns_forward_requests_total{{to=\"{to}\"}} {}",
                u.requests
            );
        }
        o.push_str("# HELP coredns_forward_responses_total Counter of responses received per upstream.\n# TYPE coredns_forward_responses_total counter\n");
        for (to, u) in ups.iter() {
            for (rc, v) in &u.rcodes {
                let _ = writeln!(
                    o,
                    "coredns_forward_responses_total{{to=\"{to}\",rcode=\"{rc}\"}} {v}"
                );
            }
        }
        o.push_str("# HELP coredns_proxy_healthcheck_failures_total Count of failed health checks or forward attempts per upstream.\n# TYPE coredns_proxy_healthcheck_failures_total counter\n");
        for (to, u) in ups.iter() {
            let _ = writeln!(
                o,
                "coredns_proxy_healthcheck_failures_total{{proxy_name=\"forward\",to=\"{to}\"}} {}",
                u.failures
            );
        }
        o.push_str("# HELP coredns_proxy_request_duration_seconds Histogram of the time each request took.\n# TYPE coredns_proxy_request_duration_seconds histogram\n");
        for (to, u) in ups.iter() {
            u.duration.render(
                o,
                "coredns_proxy_request_duration_seconds",
                &format!("proxy_name=\"forward\",to=\"{to}\""),
            );
        }
    }
}
