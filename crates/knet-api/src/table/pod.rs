//! The pod row: READY, STATUS, RESTARTS computed from container statuses
//! exactly as kube's `printPod` does.

use super::format::{NONE, arr_at, human_duration, int_at, seconds_since, since, str_at};
use serde_json::{Value, json};
use std::time::SystemTime;

/// Running tally while walking container statuses.
#[derive(Default)]
struct Tally {
    restarts: i64,
    ready: i64,
    /// Latest `lastState.terminated.finishedAt`, as seconds-ago (smaller = later).
    last_restart: Option<i64>,
}

impl Tally {
    fn note_restart(&mut self, status: &Value, now: SystemTime) {
        let finished = str_at(status, "/lastState/terminated/finishedAt");
        if let Some(ago) = seconds_since(finished, now) {
            self.last_restart = Some(self.last_restart.map_or(ago, |cur| cur.min(ago)));
        }
    }
}

fn terminated_reason(term: &Value, prefix: &str) -> String {
    let reason = str_at(term, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    match int_at(term, "/signal") {
        0 => format!("{prefix}ExitCode:{}", int_at(term, "/exitCode")),
        sig => format!("{prefix}Signal:{sig}"),
    }
}

fn condition_true(pod: &Value, ty: &str) -> bool {
    arr_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == ty && str_at(c, "/status") == "True")
}

fn is_sidecar(pod: &Value, name: &str) -> bool {
    arr_at(pod, "/spec/initContainers")
        .iter()
        .any(|c| str_at(c, "/name") == name && str_at(c, "/restartPolicy") == "Always")
}

/// Walks init container statuses; returns the STATUS reason if still
/// initializing, and the sidecars' tally.
fn init_containers(
    pod: &Value,
    reason: &mut String,
    all: &mut Tally,
    sidecars: &mut Tally,
    now: SystemTime,
) -> bool {
    let total = arr_at(pod, "/spec/initContainers").len();
    for (i, st) in arr_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let restarts = int_at(st, "/restartCount");
        all.restarts += restarts;
        all.note_restart(st, now);
        let sidecar = is_sidecar(pod, str_at(st, "/name"));
        if sidecar {
            sidecars.restarts += restarts;
            sidecars.note_restart(st, now);
        }
        let term = st.pointer("/state/terminated");
        let waiting = str_at(st, "/state/waiting/reason");
        if term.is_some_and(|t| int_at(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && st.get("started").and_then(Value::as_bool) == Some(true) {
            if st.get("ready").and_then(Value::as_bool) == Some(true) {
                sidecars.ready += 1;
            }
            continue;
        }
        *reason = match term {
            Some(t) => terminated_reason(t, "Init:"),
            None if !waiting.is_empty() && waiting != "PodInitializing" => {
                format!("Init:{waiting}")
            }
            None => format!("Init:{i}/{total}"),
        };
        return true;
    }
    false
}

/// Walks init then regular container statuses as kube does, updating the
/// STATUS `reason`; returns the READY count, restarts and last restart.
fn statuses(pod: &Value, reason: &mut String, now: SystemTime) -> Tally {
    let mut all = Tally::default();
    let mut sidecars = Tally::default();
    let initializing = init_containers(pod, reason, &mut all, &mut sidecars, now);
    all.ready = sidecars.ready;
    if initializing && !condition_true(pod, "Initialized") {
        return all;
    }
    let mut tally = sidecars;
    let mut has_running = false;
    for st in arr_at(pod, "/status/containerStatuses").iter().rev() {
        tally.restarts += int_at(st, "/restartCount");
        tally.note_restart(st, now);
        let waiting = str_at(st, "/state/waiting/reason");
        if !waiting.is_empty() {
            *reason = waiting.to_string();
        } else if let Some(t) = st.pointer("/state/terminated") {
            *reason = terminated_reason(t, "");
        } else if st.get("ready").and_then(Value::as_bool) == Some(true)
            && st.pointer("/state/running").is_some()
        {
            has_running = true;
            tally.ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        *reason = if condition_true(pod, "Ready") {
            "Running"
        } else {
            "NotReady"
        }
        .into();
    }
    tally
}

/// Cells of one pod row (all nine columns, as the server prints them wide).
pub(crate) fn cells(pod: &Value, now: SystemTime) -> Vec<Value> {
    let phase = str_at(pod, "/status/phase");
    let mut reason = match str_at(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = arr_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".into();
    }
    let sidecar_count = arr_at(pod, "/spec/initContainers")
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .count();
    let total = arr_at(pod, "/spec/containers").len() + sidecar_count;

    let tally = statuses(pod, &mut reason, now);
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && str_at(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts = match tally.last_restart {
        Some(ago) if tally.restarts != 0 => {
            format!("{} ({} ago)", tally.restarts, human_duration(ago))
        }
        _ => tally.restarts.to_string(),
    };
    let mut cells = vec![
        json!(str_at(pod, "/metadata/name")),
        json!(format!("{}/{}", tally.ready, total)),
        json!(reason),
        json!(restarts),
        json!(since(&pod["metadata"]["creationTimestamp"], now)),
    ];
    cells.extend(wide_cells(pod).into_iter().map(Value::String));
    cells
}

fn or_none(s: &str) -> String {
    if s.is_empty() { NONE.into() } else { s.into() }
}

fn wide_cells(pod: &Value) -> [String; 4] {
    let ip = arr_at(pod, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .unwrap_or("");
    let gates = arr_at(pod, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        NONE.to_string()
    } else {
        let conditions = arr_at(pod, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == ty)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    [
        or_none(ip),
        or_none(str_at(pod, "/spec/nodeName")),
        or_none(str_at(pod, "/status/nominatedNodeName")),
        readiness,
    ]
}

/// Row conditions kube attaches to finished pods.
pub(crate) fn conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}
