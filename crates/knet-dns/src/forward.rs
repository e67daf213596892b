//! Forwarding to upstream resolvers (CoreDNS `forward` semantics): a byte
//! relay with query-ID rewriting, UDP first and TCP when the answer is
//! truncated, per-domain stub upstreams, timeouts, failure counting with
//! background health checks, and a concurrency limit (REFUSED beyond it).

pub mod resolv;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::engine::in_zone;
use crate::metrics::Metrics;
use crate::wire::{FLAG_TC, be16};

/// Forwarder settings.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// Upstreams per domain: `("", …)` is the default (`.`); longer domains win.
    pub groups: Vec<(String, Vec<SocketAddr>)>,
    /// Most queries in flight; more get REFUSED (`max_concurrent`).
    pub max_concurrent: usize,
    /// Time to wait for one upstream.
    pub timeout: Duration,
    /// Failures after which an upstream is considered down (`max_fails`).
    pub max_fails: u32,
    /// Health check interval for upstreams that are down.
    pub health_check: Duration,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            groups: Vec::new(),
            max_concurrent: 1000,
            timeout: Duration::from_secs(2),
            max_fails: 2,
            health_check: Duration::from_millis(500),
        }
    }
}

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// `max_concurrent` reached.
    #[error("too many concurrent forwarded queries")]
    Overloaded,
    /// No upstream configured for the name.
    #[error("no upstream for this name")]
    NoUpstream,
    /// Every upstream failed or timed out.
    #[error("all upstreams failed, last error: {0}")]
    AllFailed(String),
}

#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    fails: AtomicU32,
}

/// The forwarder; cheap to share.
#[derive(Debug)]
pub struct Forwarder {
    groups: Vec<(String, Vec<Arc<Upstream>>)>,
    permits: Semaphore,
    cfg: ForwardConfig,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// Builds a forwarder (longest domain first).
    pub fn new(cfg: ForwardConfig, metrics: Arc<Metrics>) -> Forwarder {
        let mut groups: Vec<(String, Vec<Arc<Upstream>>)> = cfg
            .groups
            .iter()
            .map(|(d, ups)| {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                let ups = ups
                    .iter()
                    .map(|a| {
                        Arc::new(Upstream {
                            addr: *a,
                            fails: AtomicU32::new(0),
                        })
                    })
                    .collect();
                (d, ups)
            })
            .collect();
        groups.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
        Forwarder {
            groups,
            permits: Semaphore::new(cfg.max_concurrent),
            cfg,
            metrics,
        }
    }

    /// Sends `query` (a complete DNS message) upstream for `name` and returns
    /// the answer with the client's ID restored.
    pub async fn exchange(&self, name: &str, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
        let Ok(_permit) = self.permits.try_acquire() else {
            self.metrics.forward_max_concurrent_rejects.inc();
            return Err(ForwardError::Overloaded);
        };
        let ups = self
            .groups
            .iter()
            .find(|(d, _)| in_zone(name, d))
            .map(|(_, u)| u)
            .ok_or(ForwardError::NoUpstream)?;
        let id = be16(query, 0).ok_or(ForwardError::NoUpstream)?;
        let mut order: Vec<&Arc<Upstream>> = ups.iter().collect();
        let start = rand::random_range(0..order.len().max(1));
        order.rotate_left(start);
        // Healthy upstreams first; down ones only as a last resort.
        order.sort_by_key(|u| u.fails.load(Ordering::Relaxed) >= self.cfg.max_fails);
        let mut last = String::from("no upstream tried");
        for up in order.into_iter().take(3) {
            let t0 = Instant::now();
            match self.try_one(up.addr, query).await {
                Ok(mut resp) => {
                    up.fails.store(0, Ordering::Relaxed);
                    self.metrics.forward_done(up.addr, &resp, t0.elapsed());
                    resp[0..2].copy_from_slice(&id.to_be_bytes());
                    return Ok(resp);
                }
                Err(e) => {
                    up.fails.fetch_add(1, Ordering::Relaxed);
                    self.metrics.forward_failed(up.addr);
                    last = format!("{}: {e}", up.addr);
                    tracing::debug!(upstream = %up.addr, error = %e, "forward failed");
                }
            }
        }
        Err(ForwardError::AllFailed(last))
    }

    /// One upstream: UDP with a fresh random ID, then TCP if truncated.
    async fn try_one(&self, addr: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut q = query.to_vec();
        let qid: u16 = rand::random();
        q[0..2].copy_from_slice(&qid.to_be_bytes());
        let resp = tokio::time::timeout(self.cfg.timeout, udp_exchange(addr, &q))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout"))??;
        if be16(&resp, 2).is_some_and(|f| f & FLAG_TC != 0) {
            return tokio::time::timeout(self.cfg.timeout, tcp_exchange(addr, &q))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "tcp timeout"))?;
        }
        Ok(resp)
    }

    /// Probes upstreams that are marked down with `. IN NS` until they answer.
    pub async fn health_loop(self: Arc<Self>) {
        let probe = crate::wire::writer::build_query(0, "", crate::wire::rtype::NS, false);
        loop {
            tokio::time::sleep(self.cfg.health_check).await;
            for (_, ups) in &self.groups {
                for up in ups {
                    if up.fails.load(Ordering::Relaxed) < self.cfg.max_fails {
                        continue;
                    }
                    if self.try_one(up.addr, &probe).await.is_ok() {
                        up.fails.store(0, Ordering::Relaxed);
                    } else {
                        self.metrics.forward_healthcheck_broken.inc();
                    }
                }
            }
        }
    }
}

async fn udp_exchange(addr: SocketAddr, q: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(addr).await?;
    sock.send(q).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        // Ignore stray packets: the ID and question must match ours.
        if n >= 12 && buf[0..2] == q[0..2] && question_matches(q, &buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(addr: SocketAddr, q: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    let mut out = Vec::with_capacity(q.len() + 2);
    out.extend_from_slice(&(q.len() as u16).to_be_bytes());
    out.extend_from_slice(q);
    s.write_all(&out).await?;
    let len = s.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// True when the response's question section equals the query's.
fn question_matches(q: &[u8], resp: &[u8]) -> bool {
    let end = |m: &[u8]| {
        crate::wire::WireName::parse(m, 12)
            .ok()
            .map(|(n, at)| (n.to_lower_dotted().0, m.get(at..at + 4).map(<[u8]>::to_vec)))
    };
    end(q).is_some() && end(q) == end(resp)
}
