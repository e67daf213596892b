//! I/O of the EndpointSlice, Endpoints and mirroring controllers.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};

use super::tracker::Expect;
use super::{Ctx, SyncResult};
use crate::endpoints::{self, EndpointsAction, ServiceState};
use crate::pod::split_key;
use crate::slices::SlicePlan;
use crate::{endpointslice, labels, mirroring};

/// Is a kube error an HTTP status with this code?
pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Pods the Service's selector could select: those under the selector's
/// first label pair in the pod index (the reconciler checks the rest).
fn candidate_pods(ctx: &Ctx, svc: &Service) -> Vec<Arc<Pod>> {
    let ns = svc.namespace().unwrap_or_default();
    let Some((k, v)) = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| s.iter().next())
    else {
        return Vec::new();
    };
    ctx.pods.by_index(&format!("label:{ns}:{k}={v}"))
}

/// Whether every slice write for `tkey` is visible in the store.
fn slices_caught_up(ctx: &Ctx, tkey: &str, ns: &str) -> bool {
    ctx.slice_tracker.satisfied(tkey, |name| {
        ctx.slices
            .get(ns, name)
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .map(|s| s.resource_version())
    })
}

/// Makes the writes of a slice plan, recording them in the tracker.
async fn apply_slices(ctx: &Ctx, tkey: &str, ns: &str, plan: SlicePlan) -> Result<(), kube::Error> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PostParams::default();
    for name in plan.delete {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
        ctx.slice_tracker.expect(tkey, name, Expect::Absent);
    }
    for s in plan.update {
        let name = s.name_any();
        let done = api.replace(&name, &pp, &s).await?;
        ctx.slice_tracker
            .expect(tkey, name, Expect::Present(done.resource_version()));
    }
    for s in plan.create {
        let done = api.create(&pp, &s).await?;
        ctx.slice_tracker.expect(
            tkey,
            done.name_any(),
            Expect::Present(done.resource_version()),
        );
    }
    Ok(())
}

/// Retry delay while the store has not caught up with our own writes.
const CATCH_UP: std::time::Duration = std::time::Duration::from_millis(100);

/// EndpointSlice controller: one Service key.
pub(crate) async fn sync_slices(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let tkey = format!("slice:{key}");
    if !slices_caught_up(&ctx, &tkey, ns) {
        return Ok(Some(CATCH_UP));
    }
    let svc = ctx.services.get(ns, name);
    if svc
        .as_ref()
        .is_some_and(|s| s.metadata.deletion_timestamp.is_some())
    {
        // Being deleted (foreground): its slices are the collector's now.
        return Ok(None);
    }
    let existing: Vec<Arc<EndpointSlice>> = ctx
        .slices
        .by_index(&format!("svc:{key}"))
        .into_iter()
        .filter(|s| endpointslice::owned_by(s, ns, name))
        .collect();
    let pods = svc
        .as_deref()
        .map(|s| candidate_pods(&ctx, s))
        .unwrap_or_default();
    let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let slice_refs: Vec<&EndpointSlice> = existing.iter().map(|s| s.as_ref()).collect();
    let nodes = Arc::clone(&ctx.nodes);
    let zone_of = move |node: &str| {
        nodes
            .get("", node)
            .and_then(|n| n.labels().get(labels::ZONE).cloned())
    };
    let plan = endpointslice::reconcile(svc.as_deref(), &pod_refs, &slice_refs, &zone_of);
    if plan.is_empty() {
        return Ok(None);
    }
    tracing::debug!(service = %key, creates = plan.create.len(), updates = plan.update.len(), deletes = plan.delete.len(), "endpointslices");
    apply_slices(&ctx, &tkey, ns, plan).await?;
    Ok(None)
}

/// Endpoints controller: one Service key.
pub(crate) async fn sync_endpoints(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let svc = ctx.services.get(ns, name);
    let existing = ctx.endpoints.get(ns, name);
    let pods = svc
        .as_deref()
        .map(|s| candidate_pods(&ctx, s))
        .unwrap_or_default();
    let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let deleted = ctx
        .deleted_services
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&key);
    let state = ServiceState::of(svc.as_deref(), name, deleted);
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), ns);
    match endpoints::reconcile(state, &pod_refs, existing.as_deref(), &now) {
        EndpointsAction::Nothing => {}
        EndpointsAction::Create(e) => match api.create(&PostParams::default(), &e).await {
            Ok(_) => {}
            // Created meanwhile (our store lags): reconcile against it.
            Err(err) if is_status(&err, 409) => return Ok(Some(CATCH_UP)),
            Err(err) => return Err(err.into()),
        },
        EndpointsAction::Update(e) => match api.replace(name, &PostParams::default(), &e).await {
            Ok(_) => {}
            Err(err) if is_status(&err, 409) || is_status(&err, 404) => return Ok(Some(CATCH_UP)),
            Err(err) => return Err(err.into()),
        },
        EndpointsAction::Delete(n) => match api.delete(&n, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(err) if is_status(&err, 404) => {}
            Err(err) => return Err(err.into()),
        },
    }
    if deleted {
        // Done with the delete trigger, unless the Service came back
        // meanwhile (its upsert already cleared it).
        ctx.deleted_services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
    }
    Ok(None)
}

/// Mirroring controller: one Service/Endpoints name.
pub(crate) async fn sync_mirror(ctx: Arc<Ctx>, key: String) -> SyncResult {
    let (ns, name) = split_key(&key);
    let tkey = format!("mirror:{key}");
    if !slices_caught_up(&ctx, &tkey, ns) {
        return Ok(Some(CATCH_UP));
    }
    let svc = ctx.services.get(ns, name);
    let ep = ctx.endpoints.get(ns, name);
    let existing: Vec<Arc<EndpointSlice>> = ctx
        .slices
        .by_index(&format!("svc:{key}"))
        .into_iter()
        .filter(|s| mirroring::owned_by(s, ns, name))
        .collect();
    let refs: Vec<&EndpointSlice> = existing.iter().map(|s| s.as_ref()).collect();
    let plan = mirroring::reconcile(svc.as_deref(), ep.as_deref(), &refs);
    if !plan.is_empty() {
        apply_slices(&ctx, &tkey, ns, plan).await?;
    }
    Ok(None)
}
