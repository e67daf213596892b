//! Pod status as a kubelet writes it (pure): phase, conditions, container
//! statuses, IPs — the fields `kubectl get pods` prints (`1/1 Running`, IP,
//! NODE) and the EndpointSlice controller reads (the Ready condition).

use serde_json::{Value, json};

/// What one container is doing, as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Not started yet, or backing off before a restart.
    Waiting {
        /// `ContainerCreating`, `CrashLoopBackOff`, `RunContainerError`…
        reason: String,
        /// Details, if any.
        message: Option<String>,
    },
    /// Running since `started_at` (RFC 3339).
    Running {
        /// RFC 3339 start time.
        started_at: String,
    },
    /// Exited.
    Terminated {
        /// Exit code (128 + signal when killed).
        exit_code: i32,
        /// `Completed` or `Error`.
        reason: String,
        /// RFC 3339 start time.
        started_at: String,
        /// RFC 3339 end time.
        finished_at: String,
    },
}

/// One container's observed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerObs {
    /// Container name.
    pub name: String,
    /// Image from the spec.
    pub image: String,
    /// Current state.
    pub state: ContainerState,
    /// The previous run's end, shown as `lastState`.
    pub last_terminated: Option<ContainerState>,
    /// Readiness (probe result; true without a readiness probe once running).
    pub ready: bool,
    /// Restarts so far.
    pub restart_count: u32,
}

impl ContainerObs {
    /// A container not running yet: waiting with `reason` (and `message`).
    pub fn waiting(name: &str, image: &str, reason: &str, message: Option<&str>) -> ContainerObs {
        ContainerObs {
            name: name.to_string(),
            image: image.to_string(),
            state: ContainerState::Waiting {
                reason: reason.to_string(),
                message: message.map(str::to_string),
            },
            last_terminated: None,
            ready: false,
            restart_count: 0,
        }
    }
}

/// Everything the agent knows about a pod at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodObs {
    /// Pod IPs (empty before the sandbox exists).
    pub pod_ips: Vec<String>,
    /// The node's address.
    pub host_ip: String,
    /// RFC 3339 time the agent accepted the pod.
    pub start_time: String,
    /// Whether the sandbox (network) exists.
    pub sandbox_ready: bool,
    /// Container observations, in spec order.
    pub containers: Vec<ContainerObs>,
    /// Ephemeral containers started so far (`kubectl debug`), in order;
    /// they count for neither the phase nor readiness.
    pub ephemeral: Vec<ContainerObs>,
    /// RFC 3339 "now", for condition transition times.
    pub now: String,
}

impl PodObs {
    /// Records container `i`'s observation: the regular containers come
    /// first, the ephemeral ones after them.
    pub fn set(&mut self, i: usize, c: ContainerObs) {
        let n = self.containers.len();
        let slot = match i.checked_sub(n) {
            None => self.containers.get_mut(i),
            Some(e) => self.ephemeral.get_mut(e),
        };
        if let Some(slot) = slot {
            *slot = c;
        }
    }
}

fn state_json(s: &ContainerState) -> Value {
    match s {
        ContainerState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        ContainerState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        ContainerState::Terminated {
            exit_code,
            reason,
            started_at,
            finished_at,
        } => json!({
            "terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at}
        }),
    }
}

/// The pod phase from its containers and restart policy, by the kubelet's rules.
pub fn phase(obs: &PodObs, restart_policy: &str) -> &'static str {
    let cs = &obs.containers;
    if cs.is_empty() || !obs.sandbox_ready {
        return "Pending";
    }
    let running = cs
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running { .. }))
        .count();
    let waiting = cs
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Waiting { .. }))
        .count();
    let term: Vec<i32> = cs
        .iter()
        .filter_map(|c| match c.state {
            ContainerState::Terminated { exit_code, .. } => Some(exit_code),
            _ => None,
        })
        .collect();
    if waiting > 0 && running == 0 && term.is_empty() {
        return "Pending";
    }
    // A running container, or any container that will be restarted
    // (Always, or waiting for its next start), keeps the pod Running.
    if running > 0 || waiting > 0 || restart_policy == "Always" {
        return "Running";
    }
    match (restart_policy, term.iter().all(|&c| c == 0)) {
        (_, true) => "Succeeded",
        ("OnFailure", false) => "Running",
        _ => "Failed",
    }
}

fn condition(kind: &str, ok: bool, now: &str, reason: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let (false, Some(r)) = (ok, reason) {
        c["reason"] = json!(r);
    }
    c
}

/// One entry of `containerStatuses` (or `ephemeralContainerStatuses`).
fn container_status(c: &ContainerObs) -> Value {
    let mut s = json!({
        "name": c.name, "image": c.image, "imageID": "", "ready": c.ready,
        "restartCount": c.restart_count, "started": matches!(c.state, ContainerState::Running { .. }),
        "state": state_json(&c.state),
        "lastState": c.last_terminated.as_ref().map(state_json).unwrap_or_else(|| json!({})),
    });
    if matches!(
        c.state,
        ContainerState::Running { .. } | ContainerState::Terminated { .. }
    ) {
        s["containerID"] = json!(format!("knet://{}", c.name));
    }
    s
}

