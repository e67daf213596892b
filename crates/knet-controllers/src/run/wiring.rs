//! Builds the informers and queues, maps watch events to queue keys, and
//! starts the workers.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use tokio::task::JoinSet;

use super::informer::{Callback, Change, Informer};
use super::{Config, Ctx, Error, Queues, WorkQueue, spawn_workers};
use crate::labels;
use crate::pod::{controller_of, key};
use crate::scheduler;

fn label_keys(ns: &str, l: Option<&BTreeMap<String, String>>) -> Vec<String> {
    l.into_iter()
        .flatten()
        .map(|(k, v)| format!("label:{ns}:{k}={v}"))
        .collect()
}

fn owner_keys<K: Resource>(o: &K) -> Vec<String> {
    o.meta()
        .owner_references
        .iter()
        .flatten()
        .map(|r| format!("owner:{}", r.uid))
        .collect()
}

fn pod_index(p: &Pod) -> Vec<String> {
    let ns = p.namespace().unwrap_or_default();
    let mut v = label_keys(&ns, p.metadata.labels.as_ref());
    v.extend(owner_keys(p));
    if let Some(n) = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .filter(|n| !n.is_empty())
        && !crate::pod::is_terminal(p)
    {
        v.push(format!("node:{n}"));
    }
    if scheduler::is_pending(p) {
        v.push("pending".into());
    }
    v
}

fn service_index(s: &Service) -> Vec<String> {
    let ns = s.namespace().unwrap_or_default();
    let sel = s.spec.as_ref().and_then(|s| s.selector.as_ref());
    sel.into_iter()
        .flatten()
        .map(|(k, v)| format!("sel:{ns}:{k}={v}"))
        .collect()
}

fn slice_index(s: &EndpointSlice) -> Vec<String> {
    let ns = s.namespace().unwrap_or_default();
    let mut v = owner_keys(s);
    if let Some(svc) = s.labels().get(labels::SERVICE_NAME) {
        v.push(format!("svc:{ns}/{svc}"));
    }
    v
}

fn no_index<K>(_: &K) -> Vec<String> {
    Vec::new()
}

fn queues() -> Queues {
    Queues {
        slices: WorkQueue::new(),
        endpoints: WorkQueue::new(),
        mirror: WorkQueue::new(),
        replicasets: WorkQueue::new(),
        deployments: WorkQueue::new(),
        statefulsets: WorkQueue::new(),
        daemonsets: WorkQueue::new(),
        schedule: WorkQueue::new(),
        ipam: WorkQueue::new(),
        gc: WorkQueue::new(),
        namespaces: WorkQueue::new(),
    }
}

/// The collector's graph, knowing the kinds the informers watch.
fn gc_state() -> super::gc::GcState {
    let gc = super::gc::GcState::default();
    gc.register_typed::<Pod>();
    gc.register_typed::<Service>();
    gc.register_typed::<Endpoints>();
    gc.register_typed::<EndpointSlice>();
    gc.register_typed::<Node>();
    gc.register_typed::<Deployment>();
    gc.register_typed::<ReplicaSet>();
    gc.register_typed::<StatefulSet>();
    gc.register_typed::<DaemonSet>();
    gc.register_typed::<Namespace>();
    gc
}

fn build(tasks: &mut JoinSet<()>, client: kube::Client, cfg: Config) -> Arc<Ctx> {
    let recorder = super::recorder::Recorder::start(tasks, client.clone(), cfg.identity.clone());
    Arc::new(Ctx {
        client,
        pods: Informer::new(pod_index),
        services: Informer::new(service_index),
        endpoints: Informer::new(no_index),
        slices: Informer::new(slice_index),
        nodes: Informer::new(no_index),
        deployments: Informer::new(no_index),
        replicasets: Informer::new(owner_keys::<ReplicaSet>),
        statefulsets: Informer::new(no_index),
        daemonsets: Informer::new(no_index),
        namespaces: Informer::new(no_index),
        q: queues(),
        gc: gc_state(),
        recorder,
        slice_tracker: Default::default(),
        pod_tracker: Default::default(),
        ipam_reserved: Default::default(),
        assumed: Default::default(),
        deleted_services: Default::default(),
        cfg,
    })
}

