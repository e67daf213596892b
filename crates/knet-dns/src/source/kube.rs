//! The Kubernetes API source: kube-rs watchers for Services, EndpointSlices,
//! Namespaces (and Pods for `pods verified`), applied to an
//! [`IndexBuilder`] and published after every batch of events.
//!
//! A relist (the watcher's `Init` … `InitDone`, e.g. after 410 Gone) is
//! buffered and then replaces the kind's objects at once, deleting those that
//! disappeared. While a watch is broken, `/ready` reports it (the last good
//! data keeps being served, loudly, as CoreDNS does).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use futures::stream::{BoxStream, StreamExt, select_all};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::convert::{self, Object};
use crate::index::{IndexBuilder, Kind, ServiceKind};
use crate::server::Dns;

/// Annotation EndpointSlices carry with the time of the triggering change.
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Kube source options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Watch Pods (needed for `pods verified`).
    pub track_pods: bool,
}

/// Errors creating the client.
#[derive(Debug, thiserror::Error)]
pub enum KubeSourceError {
    /// The kubeconfig could not be read.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The client could not be built.
    #[error("client: {0}")]
    Client(#[from] kube::Error),
}

/// Builds a client from a kubeconfig file (and context) or the environment
/// (`KUBECONFIG`, `~/.kube/config`, in-cluster service account).
pub async fn client(path: Option<&Path>, context: Option<&str>) -> Result<Client, KubeSourceError> {
    let opts = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| KubeSourceError::Kubeconfig(format!("{}: {e}", p.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| KubeSourceError::Kubeconfig(e.to_string()))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| KubeSourceError::Kubeconfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| KubeSourceError::Kubeconfig(e.to_string()))?,
    };
    Ok(Client::try_from(config)?)
}

/// One watcher event, already converted.
enum Msg {
    Init(Kind),
    InitApply(Kind, Vec<Object>),
    InitDone(Kind),
    Apply(Kind, Vec<Object>, Option<SystemTime>),
    Delete(Kind, String, String),
    Error(Kind, String),
}

fn trigger_time<K: Resource>(o: &K) -> Option<SystemTime> {
    let s = o.meta().annotations.as_ref()?.get(TRIGGER_TIME)?;
    let ts: jiff::Timestamp = s.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(
        u64::try_from(ts.as_nanosecond()).ok()?,
    ))
}

fn stream<K, F>(api: Api<K>, kind: Kind, conv: F) -> BoxStream<'static, Msg>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    F: Fn(&K) -> Result<Vec<Object>, convert::ConvertError> + Send + Sync + 'static,
{
    let convert = move |o: &K| {
        conv(o).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring object");
            Vec::new()
        })
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .map(move |ev| match ev {
            Ok(watcher::Event::Init) => Msg::Init(kind),
            Ok(watcher::Event::InitApply(o)) => Msg::InitApply(kind, convert(&o)),
            Ok(watcher::Event::InitDone) => Msg::InitDone(kind),
            Ok(watcher::Event::Apply(o)) => Msg::Apply(kind, convert(&o), trigger_time(&o)),
            Ok(watcher::Event::Delete(o)) => {
                Msg::Delete(kind, o.namespace().unwrap_or_default(), o.name_any())
            }
            Err(e) => Msg::Error(kind, e.to_string()),
        })
        .boxed()
}

/// Watches the API and keeps `dns.index` current; runs forever.
pub async fn run(client: Client, dns: Arc<Dns>, opts: Options) {
    let mut streams = vec![
        stream(Api::<Service>::all(client.clone()), Kind::Service, |s| {
            convert::service(s).map(|o| vec![o])
        }),
        stream(
            Api::<EndpointSlice>::all(client.clone()),
            Kind::EndpointSlice,
            |s| convert::endpoint_slice(s).map(|o| o.into_iter().collect()),
        ),
        stream(
            Api::<Namespace>::all(client.clone()),
            Kind::Namespace,
            |n| Ok(vec![Object::Namespace(n.name_any())]),
        ),
    ];
    if opts.track_pods {
        streams.push(stream(Api::<Pod>::all(client), Kind::Pod, |p| {
            convert::pod(p).map(|o| vec![o])
        }));
    }
    let want = streams.len();
    let mut all = select_all(streams);
    let mut state = State::default();
    while let Some(first) = all.next().await {
        let mut triggers = Vec::new();
        state.handle(first, &dns, &mut triggers);
        // Batch whatever else is already queued before publishing.
        while let Some(Some(m)) = all.next().now_or_never() {
            state.handle(m, &dns, &mut triggers);
        }
        let synced = state.synced.len() >= want;
        state.builder.set_synced(synced);
        let now = SystemTime::now();
        state.builder.set_serial(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32),
        );
        dns.index.store(Arc::new(state.builder.snapshot()));
        let snap = dns.index.load();
        for (key, t) in triggers {
            let kind = match snap.service(&key).map(|e| &e.spec.kind) {
                Some(ServiceKind::Headless) => 1,
                _ => 0,
            };
            if let Ok(d) = now.duration_since(t) {
                dns.metrics.programming(kind, d);
            }
        }
    }
}

#[derive(Default)]
struct State {
    builder: IndexBuilder,
    relist: HashMap<Kind, Vec<Object>>,
    synced: HashSet<Kind>,
    broken: HashMap<Kind, String>,
}

impl State {
    fn handle(&mut self, m: Msg, dns: &Dns, triggers: &mut Vec<(String, SystemTime)>) {
        let kind = match &m {
            Msg::Init(k) | Msg::InitApply(k, _) | Msg::InitDone(k) => *k,
            Msg::Apply(k, ..) | Msg::Delete(k, ..) | Msg::Error(k, _) => *k,
        };
        if !matches!(m, Msg::Error(..)) {
            // A good event of this kind means its watch recovered.
            self.broken.remove(&kind);
        }
        match m {
            Msg::Error(k, e) => {
                tracing::warn!(kind = ?k, error = %e, "watch failed; retrying with backoff");
                self.broken.insert(k, format!("{k:?} watch failing: {e}"));
            }
            Msg::Init(k) => {
                self.relist.insert(k, Vec::new());
            }
            Msg::InitApply(k, objs) => self.relist.entry(k).or_default().extend(objs),
            Msg::InitDone(k) => {
                let objs = self.relist.remove(&k).unwrap_or_default();
                let seen: HashSet<(String, String)> = objs
                    .iter()
                    .map(|o| {
                        let (_, ns, name) = o.key();
                        (ns, name)
                    })
                    .collect();
                for o in objs {
                    o.apply(&mut self.builder);
                }
                for (ns, name) in self.builder.keys(k) {
                    if !seen.contains(&(ns.clone(), name.clone())) {
                        self.builder.delete(k, &ns, &name);
                    }
                }
                self.synced.insert(k);
                tracing::info!(kind = ?k, "initial list complete");
            }
            Msg::Apply(_, objs, t) => {
                for o in objs {
                    if let (
                        Some(t),
                        Object::Slice {
                            namespace, service, ..
                        },
                    ) = (t, &o)
                    {
                        triggers.push((format!("{service}.{namespace}"), t));
                    }
                    o.apply(&mut self.builder);
                }
            }
            Msg::Delete(k, ns, name) => self.builder.delete(k, &ns, &name),
        }
        let problem = self.broken.values().next().cloned();
        *dns.source_problem.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }
}
