//! The garbage collector, pure part: given an owner's state and the objects
//! that name it in `ownerReferences`, what to delete or detach.
//!
//! - Owner gone (Background deletion, the kubectl default): dependents with
//!   no other live owner are deleted; others just drop the dangling reference.
//! - Owner deleting with the `orphan` finalizer: dependents drop the
//!   reference, then the finalizer goes.
//! - Owner deleting with the `foregroundDeletion` finalizer: dependents are
//!   deleted (foreground too); when none is left, the finalizer goes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::labels;

/// An object that names owners.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependent {
    /// `apiVersion` of the dependent.
    pub api_version: String,
    /// Kind of the dependent.
    pub kind: String,
    /// Namespace (empty for cluster objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Already being deleted.
    pub deleting: bool,
}

/// What the collector knows about the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists and is not being deleted.
    Live,
    /// Has a deletionTimestamp; its finalizers.
    Deleting(Vec<String>),
    /// No object with that uid exists.
    Gone,
}

/// One write of the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcAction {
    /// Delete dependent `index` with this propagation policy.
    Delete {
        /// Index into the dependents given.
        index: usize,
        /// `Background` or `Foreground`.
        propagation: &'static str,
    },
    /// Remove the owner's reference from dependent `index`.
    Detach {
        /// Index into the dependents given.
        index: usize,
    },
    /// Remove this finalizer from the owner.
    RemoveFinalizer(&'static str),
}

/// Plans the collection for one owner `uid`. `alive` says whether another
/// owner reference of a dependent points at a live object.
pub fn plan(
    uid: &str,
    owner: &OwnerState,
    dependents: &[Dependent],
    alive: &dyn Fn(&OwnerReference) -> bool,
) -> Vec<GcAction> {
    let mine: Vec<(usize, &Dependent)> = dependents
        .iter()
        .enumerate()
        .filter(|(_, d)| d.owners.iter().any(|o| o.uid == uid))
        .collect();
    match owner {
        OwnerState::Live => Vec::new(),
        OwnerState::Gone => mine
            .iter()
            .filter(|(_, d)| !d.deleting)
            .map(|(i, d)| {
                let others_alive = d.owners.iter().filter(|o| o.uid != uid).any(alive);
                if others_alive {
                    GcAction::Detach { index: *i }
                } else {
                    GcAction::Delete {
                        index: *i,
                        propagation: "Background",
                    }
                }
            })
            .collect(),
        OwnerState::Deleting(finalizers) => {
            let has = |f: &str| finalizers.iter().any(|x| x == f);
            if has(labels::ORPHAN_FINALIZER) {
                let mut v: Vec<GcAction> = mine
                    .iter()
                    .map(|(i, _)| GcAction::Detach { index: *i })
                    .collect();
                v.push(GcAction::RemoveFinalizer(labels::ORPHAN_FINALIZER));
                v
            } else if has(labels::FOREGROUND_FINALIZER) {
                if mine.is_empty() {
                    return vec![GcAction::RemoveFinalizer(labels::FOREGROUND_FINALIZER)];
                }
                mine.iter()
                    .filter(|(_, d)| !d.deleting)
                    .map(|(i, _)| GcAction::Delete {
                        index: *i,
                        propagation: "Foreground",
                    })
                    .collect()
            } else {
                Vec::new()
            }
        }
    }
}

/// Whether a foreground deletion of owner `uid` still waits for dependents
/// to go (so the owner must be looked at again).
pub fn waits_for_dependents(uid: &str, owner: &OwnerState, dependents: &[Dependent]) -> bool {
    matches!(owner, OwnerState::Deleting(f)
        if f.iter().any(|x| x == labels::FOREGROUND_FINALIZER)
            && !f.iter().any(|x| x == labels::ORPHAN_FINALIZER))
        && dependents
            .iter()
            .any(|d| d.owners.iter().any(|o| o.uid == uid))
}

/// Whether an object carries a finalizer only the collector removes.
pub fn has_gc_finalizer(finalizers: Option<&[String]>) -> bool {
    finalizers
        .unwrap_or_default()
        .iter()
        .any(|f| f == labels::ORPHAN_FINALIZER || f == labels::FOREGROUND_FINALIZER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: uid.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn dep(name: &str, owners: &[&str], deleting: bool) -> Dependent {
        Dependent {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: "default".into(),
            name: name.into(),
            owners: owners.iter().map(|u| owner(u)).collect(),
            deleting,
        }
    }

    #[test]
    fn background_deletes_orphans_and_detaches_shared() {
        let deps = [
            dep("a", &["rs"], false),
            dep("b", &["rs", "other"], false),
            dep("c", &["rs"], true),
            dep("d", &["x"], false),
        ];
        let alive = |o: &OwnerReference| o.uid == "other";
        let p = plan("rs", &OwnerState::Gone, &deps, &alive);
        assert_eq!(
            p,
            vec![
                GcAction::Delete {
                    index: 0,
                    propagation: "Background"
                },
                GcAction::Detach { index: 1 }
            ]
        );
        assert!(plan("rs", &OwnerState::Live, &deps, &alive).is_empty());
    }

    #[test]
    fn orphan_detaches_then_drops_finalizer() {
        let deps = [dep("a", &["rs"], false)];
        let p = plan(
            "rs",
            &OwnerState::Deleting(vec!["orphan".into()]),
            &deps,
            &|_| false,
        );
        assert_eq!(
            p,
            vec![
                GcAction::Detach { index: 0 },
                GcAction::RemoveFinalizer("orphan")
            ]
        );
    }

    #[test]
    fn leaf_objects_lose_their_finalizer_at_once() {
        // A pod deleted in the foreground has no dependents: nothing to wait for.
        for f in ["foregroundDeletion", "orphan"] {
            let state = OwnerState::Deleting(vec![f.into(), "example.com/x".into()]);
            let other = [dep("a", &["rs"], false)];
            assert_eq!(
                plan("pod", &state, &other, &|_| false),
                vec![GcAction::RemoveFinalizer(if f == "orphan" {
                    "orphan"
                } else {
                    "foregroundDeletion"
                })]
            );
            assert!(!waits_for_dependents("pod", &state, &other));
        }
        assert!(has_gc_finalizer(Some(&["orphan".to_string()])));
        assert!(!has_gc_finalizer(Some(&["example.com/x".to_string()])));
        assert!(!has_gc_finalizer(None));
    }

    #[test]
    fn foreground_waits_while_dependents_terminate() {
        let state = OwnerState::Deleting(vec!["foregroundDeletion".into()]);
        let deps = [dep("a", &["rs"], true)];
        assert!(plan("rs", &state, &deps, &|_| false).is_empty());
        assert!(waits_for_dependents("rs", &state, &deps));
        assert!(!waits_for_dependents("rs", &OwnerState::Gone, &deps));
    }

    #[test]
    fn foreground_deletes_dependents_first() {
        let deps = [dep("a", &["rs"], false), dep("b", &["rs"], true)];
        let state = OwnerState::Deleting(vec!["foregroundDeletion".into()]);
        assert_eq!(
            plan("rs", &state, &deps, &|_| false),
            vec![GcAction::Delete {
                index: 0,
                propagation: "Foreground"
            }]
        );
        assert_eq!(
            plan("rs", &state, &[], &|_| false),
            vec![GcAction::RemoveFinalizer("foregroundDeletion")]
        );
        assert!(
            plan(
                "rs",
                &OwnerState::Deleting(vec!["other".into()]),
                &deps,
                &|_| false
            )
            .is_empty()
        );
    }
}
