//! `knet up`'s orchestration: the topology, the embedded API server, the
//! controllers, and per node the route agent, the Service proxy and the node
//! agent, plus the cluster add-ons (cluster DNS). Everything runs as tasks of
//! this one process; containers are child processes in pod sandboxes.

pub(crate) mod addons;
pub(crate) mod lb;
pub(crate) mod proxy;
pub(crate) mod runtime;
pub(crate) mod state;
pub(crate) mod sweep;
pub(crate) mod trace;

use anyhow::{Context, bail};
use knet_lab::agent::{
    self,
    node::NodeInfo,
    registry::Registry,
    sandbox::{NodeEnv, ServiceAccount},
};
use knet_lab::files::resolv::{ClusterDns, ResolvConf};
use knet_lab::podnet::CniNetwork;
use knet_lab::topology::{Layout, Topology};
use state::LabState;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Everything `knet up` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) name: String,
    pub(crate) nodes: usize,
    pub(crate) backend: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) api_listen: SocketAddr,
    pub(crate) underlay: ipnet::Ipv4Net,
    pub(crate) upstream: Vec<String>,
    pub(crate) lb_pool: ipnet::Ipv4Net,
}

/// Prints one progress line with the step's duration.
pub(crate) struct Progress {
    start: Instant,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    pub(crate) fn step(&self, what: &str) {
        eprintln!(" ✓ {what:<52} {:>6.2}s", self.start.elapsed().as_secs_f64());
    }
}

/// A running lab.
pub(crate) struct Lab {
    pub(crate) state: LabState,
    topology: Option<Topology>,
    api: Option<knet_api::Server>,
    tasks: JoinSet<()>,
    registry: Arc<Registry>,
}

/// MTU of pod interfaces for the backend (VXLAN costs 50 bytes).
fn pod_mtu(backend: &str) -> u32 {
    if backend == "vxlan" {
        1500 - knet_core::defaults::VXLAN_OVERHEAD
    } else {
        1500
    }
}

