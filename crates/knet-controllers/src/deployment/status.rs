//! Deployment status: counts summed over its ReplicaSets and the
//! `Available`/`Progressing` conditions `kubectl rollout status` reads.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

fn sum(rss: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| f(rs)).sum()
}

/// The status the Deployment should have now.
pub(super) fn compute(
    d: &Deployment,
    new: Option<&ReplicaSet>,
    rss: &[&ReplicaSet],
    new_name: &str,
    max_unavailable: i32,
    creating: bool,
    now: Timestamp,
) -> DeploymentStatus {
    let st = |rs: &ReplicaSet| rs.status.clone().unwrap_or_default();
    let spec_replicas = |rs: &ReplicaSet| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = sum(rss, |rs| st(rs).available_replicas.unwrap_or(0));
    let total_spec = sum(rss, spec_replicas);
    let replicas = sum(rss, |rs| st(rs).replicas);
    let updated = new.map_or(0, |rs| st(rs).replicas);
    let old = d.status.clone().unwrap_or_default();
    let mut next = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(sum(rss, |rs| st(rs).ready_replicas.unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((total_spec - available).max(0)),
        collision_count: old.collision_count,
        conditions: None,
        terminating_replicas: None,
    };
    let (a_status, a_reason, a_msg) = if available >= desired - max_unavailable {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let complete =
        updated == desired && replicas == desired && available == desired && new.is_some();
    let (p_reason, p_msg) = if creating {
        (
            "NewReplicaSetCreated",
            format!("Created new replica set \"{new_name}\""),
        )
    } else if complete {
        (
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else {
        (
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let prev = old.conditions.unwrap_or_default();
    next.conditions = Some(vec![
        condition(&prev, "Available", a_status, a_reason, a_msg, now),
        condition(&prev, "Progressing", "True", p_reason, &p_msg, now),
    ]);
    next
}

/// A condition that keeps its timestamps when nothing about it changed.
fn condition(
    prev: &[DeploymentCondition],
    type_: &str,
    status: &str,
    reason: &str,
    msg: &str,
    now: Timestamp,
) -> DeploymentCondition {
    let old = prev.iter().find(|c| c.type_ == type_);
    let same_status = old.is_some_and(|c| c.status == status);
    let same_all = same_status
        && old.is_some_and(|c| {
            c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(msg)
        });
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(msg.into()),
        last_transition_time: if same_status {
            old.and_then(|c| c.last_transition_time.clone())
        } else {
            Some(Time(now))
        },
        last_update_time: if same_all {
            old.and_then(|c| c.last_update_time.clone())
        } else {
            Some(Time(now))
        },
    }
}

/// Whether two statuses are equal (conditions compared with their timestamps,
/// which `condition` keeps stable when nothing changed).
pub(super) fn same(old: Option<&DeploymentStatus>, next: &DeploymentStatus) -> bool {
    old == Some(next)
}
