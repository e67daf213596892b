//! The DaemonSet controller, pure part: one pod per node that the pod fits
//! (taints/tolerations, nodeSelector, affinity), pinned to its node by a
//! required node-affinity term on `metadata.name` (the scheduler binds it),
//! outdated pods replaced within maxUnavailable, and status.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use crate::events::Note;
use crate::labels;
use crate::pod;
use crate::replicaset::pod_from_template;
use crate::scheduler;

/// Writes for one DaemonSet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DaemonSetPlan {
    /// Pods to create, each pinned to one node.
    pub create: Vec<Pod>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// New status, when it differs.
    pub status: Option<DaemonSetStatus>,
}

/// Tolerations every daemon pod gets (upstream adds the same), so daemons
/// run on not-ready and unschedulable nodes.
fn default_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/not-ready", "NoSchedule"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t(labels::UNSCHEDULABLE_TAINT, "NoSchedule"),
    ]
}

/// The DaemonSet's pod for `node`.
pub fn pod_for(ds: &DaemonSet, node: &str) -> Pod {
    let spec = ds.spec.clone().unwrap_or_default();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let owner = pod::controller_ref("apps/v1", "DaemonSet", &ds.metadata);
    let mut p = pod_from_template(&spec.template, &ns, &format!("{name}-"), owner);
    let l = p.metadata.labels.get_or_insert_with(BTreeMap::new);
    l.insert(
        labels::DS_TEMPLATE_GENERATION.into(),
        ds.metadata.generation.unwrap_or(1).to_string(),
    );
    let ps = p.spec.get_or_insert_with(Default::default);
    let tols = ps.tolerations.get_or_insert_with(Vec::new);
    for t in default_tolerations() {
        if !tols.contains(&t) {
            tols.push(t);
        }
    }
    let pin = json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}});
    let affinity = ps.affinity.get_or_insert_with(Default::default);
    affinity.node_affinity = serde_json::from_value(pin).ok();
    p
}

/// The node a daemon pod is for: its `nodeName`, or its pinning term.
pub fn target_node(p: &Pod) -> Option<String> {
    let spec = p.spec.as_ref()?;
    if let Some(n) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|f| f.key == "metadata.name" && f.operator == "In")
        .and_then(|f| f.values.as_ref()?.first().cloned())
}

fn generation_of(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(labels::DS_TEMPLATE_GENERATION)
        .map(String::as_str)
}

/// Reconciles one DaemonSet against the nodes and the namespace's pods.
pub fn reconcile(
    ds: &DaemonSet,
    nodes: &[&Node],
    pods: &[&Pod],
    now: Timestamp,
) -> (DaemonSetPlan, Vec<Note>) {
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in pods
        .iter()
        .copied()
        .filter(|p| pod::is_controlled_by(&p.metadata, &uid) && !pod::is_deleting(&p.metadata))
    {
        by_node
            .entry(target_node(p).unwrap_or_default())
            .or_default()
            .push(p);
    }
    let mut plan = DaemonSetPlan::default();
    let mut wanted: Vec<&str> = Vec::new();
    for n in nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let probe = pod_for(ds, name);
        if scheduler::misfit(&probe, n).is_none() {
            wanted.push(name);
        }
    }
    let deleting = pod::is_deleting(&ds.metadata);
    for (node, ps) in &by_node {
        let keep = wanted.contains(&node.as_str()) && !deleting;
        let mut ps = ps.clone();
        ps.sort_by_key(|p| {
            (
                pod::is_terminal(p),
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                p.metadata.name.clone(),
            )
        });
        let surplus = if keep && !pod::is_terminal(ps[0]) {
            &ps[1..]
        } else {
            &ps[..]
        };
        plan.delete
            .extend(surplus.iter().filter_map(|p| p.metadata.name.clone()));
    }
    if !deleting {
        for node in &wanted {
            let has = by_node
                .get(*node)
                .is_some_and(|ps| ps.iter().any(|p| !pod::is_terminal(p)));
            if !has {
                plan.create.push(pod_for(ds, node));
            }
        }
        plan_update(ds, &wanted, &by_node, &mut plan);
    }
    let notes = plan
        .create
        .iter()
        .map(|_| Note::normal("SuccessfulCreate", "Created pod for daemon set".to_string()))
        .chain(
            plan.delete
                .iter()
                .map(|n| Note::normal("SuccessfulDelete", format!("Deleted pod: {n}"))),
        )
        .collect();
    let next = status(ds, &wanted, &by_node, now);
    if ds.status.as_ref() != Some(&next) {
        plan.status = Some(next);
    }
    (plan, notes)
}

/// RollingUpdate: delete outdated pods while fewer than maxUnavailable
/// wanted nodes lack a ready pod.
fn plan_update(
    ds: &DaemonSet,
    wanted: &[&str],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    plan: &mut DaemonSetPlan,
) {
    let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
        return;
    }
    let max = match strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.as_ref())
    {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(p)) => {
            let pct: i32 = p.trim_end_matches('%').parse().unwrap_or(0);
            (pct * wanted.len() as i32 / 100).max(1)
        }
        None => 1,
    };
    let generation = ds.metadata.generation.unwrap_or(1).to_string();
    let unready = wanted
        .iter()
        .filter(|n| {
            !by_node
                .get(**n)
                .is_some_and(|ps| ps.iter().any(|p| pod::is_ready(p)))
        })
        .count() as i32;
    let mut budget = max - unready - plan.delete.len() as i32;
    for node in wanted {
        for p in by_node.get(*node).into_iter().flatten() {
            if budget > 0 && generation_of(p) != Some(generation.as_str()) && pod::is_ready(p) {
                plan.delete
                    .push(p.metadata.name.clone().unwrap_or_default());
                budget -= 1;
            }
        }
    }
}

fn status(
    ds: &DaemonSet,
    wanted: &[&str],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    now: Timestamp,
) -> DaemonSetStatus {
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let generation = ds.metadata.generation.unwrap_or(1).to_string();
    let on = |n: &str| {
        by_node
            .get(n)
            .map(|ps| {
                ps.iter()
                    .copied()
                    .filter(|p| !pod::is_terminal(p))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let scheduled = wanted.iter().filter(|n| !on(n).is_empty()).count() as i32;
    let count = |f: &dyn Fn(&Pod) -> bool| {
        wanted.iter().filter(|n| on(n).iter().any(|p| f(p))).count() as i32
    };
    let available = count(&|p| pod::is_available(p, min_ready, now));
    let misscheduled = by_node
        .keys()
        .filter(|n| !n.is_empty() && !wanted.contains(&n.as_str()) && !on(n).is_empty())
        .count() as i32;
    DaemonSetStatus {
        desired_number_scheduled: wanted.len() as i32,
        current_number_scheduled: scheduled,
        number_misscheduled: misscheduled,
        number_ready: count(&pod::is_ready),
        number_available: Some(available),
        number_unavailable: Some(wanted.len() as i32 - available),
        updated_number_scheduled: Some(count(&|p| generation_of(p) == Some(generation.as_str()))),
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}

#[cfg(test)]
mod tests;
