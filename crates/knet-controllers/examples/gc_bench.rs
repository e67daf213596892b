//! Benchmark driver for `bench/gc.sh`, against a running `knet api`:
//! `gc_bench <kubeconfig> <owners> <dependents-per-owner>` creates, in
//! namespace `gc-bench`, ConfigMap owners and ConfigMap dependents (any kind
//! may own any kind), then starts the controllers in-process and times
//!
//! 1. `sync`: until the collector has built its graph over every kind and
//!    collected a canary whose owner never existed (discovery, one
//!    metadata watch per kind, first lists, first judgement);
//! 2. `collect`: from deleting every owner (Background, many requests in
//!    flight) until the last dependent is gone, seen through a watch.

#[path = "bench_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

const NS: &str = "gc-bench";
const CONCURRENCY: usize = 64;

fn config_map(name: &str, role: &str, owner: Option<(&str, &str)>) -> anyhow::Result<ConfigMap> {
    let refs: Vec<_> = owner
        .map(|(n, uid)| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": uid}))
        .into_iter()
        .collect();
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"role": role}, "ownerReferences": refs},
        "data": {"k": "v"}
    }))?)
}

/// Creates the owners and their dependents; returns how many dependents.
async fn seed(cms: &Api<ConfigMap>, owners: usize, per: usize) -> anyhow::Result<usize> {
    futures::stream::iter(0..owners)
        .map(|i| async move {
            let name = format!("o-{i}");
            let o = cms
                .create(&PostParams::default(), &config_map(&name, "owner", None)?)
                .await?;
            let uid = o.metadata.uid.unwrap_or_default();
            for j in 0..per {
                let d = config_map(&format!("d-{i}-{j}"), "dep", Some((&name, &uid)))?;
                cms.create(&PostParams::default(), &d).await?;
            }
            anyhow::Ok(())
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(owners * per)
}

async fn wait_gone(cms: &Api<ConfigMap>, name: &str) -> anyhow::Result<()> {
    while cms.get_opt(name).await?.is_some() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn run(c: kube::Client, owners: usize, per: usize) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    let _ = Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), NS);
    let t = Instant::now();
    let deps = seed(&cms, owners, per).await?;
    println!(
        "seeded owners={owners} dependents={deps} in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let canary = config_map(
        "canary",
        "canary",
        Some(("never", "00000000-0000-4000-8000-000000000000")),
    )?;
    cms.create(&PostParams::default(), &canary).await?;

    let t = Instant::now();
    let cfg = knet_controllers::Config {
        leader_elect: false,
        cluster_cidr: None,
        ..Default::default()
    };
    let _ctl = tokio::spawn(knet_controllers::run_all(c.clone(), cfg));
    wait_gone(&cms, "canary").await?;
    println!(
        "gc_sync objects={} seconds={:.2}",
        owners + deps,
        t.elapsed().as_secs_f64()
    );

    // The whole namespace, no label selector: knet's API resumes a filtered
    // watch with the selector matched against the current objects, so a
    // dependent deleted before the watch connects would never be reported.
    let is_dep = |o: &ConfigMap| {
        o.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("d-"))
    };
    let mut stream = watcher::watcher(cms.clone(), watcher::Config::default()).boxed();
    let mut left = 0usize;
    while let Some(ev) = stream.try_next().await? {
        match ev {
            Event::InitApply(o) if is_dep(&o) => left += 1,
            Event::InitDone => break,
            _ => {}
        }
    }
    let t = Instant::now();
    let names: Vec<String> = (0..owners).map(|i| format!("o-{i}")).collect();
    futures::stream::iter(names)
        .map(|n| {
            let cms = cms.clone();
            async move {
                cms.delete(&n, &DeleteParams::background()).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let deleted_owners = t.elapsed().as_secs_f64();
    // A relist (the watch restarted) recounts what is left.
    let mut relisted = 0usize;
    while left > 0 {
        match stream.try_next().await? {
            Some(Event::Delete(o)) if is_dep(&o) => left -= 1,
            Some(Event::Init) => relisted = 0,
            Some(Event::InitApply(o)) if is_dep(&o) => relisted += 1,
            Some(Event::InitDone) => {
                eprintln!("watch relisted: {relisted} dependents left (was {left})");
                left = relisted;
            }
            Some(_) => {}
            None => anyhow::bail!("watch ended with {left} dependents left"),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "gc_collect dependents={deps} seconds={secs:.2} per_second={:.0} (owner deletes took {deleted_owners:.2}s)",
        deps as f64 / secs
    );
    let rest = cms
        .list(&ListParams::default().labels("role"))
        .await?
        .items
        .len();
    anyhow::ensure!(rest == 0, "{rest} ConfigMaps left");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logs();
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| support::num(&args, i, d);
    let Some(kc) = args.get(1) else {
        anyhow::bail!("usage: gc_bench <kubeconfig> <owners> <dependents-per-owner>");
    };
    run(support::client(kc).await?, num(2, 2_000), num(3, 5)).await
}
