//! I/O of the ReplicaSet, Deployment, StatefulSet and DaemonSet controllers.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::services::is_status;
use super::tracker::Expect;
use super::{Ctx, SyncResult};
use crate::events::{self, Note};
use crate::pod::split_key;
use crate::{daemonset, deployment, labels, replicaset, statefulset};

/// Pod creations in flight at once.
const CREATE_CONCURRENCY: usize = 16;

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

fn pods_owned_by(ctx: &Ctx, uid: Option<String>) -> Vec<Arc<Pod>> {
    ctx.pods
        .by_index(&format!("owner:{}", uid.unwrap_or_default()))
}

fn pods_caught_up(ctx: &Ctx, key: &str, ns: &str) -> bool {
    ctx.pod_tracker.satisfied(key, |name| {
        ctx.pods
            .get(ns, name)
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| p.resource_version())
    })
}

/// Creates pods (tracked under `tkey`), returning the created names.
async fn create_pods(
    ctx: &Ctx,
    tkey: &str,
    ns: &str,
    pods: Vec<Pod>,
) -> Result<Vec<String>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let results: Vec<Result<Pod, kube::Error>> = futures::stream::iter(pods)
        .map(|p| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &p).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    let mut names = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(p) => {
                ctx.pod_tracker
                    .expect(tkey, p.name_any(), Expect::Present(p.resource_version()));
                names.push(p.name_any());
            }
            Err(e) if is_status(&e, 409) => {}
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(names),
    }
}

async fn delete_pods(ctx: &Ctx, tkey: &str, ns: &str, names: &[String]) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for n in names {
        match api.delete(n, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
        ctx.pod_tracker.expect(tkey, n.clone(), Expect::Absent);
    }
    Ok(())
}

/// Replaces the status of `obj` with `status` set by `set`; a conflict
/// (stale store) is not an error, the watch brings the fresh object.
async fn write_status<K>(ctx: &Ctx, obj: &K, set: impl FnOnce(&mut K)) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let mut next = obj.clone();
    set(&mut next);
    match api
        .replace_status(&obj.name_any(), &PostParams::default(), &next)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 409) || is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

fn record<K: Resource<DynamicType = ()>>(ctx: &Ctx, obj: &K, component: &str, notes: &[Note]) {
    if !notes.is_empty() {
        let r = events::reference(&K::api_version(&()), &K::kind(&()), obj.meta());
        ctx.recorder.record(&r, component, notes);
    }
}

/// ReplicaSet controller: one ReplicaSet key.
pub(crate) async fn sync_replicaset(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let tkey = format!("rs:{key}");
    let Some(rs) = ctx.replicasets.get(ns, name) else {
        ctx.pod_tracker.forget(&tkey);
        return Ok(None);
    };
    if !pods_caught_up(&ctx, &tkey, ns) {
        return Ok(Some(std::time::Duration::from_millis(200)));
    }
    let pods = pods_owned_by(&ctx, rs.uid());
    let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let (plan, mut notes) = replicaset::reconcile(&rs, &refs, now());
    let created = create_pods(&ctx, &tkey, ns, plan.create).await;
    if let Ok(names) = &created {
        notes.extend(
            names
                .iter()
                .map(|n| Note::normal("SuccessfulCreate", format!("Created pod: {n}"))),
        );
    }
    delete_pods(&ctx, &tkey, ns, &plan.delete).await?;
    record(&ctx, rs.as_ref(), "replicaset-controller", &notes);
    created?;
    if let Some(st) = plan.status {
        write_status(&ctx, rs.as_ref(), |r| r.status = Some(st)).await?;
    }
    Ok(plan.requeue)
}

async fn replace<K>(ctx: &Ctx, obj: &K) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    match api
        .replace(&obj.name_any(), &PostParams::default(), obj)
        .await
    {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_status(&e, 409) || is_status(&e, 404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deployment controller: one Deployment key.
pub(crate) async fn sync_deployment(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let Some(d) = ctx.deployments.get(ns, name) else {
        return Ok(None);
    };
    let rss = ctx
        .replicasets
        .by_index(&format!("owner:{}", d.uid().unwrap_or_default()));
    let refs: Vec<&ReplicaSet> = rss.iter().map(|r| r.as_ref()).collect();
    let (plan, notes) = deployment::reconcile(&d, &refs, now());
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    if let Some(new) = &plan.create {
        match rs_api.create(&PostParams::default(), new).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for u in &plan.update {
        let Some(cur) = rss.iter().find(|r| r.name_any() == u.name) else {
            continue;
        };
        let mut next = cur.as_ref().clone();
        next.spec.get_or_insert_with(Default::default).replicas = Some(u.replicas);
        next.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(u.annotations.clone());
        replace(&ctx, &next).await?;
    }
    for n in &plan.delete {
        match rs_api.delete(n, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    record(&ctx, d.as_ref(), "deployment-controller", &notes);
    let mut current = d.as_ref().clone();
    if let Some(rev) = &plan.revision {
        let mut next = current.clone();
        next.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(labels::REVISION.into(), rev.clone());
        match replace(&ctx, &next).await? {
            Some(done) => current = done,
            None => return Ok(None),
        }
    }
    if let Some(st) = plan.status {
        write_status(&ctx, &current, |x: &mut Deployment| x.status = Some(st)).await?;
    }
    Ok(None)
}

/// StatefulSet controller: one StatefulSet key.
pub(crate) async fn sync_statefulset(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let tkey = format!("sts:{key}");
    let Some(sts) = ctx.statefulsets.get(ns, name) else {
        ctx.pod_tracker.forget(&tkey);
        return Ok(None);
    };
    if !pods_caught_up(&ctx, &tkey, ns) {
        return Ok(Some(std::time::Duration::from_millis(200)));
    }
    let pods = pods_owned_by(&ctx, sts.uid());
    let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let (plan, notes) = statefulset::reconcile(&sts, &refs, now());
    create_pods(&ctx, &tkey, ns, plan.create).await?;
    delete_pods(&ctx, &tkey, ns, &plan.delete).await?;
    record(&ctx, sts.as_ref(), "statefulset-controller", &notes);
    if let Some(st) = plan.status {
        write_status(&ctx, sts.as_ref(), |x: &mut StatefulSet| {
            x.status = Some(st)
        })
        .await?;
    }
    Ok(None)
}

/// DaemonSet controller: one DaemonSet key.
pub(crate) async fn sync_daemonset(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let tkey = format!("ds:{key}");
    let Some(ds) = ctx.daemonsets.get(ns, name) else {
        ctx.pod_tracker.forget(&tkey);
        return Ok(None);
    };
    if !pods_caught_up(&ctx, &tkey, ns) {
        return Ok(Some(std::time::Duration::from_millis(200)));
    }
    let pods = pods_owned_by(&ctx, ds.uid());
    let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let nodes = ctx.nodes.store.state();
    let node_refs: Vec<&k8s_openapi::api::core::v1::Node> =
        nodes.iter().map(|n| n.as_ref()).collect();
    let (plan, notes) = daemonset::reconcile(&ds, &node_refs, &refs, now());
    create_pods(&ctx, &tkey, ns, plan.create).await?;
    delete_pods(&ctx, &tkey, ns, &plan.delete).await?;
    record(&ctx, ds.as_ref(), "daemonset-controller", &notes);
    if let Some(st) = plan.status {
        write_status(&ctx, ds.as_ref(), |x: &mut DaemonSet| x.status = Some(st)).await?;
    }
    Ok(None)
}
