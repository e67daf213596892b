//! Wires a [`Config`] into a running server: source, forwarder, cache,
//! listeners, HTTP endpoints and loop detection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::cache::Cache;
use crate::config::{Config, ForwardSpec, SourceConfig, UpstreamSpec};
use crate::engine::autopath::search_domains;
use crate::forward::{ForwardConfig, Forwarder, resolv};
use crate::server::http::{self, Endpoint};
use crate::server::listen::{self, Listeners};
use crate::server::{Dns, Handled};
use crate::source::{self, SharedIndex};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The objects file is invalid.
    #[error("objects file {path}: {source}")]
    Objects {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: Box<source::SourceError>,
    },
    /// A resolv.conf held no usable nameserver.
    #[error("{0} has no usable nameserver line; give upstreams with --upstream")]
    NoNameserver(PathBuf),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes client could not be set up.
    #[error("kubernetes client: {0}")]
    Kube(String),
    /// The loop plugin saw its probe come back.
    #[error(
        "forwarding loop detected: the upstream resolver forwards queries back to this server (see CoreDNS loop plugin docs); configure a different upstream"
    )]
    Loop,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Shared server state.
    pub dns: Arc<Dns>,
    /// DNS address (UDP and TCP).
    pub addr: SocketAddr,
    /// Bound `/health`, `/ready`, `/metrics` addresses.
    pub http: Vec<(Endpoint, SocketAddr)>,
    _listeners: Listeners,
}

fn read(path: &Path) -> Result<String, RunError> {
    std::fs::read_to_string(path).map_err(|source| RunError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads upstream files and builds the forwarder settings.
pub fn resolve_forward(spec: &ForwardSpec) -> Result<ForwardConfig, RunError> {
    let mut groups = Vec::new();
    for (domain, ups) in &spec.groups {
        let mut addrs = Vec::new();
        for u in ups {
            match u {
                UpstreamSpec::Addr(a) => addrs.push(*a),
                UpstreamSpec::ResolvConf(p) => {
                    let found = resolv::nameservers(&read(p)?);
                    if found.is_empty() {
                        return Err(RunError::NoNameserver(p.clone()));
                    }
                    addrs.extend(found);
                }
            }
        }
        groups.push((domain.clone(), addrs));
    }
    Ok(ForwardConfig {
        groups,
        max_concurrent: spec.max_concurrent,
        timeout: spec.timeout,
        max_fails: spec.max_fails,
        health_check: spec.health_check,
    })
}

fn load_static(path: &Path) -> Result<crate::index::Snapshot, RunError> {
    let serial = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    source::load_snapshot(&read(path)?, serial).map_err(|e| RunError::Objects {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Reloads the objects file when it changes (CoreDNS `reload`, for files).
async fn watch_file(index: SharedIndex, path: PathBuf) {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = mtime(&path);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = mtime(&path);
        if now == last {
            continue;
        }
        last = now;
        match load_static(&path) {
            Ok(s) => {
                tracing::info!(path = %path.display(), services = s.service_count(), "objects reloaded");
                index.store(Arc::new(s));
            }
            Err(e) => tracing::error!(error = %e, "reload failed; keeping the previous objects"),
        }
    }
}

/// Starts everything; must run inside a multi-threaded tokio runtime.
pub async fn start(mut cfg: Config) -> Result<Running, RunError> {
    if cfg.engine.autopath
        && let Some(path) = &cfg.autopath_resolv
    {
        match std::fs::read_to_string(path) {
            Ok(text) => cfg.engine.autopath_search = search_domains(&text),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "autopath: no search domains from the resolv.conf")
            }
        }
    }
    let index = source::empty_index();
    let mut dns = Dns::new(index.clone(), cfg.engine.clone());
    if let Some(spec) = &cfg.forward {
        let fwd = Arc::new(Forwarder::new(resolve_forward(spec)?, dns.metrics.clone()));
        tokio::spawn(fwd.clone().health_loop());
        dns.forwarder = Some(fwd);
        dns.cache = cfg.cache.clone().map(|c| Arc::new(Cache::new(c)));
    }
    match &cfg.source {
        SourceConfig::Objects(path) => {
            index.store(Arc::new(load_static(path)?));
            tokio::spawn(watch_file(index.clone(), path.clone()));
        }
        SourceConfig::Kube { .. } => {}
    }
    let dns = Arc::new(dns);
    if let SourceConfig::Kube {
        kubeconfig,
        context,
    } = &cfg.source
    {
        let client = source::kube::client(kubeconfig.as_deref(), context.as_deref())
            .await
            .map_err(|e| RunError::Kube(e.to_string()))?;
        let opts = source::kube::Options {
            track_pods: cfg.engine.pods == crate::engine::PodMode::Verified,
        };
        tokio::spawn(source::kube::run(client, dns.clone(), opts));
    }
    let listeners = listen::start(dns.clone(), cfg.listen, cfg.threads, cfg.udp_sched)
        .await
        .map_err(|source| RunError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let mut http_addrs = Vec::new();
    for (ep, addr) in [
        (Endpoint::Health, cfg.health),
        (Endpoint::Ready, cfg.ready),
        (Endpoint::Metrics, cfg.metrics),
    ] {
        if let Some(addr) = addr {
            let bound = http::serve(dns.clone(), addr, ep)
                .await
                .map_err(|source| RunError::Bind { addr, source })?;
            http_addrs.push((ep, bound));
        }
    }
    Ok(Running {
        dns,
        addr: listeners.addr,
        http: http_addrs,
        _listeners: listeners,
    })
}

impl Running {
    /// Sends loop probes through ourselves (if forwarding) and then serves
    /// until a forwarding loop is detected.
    pub async fn wait(self, loop_detect: bool) -> Result<(), RunError> {
        if loop_detect && self.dns.forwarder.is_some() {
            let name = format!("{}.{}", rand::random::<u32>(), rand::random::<u32>());
            self.dns.loop_guard.arm(name.clone());
            for _ in 0..3 {
                let q = crate::wire::writer::build_query(
                    rand::random(),
                    &name,
                    crate::wire::rtype::HINFO,
                    false,
                );
                self.dns.loop_guard.expect_own();
                if let Handled::Later(job) = self.dns.handle(&q, false, false, 0) {
                    let _ = self.dns.finish(job).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        loop {
            if self.dns.loop_guard.detected.load(Ordering::Relaxed) {
                return Err(RunError::Loop);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
