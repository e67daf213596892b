//! The StatefulSet controller, pure part: ordinal pods `<name>-0..N-1` with
//! stable hostnames under the governing Service (`spec.hostname` = pod name,
//! `spec.subdomain` = `serviceName`), created in order (OrderedReady: each
//! Running and Ready before the next) or all at once (Parallel), removed
//! highest ordinal first, and replaced one at a time on template change.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::events::Note;
use crate::labels;
use crate::pod;
use crate::replicaset::pod_from_template;
use crate::template_hash;

/// Writes for one StatefulSet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatefulSetPlan {
    /// Pods to create (fully named).
    pub create: Vec<Pod>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// New status, when it differs.
    pub status: Option<StatefulSetStatus>,
}

/// The ordinal of a pod named `<set>-<n>`.
pub fn ordinal(set: &str, pod_name: &str) -> Option<i32> {
    pod_name.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// The `controller-revision-hash` of the set's current template.
pub fn update_revision(sts: &StatefulSet) -> String {
    let spec = sts.spec.as_ref();
    let template = spec.map(|s| s.template.clone()).unwrap_or_default();
    let hash = template_hash::compute(
        &template,
        // Status carries collisionCount 0 once written; 0 hashes like none.
        sts.status
            .as_ref()
            .and_then(|s| s.collision_count)
            .filter(|c| *c > 0),
    );
    format!(
        "{}-{hash}",
        sts.metadata.name.as_deref().unwrap_or_default()
    )
}

fn revision(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(labels::CONTROLLER_REVISION_HASH)
        .map(String::as_str)
}

/// The pod for ordinal `i`.
pub fn pod_for(sts: &StatefulSet, i: i32, revision: &str) -> Pod {
    let set = sts.metadata.name.clone().unwrap_or_default();
    let name = format!("{set}-{i}");
    let spec = sts.spec.clone().unwrap_or_default();
    let owner = pod::controller_ref("apps/v1", "StatefulSet", &sts.metadata);
    let ns = sts.metadata.namespace.clone().unwrap_or_default();
    let mut p = pod_from_template(&spec.template, &ns, "", owner);
    p.metadata.generate_name = None;
    p.metadata.name = Some(name.clone());
    let l = p.metadata.labels.get_or_insert_with(BTreeMap::new);
    l.insert(labels::STS_POD_NAME.into(), name.clone());
    l.insert(labels::POD_INDEX.into(), i.to_string());
    l.insert(labels::CONTROLLER_REVISION_HASH.into(), revision.into());
    let ps = p.spec.get_or_insert_with(Default::default);
    ps.hostname = Some(name);
    if let Some(svc) = spec.service_name.filter(|s| !s.is_empty()) {
        ps.subdomain = Some(svc);
    }
    p
}

fn is_healthy(p: &Pod) -> bool {
    pod::is_running_and_ready(p) && !pod::is_deleting(&p.metadata)
}

/// Reconciles one StatefulSet against all pods of its namespace.
pub fn reconcile(sts: &StatefulSet, pods: &[&Pod], now: Timestamp) -> (StatefulSetPlan, Vec<Note>) {
    let set = sts.metadata.name.clone().unwrap_or_default();
    let uid = sts.metadata.uid.clone().unwrap_or_default();
    let spec = sts.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let rev = update_revision(sts);
    let mut owned: BTreeMap<i32, &Pod> = BTreeMap::new();
    for p in pods
        .iter()
        .copied()
        .filter(|p| pod::is_controlled_by(&p.metadata, &uid))
    {
        if let Some(i) = p.metadata.name.as_deref().and_then(|n| ordinal(&set, n)) {
            owned.insert(i, p);
        }
    }
    let mut plan = StatefulSetPlan::default();
    if !pod::is_deleting(&sts.metadata) {
        let range = start..start + replicas;
        let blocked = plan_replicas(sts, &owned, range.clone(), parallel, &rev, &mut plan);
        let condemned: Vec<&Pod> = owned
            .iter()
            .rev()
            .filter(|(i, _)| !range.contains(i))
            .map(|(_, p)| *p)
            .collect();
        plan_condemned(&condemned, parallel, blocked, &mut plan);
        let settled =
            !blocked && plan.create.is_empty() && plan.delete.is_empty() && condemned.is_empty();
        let rolling = spec
            .update_strategy
            .as_ref()
            .and_then(|u| u.type_.as_deref())
            != Some("OnDelete");
        if settled && rolling {
            let partition = spec
                .update_strategy
                .as_ref()
                .and_then(|u| u.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0);
            if let Some((_, p)) = owned
                .iter()
                .rev()
                .find(|(i, p)| **i >= start + partition && revision(p) != Some(rev.as_str()))
            {
                plan.delete
                    .push(p.metadata.name.clone().unwrap_or_default());
            }
        }
    }
    let mut notes: Vec<Note> = plan
        .create
        .iter()
        .map(|p| {
            Note::normal(
                "SuccessfulCreate",
                format!(
                    "create Pod {} in StatefulSet {set} successful",
                    p.metadata.name.as_deref().unwrap_or_default()
                ),
            )
        })
        .collect();
    notes.extend(plan.delete.iter().map(|n| {
        Note::normal(
            "SuccessfulDelete",
            format!("delete Pod {n} in StatefulSet {set} successful"),
        )
    }));
    let next = status(sts, &owned, &rev, now);
    if sts.status.as_ref() != Some(&next) {
        plan.status = Some(next);
    }
    (plan, notes)
}

/// Creates missing and replaces failed pods in `range`; returns whether an
/// OrderedReady set is waiting on a pod (so nothing further may happen).
fn plan_replicas(
    sts: &StatefulSet,
    owned: &BTreeMap<i32, &Pod>,
    range: std::ops::Range<i32>,
    parallel: bool,
    rev: &str,
    plan: &mut StatefulSetPlan,
) -> bool {
    for i in range {
        match owned.get(&i) {
            None => {
                plan.create.push(pod_for(sts, i, rev));
                if !parallel {
                    return true;
                }
            }
            Some(p) if pod::is_terminal(p) && !pod::is_deleting(&p.metadata) => {
                plan.delete
                    .push(p.metadata.name.clone().unwrap_or_default());
                if !parallel {
                    return true;
                }
            }
            Some(p) if !is_healthy(p) && !parallel => return true,
            Some(_) => {}
        }
    }
    false
}

/// Removes pods beyond the replica count, highest ordinal first; an
/// OrderedReady set removes one at a time and only when nothing waits.
fn plan_condemned(condemned: &[&Pod], parallel: bool, blocked: bool, plan: &mut StatefulSetPlan) {
    for p in condemned {
        if pod::is_deleting(&p.metadata) {
            if parallel {
                continue;
            }
            return;
        }
        if !parallel && (blocked || !plan.delete.is_empty() || !plan.create.is_empty()) {
            return;
        }
        plan.delete
            .push(p.metadata.name.clone().unwrap_or_default());
        if !parallel {
            return;
        }
    }
}

fn status(
    sts: &StatefulSet,
    owned: &BTreeMap<i32, &Pod>,
    rev: &str,
    now: Timestamp,
) -> StatefulSetStatus {
    let min_ready = sts
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let old = sts.status.clone().unwrap_or_default();
    let live: Vec<&Pod> = owned
        .values()
        .copied()
        .filter(|p| !pod::is_terminal(p))
        .collect();
    let count = |f: &dyn Fn(&Pod) -> bool| live.iter().filter(|p| f(p)).count() as i32;
    let updated = count(&|p| revision(p) == Some(rev));
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let ready = count(&pod::is_ready);
    let current_revision = match old.current_revision.clone() {
        Some(c) if !(updated == replicas && ready == replicas) => c,
        _ => rev.to_string(),
    };
    StatefulSetStatus {
        observed_generation: sts.metadata.generation,
        replicas: live.len() as i32,
        ready_replicas: Some(ready),
        available_replicas: Some(count(&|p| pod::is_available(p, min_ready, now))),
        current_replicas: Some(count(&|p| revision(p) == Some(current_revision.as_str()))),
        updated_replicas: Some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(rev.to_string()),
        collision_count: Some(old.collision_count.unwrap_or(0)),
        conditions: old.conditions,
    }
}

#[cfg(test)]
mod tests;