/// Services whose selector matches these labels (in `ns`).
pub(crate) fn services_selecting(
    ctx: &Ctx,
    ns: &str,
    l: Option<&BTreeMap<String, String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in l.into_iter().flatten() {
        for s in ctx.services.by_index(&format!("sel:{ns}:{k}={v}")) {
            let sel = s
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            if crate::selector::map_selects(&sel, &l.cloned()) {
                out.push(key(&s.metadata));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Wraps an informer's callback so every change also feeds the garbage
/// collector's graph (and queues the objects it must look at).
fn with_gc<K>(ctx: &Arc<Ctx>, inf: fn(&Ctx) -> &Informer<K>, inner: Callback<K>) -> Callback<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        let work = match &c {
            Change::Upsert { new, .. } => ctx.gc.observe_typed(*new),
            Change::Delete(o) => ctx.gc.forget(o.meta()),
            Change::Resynced => ctx.gc.resync_typed(&inf(&ctx).store.state()),
        };
        super::gc::queue(&ctx.q.gc, work);
        inner(c)
    })
}

fn enqueue_all<K: Resource<DynamicType = ()> + Clone + 'static>(inf: &Informer<K>, q: &WorkQueue) {
    for o in inf.store.state() {
        q.add(key(o.meta()));
    }
}

fn on_pod(ctx: &Arc<Ctx>) -> Callback<Pod> {
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        let versions: Vec<&Pod> = match &c {
            Change::Upsert { old, new } => old.as_deref().into_iter().chain([*new]).collect(),
            Change::Delete(p) => vec![*p],
            Change::Resynced => {
                for q in [&ctx.q.slices, &ctx.q.endpoints] {
                    enqueue_all(&ctx.services, q);
                }
                enqueue_all(&ctx.replicasets, &ctx.q.replicasets);
                enqueue_all(&ctx.statefulsets, &ctx.q.statefulsets);
                enqueue_all(&ctx.daemonsets, &ctx.q.daemonsets);
                for p in ctx.pods.by_index("pending") {
                    ctx.q.schedule.add(key(&p.metadata));
                }
                return;
            }
        };
        for p in &versions {
            let ns = p.namespace().unwrap_or_default();
            for s in services_selecting(&ctx, &ns, p.metadata.labels.as_ref()) {
                ctx.q.slices.add(s.clone());
                ctx.q.endpoints.add(s);
            }
            if let Some(owner) = controller_of(&p.metadata) {
                let k = format!("{ns}/{}", owner.name);
                match owner.kind.as_str() {
                    "ReplicaSet" => ctx.q.replicasets.add(k),
                    "StatefulSet" => ctx.q.statefulsets.add(k),
                    "DaemonSet" => ctx.q.daemonsets.add(k),
                    _ => {}
                }
            }
        }
        if let Change::Upsert { new, .. } = &c
            && scheduler::is_pending(new)
        {
            ctx.q.schedule.add(key(&new.metadata));
        }
    })
}

/// A callback queueing the object's own key.
fn on_self<K>(
    ctx: &Arc<Ctx>,
    queues: fn(&Ctx) -> Vec<&Arc<WorkQueue>>,
    inf: fn(&Ctx) -> &Informer<K>,
) -> Callback<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| match c {
        Change::Upsert { new, .. } => {
            for q in queues(&ctx) {
                q.add(key(new.meta()));
            }
        }
        Change::Delete(o) => {
            for q in queues(&ctx) {
                q.add(key(o.meta()));
            }
        }
        Change::Resynced => {
            for q in queues(&ctx) {
                enqueue_all(inf(&ctx), q);
            }
        }
    })
}

fn on_replicaset(ctx: &Arc<Ctx>) -> Callback<ReplicaSet> {
    let inner = on_self(ctx, |c| vec![&c.q.replicasets], |c| &c.replicasets);
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        let owner_of = |rs: &ReplicaSet| {
            controller_of(&rs.metadata)
                .filter(|o| o.kind == "Deployment")
                .map(|o| format!("{}/{}", rs.namespace().unwrap_or_default(), o.name))
        };
        match &c {
            Change::Upsert { new, .. } => owner_of(new)
                .into_iter()
                .for_each(|k| ctx.q.deployments.add(k)),
            Change::Delete(o) => owner_of(o)
                .into_iter()
                .for_each(|k| ctx.q.deployments.add(k)),
            Change::Resynced => enqueue_all(&ctx.deployments, &ctx.q.deployments),
        }
        inner(c)
    })
}

fn on_service(ctx: &Arc<Ctx>) -> Callback<Service> {
    let inner = on_self(
        ctx,
        |c| vec![&c.q.slices, &c.q.endpoints, &c.q.mirror],
        |c| &c.services,
    );
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        let mut deleted = ctx
            .deleted_services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &c {
            Change::Delete(s) => {
                deleted.insert(key(&s.metadata));
            }
            Change::Upsert { new, .. } => {
                deleted.remove(&key(&new.metadata));
            }
            Change::Resynced => {}
        }
        drop(deleted);
        inner(c)
    })
}

