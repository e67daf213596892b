//! Load generator for `bench/api.sh`: durable creates/s with concurrent
//! kube-rs clients, watch delivery latency with many watchers, and bulk
//! Service creation for the memory measurement. Talks to a running server
//! through a kubeconfig; prints one `key=value` line per figure.
//!
//! Usage: api_bench <kubeconfig> creates <clients> <seconds>
//!        api_bench <kubeconfig> watch <watchers> <events> <rate/s>
//!        api_bench <kubeconfig> services <count> <clients>
//!        api_bench <kubeconfig> pages <limit>      (lists bench-mem Services)
//!        api_bench <kubeconfig> openapi           (fetches every v3 document)
//!        api_bench <kubeconfig> pods <namespace> <count> <clients> <label>
//!                                                  (unbound pods labelled bench=<label>)

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn client(path: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

async fn namespace(c: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn creates(c: kube::Client, clients: usize, seconds: u64) -> anyhow::Result<()> {
    namespace(&c, "bench-creates").await?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        // One connection per client, as separate processes would have.
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), "bench-creates");
        let (done, stop) = (done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("c{w}-{i}-{}", now_us())}, "data": {"k": "v"}}))
                .expect("cm");
                if api.create(&PostParams::default(), &cm).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "clients={clients} creates={n} seconds={secs:.2} creates_per_s={:.0}",
        n as f64 / secs
    );
    Ok(())
}

async fn watch(c: kube::Client, watchers: usize, events: usize, rate: u64) -> anyhow::Result<()> {
    namespace(&c, "bench-watch").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "bench-watch");
    let rv = api
        .list(&Default::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let tx = tx.clone();
        let rv = rv.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = std::pin::pin!(
                api.watch(&WatchParams::default(), &rv)
                    .await
                    .expect("watch")
            );
            let mut seen = 0;
            while let Some(Ok(ev)) = s.next().await {
                if let WatchEvent::Added(cm) = ev {
                    let sent: u64 = cm
                        .data
                        .and_then(|d| d.get("sent").and_then(|s| s.parse().ok()))
                        .unwrap_or(0);
                    let _ = tx.send(now_us().saturating_sub(sent));
                    seen += 1;
                    if seen == events {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gap = Duration::from_micros(1_000_000 / rate.max(1));
    for i in 0..events {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("w{i}")}, "data": {"sent": now_us().to_string()}}))?;
        api.create(&PostParams::default(), &cm).await?;
        tokio::time::sleep(gap).await;
    }
    let mut lat = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            v = rx.recv() => match v { Some(v) => lat.push(v), None => break },
            _ = &mut deadline => break,
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "watchers={watchers} events={events} rate_per_s={rate} deliveries={} expected={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        lat.len(),
        watchers * events,
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(())
}

