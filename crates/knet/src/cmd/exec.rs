//! `knet exec NODE -- CMD`: run a command on a lab node (in its network namespace).

use crate::lab::{state, sweep};
use anyhow::{Context, bail};
use nix::sched::{CloneFlags, setns};
use std::os::unix::process::CommandExt;

/// Options of `knet exec`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cluster name.
    #[arg(long, default_value = "knet")]
    name: String,
    /// Node name (`knet-control-plane`, `knet-worker`…), or `client` / `underlay`.
    node: String,
    /// The command (default: $SHELL).
    #[arg(last = true)]
    command: Vec<String>,
}

/// Runs `knet exec`.
pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let ns = match a.node.as_str() {
        "client" | "underlay" => format!("{}-{}", a.name, a.node),
        n => n.to_string(),
    };
    if !sweep::owned_by(&a.name, &ns) || !std::path::Path::new("/run/netns").join(&ns).exists() {
        let nodes: Vec<String> = state::LabState::load(&a.name)
            .map(|s| s.nodes.into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        bail!(
            "no node {:?} in cluster {:?}; nodes: {}",
            a.node,
            a.name,
            if nodes.is_empty() {
                "none (is it up?)".into()
            } else {
                nodes.join(", ")
            }
        );
    }
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .with_context(|| format!("opening namespace {ns}"))?;
    setns(f, CloneFlags::CLONE_NEWNET)
        .context("entering the node's network namespace (needs root)")?;
    let argv = if a.command.is_empty() {
        vec![std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())]
    } else {
        a.command
    };
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    bail!("cannot run {:?}: {err}", argv[0])
}