fn on_slice(ctx: &Arc<Ctx>) -> Callback<EndpointSlice> {
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        let s = match &c {
            Change::Upsert { new, .. } => *new,
            Change::Delete(s) => *s,
            Change::Resynced => return,
        };
        let l = s.labels();
        let (Some(svc), Some(by)) = (l.get(labels::SERVICE_NAME), l.get(labels::SLICE_MANAGED_BY))
        else {
            return;
        };
        let k = format!("{}/{svc}", s.namespace().unwrap_or_default());
        match by.as_str() {
            labels::SLICE_CONTROLLER => ctx.q.slices.add(k),
            labels::MIRRORING_CONTROLLER => ctx.q.mirror.add(k),
            _ => {}
        }
    })
}

fn on_node(ctx: &Arc<Ctx>) -> Callback<Node> {
    let ctx = Arc::clone(ctx);
    Arc::new(move |c| {
        match &c {
            Change::Upsert { new, .. } => ctx.q.ipam.add(new.name_any()),
            Change::Delete(n) => ctx.q.ipam.add(n.name_any()),
            Change::Resynced => enqueue_all(&ctx.nodes, &ctx.q.ipam),
        }
        enqueue_all(&ctx.daemonsets, &ctx.q.daemonsets);
        for p in ctx.pods.by_index("pending") {
            ctx.q.schedule.add(key(&p.metadata));
        }
    })
}

fn start_informers(tasks: &mut JoinSet<()>, ctx: &Arc<Ctx>) {
    let c = ctx.client.clone();
    tasks.spawn(
        ctx.pods
            .run(Api::all(c.clone()), with_gc(ctx, |c| &c.pods, on_pod(ctx))),
    );
    tasks.spawn(ctx.services.run(
        Api::all(c.clone()),
        with_gc(ctx, |c| &c.services, on_service(ctx)),
    ));
    tasks.spawn(ctx.endpoints.run(
        Api::all(c.clone()),
        with_gc(
            ctx,
            |c| &c.endpoints,
            on_self(ctx, |c| vec![&c.q.mirror, &c.q.endpoints], |c| &c.endpoints),
        ),
    ));
    tasks.spawn(ctx.slices.run(
        Api::all(c.clone()),
        with_gc(ctx, |c| &c.slices, on_slice(ctx)),
    ));
    tasks.spawn(ctx.nodes.run(
        Api::all(c.clone()),
        with_gc(ctx, |c| &c.nodes, on_node(ctx)),
    ));
    tasks.spawn(ctx.deployments.run(
        Api::all(c.clone()),
        with_gc(
            ctx,
            |c| &c.deployments,
            on_self(ctx, |c| vec![&c.q.deployments], |c| &c.deployments),
        ),
    ));
    tasks.spawn(ctx.replicasets.run(
        Api::all(c.clone()),
        with_gc(ctx, |c| &c.replicasets, on_replicaset(ctx)),
    ));
    tasks.spawn(ctx.statefulsets.run(
        Api::all(c.clone()),
        with_gc(
            ctx,
            |c| &c.statefulsets,
            on_self(ctx, |c| vec![&c.q.statefulsets], |c| &c.statefulsets),
        ),
    ));
    tasks.spawn(ctx.daemonsets.run(
        Api::all(c.clone()),
        with_gc(
            ctx,
            |c| &c.daemonsets,
            on_self(ctx, |c| vec![&c.q.daemonsets], |c| &c.daemonsets),
        ),
    ));
    tasks.spawn(ctx.namespaces.run(
        Api::all(c),
        with_gc(
            ctx,
            |c| &c.namespaces,
            on_self(ctx, |c| vec![&c.q.namespaces], |c| &c.namespaces),
        ),
    ));
}

async fn all_ready(ctx: &Ctx) {
    ctx.pods.ready().await;
    ctx.services.ready().await;
    ctx.endpoints.ready().await;
    ctx.slices.ready().await;
    ctx.nodes.ready().await;
    ctx.deployments.ready().await;
    ctx.replicasets.ready().await;
    ctx.statefulsets.ready().await;
    ctx.daemonsets.ready().await;
    ctx.namespaces.ready().await;
}

