use super::*;
use crate::pod::testing::pod;
use serde_json::json;

fn sts(replicas: i32, policy: &str, image: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "my-nginx", "namespace": "default", "uid": "sts-uid", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "my-nginx-svc", "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": image}]}}}
    }))
    .unwrap()
}

fn now() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

/// Pod `i` as the API would hold it after creation, running and ready or not.
fn made(set: &StatefulSet, i: i32, ready: bool) -> Pod {
    let mut p = pod_for(set, i, &update_revision(set));
    let template = pod(
        "default",
        "x",
        &[],
        Some(&format!("10.244.1.{}", i + 1)),
        ready,
    );
    p.status = template.status;
    p.metadata.uid = Some(format!("pod-{i}"));
    p
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

#[test]
fn ordered_ready_creates_one_at_a_time() {
    let s = sts(3, "OrderedReady", "nginx");
    let (plan, notes) = reconcile(&s, &[], now());
    assert_eq!(names(&plan.create), vec!["my-nginx-0"]);
    let p0 = &plan.create[0];
    let spec = p0.spec.as_ref().unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("my-nginx-0"), Some("my-nginx-svc"))
    );
    let l = p0.metadata.labels.as_ref().unwrap();
    assert_eq!(
        (
            l[labels::STS_POD_NAME].as_str(),
            l[labels::POD_INDEX].as_str(),
            l["app"].as_str()
        ),
        ("my-nginx-0", "0", "nginx")
    );
    assert_eq!(
        p0.metadata.owner_references.as_ref().unwrap()[0].kind,
        "StatefulSet"
    );
    assert_eq!(
        notes[0].message,
        "create Pod my-nginx-0 in StatefulSet my-nginx successful"
    );
    // Pod 0 exists but is not ready: wait.
    let p0 = made(&s, 0, false);
    assert!(reconcile(&s, &[&p0], now()).0.create.is_empty());
    // Pod 0 ready: pod 1 next.
    let p0 = made(&s, 0, true);
    assert_eq!(
        names(&reconcile(&s, &[&p0], now()).0.create),
        vec!["my-nginx-1"]
    );
}

#[test]
fn parallel_creates_all() {
    let s = sts(3, "Parallel", "nginx");
    assert_eq!(
        names(&reconcile(&s, &[], now()).0.create),
        vec!["my-nginx-0", "my-nginx-1", "my-nginx-2"]
    );
}

#[test]
fn scale_down_removes_highest_first() {
    let s3 = sts(3, "OrderedReady", "nginx");
    let pods: Vec<Pod> = (0..3).map(|i| made(&s3, i, true)).collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    assert_eq!(
        reconcile(&sts(1, "OrderedReady", "nginx"), &refs, now())
            .0
            .delete,
        vec!["my-nginx-2"]
    );
    assert_eq!(
        reconcile(&sts(1, "Parallel", "nginx"), &refs, now())
            .0
            .delete,
        vec!["my-nginx-2", "my-nginx-1"]
    );
    // With pod 0 unready, an OrderedReady set does not scale down.
    let mut unready = pods.clone();
    unready[0] = made(&s3, 0, false);
    let refs: Vec<&Pod> = unready.iter().collect();
    assert!(
        reconcile(&sts(1, "OrderedReady", "nginx"), &refs, now())
            .0
            .delete
            .is_empty()
    );
}

#[test]
fn template_change_replaces_highest_outdated_pod() {
    let old = sts(3, "OrderedReady", "nginx:1");
    let pods: Vec<Pod> = (0..3).map(|i| made(&old, i, true)).collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let new = sts(3, "OrderedReady", "nginx:2");
    let (plan, _) = reconcile(&new, &refs, now());
    assert_eq!(plan.delete, vec!["my-nginx-2"]);
    assert!(plan.create.is_empty());
    let st = plan.status.unwrap();
    assert_eq!(st.updated_replicas, Some(0));
    assert_eq!(
        st.update_revision.as_deref(),
        Some(update_revision(&new).as_str())
    );
}

#[test]
fn status_counts_and_failed_pods_are_replaced() {
    let s = sts(2, "OrderedReady", "nginx");
    let p0 = made(&s, 0, true);
    let mut p1 = made(&s, 1, false);
    p1.status.as_mut().unwrap().phase = Some("Failed".into());
    let (plan, _) = reconcile(&s, &[&p0, &p1], now());
    assert_eq!(plan.delete, vec!["my-nginx-1"]);
    let st = plan.status.unwrap();
    assert_eq!(
        (st.replicas, st.ready_replicas, st.updated_replicas),
        (1, Some(1), Some(1))
    );
    assert_eq!(ordinal("my-nginx", "my-nginx-12"), Some(12));
    assert_eq!(ordinal("my-nginx", "my-nginx-svc-1"), None);
}
