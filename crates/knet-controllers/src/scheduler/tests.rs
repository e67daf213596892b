use super::*;
use crate::pod::testing::pod;
use serde_json::json;

fn node(name: &str, ready: bool, extra: serde_json::Value) -> Node {
    let mut n = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    });
    if let Some(taints) = extra.get("taints") {
        n["spec"]["taints"] = taints.clone();
    }
    if let Some(l) = extra.get("labels").and_then(|l| l.as_object()) {
        for (k, v) in l {
            n["metadata"]["labels"][k] = v.clone();
        }
    }
    serde_json::from_value(n).unwrap()
}

fn control_plane() -> Node {
    node(
        "cp",
        true,
        json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}),
    )
}

fn pending(name: &str) -> Pod {
    let mut p = pod("default", name, &[], None, false);
    p.spec.as_mut().unwrap().node_name = None;
    p
}

#[test]
fn spreads_by_pod_count_and_skips_control_plane_and_unready() {
    let nodes = [
        control_plane(),
        node("w1", true, json!({})),
        node("w2", true, json!({})),
        node("w3", false, json!({})),
    ];
    let nrefs: Vec<&Node> = nodes.iter().collect();
    let mut busy = pod("default", "busy", &[], Some("10.0.0.1"), true);
    busy.spec.as_mut().unwrap().node_name = Some("w1".into());
    let ps: Vec<Pod> = (0..3).map(|i| pending(&format!("p{i}"))).collect();
    let prefs: Vec<&Pod> = ps.iter().collect();
    let d = schedule(&prefs, &nrefs, &[&busy]);
    assert_eq!(
        d,
        vec![
            Decision::Bind("w2".into()),
            Decision::Bind("w1".into()),
            Decision::Bind("w2".into())
        ]
    );
}

#[test]
fn tolerating_pods_may_use_the_control_plane() {
    let nodes = [control_plane()];
    let mut p = pending("dns");
    p.spec.as_mut().unwrap().tolerations = Some(serde_json::from_value(json!([
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}])).unwrap());
    assert_eq!(
        schedule(&[&p], &[&nodes[0]], &[]),
        vec![Decision::Bind("cp".into())]
    );
    let plain = pending("web");
    assert_eq!(
        schedule(&[&plain], &[&nodes[0]], &[]),
        vec![Decision::Unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.".into())]
    );
}

#[test]
fn node_selector_and_affinity_filter() {
    let nodes = [
        node("w1", true, json!({"labels": {"disk": "ssd"}})),
        node("w2", true, json!({})),
    ];
    let nrefs: Vec<&Node> = nodes.iter().collect();
    let mut p = pending("p");
    p.spec.as_mut().unwrap().node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
    assert_eq!(
        schedule(&[&p], &nrefs, &[]),
        vec![Decision::Bind("w1".into())]
    );
    let mut q = pending("q");
    q.spec.as_mut().unwrap().affinity = Some(serde_json::from_value(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w2"]}]}]}}})).unwrap());
    assert_eq!(
        schedule(&[&q], &nrefs, &[]),
        vec![Decision::Bind("w2".into())]
    );
    let mut r = pending("r");
    r.spec.as_mut().unwrap().node_selector = Some([("gpu".to_string(), "yes".to_string())].into());
    let Decision::Unschedulable(msg) = &schedule(&[&r], &nrefs, &[])[0] else {
        panic!()
    };
    assert!(
        msg.contains("2 node(s) didn't match Pod's node affinity/selector"),
        "{msg}"
    );
}

#[test]
fn toleration_matching_rules() {
    let taint = Taint {
        key: "k".into(),
        value: Some("v".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    };
    let t = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
    assert!(tolerates(&t(json!({"operator": "Exists"})), &taint));
    assert!(tolerates(&t(json!({"key": "k", "value": "v"})), &taint));
    assert!(!tolerates(&t(json!({"key": "k", "value": "w"})), &taint));
    assert!(!tolerates(
        &t(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})),
        &taint
    ));
    assert!(!tolerates(
        &t(json!({"key": "", "operator": "Equal"})),
        &taint
    ));
}

#[test]
fn pending_means_unbound_active_default_scheduler() {
    let p = pending("p");
    assert!(is_pending(&p));
    let mut other = pending("o");
    other.spec.as_mut().unwrap().scheduler_name = Some("custom".into());
    assert!(!is_pending(&other));
    assert!(!is_pending(&pod(
        "default",
        "b",
        &[],
        Some("10.0.0.1"),
        true
    )));
}
