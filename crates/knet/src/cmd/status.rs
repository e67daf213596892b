//! `knet status`: the labs on this machine.

use crate::lab::{state, sweep};
use std::fmt::Write as _;
use std::io::Write as _;

/// Options of `knet status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet status`.
pub(crate) fn run(_a: Args) -> anyhow::Result<()> {
    let mut out = String::new();
    let names = state::all();
    if names.is_empty() {
        out.push_str("No knet clusters. Start one with `knet up` (as root).\n");
    }
    for name in &names {
        let Some(st) = state::LabState::load(name) else {
            continue;
        };
        let health = if st.alive() {
            "running"
        } else {
            "crashed: run `knet down --force`"
        };
        let _ = writeln!(
            out,
            "cluster {name}: {health} (pid {}, since {})",
            st.pid, st.started
        );
        let _ = writeln!(out, "  API server  {}", st.api);
        let _ = writeln!(
            out,
            "  kubeconfig  export KUBECONFIG={}",
            st.kubeconfig.display()
        );
        let _ = writeln!(out, "  backend     {}", st.backend);
        for (node, ip) in &st.nodes {
            let _ = writeln!(
                out,
                "  node        {node:<28} {ip:<15} (knet exec {node} -- …)"
            );
        }
        let pods = sweep::lab_namespaces(name)
            .iter()
            .filter(|n| n.starts_with(&st.pod_netns_prefix))
            .count();
        let _ = writeln!(out, "  pod sandboxes {pods}");
    }
    // A closed pipe (`knet status | head`) is not an error worth a panic.
    match std::io::stdout().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