fn start_workers(t: &mut JoinSet<()>, ctx: &Arc<Ctx>) {
    use super::{gc, namespaces, nodes, services, workloads};
    let w = ctx.cfg.workers;
    let ew = ctx.cfg.endpoint_workers;
    spawn_workers(t, ctx, "endpointslice", &ctx.q.slices, ew, |c, k| {
        Box::pin(services::sync_slices(c, k))
    });
    spawn_workers(t, ctx, "endpoints", &ctx.q.endpoints, ew, |c, k| {
        Box::pin(services::sync_endpoints(c, k))
    });
    spawn_workers(
        t,
        ctx,
        "endpointslicemirroring",
        &ctx.q.mirror,
        ew,
        |c, k| Box::pin(services::sync_mirror(c, k)),
    );
    spawn_workers(t, ctx, "replicaset", &ctx.q.replicasets, w, |c, k| {
        Box::pin(workloads::sync_replicaset(c, k))
    });
    spawn_workers(t, ctx, "deployment", &ctx.q.deployments, w, |c, k| {
        Box::pin(workloads::sync_deployment(c, k))
    });
    spawn_workers(t, ctx, "statefulset", &ctx.q.statefulsets, w, |c, k| {
        Box::pin(workloads::sync_statefulset(c, k))
    });
    spawn_workers(t, ctx, "daemonset", &ctx.q.daemonsets, w, |c, k| {
        Box::pin(workloads::sync_daemonset(c, k))
    });
    spawn_workers(t, ctx, "scheduler", &ctx.q.schedule, 1, |c, k| {
        Box::pin(nodes::sync_schedule(c, k))
    });
    spawn_workers(t, ctx, "nodeipam", &ctx.q.ipam, 1, |c, k| {
        Box::pin(nodes::sync_ipam(c, k))
    });
    let gw = ctx.cfg.gc_workers;
    spawn_workers(t, ctx, "garbagecollector", &ctx.q.gc, gw, |c, k| {
        Box::pin(gc::sync_uid(c, k))
    });
    spawn_workers(t, ctx, "namespace", &ctx.q.namespaces, 1, |c, k| {
        Box::pin(namespaces::sync_namespace(c, k))
    });
}

/// See [`super::run_all`].
pub(super) async fn run(client: kube::Client, cfg: Config) -> Result<(), Error> {
    let lease = if cfg.leader_elect {
        Some(super::lease::acquire(&client, &cfg).await?)
    } else {
        None
    };
    // Every task lives in this set: when this future ends or is dropped,
    // they all stop.
    let mut tasks = JoinSet::new();
    let ctx = build(&mut tasks, client, cfg);
    start_informers(&mut tasks, &ctx);
    all_ready(&ctx).await;
    tracing::info!("controller caches synced; starting controllers");
    start_workers(&mut tasks, &ctx);
    tasks.spawn(super::gc::run_sources(Arc::clone(&ctx)));
    tasks.spawn(super::apiserver_svc::ensure_loop(Arc::clone(&ctx)));
    let hold = async {
        match lease {
            Some(l) => super::lease::hold(&ctx.client, &ctx.cfg, l).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = hold => r,
        Some(r) = tasks.join_next() => Err(Error::Task(match r {
            Ok(()) => "a controller task returned".into(),
            Err(e) => e.to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::testing::pod;
    use serde_json::json;

    #[test]
    fn index_keys_cover_labels_owners_nodes_and_pending() {
        let mut p = pod("default", "a", &[("app", "web")], Some("10.0.0.1"), true);
        p.metadata.owner_references = Some(vec![crate::pod::controller_ref(
            "apps/v1",
            "ReplicaSet",
            &p.metadata.clone(),
        )]);
        let keys = pod_index(&p);
        assert!(keys.contains(&"label:default:app=web".to_string()));
        assert!(keys.contains(&"owner:uid-a".to_string()));
        assert!(keys.contains(&"node:node-1".to_string()));
        assert!(!keys.contains(&"pending".to_string()));
        p.spec.as_mut().unwrap().node_name = None;
        assert!(pod_index(&p).contains(&"pending".to_string()));
        let svc: Service =
            serde_json::from_value(json!({"metadata": {"name": "s", "namespace": "default"},
            "spec": {"selector": {"app": "web", "tier": "x"}}}))
            .unwrap();
        assert_eq!(
            service_index(&svc),
            vec!["sel:default:app=web", "sel:default:tier=x"]
        );
        let slice: EndpointSlice = serde_json::from_value(json!({"metadata": {"name": "s-1", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "s"}}, "addressType": "IPv4", "endpoints": []})).unwrap();
        assert_eq!(slice_index(&slice), vec!["svc:default/s"]);
    }
}
