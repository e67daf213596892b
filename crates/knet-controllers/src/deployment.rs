//! The Deployment controller, pure part: a Deployment and its ReplicaSets →
//! the new ReplicaSet (named `<deployment>-<pod-template-hash>`), scale
//! changes that roll pods over within maxSurge/maxUnavailable (or Recreate),
//! history cleanup, revision annotations and status.

mod rollout;
mod status;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use crate::events::Note;
use crate::labels;
use crate::pod;
use crate::template_hash;

pub use rollout::{RsState, Scale};

/// A change to one ReplicaSet's `spec.replicas` and annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct RsUpdate {
    /// ReplicaSet name.
    pub name: String,
    /// New `spec.replicas`.
    pub replicas: i32,
    /// Annotations to set (merged into the existing ones).
    pub annotations: BTreeMap<String, String>,
}

/// Writes for one Deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeploymentPlan {
    /// The new ReplicaSet to create.
    pub create: Option<ReplicaSet>,
    /// ReplicaSets to scale or re-annotate.
    pub update: Vec<RsUpdate>,
    /// Old ReplicaSets beyond `revisionHistoryLimit` to delete.
    pub delete: Vec<String>,
    /// `deployment.kubernetes.io/revision` to set on the Deployment.
    pub revision: Option<String>,
    /// New status, when it differs.
    pub status: Option<DeploymentStatus>,
}

/// `maxSurge` and `maxUnavailable` as pod counts (surge rounds up,
/// unavailable down; both zero means one unavailable, as upstream).
pub fn surge_and_unavailable(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let strategy = spec.and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return (0, 0);
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::String("25%".into());
    let surge = scaled(
        ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&quarter),
        replicas,
        true,
    );
    let unavailable = scaled(
        ru.and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&quarter),
        replicas,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable.min(replicas))
    }
}

fn scaled(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let x = pct * i64::from(total);
            (if round_up { (x + 99) / 100 } else { x / 100 }) as i32
        }
    }
}

/// The revision number a ReplicaSet carries (0 when unset).
pub fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// ReplicaSets the Deployment controls.
pub fn owned<'a>(d: &Deployment, all: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let uid = d.metadata.uid.as_deref().unwrap_or_default();
    all.iter()
        .copied()
        .filter(|rs| pod::is_controlled_by(&rs.metadata, uid))
        .collect()
}

fn rs_annotations(revision: i64, replicas: i32, surge: i32) -> BTreeMap<String, String> {
    [
        (labels::REVISION.to_string(), revision.to_string()),
        (labels::DESIRED_REPLICAS.to_string(), replicas.to_string()),
        (
            labels::MAX_REPLICAS.to_string(),
            (replicas + surge).to_string(),
        ),
    ]
    .into()
}

/// The new ReplicaSet for the Deployment's current template.
pub fn new_replica_set(
    d: &Deployment,
    hash: &str,
    annotations: BTreeMap<String, String>,
    replicas: i32,
) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone();
    let tmeta = template.metadata.get_or_insert_with(Default::default);
    tmeta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(labels::POD_TEMPLATE_HASH.into(), hash.into());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(labels::POD_TEMPLATE_HASH.into(), hash.into());
    let name = d.metadata.name.clone().unwrap_or_default();
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: d.metadata.namespace.clone(),
            labels: tmeta.labels.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![pod::controller_ref(
                "apps/v1",
                "Deployment",
                &d.metadata,
            )]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

/// The Deployment's ReplicaSets as a rollout sees them.
struct View<'a> {
    all: Vec<&'a ReplicaSet>,
    /// The ReplicaSet whose template is the Deployment's, if it exists.
    new: Option<&'a ReplicaSet>,
    olds: Vec<&'a ReplicaSet>,
    /// Revision the new ReplicaSet has (or gets).
    revision: i64,
    hash: String,
    new_name: String,
}

fn view<'a>(d: &Deployment, all: &[&'a ReplicaSet]) -> View<'a> {
    let all = owned(d, all);
    let template = d
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let new = all.iter().copied().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| template_hash::same_template(t, &template))
    });
    let olds: Vec<&ReplicaSet> = all.iter().copied().filter(|rs| Some(*rs) != new).collect();
    let max_old = olds.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
    let revision = match new {
        Some(rs) if revision_of(rs) > max_old => revision_of(rs),
        _ => max_old + 1,
    };
    let hash = template_hash::compute(&template, d.status.as_ref().and_then(|s| s.collision_count));
    let new_name = new
        .and_then(|rs| rs.metadata.name.clone())
        .unwrap_or_else(|| format!("{}-{hash}", d.metadata.name.as_deref().unwrap_or_default()));
    View {
        all,
        new,
        olds,
        revision,
        hash,
        new_name,
    }
}