async fn services(c: kube::Client, count: usize, clients: usize) -> anyhow::Result<()> {
    namespace(&c, "bench-mem").await?;
    let next = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let api: Api<Service> = Api::namespaced(c.clone(), "bench-mem");
        let (next, bytes) = (next.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    return;
                }
                let svc: Service = serde_json::from_value(json!({
                    "metadata": {"name": format!("svc-{i}"), "labels": {"app": format!("app-{}", i % 100)}},
                    "spec": {"selector": {"app": format!("app-{}", i % 100)},
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
                .expect("svc");
                if let Ok(created) = api.create(&PostParams::default(), &svc).await {
                    let n = serde_json::to_vec(&created).map(|v| v.len()).unwrap_or(0);
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let n = count as u64;
    println!(
        "services={count} avg_json_bytes={}",
        bytes.load(Ordering::Relaxed) / n.max(1)
    );
    Ok(())
}

/// Creates `count` unbound pods `<label>-<i>` labelled `bench=<label>` in
/// `ns` with `clients` concurrent creators (for bench/api_delete.sh).
async fn pods(
    c: kube::Client,
    ns: &str,
    count: usize,
    clients: usize,
    label: &str,
) -> anyhow::Result<()> {
    namespace(&c, ns).await?;
    let next = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let api: Api<Pod> = Api::namespaced(c.clone(), ns);
        let next = next.clone();
        let label = label.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    return Ok::<(), kube::Error>(());
                }
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("{label}-{i}"), "labels": {"bench": label}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
                .expect("pod");
                api.create(&PostParams::default(), &pod).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "pods={count} label={label} create_seconds={:.2}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Lists the Services of `bench-mem` in one response and in pages of
/// `limit` (following continue tokens, as kubectl and kube-rs' watcher do).
async fn pages(c: kube::Client, limit: u32) -> anyhow::Result<()> {
    let api: Api<Service> = Api::namespaced(c, "bench-mem");
    let t = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    let whole = t.elapsed();
    let t = Instant::now();
    let (mut n, mut pages) = (0usize, 0usize);
    let mut lp = ListParams::default().limit(limit);
    let mut first_page = Duration::ZERO;
    loop {
        let page = api.list(&lp).await?;
        pages += 1;
        if pages == 1 {
            first_page = t.elapsed();
        }
        n += page.items.len();
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(tok) => lp = lp.continue_token(&tok),
            None => break,
        }
    }
    let paged = t.elapsed();
    anyhow::ensure!(
        n == all.items.len(),
        "paged {n} != whole {}",
        all.items.len()
    );
    println!(
        "objects={n} whole_list_ms={:.0} paged_list_ms={:.0} pages={pages} limit={limit} first_page_ms={:.1}",
        whole.as_secs_f64() * 1e3,
        paged.as_secs_f64() * 1e3,
        first_page.as_secs_f64() * 1e3
    );
    Ok(())
}

/// GET with `Accept-Encoding: gzip`; status, body bytes and elapsed time.
async fn fetch_gzip(c: &kube::Client, path: &str) -> anyhow::Result<(u16, usize, Duration)> {
    let req = http::Request::get(path)
        .header("accept-encoding", "gzip")
        .body(kube::client::Body::from(Vec::new()))?;
    let t = Instant::now();
    let resp = c.send(req).await?;
    let code = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    Ok((code, body.len(), t.elapsed()))
}

/// Fetches the OpenAPI v3 root and every document twice (built on first
/// request, then cached).
async fn openapi(c: kube::Client) -> anyhow::Result<()> {
    let req = http::Request::get("/openapi/v3").body(Vec::new())?;
    let root: serde_json::Value = c.request(req).await?;
    let paths = root["paths"].as_object().cloned().unwrap_or_default();
    for (gv, entry) in paths {
        let url = entry["serverRelativeURL"].as_str().unwrap_or_default();
        let (code, gz, cold) = fetch_gzip(&c, url).await?;
        let (_, _, warm) = fetch_gzip(&c, url).await?;
        anyhow::ensure!(code == 200, "{url}: {code}");
        println!(
            "openapi={gv} gzip_bytes={gz} first_fetch_ms={:.1} cached_fetch_ms={:.1}",
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| -> anyhow::Result<u64> {
        Ok(args
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("missing argument {i}"))?
            .parse()?)
    };
    let c = client(args.get(1).map(String::as_str).unwrap_or("kubeconfig")).await?;
    match args.get(2).map(String::as_str) {
        Some("creates") => creates(c, arg(3)? as usize, arg(4)?).await,
        Some("watch") => watch(c, arg(3)? as usize, arg(4)? as usize, arg(5)?).await,
        Some("services") => services(c, arg(3)? as usize, arg(4)? as usize).await,
        Some("pages") => pages(c, arg(3)? as u32).await,
        Some("openapi") => openapi(c).await,
        Some("pods") => {
            let ns = args.get(3).map(String::as_str).unwrap_or("bench-del");
            let label = args.get(6).map(String::as_str).unwrap_or("del");
            pods(c, ns, arg(4)? as usize, arg(5)? as usize, label).await
        }
        _ => anyhow::bail!(
            "usage: api_bench <kubeconfig> creates|watch|services|pages|openapi|pods …"
        ),
    }
}
