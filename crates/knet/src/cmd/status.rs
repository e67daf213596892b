//! `knet status`: the labs on this machine.

use crate::lab::{state, sweep};

/// Options of `knet status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `knet status`.
pub(crate) fn run(_a: Args) -> anyhow::Result<()> {
    let names = state::all();
    if names.is_empty() {
        println!("No knet clusters. Start one with `sudo knet up`.");
        return Ok(());
    }
    for name in names {
        let Some(st) = state::LabState::load(&name) else {
            continue;
        };
        let health = if st.alive() {
            "running"
        } else {
            "crashed: run `knet down --force`"
        };
        println!(
            "cluster {name}: {health} (pid {}, since {})",
            st.pid, st.started
        );
        println!("  API server  {}", st.api);
        println!(
            "  kubeconfig  export KUBECONFIG={}",
            st.kubeconfig.display()
        );
        println!("  backend     {}", st.backend);
        for (node, ip) in &st.nodes {
            println!("  node        {node:<28} {ip:<15} (knet exec {node} -- …)");
        }
        let pods = sweep::lab_namespaces(&name)
            .iter()
            .filter(|n| n.starts_with(&st.pod_netns_prefix))
            .count();
        println!("  pod sandboxes {pods}");
    }
    Ok(())
}
