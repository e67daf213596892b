//! Server configuration, from flags or from a CoreDNS Corefile ([`corefile`]).

pub mod corefile;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cache::CacheConfig;
use crate::engine::EngineConfig;

/// Where Kubernetes objects come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// A file of Kubernetes objects (YAML/JSON, multi-document), loaded once.
    Objects(PathBuf),
    /// The API server: a kubeconfig (and context), or in-cluster/default config.
    Kube {
        /// Kubeconfig path (`None`: `KUBECONFIG`, `~/.kube/config` or in-cluster).
        kubeconfig: Option<PathBuf>,
        /// Context to use.
        context: Option<String>,
    },
}

/// An upstream as configured: an address or a resolv.conf to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSpec {
    /// An address (port 53 when omitted).
    Addr(SocketAddr),
    /// The `nameserver` lines of this file.
    ResolvConf(PathBuf),
}

/// Forwarding settings before upstream files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    /// `(domain, upstreams)`; `""` is the default domain.
    pub groups: Vec<(String, Vec<UpstreamSpec>)>,
    /// Concurrency limit.
    pub max_concurrent: usize,
    /// Failures before an upstream counts as down.
    pub max_fails: u32,
    /// Health check interval.
    pub health_check: Duration,
    /// Per-upstream timeout.
    pub timeout: Duration,
}

impl Default for ForwardSpec {
    fn default() -> Self {
        ForwardSpec {
            groups: Vec::new(),
            max_concurrent: 1000,
            max_fails: 2,
            health_check: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
        }
    }
}

/// How the kernel schedules the UDP worker threads.
///
/// `Batch` (Linux `SCHED_BATCH`) keeps a worker woken by a query from
/// preempting the thread running on that CPU; it runs when that thread's
/// slice ends or a CPU idles. On a busy node this lets queries queue up and
/// be taken many per `recvmmsg`, instead of one wake-up and context switch
/// per query: at saturation on 2 cores it cut the server's CPU per query by
/// about a fifth (bench/RESULTS.md). With an idle CPU nothing changes; under
/// contention an answer may wait up to one scheduler slice. `Normal` is the
/// default policy, for latency over throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpSched {
    /// `SCHED_BATCH`.
    #[default]
    Batch,
    /// `SCHED_OTHER`, as every other thread.
    Normal,
}

/// Everything `knet dns` needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cluster zones and record options.
    pub engine: EngineConfig,
    /// DNS listen address (UDP and TCP).
    pub listen: SocketAddr,
    /// UDP worker threads (sharing one socket).
    pub threads: usize,
    /// Scheduling policy of the UDP worker threads.
    pub udp_sched: UdpSched,
    /// Forwarding (`None`: names outside the zones get REFUSED).
    pub forward: Option<ForwardSpec>,
    /// Cache of forwarded answers.
    pub cache: Option<CacheConfig>,
    /// `/health` listener.
    pub health: Option<SocketAddr>,
    /// `/ready` listener.
    pub ready: Option<SocketAddr>,
    /// `/metrics` listener.
    pub metrics: Option<SocketAddr>,
    /// Probe for forwarding loops at start (CoreDNS `loop`).
    pub loop_detect: bool,
    /// Data source.
    pub source: SourceConfig,
    /// How long to wait for the first sync before serving SERVFAIL anyway
    /// (queries get SERVFAIL until then in any case).
    pub startup_timeout: Duration,
    /// resolv.conf whose `search` domains extend the autopath walk (read at
    /// start when autopath is on; CoreDNS reads `/etc/resolv.conf`).
    pub autopath_resolv: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: EngineConfig::default(),
            listen: "0.0.0.0:53".parse().expect("literal"),
            threads: 2,
            udp_sched: UdpSched::Batch,
            forward: Some(ForwardSpec {
                groups: vec![(
                    String::new(),
                    vec![UpstreamSpec::ResolvConf("/etc/resolv.conf".into())],
                )],
                ..ForwardSpec::default()
            }),
            cache: Some(CacheConfig {
                max_success_ttl: 30,
                max_denial_ttl: 30,
                ..CacheConfig::default()
            }),
            health: Some("0.0.0.0:8080".parse().expect("literal")),
            ready: Some("0.0.0.0:8181".parse().expect("literal")),
            metrics: Some("0.0.0.0:9153".parse().expect("literal")),
            loop_detect: true,
            source: SourceConfig::Kube {
                kubeconfig: None,
                context: None,
            },
            startup_timeout: Duration::from_secs(5),
            autopath_resolv: None,
        }
    }
}

/// Parses a listen address: `IP:port`, `:port` (all IPv4 addresses), or a
/// bare port.
pub fn parse_listen(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let port = s.strip_prefix(':').unwrap_or(s).parse::<u16>().ok()?;
    Some(SocketAddr::from(([0, 0, 0, 0], port)))
}
