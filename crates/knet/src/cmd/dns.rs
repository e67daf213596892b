//! `knet dns`: the cluster DNS server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use knet_dns::config::{self, Config, ForwardSpec, SourceConfig, UdpSched, UpstreamSpec};
use knet_dns::engine::PodMode;

/// Options of `knet dns`.
///
/// Serves `<svc>.<ns>.svc.<zone>`, `<pod-ip>.<ns>.pod.<zone>`, SRV, PTR and
/// `dns-version.<zone>` from the Kubernetes API (or a file of objects), as
/// CoreDNS's kubernetes plugin does, and forwards every other name upstream.
///
/// Example (offline demo): `knet dns --objects cluster.yaml --listen 127.0.0.1:5353`
/// then `dig @127.0.0.1 -p 5353 nginx.default.svc.cluster.local`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Serve the Kubernetes objects (Services, EndpointSlices, Endpoints, Pods,
    /// Namespaces; YAML or JSON, multi-document or List) in this file instead
    /// of watching an API server. The file is reloaded when it changes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "corefile"])]
    objects: Option<PathBuf>,
    /// Kubeconfig of the API server to watch (default: $KUBECONFIG,
    /// ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// Read the configuration from a CoreDNS Corefile (the kubeadm `coredns`
    /// ConfigMap shape). Flags given explicitly below still apply on top.
    #[arg(long, value_name = "FILE")]
    corefile: Option<PathBuf>,
    /// DNS listen address, UDP and TCP (`IP:PORT`, `:PORT` or `PORT`).
    #[arg(long, default_value = "0.0.0.0:53", value_parser = parse_addr)]
    listen: SocketAddr,
    /// UDP worker threads (all receiving from one socket).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Scheduling policy of the UDP workers: `batch` (Linux SCHED_BATCH: a
    /// woken worker does not preempt the running thread, so under load it
    /// takes many queued queries per system call, about a fifth less CPU
    /// per query) or `normal` (answer first, at more CPU per query). With a
    /// CPU idle both behave the same.
    #[arg(long, default_value = "batch", value_parser = ["batch", "normal"])]
    udp_sched: String,
    /// Cluster zone; repeat for several.
    #[arg(long = "zone", value_name = "ZONE", default_value = knet_core::defaults::CLUSTER_DOMAIN)]
    zones: Vec<String>,
    /// TTL of cluster answers, seconds (0–3600).
    #[arg(long, default_value_t = knet_core::defaults::DNS_TTL, value_parser = clap::value_parser!(u32).range(0..=3600))]
    ttl: u32,
    /// Pod records `a-b-c-d.<ns>.pod.<zone>`: disabled, insecure (any IP) or
    /// verified (only IPs of existing pods in that namespace; watches Pods).
    /// Default: insecure, or verified with --autopath.
    #[arg(long, value_parser = ["disabled", "insecure", "verified"])]
    pods: Option<String>,
    /// Server-side search-path expansion (CoreDNS `autopath @kubernetes`):
    /// a query from a pod for `<name>.<its-ns>.svc.<zone>` is answered for
    /// the first of `<name>.<ns>.svc.<zone>`, `<name>.svc.<zone>`,
    /// `<name>.<zone>`, the --resolv-conf search domains and `<name>` that
    /// exists, with a CNAME from the asked name. Needs verified pods.
    #[arg(long)]
    autopath: bool,
    /// Name endpoints without a hostname after their pod instead of their IP.
    #[arg(long)]
    endpoint_pod_names: bool,
    /// Expose only these namespaces; repeat for several (default: all).
    #[arg(long = "namespace", value_name = "NS")]
    namespaces: Vec<String>,
    /// NXDOMAIN for ClusterIP Services that have no ready endpoints.
    #[arg(long)]
    ignore_empty_service: bool,
    /// Do not serve PTR records in in-addr.arpa / ip6.arpa.
    #[arg(long)]
    no_reverse: bool,
    /// Upstream resolver (`IP` or `IP:PORT`); repeat for several. Default:
    /// the nameservers of --resolv-conf.
    #[arg(long = "upstream", value_name = "ADDR", value_parser = parse_upstream)]
    upstreams: Vec<SocketAddr>,
    /// resolv.conf whose nameservers are the upstreams when no --upstream is given.
    #[arg(long, default_value = "/etc/resolv.conf", value_name = "FILE")]
    resolv_conf: PathBuf,
    /// Stub domain: `DOMAIN=IP[:PORT]`; repeat for several (kube-dns stubDomains).
    #[arg(long = "stub", value_name = "DOMAIN=ADDR", value_parser = parse_stub)]
    stubs: Vec<(String, SocketAddr)>,
    /// Do not forward: names outside the cluster zones get REFUSED.
    #[arg(long)]
    no_forward: bool,
    /// Most forwarded queries in flight; beyond it queries get REFUSED.
    #[arg(long, default_value_t = 1000)]
    max_concurrent: usize,
    /// Cache forwarded answers at most this many seconds (0 disables the cache).
    #[arg(long, default_value_t = 30)]
    cache: u32,
    /// Serve expired cache entries up to this many seconds old when every upstream fails.
    #[arg(long, value_name = "SECONDS")]
    serve_stale: Option<u64>,
    /// Health endpoint (`/health`) address, or `off`.
    #[arg(long, default_value = ":8080")]
    health: String,
    /// Readiness endpoint (`/ready`, 200 after the first full sync) address, or `off`.
    #[arg(long, default_value = ":8181")]
    ready: String,
    /// Prometheus metrics (`/metrics`, CoreDNS metric names) address, or `off`.
    #[arg(long, default_value = ":9153")]
    metrics: String,
    /// Do not probe for forwarding loops at start.
    #[arg(long)]
    no_loop_detect: bool,
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    config::parse_listen(s)
        .ok_or_else(|| format!("{s:?} is not an address (use IP:PORT, :PORT or PORT)"))
}

