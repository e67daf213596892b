//! The record of a running lab, `/run/knet/<name>/state.json`: what `knet
//! status`, `knet down` and `knet exec` read, and what a sweep after a crash
//! uses to find every namespace and process the lab made.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Root of all labs' runtime state (tmpfs: gone after a reboot, like the namespaces).
pub(crate) const RUN_DIR: &str = "/run/knet";

/// What a running lab recorded about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LabState {
    /// Cluster name.
    pub(crate) name: String,
    /// PID of the `knet up` process.
    pub(crate) pid: u32,
    /// Admin kubeconfig.
    pub(crate) kubeconfig: PathBuf,
    /// API server URL for the user.
    pub(crate) api: String,
    /// Nodes: name, underlay IP.
    pub(crate) nodes: Vec<(String, String)>,
    /// Every network namespace the lab made (nodes, underlay, client).
    pub(crate) namespaces: Vec<String>,
    /// Prefix of pod namespace names.
    pub(crate) pod_netns_prefix: String,
    /// Backend: vxlan or host-gw.
    pub(crate) backend: String,
    /// RFC 3339 start time.
    pub(crate) started: String,
}

/// `/run/knet/<name>`.
pub(crate) fn dir(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
}

fn file(name: &str) -> PathBuf {
    dir(name).join("state.json")
}

impl LabState {
    /// Reads the state of lab `name`, if recorded.
    pub(crate) fn load(name: &str) -> Option<Self> {
        let text = std::fs::read_to_string(file(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the state atomically (temp file + rename).
    pub(crate) fn save(&self) -> std::io::Result<()> {
        let d = dir(&self.name);
        std::fs::create_dir_all(&d)?;
        let tmp = d.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, file(&self.name))
    }

    /// Whether the recorded `knet up` process still runs.
    pub(crate) fn alive(&self) -> bool {
        is_knet_process(self.pid)
    }
}

/// Whether `pid` is a live `knet` process (not a recycled PID of something else).
pub(crate) fn is_knet_process(pid: u32) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    exe.and_then(|e| {
        e.file_name()
            .map(|n| n.to_string_lossy().starts_with("knet"))
    })
    .unwrap_or(false)
}

/// Names of labs with recorded state.
pub(crate) fn all() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
