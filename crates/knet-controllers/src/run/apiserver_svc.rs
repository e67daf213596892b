//! Keeps the `kubernetes` Service, Endpoints and EndpointSlice in step with
//! the configured API server addresses (when any are configured).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use kube::api::{Api, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Ctx;
use super::services::is_status;
use crate::kubernetes_service as ks;

/// How often the objects are checked.
const EVERY: Duration = Duration::from_secs(10);

/// Creates `want`, or rewrites the parts `differs` compares when they drift
/// (`apply` copies them over the stored object).
async fn ensure<K>(
    api: &Api<K>,
    want: &K,
    differs: fn(&K, &K) -> bool,
    apply: fn(&mut K, &K),
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    match api.get_opt(ks::NAME).await? {
        None => match api.create(&PostParams::default(), want).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 409) => Ok(()),
            Err(e) => Err(e),
        },
        Some(cur) if differs(&cur, want) => {
            let mut next = cur.clone();
            apply(&mut next, want);
            api.replace(ks::NAME, &PostParams::default(), &next)
                .await
                .map(|_| ())
        }
        Some(_) => Ok(()),
    }
}

async fn ensure_all(ctx: &Ctx) -> Result<(), kube::Error> {
    let ips = &ctx.cfg.apiserver_endpoints;
    let port = ctx.cfg.apiserver_port;
    let c = ctx.client.clone();
    let svc = ks::service(&ctx.cfg.kubernetes_service_ip, port);
    ensure(
        &Api::<Service>::namespaced(c.clone(), ks::NAMESPACE),
        &svc,
        |a, b| {
            a.spec.as_ref().and_then(|s| s.ports.clone())
                != b.spec.as_ref().and_then(|s| s.ports.clone())
        },
        |a, b| {
            a.spec.get_or_insert_with(Default::default).ports =
                b.spec.as_ref().and_then(|s| s.ports.clone())
        },
    )
    .await?;
    ensure(
        &Api::<Endpoints>::namespaced(c.clone(), ks::NAMESPACE),
        &ks::endpoints(ips, port),
        |a, b| a.subsets != b.subsets || a.metadata.labels != b.metadata.labels,
        |a, b| {
            a.subsets = b.subsets.clone();
            a.metadata.labels = b.metadata.labels.clone();
        },
    )
    .await?;
    ensure(
        &Api::<EndpointSlice>::namespaced(c, ks::NAMESPACE),
        &ks::slice(ips, port),
        |a, b| {
            a.endpoints != b.endpoints
                || a.ports != b.ports
                || a.metadata.labels != b.metadata.labels
        },
        |a, b| {
            a.endpoints = b.endpoints.clone();
            a.ports = b.ports.clone();
            a.metadata.labels = b.metadata.labels.clone();
        },
    )
    .await
}

/// Runs forever; does nothing when no API server address is configured.
pub(crate) async fn ensure_loop(ctx: Arc<Ctx>) {
    if ctx.cfg.apiserver_endpoints.is_empty() {
        return std::future::pending().await;
    }
    loop {
        if let Err(e) = ensure_all(&ctx).await {
            tracing::warn!(error = %e, "cannot maintain the kubernetes Service");
        }
        tokio::time::sleep(EVERY).await;
    }
}
