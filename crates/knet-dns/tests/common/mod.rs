//! Shared harness of the DNS integration tests: a Knot DNS upstream on
//! loopback, a knet-dns server started in-process on a free port, and `dig`
//! / `kdig` wrappers that parse their output.
#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use knet_dns::config::{Config, ForwardSpec, SourceConfig, UpstreamSpec};
use knet_dns::run::Running;

/// The objects fixture.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster.yaml")
}

/// A free UDP+TCP port on `ip`.
pub fn free_port(ip: &str) -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind((ip, 0)).expect("bind udp");
        let port = u.local_addr().expect("addr").port();
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// A knotd process serving test zones; killed on drop.
pub struct Knot {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        // SIGTERM to the shell, which then stops knotd (see start_knot).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

const IIJ_ZONE: &str = "$ORIGIN iij.ad.jp.\n$TTL 300\n@ SOA ns hostmaster 1 7200 1800 86400 300\n@ NS ns\nns A 127.0.0.2\nwww A 202.232.2.180\n";
const GOOGLE_ZONE: &str = "$ORIGIN google.com.\n$TTL 300\n@ SOA ns hostmaster 1 7200 1800 86400 300\n@ NS ns\nns A 127.0.0.2\n@ A 172.217.168.206\n";

/// Starts knotd on 127.0.0.2 with `iij.ad.jp` and `google.com`, plus
/// `big.iij.ad.jp` holding 100 A records (does not fit in 512 bytes).
pub fn start_knot() -> Knot {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port("127.0.0.2");
    let mut iij = IIJ_ZONE.to_string();
    for i in 0..100 {
        iij.push_str(&format!("big A 10.77.0.{i}\n"));
    }
    std::fs::write(dir.path().join("iij.zone"), iij).expect("zone");
    std::fs::write(dir.path().join("google.zone"), GOOGLE_ZONE).expect("zone");
    let d = dir.path().display();
    let conf = format!(
        "server:\n  listen: 127.0.0.2@{port}\n  rundir: {d}\n  background-workers: 1\n  udp-workers: 1\n  tcp-workers: 1\n\
         database:\n  storage: {d}\n\
         control:\n  listen: {d}/knot.sock\n\
         log:\n  - target: stderr\n    any: error\n\
         zone:\n  - domain: iij.ad.jp\n    file: {d}/iij.zone\n  - domain: google.com\n    file: {d}/google.zone\n"
    );
    std::fs::write(dir.path().join("knot.conf"), conf).expect("conf");
    // knotd runs under a shell that kills it when this test process exits
    // (the shared server lives in a static, which is never dropped).
    let script = format!(
        "knotd -c '{}/knot.conf' & k=$!; trap 'kill $k; exit 0' TERM; while kill -0 {} 2>/dev/null && kill -0 $k 2>/dev/null; do sleep 0.2; done; kill $k 2>/dev/null",
        dir.path().display(),
        std::process::id()
    );
    assert!(
        Command::new("knotd").arg("--version").output().is_ok(),
        "knotd must be installed (Debian package knot)"
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let addr: SocketAddr = format!("127.0.0.2:{port}").parse().expect("addr");
    let knot = Knot {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = dig_at(addr, &["www.iij.ad.jp", "A"]);
        if out.status == "NOERROR" {
            return knot;
        }
        assert!(Instant::now() < deadline, "knotd did not start: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A knet-dns server running on its own runtime thread.
pub struct Server {
    /// DNS address.
    pub addr: SocketAddr,
    /// HTTP endpoints.
    pub http: Vec<(knet_dns::server::http::Endpoint, SocketAddr)>,
    /// The server (kept alive).
    pub running: std::sync::Arc<Running>,
    _rt: std::sync::Arc<tokio::runtime::Runtime>,
}

/// Test config: loopback listeners on free ports, forwarding to `upstream`.
pub fn test_config(objects: &Path, upstream: Option<SocketAddr>) -> Config {
    let any = |p| Some(SocketAddr::from(([127, 0, 0, 1], p)));
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        threads: 2,
        source: SourceConfig::Objects(objects.to_path_buf()),
        forward: upstream.map(|u| ForwardSpec {
            groups: vec![(String::new(), vec![UpstreamSpec::Addr(u)])],
            ..ForwardSpec::default()
        }),
        health: any(0),
        ready: any(0),
        metrics: any(0),
        loop_detect: false,
        ..Config::default()
    }
}

/// Starts a server with `cfg`.
pub fn start_server(cfg: Config) -> Server {
    let rt = std::sync::Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let running = rt
        .block_on(knet_dns::run::start(cfg))
        .expect("server starts");
    Server {
        addr: running.addr,
        http: running.http.clone(),
        running: std::sync::Arc::new(running),
        _rt: rt,
    }
}

/// The server all read-only tests share (fixture objects, Knot upstream).
pub fn shared() -> &'static (Server, Knot) {
    static S: OnceLock<(Server, Knot)> = OnceLock::new();
    S.get_or_init(|| {
        let knot = start_knot();
        let server = start_server(test_config(&fixture(), Some(knot.addr)));
        (server, knot)
    })
}

/// Parsed dig/kdig output.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    /// Status (`NOERROR`, `NXDOMAIN`, …).
    pub status: String,
    /// Header flags (`qr`, `aa`, `tc`, …).
    pub flags: Vec<String>,
    /// Answer records, whitespace-normalised.
    pub answer: Vec<String>,
    /// Authority records.
    pub authority: Vec<String>,
    /// Additional records.
    pub additional: Vec<String>,
    /// Whole output.
    pub raw: String,
}

impl Answer {
    /// The data field (last column) of the answer records.
    pub fn data(&self) -> Vec<String> {
        self.answer
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
            .collect()
    }

    /// True when a flag is set.
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

fn parse(raw: &str) -> Answer {
    let mut a = Answer {
        raw: raw.to_string(),
        ..Answer::default()
    };
    let mut section = "";
    for line in raw.lines() {
        let l = line.trim();
        if let Some(rest) = l.split("status: ").nth(1) {
            a.status = rest.split(',').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = l.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            a.flags = flags.split_whitespace().map(str::to_string).collect();
        }
        if l.starts_with(";; ANSWER SECTION") {
            section = "an";
            continue;
        }
        if l.starts_with(";; AUTHORITY SECTION") {
            section = "ns";
            continue;
        }
        if l.starts_with(";; ADDITIONAL SECTION") {
            section = "ar";
            continue;
        }
        if l.is_empty() || l.starts_with(";;") {
            section = "";
            continue;
        }
        if l.starts_with(';') {
            continue;
        }
        let norm = l.split_whitespace().collect::<Vec<_>>().join(" ");
        match section {
            "an" => a.answer.push(norm),
            "ns" => a.authority.push(norm),
            "ar" => a.additional.push(norm),
            _ => {}
        }
    }
    a
}

/// Runs `dig` against `addr` with extra arguments.
pub fn dig_at(addr: SocketAddr, args: &[&str]) -> Answer {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig must be installed (Debian package bind9-dnsutils)");
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Runs `kdig` against `addr` with extra arguments.
pub fn kdig_at(addr: SocketAddr, args: &[&str]) -> Answer {
    let out = Command::new("kdig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+time=2", "+retry=0"])
        .args(args)
        .output()
        .expect("kdig must be installed (Debian package knot-dnsutils)");
    let mut a = parse(&String::from_utf8_lossy(&out.stdout));
    a.raw.push_str(&String::from_utf8_lossy(&out.stderr));
    a
}

/// GET over plain HTTP/1.1 (status, body), without extra dependencies.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
