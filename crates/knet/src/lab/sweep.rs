//! Removing everything a lab made, also after a crash: processes living in
//! its namespaces (pause and container processes), the namespaces (which
//! take their links, routes, VXLAN devices and nftables tables with them),
//! and its runtime directory. Every step runs; failures are reported together.

use super::state::{self, LabState};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether `ns` (a name under /run/netns) belongs to lab `name`.
pub(crate) fn owned_by(name: &str, ns: &str) -> bool {
    let Some(rest) = ns.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    matches!(rest, "underlay" | "client" | "control-plane")
        || rest.starts_with("pod-")
        || rest
            .strip_prefix("worker")
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// Network namespaces of lab `name` present now.
pub(crate) fn lab_namespaces(name: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| owned_by(name, n))
        .collect();
    v.sort();
    v
}

/// PIDs (other than ours) whose network namespace is one of `namespaces`.
fn processes_in(namespaces: &[String]) -> Vec<i32> {
    let inodes: HashSet<u64> = namespaces
        .iter()
        .filter_map(|n| std::fs::metadata(Path::new("/run/netns").join(n)).ok())
        .map(|m| m.ino())
        .collect();
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| inodes.contains(&m.ino()))
        })
        .collect()
}

/// Kills every process (other than this one) living in one of lab `name`'s
/// network namespaces — the lab's own and anything a user started there
/// with `knet exec` — so none outlives the namespaces it ran in.
/// Returns what could not be killed.
pub(crate) fn kill_processes(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for pid in processes_in(&lab_namespaces(name)) {
        let killed = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        if let Err(e) = killed
            && e != nix::errno::Errno::ESRCH
        {
            errors.push(format!("kill pid {pid}: {e}"));
        }
    }
    errors
}

/// Removes lab `name` completely (keeping `up.log` when `keep_log`: a new
/// `knet up` clearing a crashed lab is writing it). Returns what could not be removed.
pub(crate) fn sweep(name: &str, keep_log: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(st) = LabState::load(name)
        && st.alive()
        && st.pid != std::process::id()
    {
        errors.push(format!("knet up for {name:?} is still running as pid {}: stop it with `knet down --name {name}`", st.pid));
        return errors;
    }
    errors.extend(kill_processes(name));
    let namespaces = lab_namespaces(name);
    for ns in &namespaces {
        knet_podnet::netns::delete_named(ns);
        if Path::new("/run/netns").join(ns).exists() {
            errors.push(format!("network namespace {ns} could not be removed"));
        }
    }
    errors.extend(clear_dir(&state::dir(name), keep_log));
    errors
}

/// Empties the lab's runtime directory and removes it, unless `keep_log`:
/// then `up.log` stays, as a detached `knet up` may be writing it while it
/// clears a crashed lab.
fn clear_dir(dir: &Path, keep_log: bool) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for e in rd.flatten() {
        if keep_log && e.file_name() == "up.log" {
            continue;
        }
        let p = e.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if let Err(err) = r {
            errors.push(format!("remove {}: {err}", p.display()));
        }
    }
    if !keep_log {
        let _ = std::fs::remove_dir(dir);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_by_exact_pattern() {
        for ns in [
            "lab-underlay",
            "lab-client",
            "lab-control-plane",
            "lab-worker",
            "lab-worker12",
            "lab-pod-default-web-0",
        ] {
            assert!(owned_by("lab", ns), "{ns}");
        }
        for ns in [
            "lab2-worker",
            "lab-workerx",
            "labworker",
            "other-lab-worker",
            "lab-",
            "lab-podx",
        ] {
            assert!(!owned_by("lab", ns), "{ns}");
        }
    }
}
