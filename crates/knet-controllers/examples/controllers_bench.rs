//! Benchmark driver for `bench/controllers.sh`, against a running `knet api`:
//!
//! - `seed <kubeconfig> <services> <pods-per-service>`: namespace `bench`,
//!   Services `s-<i>` (selector `app=s-<i>`) and bound pods marked Running
//!   and Ready with distinct IPs.
//! - `cold <kubeconfig> <services> <pods-per-service>`: starts the
//!   controllers in-process and times until every Service has an
//!   EndpointSlice with all its pods ready (and, separately, Endpoints).
//! - `latency <kubeconfig> <services> <samples>`: with the controllers
//!   running, flips one pod's readiness at a time and times until the
//!   EndpointSlice shows it; beside it, the floor: the same status write
//!   seen through a plain pod watch.

#[path = "bench_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

const NS: &str = "bench";
const CONCURRENCY: usize = 64;

fn pod_ip(svc: usize, j: usize) -> String {
    let n = svc * 8 + j;
    format!("10.{}.{}.{}", 100 + n / 65536, (n / 256) % 256, n % 256)
}

fn status(ip: &str, ready: bool) -> serde_json::Value {
    let r = if ready { "True" } else { "False" };
    json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": r}, {"type": "ContainersReady", "status": r}]}})
}

