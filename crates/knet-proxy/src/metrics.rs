//! kube-proxy's Prometheus metrics (same names), rendered as text exposition.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A histogram with kube-proxy's exponential buckets (1 ms × 2^i).
#[derive(Debug)]
pub struct Histogram {
    inner: Mutex<(Vec<u64>, u64, f64)>,
    bounds: Vec<f64>,
}

impl Histogram {
    fn new(start: f64, count: usize) -> Histogram {
        let bounds: Vec<f64> = (0..count).map(|i| start * 2f64.powi(i as i32)).collect();
        Histogram {
            inner: Mutex::new((vec![0; count], 0, 0.0)),
            bounds,
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let v = d.as_secs_f64();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                g.0[i] += 1;
            }
        }
        g.1 += 1;
        g.2 += v;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&g.0) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            g.1, g.2, g.1
        );
    }
}

/// Every metric the proxy exports.
#[derive(Debug)]
pub struct Metrics {
    /// Time of every sync.
    pub sync_duration: Histogram,
    /// Time of full syncs.
    pub sync_full_duration: Histogram,
    /// Time of partial syncs.
    pub sync_partial_duration: Histogram,
    /// Change observed → rules programmed.
    pub network_programming: Histogram,
    /// Unix time of the last successful sync (ms).
    pub last_sync_ms: AtomicU64,
    /// Unix time the oldest unsynced change was queued (ms; 0 = none).
    pub last_queued_ms: AtomicU64,
    /// Service changes synced.
    pub service_changes: AtomicU64,
    /// Endpoint changes synced.
    pub endpoint_changes: AtomicU64,
    /// Failed nft transactions.
    pub sync_failures: AtomicU64,
    /// Service ports with internalTrafficPolicy Local and no local endpoint.
    pub no_local_internal: AtomicU64,
    /// Service ports with externalTrafficPolicy Local and no local endpoint.
    pub no_local_external: AtomicU64,
    /// `/healthz` answers.
    pub healthz_total: AtomicU64,
    /// `/livez` answers.
    pub livez_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sync_duration: Histogram::new(0.001, 15),
            sync_full_duration: Histogram::new(0.001, 15),
            sync_partial_duration: Histogram::new(0.001, 15),
            network_programming: Histogram::new(0.001, 20),
            last_sync_ms: AtomicU64::new(0),
            last_queued_ms: AtomicU64::new(0),
            service_changes: AtomicU64::new(0),
            endpoint_changes: AtomicU64::new(0),
            sync_failures: AtomicU64::new(0),
            no_local_internal: AtomicU64::new(0),
            no_local_external: AtomicU64::new(0),
            healthz_total: AtomicU64::new(0),
            livez_total: AtomicU64::new(0),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Metrics {
    /// Notes that a change is waiting (keeps the oldest).
    pub fn queued(&self) {
        let _ =
            self.last_queued_ms
                .compare_exchange(0, now_ms(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether no change has waited longer than `timeout` without a sync.
    pub fn healthy(&self, timeout: Duration) -> bool {
        let queued = self.last_queued_ms.load(Ordering::SeqCst);
        queued == 0 || now_ms().saturating_sub(queued) <= timeout.as_millis() as u64
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.sync_duration.render(
            &mut out,
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
        );
        self.sync_full_duration.render(
            &mut out,
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "Full SyncProxyRules latency in seconds",
        );
        self.sync_partial_duration.render(
            &mut out,
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "Partial SyncProxyRules latency in seconds",
        );
        self.network_programming.render(
            &mut out,
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
        );
        let secs = |ms: &AtomicU64| ms.load(Ordering::SeqCst) as f64 / 1000.0;
        let gauges = [
            (
                "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                "gauge",
                secs(&self.last_sync_ms),
            ),
            (
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                "gauge",
                secs(&self.last_queued_ms),
            ),
            (
                "kubeproxy_sync_proxy_rules_service_changes_total",
                "counter",
                self.service_changes.load(Ordering::SeqCst) as f64,
            ),
            (
                "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                "counter",
                self.endpoint_changes.load(Ordering::SeqCst) as f64,
            ),
            (
                "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                "counter",
                self.sync_failures.load(Ordering::SeqCst) as f64,
            ),
            (
                "kubeproxy_proxy_healthz_total",
                "counter",
                self.healthz_total.load(Ordering::SeqCst) as f64,
            ),
            (
                "kubeproxy_proxy_livez_total",
                "counter",
                self.livez_total.load(Ordering::SeqCst) as f64,
            ),
        ];
        for (name, kind, v) in gauges {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {v}");
        }
        let name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total";
        let _ = writeln!(
            out,
            "# TYPE {name} gauge\n{name}{{traffic_policy=\"internal\"}} {}\n{name}{{traffic_policy=\"external\"}} {}",
            self.no_local_internal.load(Ordering::SeqCst),
            self.no_local_external.load(Ordering::SeqCst)
        );
        out
    }
}