/// The scale steps of the rollout strategy (none while paused).
fn scales(d: &Deployment, v: &View<'_>) -> Vec<Scale> {
    let spec = d.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Vec::new();
    }
    let replicas = spec.replicas.unwrap_or(1);
    let (surge, unavailable) = surge_and_unavailable(d);
    let new_state = v
        .new
        .map_or_else(|| RsState::missing(&v.new_name), RsState::of);
    let olds: Vec<RsState> = sorted_oldest_first(&v.olds)
        .into_iter()
        .map(RsState::of)
        .collect();
    if spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        rollout::recreate(replicas, &new_state, &olds)
    } else {
        rollout::rolling(replicas, surge, unavailable, &new_state, &olds)
    }
}

/// Turns scale steps into ReplicaSet writes and events.
fn plan_scales(
    d: &Deployment,
    v: &View<'_>,
    scales: &[Scale],
    plan: &mut DeploymentPlan,
    notes: &mut Vec<Note>,
) {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let (surge, _) = surge_and_unavailable(d);
    let annotations = rs_annotations(v.revision, replicas, surge);
    if v.new.is_none() && d.spec.as_ref().and_then(|s| s.paused) != Some(true) {
        let target = scales
            .iter()
            .find(|s| s.name == v.new_name)
            .map_or(0, |s| s.to);
        plan.create = Some(new_replica_set(d, &v.hash, annotations.clone(), target));
        let msg = format!("Scaled up replica set {} from 0 to {target}", v.new_name);
        notes.push(Note::normal("ScalingReplicaSet", msg));
    }
    for s in scales
        .iter()
        .filter(|s| v.new.is_some() || s.name != v.new_name)
    {
        let verb = if s.to > s.from { "up" } else { "down" };
        let msg = format!(
            "Scaled {verb} replica set {} from {} to {}",
            s.name, s.from, s.to
        );
        notes.push(Note::normal("ScalingReplicaSet", msg));
        let mut a = annotations.clone();
        if s.name != v.new_name {
            a.remove(labels::REVISION);
        }
        plan.update.push(RsUpdate {
            name: s.name.clone(),
            replicas: s.to,
            annotations: a,
        });
    }
    if let Some(rs) = v.new
        && !plan.update.iter().any(|u| u.name == v.new_name)
        && revision_of(rs) != v.revision
    {
        let replicas_now = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        plan.update.push(RsUpdate {
            name: v.new_name.clone(),
            replicas: replicas_now,
            annotations,
        });
    }
}

/// Reconciles one Deployment against every ReplicaSet of its namespace.
pub fn reconcile(
    d: &Deployment,
    all: &[&ReplicaSet],
    now: Timestamp,
) -> (DeploymentPlan, Vec<Note>) {
    let mut plan = DeploymentPlan::default();
    let mut notes = Vec::new();
    if pod::is_deleting(&d.metadata) {
        return (plan, notes);
    }
    let v = view(d, all);
    let steps = scales(d, &v);
    plan_scales(d, &v, &steps, &mut plan, &mut notes);
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    plan.delete = history_to_delete(&v.olds, limit);
    let revision = v.revision.to_string();
    if d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::REVISION))
        != Some(&revision)
    {
        plan.revision = Some(revision);
    }
    let (_, unavailable) = surge_and_unavailable(d);
    let next = status::compute(
        d,
        v.new,
        &v.all,
        &v.new_name,
        unavailable,
        plan.create.is_some(),
        now,
    );
    if !status::same(d.status.as_ref(), &next) {
        plan.status = Some(next);
    }
    (plan, notes)
}

fn sorted_oldest_first<'a>(rss: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let mut v = rss.to_vec();
    v.sort_by_key(|rs| {
        (
            revision_of(rs),
            rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            rs.metadata.name.clone(),
        )
    });
    v
}

/// Old, fully scaled-down ReplicaSets beyond the history limit, oldest first.
fn history_to_delete(olds: &[&ReplicaSet], limit: i32) -> Vec<String> {
    let idle: Vec<&ReplicaSet> = sorted_oldest_first(olds)
        .into_iter()
        .filter(|rs| {
            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 0
                && rs.status.as_ref().is_none_or(|s| s.replicas == 0)
                && !pod::is_deleting(&rs.metadata)
        })
        .collect();
    let excess = idle.len().saturating_sub(limit.max(0) as usize);
    idle.iter()
        .take(excess)
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests;
