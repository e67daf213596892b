//! Internal plumbing of the lab's pod sandboxes: `knet pause`, `knet run-in`
//! and `knet workload`. The node agent starts these; people rarely need to.

use anyhow::Context;
use knet_lab::sandbox::{self, PauseSpec};
use knet_lab::workload::{self, Proto};
use std::path::PathBuf;

/// Options of `knet pause`: hold a pod's namespaces.
#[derive(Debug, clap::Args)]
pub(crate) struct PauseArgs {
    /// The pod's network namespace (a path such as /run/netns/NAME); omit for hostNetwork pods.
    #[arg(long)]
    netns: Option<PathBuf>,
    /// Hostname inside the pod.
    #[arg(long)]
    hostname: String,
    /// TARGET=SOURCE: bind-mount SOURCE over TARGET inside the pod (repeatable).
    #[arg(long = "bind", value_parser = parse_bind)]
    binds: Vec<(PathBuf, PathBuf)>,
    /// Directory served at /var/run/secrets/kubernetes.io/serviceaccount (gives the pod a private /run).
    #[arg(long)]
    service_account: Option<PathBuf>,
}

fn parse_bind(s: &str) -> Result<(PathBuf, PathBuf), String> {
    let (t, src) = s
        .split_once('=')
        .ok_or("expected TARGET=SOURCE, e.g. /etc/hosts=/run/knet/pod/hosts")?;
    Ok((t.into(), src.into()))
}

/// Runs `knet pause`.
pub(crate) fn pause(a: PauseArgs) -> anyhow::Result<()> {
    let spec = PauseSpec {
        netns: a.netns,
        hostname: a.hostname,
        binds: a.binds,
        service_account: a.service_account,
    };
    match sandbox::pause(&spec).context("building the pod sandbox")? {}
}

/// Options of `knet run-in`: run a command inside a pod sandbox.
#[derive(Debug, clap::Args)]
pub(crate) struct RunInArgs {
    /// PID of the sandbox's pause process.
    #[arg(long)]
    pid: u32,
    /// Working directory inside the pod.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// KEY=VALUE environment variables to add (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Give the command a session with stdin as its controlling terminal (for `kubectl exec -t`).
    #[arg(long)]
    tty: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    argv: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.to_string(), v.to_string()))
}

/// Runs `knet run-in`.
pub(crate) fn run_in(a: RunInArgs) -> anyhow::Result<()> {
    match sandbox::run_in(a.pid, &a.argv, &a.env, a.workdir.as_deref(), a.tty)? {}
}

/// Options of `knet workload`: the built-in container workload.
#[derive(Debug, clap::Args)]
pub(crate) struct WorkloadArgs {
    /// PORT or PORT/udp to serve (repeatable); HTTP on TCP ports, echo on UDP.
    #[arg(long = "port", value_parser = parse_port)]
    ports: Vec<(u16, Proto)>,
    /// Name to answer with (defaults to the hostname of the sandbox).
    #[arg(long)]
    hostname: Option<String>,
}

fn parse_port(s: &str) -> Result<(u16, Proto), String> {
    let (num, proto) = match s.split_once('/') {
        Some((n, p)) if p.eq_ignore_ascii_case("udp") => (n, Proto::Udp),
        Some((n, p)) if p.eq_ignore_ascii_case("tcp") => (n, Proto::Tcp),
        Some((_, p)) => return Err(format!("unknown protocol {p:?}: use tcp or udp")),
        None => (s, Proto::Tcp),
    };
    let port = num
        .parse()
        .map_err(|_| format!("{num:?} is not a port number"))?;
    Ok((port, proto))
}

/// Runs `knet workload`.
pub(crate) fn workload(a: WorkloadArgs) -> anyhow::Result<()> {
    let hostname = match a.hostname {
        Some(h) => h,
        None => nix::unistd::gethostname()?.to_string_lossy().into_owned(),
    };
    if a.ports.is_empty() {
        eprintln!("knet workload: {hostname} has no ports; idling");
        loop {
            std::thread::park();
        }
    }
    match workload::serve(&a.ports, &hostname)? {}
}
