//! The garbage collector, pure part: the object graph built from
//! `metadata.ownerReferences` of every kind the API serves
//! ([`graph::Graph`]), and the decisions taken on one object of it.
//!
//! As kube-controller-manager's collector:
//! - **Dependent** (an object that names owners and is not being deleted):
//!   each owner reference is *solid* (the owner exists, same UID, and is not
//!   deleting its dependents first), *waiting* (it is, with the
//!   `foregroundDeletion` finalizer) or *dangling* (no object of that kind,
//!   name and UID, looked up in the dependent's namespace for a namespaced
//!   owner). With a solid owner left, dangling and waiting references are
//!   removed; with only waiting and dangling ones, the dependent is deleted
//!   (in the foreground when a waiting owner asked so and it has dependents
//!   of its own); with only dangling ones, it is deleted with the policy its
//!   own finalizers ask for (Background by default).
//! - **Owner deleting with `orphan`**: every dependent loses its references
//!   to it, then the finalizer goes.
//! - **Owner deleting with `foregroundDeletion`**: its dependents are
//!   deleted; while one with `blockOwnerDeletion: true` is left, the owner
//!   stays; then the finalizer goes.
//!
//! An owner reference naming a kind the API does not serve cannot be judged:
//! such a dependent is left alone.

pub mod graph;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::labels;

pub use graph::{Graph, KindId, KindInfo, Kinds, Lookup};

/// What the collector keeps of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its kind, an index into the graph's [`Kinds`].
    pub kind: KindId,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its owner references, in order.
    pub owners: Vec<OwnerReference>,
    /// Has a deletionTimestamp.
    pub deleting: bool,
    /// Its finalizers, in order.
    pub finalizers: Vec<String>,
}

impl Node {
    /// The node of an object's metadata, keyed by its UID (`None` without one).
    pub fn from_meta(kind: KindId, meta: &ObjectMeta) -> Option<(String, Node)> {
        let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
        Some((
            uid,
            Node {
                kind,
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
                owners: meta.owner_references.clone().unwrap_or_default(),
                deleting: meta.deletion_timestamp.is_some(),
                finalizers: meta.finalizers.clone().unwrap_or_default(),
            },
        ))
    }

    /// Whether `meta` says nothing new about this node (checked without
    /// allocating: most updates only touch status).
    pub fn matches(&self, kind: KindId, meta: &ObjectMeta) -> bool {
        self.kind == kind
            && self.deleting == meta.deletion_timestamp.is_some()
            && self.name == meta.name.as_deref().unwrap_or_default()
            && self.namespace == meta.namespace.as_deref().unwrap_or_default()
            && self.owners.as_slice() == meta.owner_references.as_deref().unwrap_or_default()
            && self.finalizers.as_slice() == meta.finalizers.as_deref().unwrap_or_default()
    }

    /// Whether it carries finalizer `f`.
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// What the collector must do for it as an owner being deleted.
    pub fn owner_phase(&self) -> Option<OwnerPhase> {
        if !self.deleting {
            None
        } else if self.has_finalizer(labels::ORPHAN_FINALIZER) {
            Some(OwnerPhase::Orphaning)
        } else if self.has_finalizer(labels::FOREGROUND_FINALIZER) {
            Some(OwnerPhase::DeletingDependents)
        } else {
            None
        }
    }

    /// How it counts as an owner of others.
    pub fn as_owner(&self) -> OwnerStatus {
        if self.owner_phase() == Some(OwnerPhase::DeletingDependents) {
            OwnerStatus::Waiting
        } else {
            OwnerStatus::Solid
        }
    }
}

/// The two deletions the collector finishes for an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerPhase {
    /// Deleting with the `orphan` finalizer.
    Orphaning,
    /// Deleting with the `foregroundDeletion` finalizer.
    DeletingDependents,
}

/// One owner reference of a dependent, judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerStatus {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is being deleted in the foreground.
    Waiting,
    /// No such owner (gone, another UID, another namespace).
    Dangling,
    /// The reference names a kind the API does not serve.
    Unresolvable,
}

/// A delete's `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes now, its dependents after.
    Background,
    /// Its dependents go first.
    Foreground,
    /// Its dependents lose their reference and stay.
    Orphan,
}

/// What to do with a dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependentAction {
    /// Nothing.
    Keep,
    /// Remove its references to these owner UIDs.
    Detach(Vec<String>),
    /// Delete it with this policy.
    Delete(Propagation),
}

