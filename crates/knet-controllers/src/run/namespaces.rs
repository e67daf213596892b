//! Namespace lifecycle: a namespace being deleted is emptied (every
//! namespaced resource the API's discovery lists), then its `kubernetes`
//! finalizer is dropped through the `finalize` subresource (or, where the
//! API lacks it, by updating the namespace) so the API removes it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{Discovery, Scope};

use super::services::is_status;
use super::{Ctx, SyncResult};
use crate::labels;

/// Deletes what is left in `ns`; returns how many objects remained.
async fn empty(ctx: &Ctx, ns: &str) -> Result<usize, kube::Error> {
    let discovery = Discovery::new(ctx.client.clone()).run().await?;
    let mut left = 0;
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            let usable = caps.scope == Scope::Namespaced
                && caps.supports_operation("list")
                && caps.supports_operation("delete");
            if !usable {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
            let items = match api.list(&ListParams::default()).await {
                Ok(l) => l.items,
                Err(e) if is_status(&e, 404) || is_status(&e, 405) => continue,
                Err(e) => return Err(e),
            };
            left += items.len();
            for o in items
                .iter()
                .filter(|o| o.metadata.deletion_timestamp.is_none())
            {
                let name = o.metadata.name.clone().unwrap_or_default();
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(e) if is_status(&e, 404) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(left)
}

async fn finalize(ctx: &Ctx, ns: &Namespace) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let name = ns.metadata.name.clone().unwrap_or_default();
    let mut next = ns.clone();
    if let Some(spec) = next.spec.as_mut() {
        spec.finalizers = spec.finalizers.take().map(|f| {
            f.into_iter()
                .filter(|x| x != labels::NAMESPACE_FINALIZER)
                .collect()
        });
    }
    match api
        .replace_subresource("finalize", &name, &PostParams::default(), &next)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) || is_status(&e, 405) => {
            match api.replace(&name, &PostParams::default(), &next).await {
                Ok(_) => Ok(()),
                Err(e) if is_status(&e, 404) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Namespace controller: one namespace name.
pub(crate) async fn sync_namespace(ctx: Arc<Ctx>, name: String) -> SyncResult {
    let Some(ns) = ctx.namespaces.get("", &name) else {
        return Ok(None);
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(None);
    }
    let holds = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == labels::NAMESPACE_FINALIZER));
    if !holds {
        return Ok(None);
    }
    let left = empty(&ctx, &name).await?;
    if left > 0 {
        tracing::info!(namespace = %name, left, "namespace terminating; waiting for its objects to go");
        return Ok(Some(Duration::from_secs(2)));
    }
    finalize(&ctx, &ns).await?;
    tracing::info!(namespace = %name, "namespace emptied and finalized");
    Ok(None)
}
