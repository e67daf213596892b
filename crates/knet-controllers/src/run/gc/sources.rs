//! The collector's watches of the kinds the controllers do not watch
//! themselves: discovery lists every kind the API serves that can be
//! listed, watched and deleted, and each gets a metadata-only watch feeding
//! the graph. Discovery runs again every [`REDISCOVER`] to pick up kinds
//! served later (CRDs on a real cluster). The collector starts judging once
//! every watch has listed once (or [`SYNC_WAIT`] passed).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::discovery::{Discovery, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::queue;
use crate::gc::{KindId, KindInfo};
use crate::run::Ctx;
use crate::run::informer::LIST_PAGE;

/// How often discovery looks for newly served kinds.
const REDISCOVER: Duration = Duration::from_secs(60);
/// How long the first sync waits for a kind's watch before the collector
/// starts without it (a kind that cannot be listed must not stop the rest).
const SYNC_WAIT: Duration = Duration::from_secs(60);
/// Retry delay while discovery fails before the first sync.
const RETRY: Duration = Duration::from_secs(2);

/// Kinds to watch: served, listable, watchable, deletable.
async fn discover(ctx: &Ctx) -> Result<Vec<(KindInfo, ApiResource)>, kube::Error> {
    let discovery = Discovery::new(ctx.client.clone()).run().await?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if ["list", "watch", "delete"]
                .iter()
                .all(|v| caps.supports_operation(v))
            {
                let info = KindInfo {
                    group: ar.group.clone(),
                    version: ar.version.clone(),
                    kind: ar.kind.clone(),
                    plural: ar.plural.clone(),
                    namespaced: caps.scope == Scope::Namespaced,
                };
                out.push((info, ar));
            }
        }
    }
    Ok(out)
}

/// Feeds the graph from a metadata-only watch of one kind; `synced` fires
/// after the first full list.
async fn watch_kind(ctx: Arc<Ctx>, kind: KindId, ar: ApiResource, synced: oneshot::Sender<()>) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(ctx.client.clone(), &ar);
    let config = watcher::Config::default().page_size(LIST_PAGE);
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut listed: Vec<ObjectMeta> = Vec::new();
    let mut synced = Some(synced);
    while let Some(ev) = stream.next().await {
        let work = match ev {
            Err(e) => {
                tracing::warn!(kind = %ar.kind, error = %e, "garbage collector watch failed; retrying");
                continue;
            }
            Ok(Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(Event::InitApply(o)) => {
                listed.push(o.metadata);
                continue;
            }
            Ok(Event::InitDone) => {
                let metas: Vec<&ObjectMeta> = listed.iter().collect();
                let work = ctx.gc.lock().resync(kind, &metas);
                listed = Vec::new();
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
                work
            }
            Ok(Event::Apply(o)) => ctx.gc.lock().observe(kind, &o.metadata),
            Ok(Event::Delete(o)) => ctx.gc.forget(&o.metadata),
        };
        queue(&ctx.q.gc, work);
    }
}

/// Starts watches for discovered kinds not watched yet; returns their
/// first-sync signals.
fn start_new(
    ctx: &Arc<Ctx>,
    watches: &mut JoinSet<()>,
    watching: &mut HashSet<(String, String)>,
    kinds: Vec<(KindInfo, ApiResource)>,
) -> Vec<oneshot::Receiver<()>> {
    let mut synced = Vec::new();
    for (info, ar) in kinds {
        if !watching.insert((info.group.clone(), info.kind.clone())) {
            continue;
        }
        tracing::debug!(kind = %info.kind, group = %info.group, "garbage collector watches kind");
        let id = ctx.gc.lock().register(info);
        let (tx, rx) = oneshot::channel();
        watches.spawn(watch_kind(Arc::clone(ctx), id, ar, tx));
        synced.push(rx);
    }
    synced
}

/// Runs the collector's watches (never returns): discovery, one watch per
/// kind, the ready signal after the first sync, then periodic rediscovery.
pub(crate) async fn run_sources(ctx: Arc<Ctx>) {
    // The kinds registered so far are the informers' own.
    let mut watching: HashSet<(String, String)> = ctx
        .gc
        .lock()
        .kinds()
        .iter()
        .map(|k| (k.group.clone(), k.kind.clone()))
        .collect();
    let mut watches = JoinSet::new();
    loop {
        let ready = *ctx.gc.ready.borrow();
        match discover(&ctx).await {
            Ok(kinds) => {
                let synced = start_new(&ctx, &mut watches, &mut watching, kinds);
                let started = !synced.is_empty();
                let all = futures::future::join_all(synced);
                if tokio::time::timeout(SYNC_WAIT, all).await.is_err() {
                    tracing::warn!("garbage collector: some kinds did not list in time; going on");
                }
                if !ready {
                    let (work, objects, kinds) = {
                        let mut g = ctx.gc.lock();
                        (g.mark_ready(), g.len(), g.kinds().len())
                    };
                    tracing::info!(
                        objects,
                        kinds,
                        pending = work.len(),
                        "garbage collector synced"
                    );
                    queue(&ctx.q.gc, work);
                    ctx.gc.ready.send_replace(true);
                } else if started {
                    // Owners of a new kind were unjudgeable until now.
                    let work = ctx.gc.lock().scan();
                    queue(&ctx.q.gc, work);
                }
            }
            Err(e) => tracing::warn!(error = %e, "garbage collector discovery failed"),
        }
        let ready = *ctx.gc.ready.borrow();
        tokio::time::sleep(if ready { REDISCOVER } else { RETRY }).await;
    }
}