/// Decides for a dependent that is not being deleted, given the status of
/// each of its owner references (in the order of `node.owners`) and whether
/// it has dependents of its own.
pub fn decide_dependent(
    node: &Node,
    statuses: &[OwnerStatus],
    has_dependents: bool,
) -> DependentAction {
    if node.deleting || node.owners.is_empty() || statuses.contains(&OwnerStatus::Unresolvable) {
        return DependentAction::Keep;
    }
    let count = |s: OwnerStatus| statuses.iter().filter(|x| **x == s).count();
    let (waiting, dangling) = (count(OwnerStatus::Waiting), count(OwnerStatus::Dangling));
    if count(OwnerStatus::Solid) > 0 {
        if waiting + dangling == 0 {
            return DependentAction::Keep;
        }
        let mut uids: Vec<String> = node
            .owners
            .iter()
            .zip(statuses)
            .filter(|(_, s)| matches!(s, OwnerStatus::Waiting | OwnerStatus::Dangling))
            .map(|(r, _)| r.uid.clone())
            .collect();
        uids.sort();
        uids.dedup();
        return DependentAction::Detach(uids);
    }
    if waiting > 0 {
        return DependentAction::Delete(if has_dependents {
            Propagation::Foreground
        } else {
            Propagation::Background
        });
    }
    DependentAction::Delete(if node.has_finalizer(labels::ORPHAN_FINALIZER) {
        Propagation::Orphan
    } else if node.has_finalizer(labels::FOREGROUND_FINALIZER) {
        Propagation::Foreground
    } else {
        Propagation::Background
    })
}

/// What to do for an owner being deleted with a collector finalizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerAction {
    /// Nothing (not such an owner).
    None,
    /// Remove the owner's reference from these dependents (UIDs), then its
    /// `orphan` finalizer.
    Orphan(Vec<String>),
    /// Dependents with `blockOwnerDeletion` are left: delete these (the
    /// dependents not yet being deleted) and wait.
    Wait(Vec<String>),
    /// No blocking dependent is left: remove `foregroundDeletion`.
    Finish,
}

/// Decides for owner `uid` from its dependents (UID and node, each naming
/// `uid` among its owners).
pub fn decide_owner(uid: &str, owner: &Node, dependents: &[(&str, &Node)]) -> OwnerAction {
    match owner.owner_phase() {
        None => OwnerAction::None,
        Some(OwnerPhase::Orphaning) => {
            OwnerAction::Orphan(dependents.iter().map(|(d, _)| d.to_string()).collect())
        }
        Some(OwnerPhase::DeletingDependents) => {
            let blocks = |n: &Node| {
                n.owners
                    .iter()
                    .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
            };
            if !dependents.iter().any(|(_, n)| blocks(n)) {
                return OwnerAction::Finish;
            }
            OwnerAction::Wait(
                dependents
                    .iter()
                    .filter(|(_, n)| !n.deleting)
                    .map(|(d, _)| d.to_string())
                    .collect(),
            )
        }
    }
}

/// A JSON patch removing the references to `remove` from an object whose
/// UID and owner references are `uid` and `owners`; it fails (422) when the
/// object changed meanwhile, so a stale graph never drops a reference it
/// did not see.
pub fn detach_patch(uid: &str, owners: &[OwnerReference], remove: &[String]) -> Value {
    let left: Vec<&OwnerReference> = owners.iter().filter(|r| !remove.contains(&r.uid)).collect();
    let last = if left.is_empty() {
        json!({"op": "remove", "path": "/metadata/ownerReferences"})
    } else {
        json!({"op": "replace", "path": "/metadata/ownerReferences", "value": left})
    };
    json!([
        {"op": "test", "path": "/metadata/uid", "value": uid},
        {"op": "test", "path": "/metadata/ownerReferences", "value": owners},
        last,
    ])
}

/// A JSON patch removing finalizer `f` from an object with UID `uid` and
/// these finalizers (failing when they changed meanwhile).
pub fn remove_finalizer_patch(uid: &str, finalizers: &[String], f: &str) -> Value {
    let left: Vec<&String> = finalizers.iter().filter(|x| *x != f).collect();
    let last = if left.is_empty() {
        json!({"op": "remove", "path": "/metadata/finalizers"})
    } else {
        json!({"op": "replace", "path": "/metadata/finalizers", "value": left})
    };
    json!([
        {"op": "test", "path": "/metadata/uid", "value": uid},
        {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
        last,
    ])
}

#[cfg(test)]
mod tests;
