use super::*;
use crate::pod::testing::pod;

fn ds(node_selector: Option<serde_json::Value>) -> DaemonSet {
    let mut spec = json!({"selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent"}]}}});
    if let Some(sel) = node_selector {
        spec["template"]["spec"]["nodeSelector"] = sel;
    }
    serde_json::from_value(json!({"metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 1}, "spec": spec})).unwrap()
}

fn node(name: &str, control_plane: bool, labels: serde_json::Value) -> Node {
    let mut n = json!({"metadata": {"name": name, "labels": labels}, "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    if control_plane {
        n["spec"]["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    serde_json::from_value(n).unwrap()
}

fn now() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn running_on(d: &DaemonSet, node: &str, name: &str) -> Pod {
    let mut p = pod_for(d, node);
    let live = pod("kube-system", name, &[], Some("10.244.0.5"), true);
    p.metadata.name = Some(name.into());
    p.status = live.status;
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p
}

#[test]
fn one_pod_per_fitting_node_pinned_by_affinity() {
    let d = ds(None);
    let nodes = [
        node("cp", true, json!({})),
        node("w1", false, json!({})),
        node("w2", false, json!({})),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let (plan, _) = reconcile(&d, &refs, &[], now());
    let targets: Vec<String> = plan.create.iter().filter_map(target_node).collect();
    assert_eq!(
        targets,
        vec!["w1", "w2"],
        "control-plane taint not tolerated"
    );
    assert_eq!(
        plan.create[0].metadata.generate_name.as_deref(),
        Some("agent-")
    );
    assert_eq!(plan.status.unwrap().desired_number_scheduled, 2);
    // The pinned pod fits only its node.
    assert!(scheduler::misfit(&plan.create[0], &nodes[1]).is_none());
    assert!(scheduler::misfit(&plan.create[0], &nodes[2]).is_some());
}

#[test]
fn node_selector_limits_nodes_and_misplaced_pods_go() {
    let d = ds(Some(json!({"role": "edge"})));
    let nodes = [
        node("w1", false, json!({"role": "edge"})),
        node("w2", false, json!({})),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let on_w1 = running_on(&d, "w1", "agent-a");
    let on_w2 = running_on(&d, "w2", "agent-b");
    let (plan, _) = reconcile(&d, &refs, &[&on_w1, &on_w2], now());
    assert!(plan.create.is_empty());
    assert_eq!(plan.delete, vec!["agent-b"]);
    let st = plan.status.unwrap();
    assert_eq!(
        (
            st.desired_number_scheduled,
            st.current_number_scheduled,
            st.number_ready,
            st.number_misscheduled
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn outdated_pods_replaced_one_at_a_time() {
    let d = ds(None);
    let nodes = [node("w1", false, json!({})), node("w2", false, json!({}))];
    let refs: Vec<&Node> = nodes.iter().collect();
    let a = running_on(&d, "w1", "agent-a");
    let b = running_on(&d, "w2", "agent-b");
    let mut d2 = d.clone();
    d2.metadata.generation = Some(2);
    let (plan, _) = reconcile(&d2, &refs, &[&a, &b], now());
    assert_eq!(plan.delete, vec!["agent-a"]);
    assert!(plan.create.is_empty());
}