fn parse_upstream(s: &str) -> Result<SocketAddr, String> {
    knet_dns::forward::resolv::parse_upstream(s)
        .ok_or_else(|| format!("{s:?} is not an upstream address (use IP or IP:PORT)"))
}

fn parse_stub(s: &str) -> Result<(String, SocketAddr), String> {
    let (d, a) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected DOMAIN=IP[:PORT]"))?;
    Ok((
        d.trim_end_matches('.').to_ascii_lowercase(),
        parse_upstream(a)?,
    ))
}

fn parse_http(s: &str) -> anyhow::Result<Option<SocketAddr>> {
    if s == "off" || s.is_empty() {
        return Ok(None);
    }
    config::parse_listen(s)
        .map(Some)
        .with_context(|| format!("{s:?} is not an address (use IP:PORT, :PORT or off)"))
}

impl Args {
    fn into_config(self) -> anyhow::Result<(Config, bool)> {
        let mut cfg = match &self.corefile {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                config::corefile::parse(&text)
                    .with_context(|| format!("Corefile {}", p.display()))?
            }
            None => Config::default(),
        };
        if self.corefile.is_none() {
            let e = &mut cfg.engine;
            e.zones = self
                .zones
                .iter()
                .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
                .collect();
            e.ttl = self.ttl;
            e.pods = match self.pods.as_deref() {
                Some("disabled") => PodMode::Disabled,
                Some("verified") => PodMode::Verified,
                Some(_) => PodMode::Insecure,
                None if self.autopath => PodMode::Verified,
                None => PodMode::Insecure,
            };
            if self.autopath {
                anyhow::ensure!(
                    e.pods == PodMode::Verified,
                    "--autopath needs --pods verified (the client pod is found by its IP)"
                );
                e.autopath = true;
                cfg.autopath_resolv = Some(self.resolv_conf.clone());
            }
            e.endpoint_pod_names = self.endpoint_pod_names;
            e.ignore_empty_service = self.ignore_empty_service;
            if !self.namespaces.is_empty() {
                e.namespaces = Some(
                    self.namespaces
                        .iter()
                        .map(|n| n.to_ascii_lowercase())
                        .collect::<HashSet<_>>(),
                );
            }
            if self.no_reverse {
                e.reverse_zones.clear();
            }
            cfg.forward = (!self.no_forward).then(|| {
                let default = if self.upstreams.is_empty() {
                    vec![UpstreamSpec::ResolvConf(self.resolv_conf.clone())]
                } else {
                    self.upstreams
                        .iter()
                        .map(|a| UpstreamSpec::Addr(*a))
                        .collect()
                };
                let mut groups: Vec<(String, Vec<UpstreamSpec>)> = self
                    .stubs
                    .iter()
                    .map(|(d, a)| (d.clone(), vec![UpstreamSpec::Addr(*a)]))
                    .collect();
                groups.push((String::new(), default));
                ForwardSpec {
                    groups,
                    max_concurrent: self.max_concurrent,
                    ..ForwardSpec::default()
                }
            });
            if let Some(c) = cfg.cache.as_mut() {
                c.max_success_ttl = self.cache;
                c.max_denial_ttl = self.cache;
                c.serve_stale = self.serve_stale.map(Duration::from_secs);
            }
            if self.cache == 0 {
                cfg.cache = None;
            }
            cfg.health = parse_http(&self.health)?;
            cfg.ready = parse_http(&self.ready)?;
            cfg.metrics = parse_http(&self.metrics)?;
            cfg.loop_detect = !self.no_loop_detect;
        }
        cfg.listen = self.listen;
        cfg.threads = self.threads.max(1);
        cfg.udp_sched = if self.udp_sched == "normal" {
            UdpSched::Normal
        } else {
            UdpSched::Batch
        };
        cfg.source = match self.objects {
            Some(p) => SourceConfig::Objects(p),
            None => SourceConfig::Kube {
                kubeconfig: self.kubeconfig.or(match cfg.source {
                    SourceConfig::Kube { kubeconfig, .. } => kubeconfig,
                    SourceConfig::Objects(_) => None,
                }),
                context: self.context,
            },
        };
        let loop_detect = cfg.loop_detect;
        Ok((cfg, loop_detect))
    }
}

/// Runs `knet dns`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let (cfg, loop_detect) = args.into_config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("knet-dns-rt")
        .build()?;
    rt.block_on(async move {
        let running = knet_dns::run::start(cfg).await?;
        tracing::info!(addr = %running.addr, http = ?running.http, "knet dns ready to serve");
        running.wait(loop_detect).await?;
        Ok(())
    })
}
