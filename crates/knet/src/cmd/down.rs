//! `knet down`: stop a lab and remove everything it made.

use crate::lab::{state, sweep};
use anyhow::bail;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

/// Options of `knet down`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cluster name.
    #[arg(long, default_value = "knet")]
    name: String,
    /// Kill the lab's process if it does not stop, and sweep leftovers of a crashed lab.
    #[arg(long)]
    force: bool,
}

/// Runs `knet down`.
pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "knet down removes network namespaces and needs root: run it as root (for example with sudo)"
        );
    }
    let st = state::LabState::load(&a.name);
    if let Some(st) = st.as_ref().filter(|s| s.alive()) {
        let pid = Pid::from_raw(st.pid as i32);
        eprintln!("Stopping cluster {:?} (pid {}) …", a.name, st.pid);
        let _ = kill(pid, Signal::SIGTERM);
        let mut stopped = wait_gone(st.pid, Duration::from_secs(30));
        if !stopped && a.force {
            let _ = kill(pid, Signal::SIGKILL);
            stopped = wait_gone(st.pid, Duration::from_secs(5));
        }
        if !stopped {
            bail!(
                "pid {} did not stop within 30s; run `knet down --name {} --force`",
                st.pid,
                a.name
            );
        }
    } else if st.is_none()
        && sweep::lab_namespaces(&a.name).is_empty()
        && !state::dir(&a.name).exists()
    {
        eprintln!("No cluster named {:?} is running; nothing to do.", a.name);
        return Ok(());
    }
    let errors = sweep::sweep(&a.name, false);
    if !errors.is_empty() {
        bail!(
            "some of cluster {:?} could not be removed:\n  {}",
            a.name,
            errors.join("\n  ")
        );
    }
    eprintln!("Cluster {:?} removed.", a.name);
    Ok(())
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if !state::is_knet_process(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