pub(crate) fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Lab {
    /// Builds and starts the whole lab; on failure everything made so far is removed.
    pub(crate) async fn start(opts: &Options, progress: &Progress) -> anyhow::Result<Self> {
        if let Some(st) = LabState::load(&opts.name)
            && st.alive()
        {
            bail!(
                "a lab named {:?} is already running (pid {}); stop it with `knet down --name {}` or pick another --name",
                opts.name,
                st.pid,
                opts.name
            );
        }
        let leftovers = sweep::lab_namespaces(&opts.name);
        if !leftovers.is_empty() || LabState::load(&opts.name).is_some() {
            let errors = sweep::sweep(&opts.name, true);
            if !errors.is_empty() {
                bail!(
                    "could not clear a crashed lab's leftovers: {}",
                    errors.join("; ")
                );
            }
            progress.step(&format!(
                "removed leftovers of a crashed lab ({} namespaces)",
                leftovers.len()
            ));
        }
        let run_dir = state::dir(&opts.name);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let layout = Layout::new(&opts.name, opts.nodes, opts.underlay)?;
        let state = LabState {
            name: opts.name.clone(),
            pid: std::process::id(),
            kubeconfig: opts.data_dir.join("kubeconfig"),
            api: String::new(),
            nodes: layout
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.ip.to_string()))
                .collect(),
            namespaces: layout.namespaces(),
            pod_netns_prefix: format!("{}-pod-", opts.name),
            backend: opts.backend.clone(),
            started: agent::rfc3339_now(),
        };
        state.save().context("writing the lab state")?;
        let mut lab = Self {
            state,
            topology: None,
            api: None,
            tasks: JoinSet::new(),
            registry: Arc::new(Registry::default()),
        };
        match lab.bring_up(opts, layout, progress).await {
            Ok(()) => Ok(lab),
            Err(e) => {
                lab.shutdown().await;
                Err(e)
            }
        }
    }

    async fn bring_up(
        &mut self,
        opts: &Options,
        layout: Layout,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let topo = Topology::create(layout)
            .await
            .context("creating the lab's namespaces")?;
        progress.step(&format!(
            "underlay, {} nodes and an outside client",
            topo.nodes.len()
        ));
        let mut cfg = knet_api::Config::new(&opts.data_dir);
        cfg.listen = opts.api_listen;
        let knet_exe = std::env::current_exe().context("finding the knet executable")?;
        cfg.runtime = Some(Arc::new(runtime::LabRuntime {
            registry: self.registry.clone(),
            knet_exe: knet_exe.clone(),
        }));
        let mut api = knet_api::Server::start(cfg)
            .await
            .context("starting the API server")?;
        // Pods reach the API as in a real cluster: the `kubernetes` Service
        // → the control-plane node's address, where the server also listens.
        let cp = std::net::SocketAddr::new(topo.layout.nodes[0].ip.into(), api.addr().port());
        let listener = topo.nodes[0]
            .netns()
            .run(move || std::net::TcpListener::bind(cp))
            .context("entering the control-plane node")?
            .with_context(|| format!("listening on {cp} in the control-plane node"))?;
        api.serve_also(listener)?;
        self.state.api = api.url();
        self.state.kubeconfig = api.kubeconfig_path().to_path_buf();
        self.state.save()?;
        progress.step(&format!("API server {}", api.url()));
        let client = client_for(&api).await?;
        let cp_ip = topo.layout.nodes[0].ip;
        self.spawn_controllers(client.clone(), cp_ip.into(), api.addr().port());
        progress.step("controllers (endpoints, workloads, scheduler, node IPAM)");
        let dns = ClusterDns {
            server: knet_core::defaults::CLUSTER_DNS_IP.to_string(),
            domain: knet_core::defaults::CLUSTER_DOMAIN.to_string(),
        };
        let taint = topo.layout.nodes.len() > 1;
        for (i, (n, ns)) in topo.layout.nodes.iter().zip(&topo.nodes).enumerate() {
            let info = NodeInfo {
                name: n.name.clone(),
                ip: n.ip.to_string(),
                control_plane: i == 0,
                taint,
                kernel: kernel_release(),
                version: knet_core::defaults::KUBERNETES_VERSION.to_string(),
            };
            agent::register_node(client.clone(), info)
                .await
                .with_context(|| format!("registering node {}", n.name))?;
            let env = NodeEnv {
                node_name: n.name.clone(),
                node_ip: n.ip.to_string(),
                node_netns: ns.path().to_path_buf(),
                state_dir: state::dir(&opts.name).join("nodes").join(&n.name),
                netns_prefix: self.state.pod_netns_prefix.clone(),
                knet_exe: knet_exe.clone(),
                dns: dns.clone(),
                node_resolv: ResolvConf {
                    nameservers: opts.upstream.clone(),
                    ..ResolvConf::default()
                },
                service_account: Some(ServiceAccount {
                    token: api.token().to_string(),
                    ca_pem: api.ca_pem().to_string(),
                }),
            };
            self.spawn_node(client.clone(), env, opts);
        }
        progress.step("nodes registered; node agents running");
        wait_kubernetes_service(&topo.nodes).await?;
        progress.step("Service kubernetes (10.96.0.1:443) reachable from every node");
        addons::install(
            &client,
            &knet_exe.to_string_lossy(),
            &dns.server,
            !opts.upstream.is_empty(),
        )
        .await
        .context("deploying the cluster DNS")?;
        progress.step(&format!(
            "cluster DNS: Deployment kube-system/coredns behind {}",
            dns.server
        ));
        wait_dns_ready(&client).await?;
        progress.step("cluster DNS ready");
        let client_ns = knet_podnet::netns::Netns::open(topo.client.path())
            .context("outside client namespace")?;
        let via = topo.layout.nodes[0].ip;
        self.tasks
            .spawn(lb::run(client.clone(), opts.lb_pool, client_ns, via));
        self.topology = Some(topo);
        self.api = Some(api);
        Ok(())
    }

    /// Runs the controllers in-process; the `kubernetes` Service points at
    /// the control-plane node's underlay address.
    fn spawn_controllers(&mut self, client: kube::Client, api_ip: std::net::IpAddr, port: u16) {
        let cfg = knet_controllers::run::Config {
            apiserver_endpoints: vec![api_ip],
            apiserver_port: i32::from(port),
            leader_elect: false,
            ..Default::default()
        };
        self.tasks.spawn(async move {
            if let Err(e) = knet_controllers::run::run_all(client, cfg).await {
                tracing::error!(error = %e, "controllers stopped");
            }
        });
    }

    /// Starts a node's route agent (host-gw routes or the VXLAN overlay).
    fn spawn_route_agent(&mut self, client: kube::Client, env: &NodeEnv, backend: &str) {
        use knet_podnet::agent::{Agent, AgentConfig, Backend};
        let backend = if backend == "host-gw" {
            Backend::HostGw
        } else {
            Backend::Vxlan
        };
        let mut cfg = AgentConfig::new(&env.node_name, backend);
        cfg.state_dir = Some(env.state_dir.join("podnet"));
        let netns = env.node_netns.clone();
        self.tasks.spawn(async move {
            let name = cfg.node_name.clone();
            let ns = match knet_podnet::netns::Netns::open(&netns) {
                Ok(ns) => ns,
                Err(e) => return tracing::error!(node = %name, error = %e, "route agent"),
            };
            let agent = match Agent::new(cfg, ns, None).await {
                Ok(a) => a,
                Err(e) => return tracing::error!(node = %name, error = %e, "route agent"),
            };
            if let Err(e) =
                knet_podnet::agent::kube::run(&agent, client, std::future::pending(), false).await
            {
                tracing::error!(node = %name, error = %e, "route agent stopped");
            }
        });
    }

    /// Starts a node's agent once the node has its pod CIDR.
    fn spawn_node(&mut self, client: kube::Client, env: NodeEnv, opts: &Options) {
        self.spawn_route_agent(client.clone(), &env, &opts.backend);
        let cidr: ipnet::IpNet = knet_core::defaults::CLUSTER_CIDR
            .parse()
            .expect("default cluster CIDR");
        let (c, node, ns) = (
            client.clone(),
            env.node_name.clone(),
            env.node_netns.clone(),
        );
        self.tasks
            .spawn(async move { proxy::run(c, node, &ns, cidr).await });
        let mtu = pod_mtu(&opts.backend);
        let registry = self.registry.clone();
        self.tasks.spawn(async move {
            let name = env.node_name.clone();
            let cidr = match wait_pod_cidr(&client, &name).await {
                Ok(c) => c,
                Err(e) => return tracing::error!(node = %name, error = %e, "node has no pod CIDR"),
            };
            let ipam = env.state_dir.join("ipam");
            let net = match CniNetwork::new(
                &env.node_netns,
                &cidr,
                knet_core::defaults::CLUSTER_CIDR,
                mtu,
                &ipam,
            ) {
                Ok(n) => n,
                Err(e) => return tracing::error!(node = %name, error = %e, "pod network"),
            };
            if let Err(e) = agent::run(client, env, net, registry).await {
                tracing::error!(node = %name, error = %e, "node agent stopped");
            }
        });
    }

    /// Stops every task, the API server, and removes the namespaces and state.
    pub(crate) async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        // Before the namespaces go: a process left in one would outlive it.
        for e in sweep::kill_processes(&self.state.name) {
            eprintln!("warning: {e}");
        }
        drop(self.topology.take());
        for e in sweep::sweep(&self.state.name, true) {
            eprintln!("warning: {e}");
        }
    }

    /// Waits until Ctrl-C or SIGTERM.
    pub(crate) async fn wait_for_signal() {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
}