/// Builds `status` for `pod` from the observation. Condition transition
/// times are kept from `pod`'s current status when a condition did not change.
pub fn pod_status(pod: &Value, obs: &PodObs) -> Value {
    let restart_policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let phase = phase(obs, restart_policy);
    let all_ready = !obs.containers.is_empty() && obs.containers.iter().all(|c| c.ready);
    let initialized = obs.sandbox_ready;
    let previous = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let keep_time = |mut c: Value| {
        let same = previous
            .iter()
            .find(|p| p["type"] == c["type"] && p["status"] == c["status"]);
        if let Some(t) = same.and_then(|p| p.get("lastTransitionTime")) {
            c["lastTransitionTime"] = t.clone();
        }
        c
    };
    let not_ready = (!all_ready).then_some("ContainersNotReady");
    let conditions: Vec<Value> = [
        condition(
            "PodReadyToStartContainers",
            obs.sandbox_ready,
            &obs.now,
            None,
        ),
        condition("Initialized", initialized, &obs.now, None),
        condition("Ready", all_ready, &obs.now, not_ready),
        condition("ContainersReady", all_ready, &obs.now, not_ready),
        condition("PodScheduled", true, &obs.now, None),
    ]
    .into_iter()
    .map(keep_time)
    .collect();
    let statuses: Vec<Value> = obs.containers.iter().map(container_status).collect();
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": obs.host_ip,
        "hostIPs": [{"ip": obs.host_ip}],
        "startTime": obs.start_time,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    });
    if !obs.ephemeral.is_empty() {
        let e: Vec<Value> = obs.ephemeral.iter().map(container_status).collect();
        status["ephemeralContainerStatuses"] = json!(e);
    }
    if let Some(ip) = obs.pod_ips.first() {
        status["podIP"] = json!(ip);
        status["podIPs"] = obs.pod_ips.iter().map(|i| json!({"ip": i})).collect();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str, ready: bool) -> ContainerObs {
        ContainerObs {
            name: name.into(),
            image: "nginx:1.19".into(),
            state: ContainerState::Running {
                started_at: "2026-11-22T00:00:01Z".into(),
            },
            last_terminated: None,
            ready,
            restart_count: 0,
        }
    }

    fn obs(containers: Vec<ContainerObs>) -> PodObs {
        PodObs {
            pod_ips: vec!["10.244.1.5".into()],
            host_ip: "172.18.0.3".into(),
            start_time: "2026-11-22T00:00:00Z".into(),
            sandbox_ready: true,
            containers,
            ephemeral: Vec::new(),
            now: "2026-11-22T00:00:02Z".into(),
        }
    }

    #[test]
    fn running_and_ready_like_kwok() {
        let pod = json!({"spec": {}});
        let s = pod_status(&pod, &obs(vec![running("nginx", true)]));
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.244.1.5");
        assert_eq!(s["hostIP"], "172.18.0.3");
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-11-22T00:00:01Z"
        );
    }

    fn ready_condition(status: &Value) -> &Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
    }

    #[test]
    fn one_unready_container_makes_the_pod_unready_and_keeps_times() {
        let pod = json!({"spec": {}, "status": {"conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-21T23:00:00Z"}]}});
        let s = pod_status(&pod, &obs(vec![running("a", true), running("b", false)]));
        let ready = ready_condition(&s);
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(ready["lastTransitionTime"], "2026-11-21T23:00:00Z");
    }

    #[test]
    fn ephemeral_containers_get_their_own_statuses_and_not_readiness() {
        let mut o = obs(vec![running("web", true)]);
        assert!(pod_status(&json!({"spec": {}}), &o)["ephemeralContainerStatuses"].is_null());
        o.ephemeral.push(ContainerObs::waiting(
            "debugger-x",
            "busybox",
            "ContainerCreating",
            None,
        ));
        // Observation 1 is the first ephemeral container (after "web");
        // an index past both is ignored.
        o.set(1, running("debugger-x", false));
        o.set(2, running("nobody", true));
        assert_eq!(o.containers, vec![running("web", true)]);
        let s = pod_status(&json!({"spec": {}}), &o);
        let e = &s["ephemeralContainerStatuses"][0];
        assert_eq!(e["name"], "debugger-x");
        assert!(e["state"]["running"].is_object());
        assert_eq!(e["containerID"], "knet://debugger-x");
        // The pod stays Ready and Running with an unready debugger in it.
        assert_eq!(s["containerStatuses"].as_array().unwrap().len(), 1);
        assert_eq!(s["phase"], "Running");
        assert_eq!(ready_condition(&s)["status"], "True");
    }

    #[test]
    fn phases_follow_restart_policy() {
        let done = |code| ContainerObs {
            state: ContainerState::Terminated {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                started_at: "a".into(),
                finished_at: "b".into(),
            },
            ready: false,
            ..running("c", false)
        };
        assert_eq!(phase(&obs(vec![done(0)]), "Never"), "Succeeded");
        assert_eq!(phase(&obs(vec![done(1)]), "Never"), "Failed");
        assert_eq!(phase(&obs(vec![done(1)]), "OnFailure"), "Running");
        let waiting = ContainerObs {
            state: ContainerState::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            ..running("c", false)
        };
        assert_eq!(phase(&obs(vec![waiting.clone()]), "Always"), "Pending");
        assert_eq!(
            phase(&obs(vec![running("a", true), waiting]), "Always"),
            "Running"
        );
        let mut no_sandbox = obs(vec![]);
        no_sandbox.sandbox_ready = false;
        assert_eq!(phase(&no_sandbox, "Always"), "Pending");
    }
}
