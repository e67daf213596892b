//! I/O of the garbage collector: owners come from the stores (and, before
//! anything is deleted, a live GET — the store may lag behind a new owner);
//! dependents are pods, ReplicaSets and EndpointSlices.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams, PropagationPolicy,
};
use kube::{Resource, ResourceExt};

use super::services::is_status;
use super::{Ctx, SyncResult};
use crate::gc::{self, Dependent, GcAction, OwnerState};

/// How often every dependent is checked for a missing owner.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

fn state_of(meta: &ObjectMeta) -> OwnerState {
    if meta.deletion_timestamp.is_some() {
        OwnerState::Deleting(meta.finalizers.clone().unwrap_or_default())
    } else {
        OwnerState::Live
    }
}

/// The owner's metadata from our stores, when its kind is one we watch:
/// `Some(None)` = watched kind, not in store; `None` = kind not watched.
fn from_store(ctx: &Ctx, kind: &str, ns: &str, name: &str) -> Option<Option<ObjectMeta>> {
    let meta = match kind {
        "Pod" => ctx.pods.get(ns, name).map(|o| o.metadata.clone()),
        "Service" => ctx.services.get(ns, name).map(|o| o.metadata.clone()),
        "Endpoints" => ctx.endpoints.get(ns, name).map(|o| o.metadata.clone()),
        "Node" => ctx.nodes.get("", name).map(|o| o.metadata.clone()),
        "Deployment" => ctx.deployments.get(ns, name).map(|o| o.metadata.clone()),
        "ReplicaSet" => ctx.replicasets.get(ns, name).map(|o| o.metadata.clone()),
        "StatefulSet" => ctx.statefulsets.get(ns, name).map(|o| o.metadata.clone()),
        "DaemonSet" => ctx.daemonsets.get(ns, name).map(|o| o.metadata.clone()),
        "Namespace" => ctx.namespaces.get("", name).map(|o| o.metadata.clone()),
        _ => return None,
    };
    Some(meta)
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

fn dyn_api(ctx: &Ctx, ar: &ApiResource, ns: &str, cluster_scoped: bool) -> Api<DynamicObject> {
    if cluster_scoped || ns.is_empty() {
        Api::all_with(ctx.client.clone(), ar)
    } else {
        Api::namespaced_with(ctx.client.clone(), ns, ar)
    }
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Node" | "Namespace" | "PersistentVolume" | "ClusterRole" | "ClusterRoleBinding"
    )
}

