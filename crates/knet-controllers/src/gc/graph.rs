//! The object graph of the collector: every object of every watched kind by
//! UID, and the reverse index owner UID → dependent UIDs (kept while the
//! owner is absent too: that is how the dependents of a deleted owner are
//! found). Watch events feed it; each change returns the UIDs the collector
//! must look at, so work follows events and nothing is ever relisted. Before
//! the first full sync ([`Graph::mark_ready`]) no work is returned.
//!
//! UIDs are never reused, so an owner seen deleted is known gone for good:
//! the graph remembers such UIDs while dependents still name them, and
//! their dependents are judged without asking the API (as upstream's
//! absent-owner cache).

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::{Node, OwnerPhase, OwnerStatus};

/// Index of a kind in [`Kinds`].
pub type KindId = u16;

/// One kind the API serves, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    /// API group (`""` for core).
    pub group: String,
    /// Served version.
    pub version: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Plural used in paths (`deployments`).
    pub plural: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

impl KindInfo {
    /// `apiVersion` as objects carry it (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The kinds known to the graph; a kind is identified by group and kind
/// (owner references may name another version of it).
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    list: Vec<KindInfo>,
}

impl Kinds {
    /// Adds a kind (or finds it, when its group and kind are known already).
    pub fn register(&mut self, info: KindInfo) -> KindId {
        if let Some(id) = self.find(&info.group, &info.kind) {
            return id;
        }
        self.list.push(info);
        KindId::try_from(self.list.len() - 1).unwrap_or(KindId::MAX)
    }

    /// The kind with this group and kind name.
    pub fn find(&self, group: &str, kind: &str) -> Option<KindId> {
        self.list
            .iter()
            .position(|k| k.group == group && k.kind == kind)
            .and_then(|i| KindId::try_from(i).ok())
    }

    /// A registered kind.
    pub fn get(&self, id: KindId) -> Option<&KindInfo> {
        self.list.get(usize::from(id))
    }

    /// The kinds, by id.
    pub fn iter(&self) -> impl Iterator<Item = &KindInfo> {
        self.list.iter()
    }

    /// How many kinds are known.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// What the graph knows of the owner an owner reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Judged from the graph alone.
    Known(OwnerStatus),
    /// No object of that kind, namespace, name and UID is in the graph: the
    /// store may lag behind a new owner, so ask the API (by name) first.
    Confirm {
        /// The owner's kind.
        kind: KindId,
        /// Where to look (the dependent's namespace, or `""`).
        namespace: &'a str,
    },
}

/// The object graph.
#[derive(Debug, Default)]
pub struct Graph {
    kinds: Kinds,
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, BTreeSet<String>>,
    /// Owners seen deleted that dependents still name.
    gone: HashSet<String>,
    ready: bool,
}

impl Graph {
    /// The kinds known.
    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// Adds a kind (see [`Kinds::register`]).
    pub fn register(&mut self, info: KindInfo) -> KindId {
        self.kinds.register(info)
    }