/// A kube client from the server's kubeconfig.
pub(crate) async fn client_for(api: &knet_api::Server) -> anyhow::Result<kube::Client> {
    crate::cmd::kube_client::client(Some(api.kubeconfig_path()), "the lab writes its own").await
}

/// Waits until every node's proxy has programmed the `kubernetes` Service:
/// a TCP connection to it from each node namespace succeeds. Pods started
/// earlier (the cluster DNS) would otherwise lose seconds to a first API
/// connection that goes nowhere, then to the client's back-off.
async fn wait_kubernetes_service(nodes: &[knet_podnet::netns::NamedNetns]) -> anyhow::Result<()> {
    let target: std::net::SocketAddr =
        std::net::SocketAddr::new(knet_core::defaults::KUBERNETES_SERVICE_IP.parse()?, 443);
    for ns in nodes {
        let ns = ns.netns();
        let mut reached = false;
        for _ in 0..200 {
            let probe = || {
                std::net::TcpStream::connect_timeout(&target, Duration::from_millis(100)).is_ok()
            };
            if ns.run(probe).unwrap_or(false) {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !reached {
            bail!(
                "the kubernetes Service ({target}) is not reachable from node namespace {} after 20s: is the proxy running?",
                ns.path().display()
            );
        }
    }
    Ok(())
}

/// Waits until a cluster DNS pod is Ready (it answers from the API).
async fn wait_dns_ready(client: &kube::Client) -> anyhow::Result<()> {
    let deps: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), "kube-system");
    for _ in 0..600 {
        if let Ok(d) = deps.get("coredns").await
            && d.status.and_then(|s| s.ready_replicas).unwrap_or(0) > 0
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "the cluster DNS did not become ready within 30s; see `kubectl -n kube-system get pods` and `kubectl -n kube-system logs deploy/coredns`"
    )
}

/// Waits for the node IPAM controller to give `node` its pod CIDR.
pub(crate) async fn wait_pod_cidr(client: &kube::Client, node: &str) -> anyhow::Result<String> {
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    for _ in 0..600 {
        if let Ok(n) = nodes.get(node).await
            && let Some(c) = n.spec.and_then(|s| s.pod_cidr)
        {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("node {node} got no spec.podCIDR within 60s (is the node IPAM controller running?)")
}