/// The owner's state, confirmed with the API when the store says "gone".
async fn owner_state(
    ctx: &Ctx,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<OwnerState, kube::Error> {
    if let Some(Some(meta)) = from_store(ctx, kind, ns, name)
        && meta.uid.as_deref() == Some(uid)
    {
        return Ok(state_of(&meta));
    }
    let api = dyn_api(ctx, &resource(api_version, kind), ns, cluster_scoped(kind));
    match api.get_opt(name).await? {
        Some(o) if o.metadata.uid.as_deref() == Some(uid) => Ok(state_of(&o.metadata)),
        _ => Ok(OwnerState::Gone),
    }
}

fn dependent<K: Resource<DynamicType = ()>>(o: &K) -> Dependent {
    Dependent {
        api_version: K::api_version(&()).into(),
        kind: K::kind(&()).into(),
        namespace: o.namespace().unwrap_or_default(),
        name: o.name_any(),
        owners: o.meta().owner_references.clone().unwrap_or_default(),
        deleting: o.meta().deletion_timestamp.is_some(),
    }
}

fn dependents_of(ctx: &Ctx, uid: &str) -> Vec<Dependent> {
    let k = format!("owner:{uid}");
    let mut v: Vec<Dependent> = ctx
        .pods
        .by_index(&k)
        .iter()
        .map(|o| dependent(o.as_ref()))
        .collect();
    v.extend(
        ctx.replicasets
            .by_index(&k)
            .iter()
            .map(|o| dependent(o.as_ref())),
    );
    v.extend(
        ctx.slices
            .by_index(&k)
            .iter()
            .map(|o| dependent(o.as_ref())),
    );
    v
}

fn alive_in_store(ctx: &Ctx, ns: &str, r: &OwnerReference) -> bool {
    match from_store(ctx, &r.kind, ns, &r.name) {
        Some(Some(m)) => m.uid.as_deref() == Some(r.uid.as_str()),
        Some(None) => false,
        None => true,
    }
}

async fn detach(ctx: &Ctx, d: &Dependent, uid: &str) -> Result<(), kube::Error> {
    let api = dyn_api(ctx, &resource(&d.api_version, &d.kind), &d.namespace, false);
    let Some(mut o) = api.get_opt(&d.name).await? else {
        return Ok(());
    };
    if let Some(refs) = o.metadata.owner_references.as_mut() {
        refs.retain(|r| r.uid != uid);
    }
    match api.replace(&d.name, &PostParams::default(), &o).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn remove_finalizer(
    ctx: &Ctx,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
    finalizer: &str,
) -> Result<(), kube::Error> {
    let api = dyn_api(ctx, &resource(api_version, kind), ns, cluster_scoped(kind));
    let Some(mut o) = api.get_opt(name).await? else {
        return Ok(());
    };
    if let Some(f) = o.metadata.finalizers.as_mut() {
        f.retain(|x| x != finalizer);
    }
    api.replace(name, &PostParams::default(), &o)
        .await
        .map(|_| ())
}

/// GC work-item keys of the owners `meta` names (queued when a dependent
/// goes, so a foreground deletion waiting on it finishes promptly).
pub(crate) fn owner_gc_keys(meta: &ObjectMeta) -> Vec<String> {
    let ns = meta.namespace.as_deref().unwrap_or_default();
    meta.owner_references
        .iter()
        .flatten()
        .map(|r| owner_gc_key(r, ns))
        .collect()
}

fn owner_gc_key(r: &OwnerReference, dependent_ns: &str) -> String {
    let ns = if cluster_scoped(&r.kind) {
        ""
    } else {
        dependent_ns
    };
    format!("{}|{}|{}|{}|{}", r.api_version, r.kind, ns, r.name, r.uid)
}

/// Garbage collector: one owner, keyed `apiVersion|kind|namespace|name|uid`.
pub(crate) async fn sync_owner(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let parts: Vec<&str> = key.split('|').collect();
    let [api_version, kind, ns, name, uid] = parts[..] else {
        return Ok(None);
    };
    let deps = dependents_of(&ctx, uid);
    let state = owner_state(&ctx, api_version, kind, ns, name, uid).await?;
    let alive = |r: &OwnerReference| {
        deps.first()
            .is_some_and(|d| alive_in_store(&ctx, &d.namespace, r))
    };
    let actions = gc::plan(uid, &state, &deps, &alive);
    // Foreground deletion waits for dependents to go: look again shortly
    // (their delete events also queue this owner).
    let mut again = gc::waits_for_dependents(uid, &state, &deps).then_some(Duration::from_secs(1));
    for a in actions {
        match a {
            GcAction::Delete { index, propagation } => {
                let d = &deps[index];
                let api = dyn_api(
                    &ctx,
                    &resource(&d.api_version, &d.kind),
                    &d.namespace,
                    false,
                );
                let dp = DeleteParams {
                    propagation_policy: Some(if propagation == "Foreground" {
                        PropagationPolicy::Foreground
                    } else {
                        PropagationPolicy::Background
                    }),
                    ..Default::default()
                };
                match api.delete(&d.name, &dp).await {
                    Ok(_) => {
                        tracing::info!(kind = %d.kind, name = %d.name, owner = %name, "garbage collected")
                    }
                    Err(e) if is_status(&e, 404) => {}
                    Err(e) => return Err(e.into()),
                }
                again = Some(Duration::from_secs(1));
            }
            GcAction::Detach { index } => detach(&ctx, &deps[index], uid).await?,
            GcAction::RemoveFinalizer(f) => {
                remove_finalizer(&ctx, api_version, kind, ns, name, f).await?
            }
        }
    }
    Ok(if matches!(state, OwnerState::Deleting(_)) {
        again
    } else {
        None
    })
}

/// Kinds the controllers do not watch that may still be deleted with the
/// `orphan` or `foregroundDeletion` finalizer (apiVersion, kind).
const UNWATCHED: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("coordination.k8s.io/v1", "Lease"),
];

/// Queues objects of unwatched kinds that wait for the collector's
/// finalizer to go; kinds the API does not serve are skipped.
async fn sweep_unwatched(ctx: &Ctx) {
    for (api_version, kind) in UNWATCHED {
        let api = dyn_api(ctx, &resource(api_version, kind), "", false);
        let items = match api.list(&Default::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::debug!(%kind, error = %e, "garbage collector sweep: list failed");
                continue;
            }
        };
        for o in items {
            let m = &o.metadata;
            if m.deletion_timestamp.is_some() && gc::has_gc_finalizer(m.finalizers.as_deref()) {
                ctx.q.gc.add(format!(
                    "{api_version}|{kind}|{}|{}|{}",
                    m.namespace.as_deref().unwrap_or_default(),
                    m.name.as_deref().unwrap_or_default(),
                    m.uid.as_deref().unwrap_or_default()
                ));
            }
        }
    }
}

/// Every `SWEEP_EVERY`, queues owners that dependents name but the stores
/// do not hold (deletions the watch may have missed), and objects of
/// unwatched kinds held by the collector's finalizers.
pub(crate) async fn sweep_loop(ctx: Arc<Ctx>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        sweep_unwatched(&ctx).await;
        let mut deps: Vec<Dependent> = ctx
            .pods
            .store
            .state()
            .iter()
            .map(|o| dependent(o.as_ref()))
            .collect();
        deps.extend(
            ctx.replicasets
                .store
                .state()
                .iter()
                .map(|o| dependent(o.as_ref())),
        );
        deps.extend(
            ctx.slices
                .store
                .state()
                .iter()
                .map(|o| dependent(o.as_ref())),
        );
        for d in deps {
            for r in &d.owners {
                if !alive_in_store(&ctx, &d.namespace, r) {
                    ctx.q.gc.add(owner_gc_key(r, &d.namespace));
                }
            }
        }
    }
}