    /// The node of an object.
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many objects the graph holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether the first full sync is done.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Judges owner reference `r` of `dependent` as far as the graph can:
    /// the owner must have the reference's UID, group, kind and name, and
    /// live in the dependent's namespace when its kind is namespaced (a
    /// cluster-scoped dependent cannot have a namespaced owner).
    pub fn resolve<'a>(&self, dependent: &'a Node, r: &OwnerReference) -> Lookup<'a> {
        let Some(kind) = self.kinds.find(group_of(&r.api_version), &r.kind) else {
            return Lookup::Known(OwnerStatus::Unresolvable);
        };
        let namespaced = self.kinds.get(kind).is_some_and(|k| k.namespaced);
        if namespaced && dependent.namespace.is_empty() {
            return Lookup::Known(OwnerStatus::Dangling);
        }
        let namespace = if namespaced {
            dependent.namespace.as_str()
        } else {
            ""
        };
        match self.nodes.get(&r.uid) {
            Some(o) if o.kind == kind && o.name == r.name && o.namespace == namespace => {
                Lookup::Known(o.as_owner())
            }
            _ if self.gone.contains(&r.uid) => Lookup::Known(OwnerStatus::Dangling),
            _ => Lookup::Confirm { kind, namespace },
        }
    }

    /// The objects naming `uid` among their owners.
    pub fn dependents(&self, uid: &str) -> Vec<(&str, &Node)> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get_key_value(d))
            .map(|(d, n)| (d.as_str(), n))
            .collect()
    }

    /// Whether any object names `uid` among its owners.
    pub fn has_dependents(&self, uid: &str) -> bool {
        self.dependents
            .get(uid)
            .is_some_and(|s| s.iter().any(|d| self.nodes.contains_key(d)))
    }

    /// Whether the collector has something to check on this node: an owner
    /// deletion to finish, or an owner reference that is not plainly solid.
    fn needs_look(&self, node: &Node) -> bool {
        node.owner_phase().is_some()
            || (!node.deleting
                && node.owners.iter().any(|r| {
                    !matches!(
                        self.resolve(node, r),
                        Lookup::Known(OwnerStatus::Solid | OwnerStatus::Unresolvable)
                    )
                }))
    }

    fn link(&mut self, owner: &str, dependent: &str) {
        self.dependents
            .entry(owner.to_string())
            .or_default()
            .insert(dependent.to_string());
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
                self.gone.remove(owner);
            }
        }
    }

    /// An owner waiting for its dependents, when `uid` is one.
    fn waiting_owner(&self, uid: &str) -> bool {
        self.nodes
            .get(uid)
            .is_some_and(|o| o.owner_phase() == Some(OwnerPhase::DeletingDependents))
    }

    /// An object of `kind` was added or changed; returns the UIDs to look at.
    pub fn observe(&mut self, kind: KindId, meta: &ObjectMeta) -> Vec<String> {
        let Some(uid) = meta.uid.as_deref() else {
            return Vec::new();
        };
        if self.nodes.get(uid).is_some_and(|n| n.matches(kind, meta)) {
            return Vec::new();
        }
        let Some((uid, node)) = Node::from_meta(kind, meta) else {
            return Vec::new();
        };
        let new_refs: Vec<String> = node.owners.iter().map(|r| r.uid.clone()).collect();
        let old = self.nodes.insert(uid.clone(), node);
        let old_refs = old
            .as_ref()
            .map(|o| o.owners.as_slice())
            .unwrap_or_default();
        for r in old_refs.iter().filter(|r| !new_refs.contains(&r.uid)) {
            self.unlink(&r.uid, &uid);
        }
        for r in &new_refs {
            self.link(r, &uid);
        }
        if !self.ready {
            return Vec::new();
        }
        let mut work = Vec::new();
        if self.nodes.get(&uid).is_some_and(|n| self.needs_look(n)) {
            work.push(uid.clone());
        }
        // A reference dropped (or no longer blocking) may release an owner
        // waiting for its dependents.
        let now = self.nodes.get(&uid).map(|n| n.owners.as_slice());
        for r in old_refs {
            if !now.unwrap_or_default().contains(r) && self.waiting_owner(&r.uid) {
                work.push(r.uid.clone());
            }
        }
        work.dedup();
        work
    }

    /// An object was deleted; returns the UIDs to look at: owners waiting
    /// for it, and its dependents (which may have lost their last owner).
    pub fn forget(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        for r in &node.owners {
            self.unlink(&r.uid, uid);
        }
        if self.dependents.contains_key(uid) {
            self.gone.insert(uid.to_string());
        }
        if !self.ready {
            return Vec::new();
        }
        let mut work: Vec<String> = node
            .owners
            .iter()
            .filter(|r| self.waiting_owner(&r.uid))
            .map(|r| r.uid.clone())
            .collect();
        work.extend(
            self.dependents(uid)
                .into_iter()
                .filter(|(_, n)| !n.deleting)
                .map(|(d, _)| d.to_string()),
        );
        work.sort();
        work.dedup();
        work
    }

    /// A full list of `kind` came in (a watch (re)started): objects of that
    /// kind missing from it are forgotten, the others observed.
    pub fn resync(&mut self, kind: KindId, metas: &[&ObjectMeta]) -> Vec<String> {
        let seen: HashSet<&str> = metas.iter().filter_map(|m| m.uid.as_deref()).collect();
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|(u, n)| n.kind == kind && !seen.contains(u.as_str()))
            .map(|(u, _)| u.clone())
            .collect();
        let mut work = Vec::new();
        for u in gone {
            work.extend(self.forget(&u));
        }
        for m in metas {
            work.extend(self.observe(kind, m));
        }
        work.sort();
        work.dedup();
        work
    }

    /// Every object the collector should look at now (sorted).
    pub fn scan(&self) -> Vec<String> {
        let mut work: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| self.needs_look(n))
            .map(|(u, _)| u.clone())
            .collect();
        work.sort();
        work
    }

    /// The first full sync is done: from now on changes return work; returns
    /// everything to look at now.
    pub fn mark_ready(&mut self) -> Vec<String> {
        self.ready = true;
        self.scan()
    }
}
