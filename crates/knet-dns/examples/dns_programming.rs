//! Benchmark client of `bench/dns_programming.sh`: Service create → first
//! correct DNS answer.
//!
//! For each of N Services: a poller thread starts querying
//! `<svc>.<ns>.svc.cluster.local A` over UDP every `--poll-us` microseconds,
//! then the Service is created through the API (kube-rs). The latency is the
//! time from sending the create request to the first answer carrying the
//! Service's ClusterIP (as returned by the create). In the same run a watch on
//! Services records when the API delivers the ADDED event to a client — the
//! floor no watch-driven DNS server can beat. Prints p50/p90/p99/max of both.
//!
//! `dns_programming KUBECONFIG DNS_ADDR [COUNT] [POLL_US] [GAP_MS]`

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use knet_dns::wire::rr::{RData, records};
use knet_dns::wire::rtype;
use knet_dns::wire::writer::build_query;

type Error = Box<dyn std::error::Error + Send + Sync>;

const NAMESPACE: &str = "default";

/// Polls `name` until an A answer arrives or `stop` is set; returns when the
/// first A answer was received and its address.
fn poll(
    dns: SocketAddr,
    name: String,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Option<(Instant, IpAddr, u64)> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .ok()?;
    let mut buf = [0u8; 1500];
    let mut id: u16 = 1;
    let mut sent = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        id = id.wrapping_add(1);
        let q = build_query(id, &name, rtype::A, false);
        if sock.send_to(&q, dns).is_err() {
            return None;
        }
        sent += 1;
        if let Ok(n) = sock.recv(&mut buf) {
            let now = Instant::now();
            let msg = &buf[..n];
            if msg.len() >= 12 && u16::from_be_bytes([msg[0], msg[1]]) == id {
                for (sec, r) in records(msg).unwrap_or_default() {
                    if sec == 0
                        && let Ok(RData::A(a)) = r.to_rdata(msg)
                    {
                        return Some((now, IpAddr::V4(a), sent));
                    }
                }
            }
        }
        std::thread::sleep(every);
    }
    None
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (v.len() as f64)).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

fn report(label: &str, v: &mut [f64]) {
    println!(
        "{label}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        v.len(),
        pct(v, 50.0),
        pct(v, 90.0),
        pct(v, 99.0),
        pct(v, 100.0)
    );
}

async fn run(
    kubeconfig: &str,
    dns: SocketAddr,
    count: usize,
    poll_us: u64,
    gap_ms: u64,
) -> Result<(), Error> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = Client::try_from(cfg)?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let prefix = format!("prog{}", std::process::id());

    // The peer: a plain watch client, timestamping ADDED events.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    {
        let seen = seen.clone();
        let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut s = watcher(api, watcher::Config::default()).boxed();
            while let Some(ev) = s.next().await {
                let now = Instant::now();
                match ev {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Apply(o)) => {
                        seen.lock().unwrap().entry(o.name_any()).or_insert(now);
                    }
                    _ => {}
                }
            }
        });
    }
    ready_rx.await?;

    let mut dns_ms = Vec::new();
    let mut watch_ms = Vec::new();
    let mut create_ms = Vec::new();
    let mut queries = 0u64;
    let mut wrong = 0usize;
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        let qname = format!("{name}.{NAMESPACE}.svc.cluster.local");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            let every = Duration::from_micros(poll_us);
            std::thread::spawn(move || poll(dns, qname, every, stop))
        };
        let svc: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))?;
        let t0 = Instant::now();
        let created = svcs.create(&PostParams::default(), &svc).await?;
        let t_created = Instant::now();
        let want: Option<IpAddr> = created
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !poller.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let got = poller.join().map_err(|_| "poller panicked")?;
        match got {
            Some((t, ip, n)) => {
                queries += n;
                if Some(ip) != want {
                    wrong += 1;
                }
                dns_ms.push(t.saturating_duration_since(t0).as_secs_f64() * 1e3);
            }
            None => return Err(format!("{name}: no answer within 5 s").into()),
        }
        create_ms.push((t_created - t0).as_secs_f64() * 1e3);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(t) = seen.lock().unwrap().get(&name) {
                watch_ms.push(t.saturating_duration_since(t0).as_secs_f64() * 1e3);
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{name}: watch never delivered").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    let (mut d, mut w) = (dns_ms.clone(), watch_ms.clone());
    report("create request -> first correct DNS answer", &mut d);
    report("create request -> watch ADDED at a client (floor)", &mut w);
    report("create request -> create response", &mut create_ms);
    let mut over: Vec<f64> = dns_ms.iter().zip(&watch_ms).map(|(d, w)| d - w).collect();
    report("DNS answer minus watch delivery (per Service)", &mut over);
    println!("queries sent while polling: {queries}; answers with a wrong address: {wrong}");
    for i in 0..count {
        let _ = svcs
            .delete(&format!("{prefix}-{i}"), &DeleteParams::default())
            .await;
    }
    if wrong > 0 {
        return Err(format!("{wrong} answers carried another address than the ClusterIP").into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: dns_programming KUBECONFIG DNS_ADDR [COUNT] [POLL_US] [GAP_MS]");
        std::process::exit(2);
    }
    let dns: SocketAddr = args[2].parse()?;
    let count = args.get(3).map_or(Ok(200), |a| a.parse())?;
    let poll_us = args.get(4).map_or(Ok(200), |a| a.parse())?;
    let gap_ms = args.get(5).map_or(Ok(20), |a| a.parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(run(&args[1], dns, count, poll_us, gap_ms))
}