async fn seed(c: kube::Client, services: usize, per: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    let _ = Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await;
    let svcs: Api<Service> = Api::namespaced(c.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    futures::stream::iter(0..services)
        .map(|i| {
            let (svcs, pods) = (svcs.clone(), pods.clone());
            async move {
                let s: Service = serde_json::from_value(json!({"metadata": {"name": format!("s-{i}")},
                    "spec": {"selector": {"app": format!("s-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}}))?;
                svcs.create(&PostParams::default(), &s).await?;
                for j in 0..per {
                    let name = format!("p-{i}-{j}");
                    let p: Pod = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": format!("s-{i}")}},
                        "spec": {"nodeName": "bench-node", "containers": [{"name": "c", "image": "x"}]}}))?;
                    pods.create(&PostParams::default(), &p).await?;
                    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status(&pod_ip(i, j), true))).await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    println!(
        "seeded services={services} pods={} in {:.1}s",
        services * per,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn controllers(c: kube::Client) -> tokio::task::JoinHandle<Result<(), knet_controllers::Error>> {
    let mut cfg = knet_controllers::Config {
        leader_elect: false,
        cluster_cidr: None,
        ..Default::default()
    };
    if let Some(w) = std::env::var("CTL_ENDPOINT_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        cfg.endpoint_workers = w;
    }
    tokio::spawn(knet_controllers::run_all(c, cfg))
}

fn ready_count(s: &EndpointSlice) -> usize {
    s.endpoints
        .iter()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .count()
}

/// Deletes every object of `api`, many requests in flight (the API's group
/// commit makes that fast).
async fn delete_all<K>(api: &Api<K>) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let names: Vec<String> = api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|o| o.meta().name.clone())
        .collect();
    futures::stream::iter(names)
        .map(|n| async move {
            match api.delete(&n, &Default::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn cold(c: kube::Client, services: usize, per: usize) -> anyhow::Result<()> {
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), NS);
    // Repeatable: start from no slices and no Endpoints.
    delete_all(&slices).await?;
    delete_all(&Api::<k8s_openapi::api::core::v1::Endpoints>::namespaced(
        c.clone(),
        NS,
    ))
    .await?;
    let mut stream = watcher::watcher(slices, watcher::Config::default()).boxed();
    // Drain the (empty) initial list before starting the clock.
    while let Some(ev) = stream.try_next().await? {
        if matches!(ev, Event::InitDone) {
            break;
        }
    }
    let t = Instant::now();
    tracing::info!("cold reconcile: controllers starting");
    let _ctl = controllers(c.clone());
    let mut ready: HashMap<String, usize> = HashMap::new();
    let mut done = 0;
    while let Some(ev) = stream.try_next().await? {
        let Event::Apply(s) = ev else { continue };
        let svc = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name").cloned())
            .unwrap_or_default();
        let before = ready.get(&svc).copied().unwrap_or(0) >= per;
        ready.insert(svc, ready_count(&s));
        let after = ready_count(&s) >= per;
        if after && !before {
            done += 1;
            if done % 1000 == 0 {
                tracing::info!(
                    done,
                    secs = t.elapsed().as_secs_f64(),
                    "cold reconcile progress"
                );
            }
        }
        if done == services {
            break;
        }
    }
    println!(
        "cold_reconcile services={services} pods={} seconds={:.2}",
        services * per,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Times `samples` readiness flips as they show up in `seen` (IP → ready).
async fn flips(
    c: &kube::Client,
    services: usize,
    samples: usize,
    seen: &Seen,
) -> anyhow::Result<Vec<f64>> {
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    let mut out = Vec::new();
    for k in 0..samples {
        let i = (k * 7919) % services;
        let name = format!("p-{i}-0");
        let ip = pod_ip(i, 0);
        // Cleared before the write so an older value is never taken.
        seen.lock().unwrap().remove(&ip);
        let t = Instant::now();
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&status(&ip, false)),
        )
        .await?;
        tokio::time::timeout(Duration::from_secs(10), wait_for(seen, &ip, false)).await?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        // Back to ready (not timed), and settled, before the next sample.
        seen.lock().unwrap().remove(&ip);
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&status(&ip, true)),
        )
        .await?;
        tokio::time::timeout(Duration::from_secs(10), wait_for(seen, &ip, true)).await?;
    }
    Ok(out)
}

type Seen = Arc<Mutex<HashMap<String, bool>>>;

/// Keeps `seen` = IP → ready as the objects of `api` stream by.
fn track<K, F>(api: Api<K>, seen: Seen, extract: F) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: Fn(&K) -> Vec<(String, bool)> + Send + 'static,
{
    tokio::spawn(async move {
        let mut s = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(Ok(ev)) = s.next().await {
            if let Event::Apply(o) | Event::InitApply(o) = ev {
                let mut m = seen.lock().unwrap();
                for (ip, r) in extract(&o) {
                    m.insert(ip, r);
                }
            }
        }
    })
}

async fn wait_for(seen: &Seen, ip: &str, ready: bool) {
    while seen.lock().unwrap().get(ip) != Some(&ready) {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn latency(c: kube::Client, services: usize, samples: usize) -> anyhow::Result<()> {
    let slice_seen: Seen = Arc::default();
    let pod_seen: Seen = Arc::default();
    let _ctl = controllers(c.clone());
    let _a = track(
        Api::<EndpointSlice>::namespaced(c.clone(), NS),
        Arc::clone(&slice_seen),
        |s| {
            s.endpoints
                .iter()
                .map(|e| {
                    (
                        e.addresses[0].clone(),
                        e.conditions.as_ref().and_then(|c| c.ready) == Some(true),
                    )
                })
                .collect()
        },
    );
    let _b = track(
        Api::<Pod>::namespaced(c.clone(), NS),
        Arc::clone(&pod_seen),
        |p| {
            let st = p.status.clone().unwrap_or_default();
            let ready = st
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            st.pod_ip.map(|ip| vec![(ip, ready)]).unwrap_or_default()
        },
    );
    // Let the controllers sync and finish any leftover work.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut floor = flips(&c, services, samples, &pod_seen).await?;
    let mut lat = flips(&c, services, samples, &slice_seen).await?;
    println!(
        "readiness_to_slice_ms services={services} samples={samples} p50={:.1} p99={:.1} max={:.1}",
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        percentile(&mut lat, 1.0)
    );
    println!(
        "floor_status_write_to_pod_watch_ms p50={:.1} p99={:.1}",
        percentile(&mut floor, 0.5),
        percentile(&mut floor, 0.99)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logs();
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| support::num(&args, i, d);
    let (Some(mode), Some(kc)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: controllers_bench seed|cold|latency <kubeconfig> <services> <n>");
    };
    let c = support::client(kc).await?;
    match mode.as_str() {
        "seed" => seed(c, num(3, 10_000), num(4, 5)).await,
        "cold" => cold(c, num(3, 10_000), num(4, 5)).await,
        "latency" => latency(c, num(3, 10_000), num(4, 200)).await,
        other => anyhow::bail!("unknown mode {other}"),
    }
}
