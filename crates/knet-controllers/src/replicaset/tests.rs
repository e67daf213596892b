use super::*;
use crate::pod::testing::pod;
use serde_json::json;

fn rs(replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-uid", "generation": 2},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap()
}

fn owned(name: &str, ready: bool, node: Option<&str>) -> Pod {
    let mut p = pod(
        "default",
        name,
        &[("app", "web")],
        ready.then_some("10.0.0.1"),
        ready,
    );
    p.metadata.owner_references = Some(vec![pod::controller_ref(
        "apps/v1",
        "ReplicaSet",
        &rs(1).metadata,
    )]);
    p.spec.as_mut().unwrap().node_name = node.map(String::from);
    p
}

fn now() -> Timestamp {
    "2025-01-01T01:00:00Z".parse().unwrap()
}

#[test]
fn creates_missing_pods_from_template_with_owner() {
    let (plan, _) = reconcile(&rs(3), &[], now());
    assert_eq!(plan.create.len(), 3);
    let p = &plan.create[0];
    assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
    assert_eq!(p.metadata.labels.as_ref().unwrap()["app"], "web");
    let o = &p.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (o.kind.as_str(), o.uid.as_str(), o.controller),
        ("ReplicaSet", "rs-uid", Some(true))
    );
    let st = plan.status.unwrap();
    assert_eq!((st.replicas, st.observed_generation), (0, Some(2)));
}

#[test]
fn ignores_pods_of_others_and_deleting_pods() {
    let stranger = pod("default", "x", &[("app", "web")], Some("10.0.0.9"), true);
    let mut dying = owned("d", true, Some("n1"));
    dying.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    let a = owned("a", true, Some("n1"));
    let (plan, _) = reconcile(&rs(2), &[&stranger, &dying, &a], now());
    assert_eq!(plan.create.len(), 1);
    assert!(plan.delete.is_empty());
}

#[test]
fn scale_down_deletes_unscheduled_and_unready_first() {
    let ready = owned("ready", true, Some("n1"));
    let unready = owned("unready", false, Some("n1"));
    let pending = owned("pending", false, None);
    let (plan, notes) = reconcile(&rs(1), &[&ready, &unready, &pending], now());
    assert_eq!(plan.delete, vec!["pending", "unready"]);
    assert!(plan.create.is_empty());
    assert_eq!(notes[0].reason, "SuccessfulDelete");
    assert_eq!(notes[0].message, "Deleted pod: pending");
}

#[test]
fn status_counts_ready_and_available_and_is_omitted_when_unchanged() {
    let a = owned("a", true, Some("n1"));
    let b = owned("b", false, Some("n1"));
    let mut set = rs(2);
    let (plan, _) = reconcile(&set, &[&a, &b], now());
    let st = plan.status.clone().unwrap();
    assert_eq!(
        (
            st.replicas,
            st.ready_replicas,
            st.available_replicas,
            st.fully_labeled_replicas
        ),
        (2, Some(1), Some(1), Some(2))
    );
    set.status = Some(st);
    let (again, _) = reconcile(&set, &[&a, &b], now());
    assert_eq!(again, ReplicaSetPlan::default());
    // minReadySeconds not yet elapsed: ready but not available, requeued.
    set.spec.as_mut().unwrap().min_ready_seconds = Some(7200);
    let (slow, _) = reconcile(&set, &[&a, &b], now());
    assert_eq!(slow.status.unwrap().available_replicas, Some(0));
    assert_eq!(slow.requeue, Some(Duration::from_secs(7200)));
}
