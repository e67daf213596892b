//! I/O of the garbage collector. The graph ([`crate::gc::Graph`]) is fed by
//! the controllers' own informers for the kinds they watch anyway (see
//! `wiring::with_gc`) and by metadata-only watches of every other kind the
//! API's discovery lists ([`sources`]). Work items are object UIDs; a worker
//! takes what the graph knows of one object, asks the API only about owners
//! the graph lacks (its store may lag behind a new owner), decides (pure) and
//! writes: deletes carry a UID precondition, reference and finalizer
//! removals are JSON patches that test the values they replace.

mod sources;

use std::any::TypeId;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};

use super::services::is_status;
use super::{Ctx, SyncResult, WorkQueue};
use crate::gc::{
    self, DependentAction, Graph, KindId, KindInfo, Lookup, Node, OwnerAction, OwnerStatus,
    Propagation,
};
use crate::labels;

pub(crate) use sources::run_sources;

/// The collector's shared state: the graph, and whether its first full sync
/// is done (workers wait for it, so nothing is judged on a partial graph).
pub(crate) struct GcState {
    graph: Mutex<Graph>,
    ready: tokio::sync::watch::Sender<bool>,
}

impl Default for GcState {
    fn default() -> Self {
        GcState {
            graph: Mutex::default(),
            ready: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl GcState {
    fn lock(&self) -> MutexGuard<'_, Graph> {
        self.graph
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a kind one of the controllers' informers watches.
    pub(crate) fn register_typed<K>(&self) -> KindId
    where
        K: Resource<DynamicType = ()>,
        K::Scope: 'static,
    {
        self.lock().register(KindInfo {
            group: K::group(&()).into_owned(),
            version: K::version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            plural: K::plural(&()).into_owned(),
            namespaced: TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>(),
        })
    }

    fn typed_id<K: Resource<DynamicType = ()>>(graph: &Graph) -> Option<KindId> {
        graph.kinds().find(&K::group(&()), &K::kind(&()))
    }

    /// An object of a typed kind was added or changed: the UIDs to look at.
    pub(crate) fn observe_typed<K: Resource<DynamicType = ()>>(&self, o: &K) -> Vec<String> {
        let mut g = self.lock();
        match Self::typed_id::<K>(&g) {
            Some(id) => g.observe(id, o.meta()),
            None => Vec::new(),
        }
    }

    /// A full list of a typed kind came in.
    pub(crate) fn resync_typed<K: Resource<DynamicType = ()>>(
        &self,
        objects: &[Arc<K>],
    ) -> Vec<String> {
        let metas: Vec<&ObjectMeta> = objects.iter().map(|o| o.meta()).collect();
        let mut g = self.lock();
        match Self::typed_id::<K>(&g) {
            Some(id) => g.resync(id, &metas),
            None => Vec::new(),
        }
    }

    /// An object of any kind was deleted.
    pub(crate) fn forget(&self, meta: &ObjectMeta) -> Vec<String> {
        match meta.uid.as_deref() {
            Some(uid) => self.lock().forget(uid),
            None => Vec::new(),
        }
    }

    async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }
}

/// Queues the UIDs a graph change returned.
pub(crate) fn queue(q: &WorkQueue, work: Vec<String>) {
    for uid in work {
        q.add(uid);
    }
}

/// One object as the worker needs it: where it is served, and its node.
#[derive(Debug, Clone)]
struct Obj {
    kind: KindInfo,
    uid: String,
    node: Node,
}

/// An owner reference the graph could not judge: to be looked up by name.
#[derive(Debug, Clone)]
struct Confirm {
    kind: KindInfo,
    namespace: String,
    name: String,
    uid: String,
}

/// One owner reference of a dependent: judged, or to be looked up.
#[derive(Debug)]
enum Judge {
    Known(OwnerStatus),
    Confirm(Confirm),
}

/// What a worker read from the graph for one UID (taken under the lock).
#[derive(Debug)]
enum Look {
    Nothing,
    Owner(Obj, OwnerAction, Vec<Obj>),
    Dependent(Obj, Vec<Judge>, bool),
}

fn obj(g: &Graph, uid: &str, node: &Node) -> Option<Obj> {
    Some(Obj {
        kind: g.kinds().get(node.kind)?.clone(),
        uid: uid.to_string(),
        node: node.clone(),
    })
}

fn look(g: &Graph, uid: &str) -> Look {
    let Some(node) = g.node(uid) else {
        return Look::Nothing;
    };
    let Some(me) = obj(g, uid, node) else {
        return Look::Nothing;
    };
    if node.owner_phase().is_some() {
        let deps = g.dependents(uid);
        let action = gc::decide_owner(uid, node, &deps);
        let deps = match &action {
            OwnerAction::Orphan(_) => deps.iter().filter_map(|(d, n)| obj(g, d, n)).collect(),
            _ => Vec::new(),
        };
        return Look::Owner(me, action, deps);
    }
    if node.deleting || node.owners.is_empty() {
        return Look::Nothing;
    }
    let judged = node
        .owners
        .iter()
        .map(|r| match g.resolve(node, r) {
            Lookup::Known(s) => Judge::Known(s),
            Lookup::Confirm { kind, namespace } => Judge::Confirm(Confirm {
                kind: g
                    .kinds()
                    .get(kind)
                    .cloned()
                    .unwrap_or_else(|| me.kind.clone()),
                namespace: namespace.to_string(),
                name: r.name.clone(),
                uid: r.uid.clone(),
            }),
        })
        .collect();
    Look::Dependent(me, judged, g.has_dependents(uid))
}

fn api_resource(k: &KindInfo) -> ApiResource {
    ApiResource {
        group: k.group.clone(),
        version: k.version.clone(),
        api_version: k.api_version(),
        kind: k.kind.clone(),
        plural: k.plural.clone(),
    }
}

fn api(ctx: &Ctx, kind: &KindInfo, ns: &str) -> Api<DynamicObject> {
    let ar = api_resource(kind);
    if kind.namespaced {
        Api::namespaced_with(ctx.client.clone(), ns, &ar)
    } else {
        Api::all_with(ctx.client.clone(), &ar)
    }
}

/// Judges an owner the graph lacks by reading it from the API.
async fn confirm(ctx: &Ctx, c: &Confirm) -> Result<OwnerStatus, kube::Error> {
    let found = api(ctx, &c.kind, &c.namespace)
        .get_metadata_opt(&c.name)
        .await?;
    Ok(match found {
        Some(o) if o.metadata.uid.as_deref() == Some(c.uid.as_str()) => {
            Node::from_meta(0, &o.metadata).map_or(OwnerStatus::Solid, |(_, n)| n.as_owner())
        }
        _ => OwnerStatus::Dangling,
    })
}

/// Applies a JSON patch; a missing object is fine (it went meanwhile), a
/// failed test is an error (retried once the graph caught up).
async fn json_patch(ctx: &Ctx, o: &Obj, patch: serde_json::Value) -> Result<(), kube::Error> {
    let patch = Patch::<()>::Json(serde_json::from_value(patch).map_err(kube::Error::SerdeError)?);
    match api(ctx, &o.kind, &o.node.namespace)
        .patch(&o.node.name, &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn detach(ctx: &Ctx, o: &Obj, owners: &[String]) -> Result<(), kube::Error> {
    json_patch(ctx, o, gc::detach_patch(&o.uid, &o.node.owners, owners)).await?;
    tracing::info!(kind = %o.kind.kind, namespace = %o.node.namespace, name = %o.node.name,
        ?owners, "garbage collector: owner references removed");
    Ok(())
}

async fn remove_finalizer(ctx: &Ctx, o: &Obj, f: &str) -> Result<(), kube::Error> {
    json_patch(
        ctx,
        o,
        gc::remove_finalizer_patch(&o.uid, &o.node.finalizers, f),
    )
    .await
}

async fn delete(ctx: &Ctx, o: &Obj, p: Propagation) -> Result<(), kube::Error> {
    let dp = DeleteParams {
        propagation_policy: Some(match p {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        preconditions: Some(Preconditions {
            uid: Some(o.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api(ctx, &o.kind, &o.node.namespace)
        .delete(&o.node.name, &dp)
        .await
    {
        Ok(_) => {
            tracing::info!(kind = %o.kind.kind, namespace = %o.node.namespace, name = %o.node.name,
                propagation = ?p, "garbage collected");
            Ok(())
        }
        // Gone, or replaced by another object of that name.
        Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn finish_owner(
    ctx: &Ctx,
    owner: &Obj,
    action: OwnerAction,
    deps: &[Obj],
) -> Result<(), kube::Error> {
    match action {
        OwnerAction::None => {}
        OwnerAction::Orphan(_) => {
            for d in deps {
                detach(ctx, d, std::slice::from_ref(&owner.uid)).await?;
            }
            remove_finalizer(ctx, owner, labels::ORPHAN_FINALIZER).await?;
        }
        OwnerAction::Wait(check) => queue(&ctx.q.gc, check),
        OwnerAction::Finish => remove_finalizer(ctx, owner, labels::FOREGROUND_FINALIZER).await?,
    }
    Ok(())
}

/// Garbage collector: one object, by UID.
pub(crate) async fn sync_uid(ctx: Arc<Ctx>, uid: String) -> SyncResult {
    ctx.gc.wait_ready().await;
    let found = look(&ctx.gc.lock(), &uid);
    match found {
        Look::Nothing => {}
        Look::Owner(owner, action, deps) => finish_owner(&ctx, &owner, action, &deps).await?,
        Look::Dependent(me, judged, has_dependents) => {
            let mut statuses = Vec::with_capacity(judged.len());
            for j in judged {
                statuses.push(match j {
                    Judge::Known(s) => s,
                    Judge::Confirm(c) => confirm(&ctx, &c).await?,
                });
            }
            match gc::decide_dependent(&me.node, &statuses, has_dependents) {
                DependentAction::Keep => {}
                DependentAction::Detach(owners) => detach(&ctx, &me, &owners).await?,
                DependentAction::Delete(p) => delete(&ctx, &me, p).await?,
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

    fn kind(group: &str, kind: &str, plural: &str) -> KindInfo {
        KindInfo {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
        }
    }

    fn meta(name: &str, uid: &str, owner: Option<(&str, &str)>) -> ObjectMeta {
        ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            owner_references: owner.map(|(n, u)| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: n.into(),
                    uid: u.into(),
                    block_owner_deletion: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_look_carries_what_the_writes_need() {
        let mut g = Graph::default();
        let deploy = g.register(kind("apps", "Deployment", "deployments"));
        let cm = g.register(kind("", "ConfigMap", "configmaps"));
        g.observe(cm, &meta("a", "c1", Some(("web", "d1"))));
        g.observe(cm, &meta("b", "c2", Some(("new", "d2"))));
        let mut owner = meta("web", "d1", None);
        owner.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        owner.finalizers = Some(vec!["orphan".into()]);
        g.observe(deploy, &owner);
        // The orphaning owner brings its dependents, with their references.
        let Look::Owner(o, OwnerAction::Orphan(uids), deps) = look(&g, "d1") else {
            panic!("{:?}", look(&g, "d1"));
        };
        assert_eq!(
            (o.kind.plural.as_str(), o.node.name.as_str()),
            ("deployments", "web")
        );
        assert_eq!(uids, ["c1"]);
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].kind.api_version(), "v1");
        assert_eq!(deps[0].node.owners[0].uid, "d1");
        // An owner missing from the graph is looked up by name, in the
        // dependent's namespace.
        let Look::Dependent(d, judged, false) = look(&g, "c2") else {
            panic!("{:?}", look(&g, "c2"));
        };
        assert_eq!(d.node.name, "b");
        let [Judge::Confirm(c)] = judged.as_slice() else {
            panic!("{judged:?}");
        };
        assert_eq!(
            (
                c.kind.kind.as_str(),
                c.namespace.as_str(),
                c.name.as_str(),
                c.uid.as_str()
            ),
            ("Deployment", "default", "new", "d2")
        );
        assert!(matches!(look(&g, "nope"), Look::Nothing));
        assert!(matches!(look(&g, "c1"), Look::Dependent(_, _, false)));
    }
}
