//! `knet up`: a whole cluster network on this machine.

use crate::lab::{Lab, Options, Progress, state};
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `knet up`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cluster name: prefixes node names (`<name>-control-plane`, `<name>-worker`…) and namespaces.
    #[arg(long, default_value = "knet")]
    name: String,
    /// Number of nodes (the first is the control-plane node).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: u16,
    /// How pod traffic crosses nodes: `vxlan` (flannel's overlay, UDP 8472) or `host-gw` (plain routes).
    #[arg(long, default_value = "vxlan", value_parser = ["vxlan", "host-gw"])]
    backend: String,
    /// API server data (store, certificates, token, kubeconfig). Default: /run/knet/<name>/api.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the API server listens for kubectl.
    #[arg(long, default_value = knet_core::defaults::API_ADDR)]
    api_listen: SocketAddr,
    /// The lab's underlay network (exists only inside the lab's namespaces).
    #[arg(long, default_value = "172.18.0.0/16")]
    underlay: ipnet::Ipv4Net,
    /// Upstream DNS servers for names outside the cluster (addresses inside the lab, e.g. the outside client).
    #[arg(long = "upstream")]
    upstream: Vec<String>,
    /// Pool of LoadBalancer addresses on the underlay.
    #[arg(long, default_value = "172.18.255.200/29")]
    lb_pool: ipnet::Ipv4Net,
    /// Run in the background; stop with `knet down`.
    #[arg(long)]
    detach: bool,
}

fn options(a: &Args) -> Options {
    Options {
        name: a.name.clone(),
        nodes: usize::from(a.nodes),
        backend: a.backend.clone(),
        data_dir: a
            .data_dir
            .clone()
            .unwrap_or_else(|| state::dir(&a.name).join("api")),
        api_listen: a.api_listen,
        underlay: a.underlay,
        upstream: a.upstream.clone(),
        lb_pool: a.lb_pool,
    }
}

fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "knet up creates network namespaces and needs root: run it as root (for example with sudo)"
        );
    }
    Ok(())
}

/// Runs `knet up`.
pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    require_root()?;
    if a.detach {
        return detach(&a);
    }
    let opts = options(&a);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        eprintln!(
            "Creating cluster {:?} ({} nodes, {}) …",
            opts.name, opts.nodes, opts.backend
        );
        let progress = Progress::new();
        let lab = Lab::start(&opts, &progress).await?;
        std::fs::write(state::dir(&opts.name).join("ready"), b"")?;
        print_ready(&lab.state);
        if std::env::var_os("KNET_DETACHED").is_none() {
            eprintln!(
                "\nRunning in the foreground: Ctrl-C stops the cluster and removes everything."
            );
        }
        Lab::wait_for_signal().await;
        eprintln!("Stopping cluster {:?} …", opts.name);
        lab.shutdown().await;
        eprintln!("Cluster {:?} removed.", opts.name);
        Ok(())
    })
}

fn print_ready(st: &state::LabState) {
    let kc = st.kubeconfig.display();
    println!("\nCluster {:?} is up: API server {}", st.name, st.api);
    println!("\n  export KUBECONFIG={kc}\n");
    println!("Try:");
    println!("  kubectl get nodes -o wide");
    println!("  kubectl create deployment nginx --image=nginx:1.19 --replicas=3");
    println!("  kubectl expose deployment nginx --port=80 --target-port=80");
    println!("  kubectl get svc,ep,pods -o wide");
    if let Some((node, _)) = st.nodes.first() {
        println!("  knet exec {node} -- ip route");
    }
    println!(
        "  knet down{}",
        if st.name == "knet" {
            String::new()
        } else {
            format!(" --name {}", st.name)
        }
    );
}

/// Starts `knet up` in the background and returns once the lab is ready.
fn detach(a: &Args) -> anyhow::Result<()> {
    let dir = state::dir(&a.name);
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("up.log");
    let log = std::fs::File::create(&log_path)?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|x| x != "--detach")
        .collect();
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(&args)
        .env("KNET_DETACHED", "1")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let _ = std::fs::remove_file(dir.join("ready"));
    let mut child = cmd.spawn().context("starting knet up in the background")?;
    eprintln!(
        "Starting cluster {:?} in the background (log: {}) …",
        a.name,
        log_path.display()
    );
    for _ in 0..1200 {
        if dir.join("ready").exists() {
            if let Some(st) = state::LabState::load(&a.name) {
                print_ready(&st);
            }
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("knet up exited ({status}) before the cluster was ready:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the cluster was not ready after 120s; see {}",
        log_path.display()
    )
}
