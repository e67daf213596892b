//! The Node object a kubelet registers and keeps fresh: labels (role,
//! hostname), the control-plane taint, addresses, capacity, node info and
//! the Ready condition.

use serde_json::{Value, json};

/// What to register.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// InternalIP.
    pub ip: String,
    /// Whether this is the control-plane node (labelled, and tainted when `taint`).
    pub control_plane: bool,
    /// Whether to taint the control-plane node NoSchedule (kubeadm does; not for a one-node lab).
    pub taint: bool,
    /// Kernel version for `nodeInfo` (`uname -r`).
    pub kernel: String,
    /// Kubernetes version reported as the kubelet's.
    pub version: String,
}

/// The Node object to create.
pub fn node_object(n: &NodeInfo) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": std::env::consts::ARCH,
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": std::env::consts::ARCH,
    });
    let mut spec = json!({});
    if n.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        if n.taint {
            spec["taints"] =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name, "labels": labels}, "spec": spec})
}

/// The node's Lease in `kube-node-lease` (the kubelet's heartbeat), owned
/// by the Node so it goes with it; `now` is a MicroTime.
pub fn node_lease(node: &str, node_uid: &str, now: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}],
        },
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now},
    })
}

/// The Node status: Ready, addresses, capacity and node info, stamped `now`.
pub fn node_status(n: &NodeInfo, now: &str) -> Value {
    let cond = |t: &str, s: &str, reason: &str, msg: &str| json!({"type": t, "status": s, "reason": reason, "message": msg, "lastHeartbeatTime": now, "lastTransitionTime": now});
    let capacity = json!({"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"});
    json!({
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
        "capacity": capacity, "allocatable": capacity,
        "nodeInfo": {
            "kubeletVersion": n.version, "kubeProxyVersion": n.version, "kernelVersion": n.kernel,
            "osImage": "knet lab (network namespaces)", "containerRuntimeVersion": "knet://0.1.0",
            "operatingSystem": "linux", "architecture": std::env::consts::ARCH,
            "machineID": "", "systemUUID": "", "bootID": "",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_the_kubelets() {
        let l = node_lease("n1", "u1", "2026-01-01T00:00:00.000001Z");
        assert_eq!(l["metadata"]["namespace"], "kube-node-lease");
        assert_eq!(l["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(l["spec"]["holderIdentity"], "n1");
        assert_eq!(l["spec"]["leaseDurationSeconds"], 40);
        let lease: k8s_openapi::api::coordination::v1::Lease =
            serde_json::from_value(l).expect("a valid Lease");
        assert!(lease.spec.and_then(|s| s.renew_time).is_some());
    }

    #[test]
    fn control_plane_is_labelled_and_tainted() {
        let n = NodeInfo {
            name: "lab-control-plane".into(),
            ip: "172.18.0.2".into(),
            control_plane: true,
            taint: true,
            kernel: "6.1".into(),
            version: "v1.33.1".into(),
        };
        let o = node_object(&n);
        assert_eq!(
            o["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            ""
        );
        assert_eq!(o["spec"]["taints"][0]["effect"], "NoSchedule");
        let s = node_status(&n, "2026-11-22T00:00:00Z");
        assert_eq!(
            s["addresses"][0],
            json!({"type": "InternalIP", "address": "172.18.0.2"})
        );
        assert_eq!(s["conditions"][3]["type"], "Ready");
        let w = node_object(&NodeInfo {
            control_plane: false,
            ..n
        });
        assert!(w["spec"].get("taints").is_none());
        assert!(
            w["metadata"]["labels"]
                .get("node-role.kubernetes.io/control-plane")
                .is_none()
        );
    }
}
