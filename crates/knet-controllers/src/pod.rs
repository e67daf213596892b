//! Facts about pods and object metadata that several controllers read:
//! readiness, availability, owner references, IPs and named ports.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

/// Phase of a pod, `Pending` when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Succeeded or Failed: the pod will never run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The object has a `deletionTimestamp`.
pub fn is_deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Neither terminal nor being deleted: counts toward a controller's replicas.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_deleting(&pod.metadata)
}

/// The pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod's `Ready` condition last became `True` (`Some(None)` when the
/// condition carries no transition time).
fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Running and Ready (what OrderedReady StatefulSets wait for).
pub fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
    }
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether the object is controlled by the owner with this uid.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// A controller owner reference pointing at `owner`.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pod's IPs (`status.podIPs`, else `status.podIP`), parsed; bad ones skipped.
pub fn ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .collect();
    let raw = if listed.is_empty() {
        status.pod_ip.as_deref().into_iter().collect()
    } else {
        listed
    };
    raw.into_iter().filter_map(|s| s.parse().ok()).collect()
}

/// The container port a Service port's `targetPort` means for this pod:
/// a number is taken as is; a name is looked up among the pod's containers'
/// ports with the same protocol. `None` when the pod lacks the named port.
pub fn resolve_target_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            spec.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// `namespace/name` of an object, the key every work queue uses.
pub fn key(meta: &ObjectMeta) -> String {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", meta.name.as_deref().unwrap_or_default()),
        _ => meta.name.clone().unwrap_or_default(),
    }
}

/// Splits a work-queue key into namespace (empty for cluster objects) and name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for test pods.
    use super::*;
    use serde_json::json;

    /// A pod in `ns` with labels, an IP, readiness and named container ports.
    pub(crate) fn pod(
        ns: &str,
        name: &str,
        labels: &[(&str, &str)],
        ip: Option<&str>,
        ready: bool,
    ) -> Pod {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut status = json!({"phase": if ip.is_some() {"Running"} else {"Pending"}});
        if let Some(ip) = ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        status["conditions"] = json!([{"type": "Ready", "status": if ready {"True"} else {"False"},
            "lastTransitionTime": "2025-01-01T00:00:00Z"}]);
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx",
                "ports": [{"name": "http", "containerPort": 80}]}]},
            "status": status,
        }))
        .expect("valid pod")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::pod;
    use super::*;

    #[test]
    fn named_target_port_resolves_per_pod() {
        let p = pod("default", "a", &[], Some("10.0.0.1"), true);
        let named = ServicePort {
            port: 8080,
            target_port: Some(IntOrString::String("http".into())),
            ..Default::default()
        };
        assert_eq!(resolve_target_port(&p, &named), Some(80));
        let udp = ServicePort {
            protocol: Some("UDP".into()),
            ..named.clone()
        };
        assert_eq!(resolve_target_port(&p, &udp), None);
        let missing = ServicePort {
            target_port: Some(IntOrString::String("metrics".into())),
            ..named.clone()
        };
        assert_eq!(resolve_target_port(&p, &missing), None);
        let plain = ServicePort {
            port: 80,
            target_port: None,
            ..Default::default()
        };
        assert_eq!(resolve_target_port(&p, &plain), Some(80));
    }

    #[test]
    fn readiness_and_availability() {
        let ready = pod("d", "a", &[], Some("10.0.0.1"), true);
        let t = "2025-01-01T00:00:10Z".parse::<Timestamp>().unwrap();
        assert!(is_ready(&ready) && is_running_and_ready(&ready));
        assert!(is_available(&ready, 10, t));
        assert!(!is_available(&ready, 11, t));
        let unready = pod("d", "b", &[], Some("10.0.0.2"), false);
        assert!(!is_ready(&unready) && !is_available(&unready, 0, t));
        assert_eq!(ips(&ready), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(key(&ready.metadata), "d/a");
        assert_eq!(split_key("d/a"), ("d", "a"));
        assert_eq!(split_key("n1"), ("", "n1"));
    }
}
