//! Benchmark driver for `bench/proxy.sh` (not a test): sync times of knet's
//! layout, `nft -f` load time of kube-proxy's documented layout for the same
//! Services, and connect latency through a ClusterIP.
//!
//! Usage: proxy_bench sync NODE_NETNS PEER_NETNS COUNT
//!        proxy_bench latency NODE_NETNS CLIENT_NETNS BACKEND_NETNS BACKEND_IP COUNT CONNECTS

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knet_proxy::apply::{Netns, Nft, NftCommand, nft_for};
use knet_proxy::conntrack::ConntrackTool;
use knet_proxy::model::{
    Delta, Endpoint, Family, Protocol, ProxyState, ServicePort, ServicePortName,
};
use knet_proxy::render::RenderConfig;
use knet_proxy::runner::Proxier;

fn ip(base: [u8; 2], i: u32) -> std::net::IpAddr {
    std::net::Ipv4Addr::new(base[0], base[1] + (i >> 16) as u8, (i >> 8) as u8, i as u8).into()
}

/// Service i: ClusterIP 10.96.0.0/12 + i, 2–5 endpoints in 10.244.0.0/16 (+ 10.128/9 for more).
fn service(i: u32, backend: Option<Endpoint>) -> ServicePort {
    let n = 2 + (i % 4) as usize;
    let cluster: Vec<Endpoint> = match backend {
        Some(b) => vec![b],
        None => (0..n as u32)
            .map(|j| Endpoint {
                ip: ip([10, 128], i * 5 + j + 1),
                port: 8080,
            })
            .collect(),
    };
    ServicePort {
        name: ServicePortName {
            namespace: "bench".into(),
            name: format!("svc-{i}"),
            port: "http".into(),
            protocol: Protocol::Tcp,
        },
        family: Family::V4,
        port: 80,
        node_port: None,
        cluster_ip: ip([10, 96], i + 10),
        external_ips: vec![],
        lb_ips: vec![],
        source_ranges: vec![],
        affinity_timeout: None,
        internal_local: false,
        external_local: false,
        health_check_node_port: None,
        cluster,
        local: vec![],
        local_ready: 0,
    }
}

fn state(count: u32, backend: Option<Endpoint>) -> ProxyState {
    let mut ports = BTreeMap::new();
    for i in 0..count {
        let p = service(i, if i == 0 { backend } else { None });
        ports.insert((Family::V4, p.name.clone()), Arc::new(p));
    }
    ProxyState { ports }
}

fn proxier(netns: &str) -> Proxier {
    let ns = Netns::named(netns);
    let cfg = RenderConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
        ..RenderConfig::default()
    };
    // KNET_NFT=cmd: the nft program per sync instead of libnftables.
    let nft: Box<dyn Nft> = if std::env::var("KNET_NFT").as_deref() == Ok("cmd") {
        Box::new(NftCommand::new(ns.clone()))
    } else {
        nft_for(&ns).expect("nft")
    };
    Proxier::new(nft, Box::new(ConntrackTool::new(ns)), cfg, Arc::default())
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// kube-proxy's nftables layout (KEP-3866): service-ips vmap → per-Service chain
/// with an inline `numgen random mod N vmap { … }` → per-endpoint chains.
fn kube_proxy_layout(s: &ProxyState) -> String {
    let mut out = String::from(
        "add table ip kube-proxy\ndelete table ip kube-proxy\ntable ip kube-proxy {\n\
         \tmap service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n\
         \tchain mark-for-masquerade { meta mark set meta mark | 0x4000; }\n\
         \tchain services { ip daddr . meta l4proto . th dport vmap @service-ips; }\n\
         \tchain nat-prerouting { type nat hook prerouting priority -100; policy accept; jump services; }\n",
    );
    let mut elems = Vec::new();
    for (i, p) in s.ports.values().enumerate() {
        let svc = format!("service-{i:08X}-{}", p.name);
        let mut vmap = Vec::new();
        for (j, ep) in p.cluster.iter().enumerate() {
            let epc = format!("endpoint-{i:08X}-{}__{}/{}", p.name, ep.ip, ep.port);
            out.push_str(&format!(
                "\tchain {epc} {{ ip saddr {} jump mark-for-masquerade; meta l4proto tcp dnat to {ep}; }}\n",
                ep.ip
            ));
            vmap.push(format!("{j} : goto {epc}"));
        }
        out.push_str(&format!(
            "\tchain {svc} {{ ip daddr {} tcp dport {} ip saddr != 10.244.0.0/16 jump mark-for-masquerade; numgen random mod {} vmap {{ {} }}; }}\n",
            p.cluster_ip, p.port, p.cluster.len(), vmap.join(", ")
        ));
        elems.push(format!("{} . tcp . {} : goto {svc}", p.cluster_ip, p.port));
    }
    out.push_str("}\n");
    for chunk in elems.chunks(4096) {
        out.push_str(&format!(
            "add element ip kube-proxy service-ips {{ {} }}\n",
            chunk.join(", ")
        ));
    }
    out
}

