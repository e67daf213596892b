use super::*;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use serde_json::json;

fn deploy(image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "nginx", "namespace": "default", "uid": "d-uid", "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": image}]}}}
    }))
    .unwrap()
}

fn now() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

/// The ReplicaSet as the API would store it, with a status showing `ready` pods.
fn stored(mut rs: ReplicaSet, uid: &str, ready: i32) -> ReplicaSet {
    rs.metadata.uid = Some(uid.into());
    let replicas = rs.spec.as_ref().unwrap().replicas.unwrap();
    rs.status = Some(ReplicaSetStatus {
        replicas,
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        ..Default::default()
    });
    rs
}

#[test]
fn new_deployment_creates_hashed_replica_set() {
    let d = deploy("nginx:1.19", 3);
    let (plan, notes) = reconcile(&d, &[], now());
    let rs = plan.create.expect("new ReplicaSet");
    let hash = template_hash::compute(&d.spec.as_ref().unwrap().template, None);
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("nginx-{hash}").as_str())
    );
    assert_eq!(
        rs.metadata.labels.as_ref().unwrap()[labels::POD_TEMPLATE_HASH],
        hash
    );
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.selector.match_labels.as_ref().unwrap()[labels::POD_TEMPLATE_HASH],
        hash
    );
    let tl = spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(
        (tl["app"].as_str(), tl[labels::POD_TEMPLATE_HASH].as_str()),
        ("nginx", hash.as_str())
    );
    assert_eq!(
        rs.metadata.annotations.as_ref().unwrap()[labels::REVISION],
        "1"
    );
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Deployment"
    );
    assert_eq!(plan.revision.as_deref(), Some("1"));
    assert_eq!(
        notes[0].message,
        format!("Scaled up replica set nginx-{hash} from 0 to 3")
    );
    let st = plan.status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    let progressing = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
}

#[test]
fn steady_deployment_reports_status_then_is_quiet() {
    let mut d = deploy("nginx:1.19", 3);
    let rs = stored(reconcile(&d, &[], now()).0.create.unwrap(), "rs1", 3);
    d.metadata.annotations = Some([(labels::REVISION.to_string(), "1".to_string())].into());
    let (plan, _) = reconcile(&d, &[&rs], now());
    assert!(
        plan.create.is_none() && plan.update.is_empty() && plan.revision.is_none(),
        "{plan:#?}"
    );
    let st = plan.status.clone().unwrap();
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3))
    );
    let conds = st.conditions.clone().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );
    assert!(
        conds
            .iter()
            .any(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"))
    );
    d.status = Some(st);
    assert_eq!(
        reconcile(&d, &[&rs], "2025-01-01T00:05:00Z".parse().unwrap()).0,
        DeploymentPlan::default()
    );
}

#[test]
fn scaling_changes_the_new_replica_set() {
    let d = deploy("nginx:1.19", 3);
    let rs = stored(reconcile(&d, &[], now()).0.create.unwrap(), "rs1", 3);
    let (plan, notes) = reconcile(&deploy("nginx:1.19", 2), &[&rs], now());
    assert_eq!(plan.update.len(), 1);
    assert_eq!(plan.update[0].replicas, 2);
    assert_eq!(plan.update[0].annotations[labels::DESIRED_REPLICAS], "2");
    assert!(
        notes[0]
            .message
            .starts_with("Scaled down replica set nginx-")
    );
}

#[test]
fn template_change_starts_a_rolling_update() {
    let d = deploy("nginx:1.19", 4);
    let old = stored(reconcile(&d, &[], now()).0.create.unwrap(), "rs1", 4);
    let d2 = deploy("nginx:1.20", 4);
    let (plan, _) = reconcile(&d2, &[&old], now());
    let new = plan.create.expect("second ReplicaSet");
    assert_ne!(new.metadata.name, old.metadata.name);
    // 25% of 4 = 1 surge pod.
    assert_eq!(new.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(
        new.metadata.annotations.as_ref().unwrap()[labels::REVISION],
        "2"
    );
    assert_eq!(plan.revision.as_deref(), Some("2"));
    assert!(plan.update.is_empty());
    // New pod available: 25% unavailable (1) + surge lets two old pods go.
    let new = stored(new, "rs2", 1);
    let (plan, _) = reconcile(&d2, &[&old, &new], now());
    assert_eq!(plan.update.len(), 1, "{plan:#?}");
    assert_eq!(plan.update[0].name, old.metadata.name.clone().unwrap());
    assert_eq!(plan.update[0].replicas, 2);
}

#[test]
fn surge_and_unavailable_rounding() {
    let mut d = deploy("x", 10);
    assert_eq!(surge_and_unavailable(&d), (3, 2));
    d.spec.as_mut().unwrap().strategy = Some(
        serde_json::from_value(json!({"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}))
        .unwrap(),
    );
    assert_eq!(surge_and_unavailable(&d), (0, 1));
}

#[test]
fn old_history_beyond_limit_is_deleted() {
    let mut d = deploy("nginx:1.19", 1);
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let mut olds = Vec::new();
    for (i, image) in ["a", "b", "c"].iter().enumerate() {
        let mut rs = reconcile(&deploy(image, 1), &[], now()).0.create.unwrap();
        rs.spec.as_mut().unwrap().replicas = Some(0);
        rs.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(labels::REVISION.into(), (i + 1).to_string());
        olds.push(stored(rs, &format!("old{i}"), 0));
    }
    let refs: Vec<&ReplicaSet> = olds.iter().collect();
    let (plan, _) = reconcile(&d, &refs, now());
    let names: Vec<String> = olds
        .iter()
        .take(2)
        .map(|r| r.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(plan.delete, names);
    assert_eq!(
        plan.create.unwrap().metadata.annotations.unwrap()[labels::REVISION],
        "4"
    );
}
