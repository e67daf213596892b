//! `knet`: the Kubernetes networking system in one binary.
//!
//! Each subcommand lives in `cmd/<name>.rs` with its own `Args` and `run`.

use clap::{Parser, Subcommand};

mod cmd;
mod lab;

/// knet — pod network, Service load balancing and cluster DNS, in one binary.
///
/// On one machine, `knet up` runs a whole cluster network made of Linux network
/// namespaces with an embedded kubectl-compatible API server. In a real cluster,
/// `knet dns`, `knet proxy`, `knet podnet` and `knet cni` replace CoreDNS,
/// kube-proxy and flannel.
#[derive(Debug, Parser)]
#[command(name = "knet", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a whole cluster network on this machine (nodes and pods as network namespaces).
    Up(cmd::up::Args),
    /// Stop a cluster started by `knet up` and remove everything it made.
    Down(cmd::down::Args),
    /// Show the clusters running on this machine.
    Status(cmd::status::Args),
    /// Run a command on a lab node: `knet exec knet-worker -- ip route`.
    Exec(cmd::exec::Args),
    /// Send one packet from a lab pod and show its path through the nodes' nftables and routes.
    Trace(cmd::trace::Args),
    /// Run the node agent (the kubelet's role in the lab) for one node against any API server.
    Agent(cmd::agent::Args),
    /// Run the embedded kubectl-compatible API server.
    Api(cmd::api::Args),
    /// Run the controllers (EndpointSlices, Endpoints, workloads, scheduler, node IPAM).
    Controllers(cmd::controllers::Args),
    /// Run the cluster DNS server (replaces CoreDNS).
    Dns(cmd::dns::Args),
    /// Run the Service proxy on nftables (replaces kube-proxy).
    Proxy(cmd::proxy::Args),
    /// Run the node route agent: host-gw routes or a VXLAN overlay (like flanneld).
    Podnet(cmd::podnet::Args),
    /// CNI plugin entry point (reads CNI_* variables and the network config on stdin).
    Cni(cmd::cni::Args),
    /// Hold a pod sandbox's namespaces (internal: started by the node agent).
    #[command(hide = true)]
    Pause(cmd::sandbox::PauseArgs),
    /// Run a command inside a pod sandbox (internal: started by the node agent).
    #[command(hide = true)]
    RunIn(cmd::sandbox::RunInArgs),
    /// The built-in container workload: HTTP answering the pod hostname, UDP echo.
    #[command(hide = true)]
    Workload(cmd::sandbox::WorkloadArgs),
}

fn main() -> std::process::ExitCode {
    // A CNI runtime calls the plugin by its installed name: behave as `knet cni`.
    if cmd::cni::invoked_as_plugin() {
        return cmd::cni::main_as_plugin();
    }
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Up(a) => cmd::up::run(a),
        Command::Down(a) => cmd::down::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Exec(a) => cmd::exec::run(a),
        Command::Trace(a) => cmd::trace::run(a),
        Command::Agent(a) => cmd::agent::run(a),
        Command::Api(a) => cmd::api::run(a),
        Command::Controllers(a) => cmd::controllers::run(a),
        Command::Dns(a) => cmd::dns::run(a),
        Command::Proxy(a) => cmd::proxy::run(a),
        Command::Podnet(a) => cmd::podnet::run(a),
        Command::Cni(a) => cmd::cni::run(a),
        Command::Pause(a) => cmd::sandbox::pause(a),
        Command::RunIn(a) => cmd::sandbox::run_in(a),
        Command::Workload(a) => cmd::sandbox::workload(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KNET_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