fn sync_bench(node: &str, peer: &str, count: u32, peer_timeout: u64) {
    let mut p = proxier(node);
    let base = state(count, None);
    let cfg = RenderConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
        ..RenderConfig::default()
    };
    let (script, render) = timed(|| Proxier::full_script(&cfg, &base));
    let (copy1, copy2) = (base.clone(), base.clone());
    let (r, full) = timed(|| p.sync(copy1, true).expect("full sync"));
    let (r2, again) = timed(|| p.sync(copy2, true).expect("full resync"));
    // New Services, then endpoint changes of existing ones: each handed to
    // the proxy as a delta (what the API watch produces), 5 times each;
    // reported as median / max.
    let mut adds = Vec::new();
    let mut eps = Vec::new();
    let (mut r3, mut r4) = (0, 0);
    for j in 0..5u32 {
        let extra = service(count + 1 + j, None);
        let d = Delta::from([((Family::V4, extra.name.clone()), Some(Arc::new(extra)))]);
        let (r, t) = timed(|| p.update(d, false).expect("add service"));
        r3 = r.writes;
        adds.push(t);
        let (key, port) = base
            .ports
            .iter()
            .nth((count as usize / 2 + j as usize * 7919) % count as usize)
            .expect("port");
        let mut moved = (**port).clone();
        moved.cluster[0].ip = ip([10, 250], 7 + j);
        let d = Delta::from([(key.clone(), Some(Arc::new(moved)))]);
        let (r, t) = timed(|| p.update(d, false).expect("endpoint change"));
        r4 = r.writes;
        eps.push(t);
    }
    let med_max = |v: &mut Vec<Duration>| {
        v.sort();
        (
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3,
        )
    };
    let (add, add_max) = med_max(&mut adds);
    let (ep, ep_max) = med_max(&mut eps);
    // Phases of a full sync: the same script loaded by nft alone.
    let mut load = Command::new("nft");
    load.args(["-f", "-"]);
    let (_, nft_load) = timed(|| {
        Netns::named(node)
            .run(load, script.as_bytes())
            .expect("nft")
    });
    // Floor: one nft process applying a no-op transaction to the same table.
    let mut floor = Command::new("nft");
    floor.args(["-f", "-"]);
    let (_, nft_floor) = timed(|| {
        Netns::named(node)
            .run(floor, b"add table ip knet-proxy\n")
            .expect("nft")
    });
    println!(
        "knet full sync phases: render+plan_s={:.3} kernel_s={:.3}; re-sync render+plan_s={:.3} kernel_s={:.3}",
        r.plan_time.as_secs_f64(),
        r.kernel_time.as_secs_f64(),
        r2.plan_time.as_secs_f64(),
        r2.kernel_time.as_secs_f64(),
    );
    let endpoints: usize = base.ports.values().map(|p| p.cluster.len()).sum();
    println!(
        "knet services={count} endpoints={endpoints} full_sync_s={:.3} (render+plan_s={:.3} nft_load_s={:.3} script_mb={:.1}) full_resync_s={:.3} add_service_ms={:.1} (max {:.1}) endpoint_change_ms={:.1} (max {:.1}) nft_noop_ms={:.1} writes=[{} {} {} {}]",
        full.as_secs_f64(),
        render.as_secs_f64(),
        nft_load.as_secs_f64(),
        script.len() as f64 / 1e6,
        again.as_secs_f64(),
        add,
        add_max,
        ep,
        ep_max,
        nft_floor.as_secs_f64() * 1e3,
        r.writes,
        r2.writes,
        r3,
        r4
    );
    let text = kube_proxy_layout(&base);
    let mut cmd = Command::new("timeout");
    cmd.args([&peer_timeout.to_string(), "nft", "-f", "-"]);
    let (out, took) = timed(|| {
        Netns::named(peer)
            .run(cmd, text.as_bytes())
            .expect("peer nft")
    });
    let status = if out.status.success() {
        "ok".to_string()
    } else if out.status.code() == Some(124) {
        format!("timeout>{peer_timeout}s")
    } else {
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(200)
            .collect()
    };
    println!(
        "kube-proxy-layout services={count} nft_load_s={:.3} status={status}",
        took.as_secs_f64()
    );
    let _ = Netns::named(peer).run(
        {
            let mut c = Command::new("nft");
            c.args(["delete", "table", "ip", "kube-proxy"]);
            c
        },
        b"",
    );
}

/// Accepts and closes connections forever inside `netns` (std's listen backlog is 128).
fn start_backend(netns: &str, addr: SocketAddr) {
    let path = format!("/run/netns/{netns}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let f = std::fs::File::open(path).expect("netns");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let l = std::net::TcpListener::bind(addr).expect("bind backend");
        tx.send(()).expect("ready");
        for conn in l.incoming() {
            drop(conn);
        }
    });
    rx.recv().expect("backend ready");
}

fn latency_bench(
    node: &str,
    client: &str,
    backend_ns: &str,
    backend: &str,
    count: u32,
    connects: usize,
) {
    let backend = Endpoint {
        ip: backend.parse().expect("backend ip"),
        port: 8080,
    };
    start_backend(backend_ns, SocketAddr::new(backend.ip, backend.port));
    let mut p = proxier(node);
    p.sync(state(count, Some(backend)), true).expect("sync");
    let vip = SocketAddr::new(ip([10, 96], 10), 80);
    let client = client.to_string();
    let samples = std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{client}")).expect("netns");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let mut v = Vec::with_capacity(connects);
        for _ in 0..connects {
            let t = Instant::now();
            let s = TcpStream::connect_timeout(&vip, Duration::from_secs(2)).expect("connect");
            v.push(t.elapsed());
            drop(s);
        }
        v
    })
    .join()
    .expect("client thread");
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| us[((us.len() as f64 - 1.0) * q) as usize];
    println!(
        "latency services={count} connects={connects} p50_us={:.1} p99_us={:.1}",
        pct(0.5),
        pct(0.99)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("usage: see source; missing arg {i}"))
    };
    match arg(1).as_str() {
        "sync" => sync_bench(
            &arg(2),
            &arg(3),
            arg(4).parse().expect("count"),
            arg(5).parse().unwrap_or(300),
        ),
        "latency" => latency_bench(
            &arg(2),
            &arg(3),
            &arg(4),
            &arg(5),
            arg(6).parse().expect("count"),
            arg(7).parse().expect("connects"),
        ),
        other => panic!("unknown mode {other}"),
    }
}
