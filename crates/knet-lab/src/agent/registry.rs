//! The live sandboxes of every node agent in this process, by pod: what
//! `kubectl exec`, `attach` and `logs` need to find a pod's namespaces, its
//! containers' environment and their log files.

use super::console::Console;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One running pod.
#[derive(Debug, Clone)]
pub struct PodEntry {
    /// PID of the sandbox's pause process.
    pub pause_pid: u32,
    /// The pod's directory (logs under `<container>/0.log`).
    pub dir: PathBuf,
    /// Containers in spec order, with the environment each was started with.
    pub containers: Vec<(String, Vec<(String, String)>)>,
    /// The containers' consoles, in the same order (for `kubectl attach`).
    pub consoles: Vec<Arc<Console>>,
}

impl PodEntry {
    /// The named container, or the first when `name` is None.
    pub fn container(&self, name: Option<&str>) -> Option<&(String, Vec<(String, String)>)> {
        match name {
            Some(n) => self.containers.iter().find(|(c, _)| c == n),
            None => self.containers.first(),
        }
    }

    /// The named container's console, or the first container's.
    pub fn console(&self, name: Option<&str>) -> Option<&Arc<Console>> {
        let i = match name {
            Some(n) => self.containers.iter().position(|(c, _)| c == n)?,
            None => 0,
        };
        self.consoles.get(i)
    }
}

/// Pods by `(namespace, name)`.
#[derive(Debug, Default)]
pub struct Registry {
    pods: Mutex<HashMap<(String, String), PodEntry>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PodEntry>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a pod's sandbox.
    pub fn insert(&self, ns: &str, name: &str, entry: PodEntry) {
        self.lock()
            .insert((ns.to_string(), name.to_string()), entry);
    }

    /// Forgets a pod.
    pub fn remove(&self, ns: &str, name: &str) {
        self.lock().remove(&(ns.to_string(), name.to_string()));
    }

    /// The pod's entry, if it runs here.
    pub fn get(&self, ns: &str, name: &str) -> Option<PodEntry> {
        self.lock()
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }
}
