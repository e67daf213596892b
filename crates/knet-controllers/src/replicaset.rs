//! The ReplicaSet controller, pure part: a ReplicaSet and its pods → pods to
//! create or delete and the status to write.

use std::cmp::Reverse;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

use crate::events::Note;
use crate::pod;

/// Most pods created in one pass (upstream's slow-start burst cap).
pub const BURST: usize = 500;

/// Writes for one ReplicaSet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaSetPlan {
    /// Pods to create (named by `generateName`).
    pub create: Vec<Pod>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// New status, when it differs from the current one.
    pub status: Option<ReplicaSetStatus>,
    /// Reconcile again after this long (a pod becoming available after minReadySeconds).
    pub requeue: Option<Duration>,
}

/// A pod built from a template for a controller: `generateName` prefix,
/// template labels and annotations, a controller owner reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    generate_name: &str,
    owner: OwnerReference,
) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: tm.labels,
            annotations: tm.annotations,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Order in which surplus pods go: unscheduled before scheduled, pending
/// before running, not ready before ready, newest first (upstream's ranking).
fn deletion_rank(p: &Pod) -> impl Ord {
    let assigned = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
    let phase = match pod::phase(p) {
        "Pending" => 0,
        "Running" => 2,
        _ => 1,
    };
    let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (
        assigned,
        phase,
        pod::is_ready(p),
        Reverse(created),
        p.metadata.name.clone(),
    )
}

/// Active pods the ReplicaSet controls.
pub fn owned_active<'a>(rs: &ReplicaSet, pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    pods.iter()
        .copied()
        .filter(|p| pod::is_controlled_by(&p.metadata, uid) && pod::is_active(p))
        .collect()
}

/// Reconciles one ReplicaSet against all pods of its namespace.
pub fn reconcile(rs: &ReplicaSet, pods: &[&Pod], now: Timestamp) -> (ReplicaSetPlan, Vec<Note>) {
    let active = owned_active(rs, pods);
    let spec = rs.spec.as_ref();
    let want = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
    let mut plan = ReplicaSetPlan::default();
    let mut notes = Vec::new();
    if !pod::is_deleting(&rs.metadata) {
        let name = rs.metadata.name.clone().unwrap_or_default();
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        if active.len() < want {
            let template = spec.and_then(|s| s.template.clone()).unwrap_or_default();
            let owner = pod::controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
            let n = (want - active.len()).min(BURST);
            plan.create = (0..n)
                .map(|_| pod_from_template(&template, &ns, &format!("{name}-"), owner.clone()))
                .collect();
        } else if active.len() > want {
            let mut doomed = active.clone();
            doomed.sort_by_key(|p| deletion_rank(p));
            plan.delete = doomed
                .iter()
                .take(active.len() - want)
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            for p in &plan.delete {
                notes.push(Note::normal(
                    "SuccessfulDelete",
                    format!("Deleted pod: {p}"),
                ));
            }
        }
    }
    let (status, requeue) = status(rs, &active, now);
    if rs.status.as_ref() != Some(&status) {
        plan.status = Some(status);
    }
    plan.requeue = requeue;
    (plan, notes)
}

/// Status from the active pods; also when a not-yet-available ready pod
/// will become available.
fn status(
    rs: &ReplicaSet,
    active: &[&Pod],
    now: Timestamp,
) -> (ReplicaSetStatus, Option<Duration>) {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let tmpl_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| active.iter().filter(|p| f(p)).count() as i32;
    let ready = count(&pod::is_ready);
    let available = count(&|p| pod::is_available(p, min_ready, now));
    let labeled = count(&|p| {
        let l = p.metadata.labels.clone().unwrap_or_default();
        tmpl_labels.iter().all(|(k, v)| l.get(k) == Some(v))
    });
    let requeue = (ready > available).then(|| Duration::from_secs(min_ready.max(1) as u64));
    let status = ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: Some(labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    };
    (status, requeue)
}

#[cfg(test)]
mod tests;
