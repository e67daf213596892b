//! A throwaway lab: one "node" network namespace running the proxy's ruleset,
//! "pod" namespaces routed through it (one veth each), optionally a second
//! node on an underlay link. Everything is deleted on drop, also on panic.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use knet_proxy::apply::ApplyError;
use knet_proxy::apply::{Netns, nft_for};
use knet_proxy::conntrack::{Conntrack, ConntrackNetlink, StaleFlow};
use knet_proxy::metrics::Metrics;
use knet_proxy::model::ProxyState;
use knet_proxy::render::RenderConfig;
use knet_proxy::runner::{Proxier, SyncReport};
use serde_json::{Value, json};

static COUNTER: AtomicU32 = AtomicU32::new(0);
const BACKEND: &str = include_str!("backend.py");
const CLIENT: &str = include_str!("client.py");
/// The node the proxy runs as.
pub(crate) const NODE: &str = "node-a";
/// Node address on the underlay (NodePort target).
pub(crate) const NODE_IP: &str = "192.168.77.1";

/// Runs a command, panicking with its output when it fails.
pub(crate) fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pod: its namespace and IP.
#[derive(Debug, Clone)]
pub(crate) struct Pod {
    /// Namespace name.
    pub(crate) ns: String,
    /// IPv4 address.
    pub(crate) ip: String,
    /// IPv6 address.
    pub(crate) ip6: String,
}

/// A [`Conntrack`] that deletes nothing.
struct NoCleanup;

impl Conntrack for NoCleanup {
    fn delete_udp(&mut self, _: &StaleFlow) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// The lab; see the module docs.
pub(crate) struct Lab {
    /// Node namespace.
    pub(crate) node: String,
    id: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    proxier: Option<Proxier>,
    /// Metrics of the current proxier.
    pub(crate) metrics: Arc<Metrics>,
}

impl Lab {
    /// A lab with an empty node; `None` (after saying so) when not root and
    /// `KNET_SKIP_PRIVILEGED=1`; panics when not root otherwise.
    pub(crate) fn new() -> Option<Lab> {
        if !nix::unistd::geteuid().is_root() {
            if std::env::var("KNET_SKIP_PRIVILEGED").as_deref() == Ok("1") {
                eprintln!("skipped: namespace test needs root (KNET_SKIP_PRIVILEGED=1)");
                return None;
            }
            panic!(
                "namespace tests need root; run as root or set KNET_SKIP_PRIVILEGED=1 to skip them"
            );
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("knt{}x{n}", std::process::id());
        let node = format!("{id}-node");
        let mut lab = Lab {
            node: node.clone(),
            id,
            namespaces: Vec::new(),
            children: Vec::new(),
            proxier: None,
            metrics: Arc::default(),
        };
        lab.add_ns(&node);
        run(&[
            "ip",
            "netns",
            "exec",
            &node,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.icmp_ratelimit=0",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv6.icmp.ratelimit=0",
            "net.ipv4.conf.all.send_redirects=0",
        ]);
        lab.start_proxy();
        Some(lab)
    }

    fn add_ns(&mut self, name: &str) {
        run(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_string());
        run(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }

    /// Pod number `k` (1..=200): 10.244.k.2, routed via the node's 10.244.k.1.
    pub(crate) fn pod(&mut self, k: u8) -> Pod {
        let ns = format!("{}-p{k}", self.id);
        self.add_ns(&ns);
        let (veth, gw, ip) = (
            format!("v{k}"),
            format!("10.244.{k}.1"),
            format!("10.244.{k}.2"),
        );
        run(&[
            "ip", "-n", &self.node, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
            "netns", &ns,
        ]);
        run(&[
            "ip",
            "-n",
            &self.node,
            "addr",
            "add",
            &format!("{gw}/24"),
            "dev",
            &veth,
        ]);
        run(&["ip", "-n", &self.node, "link", "set", &veth, "up"]);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]);
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        run(&["ip", "-n", &ns, "route", "add", "default", "via", &gw]);
        let (gw6, ip6) = (format!("fd00:244:{k}::1"), format!("fd00:244:{k}::2"));
        run(&[
            "ip",
            "-n",
            &self.node,
            "addr",
            "add",
            &format!("{gw6}/64"),
            "dev",
            &veth,
            "nodad",
        ]);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        run(&[
            "ip", "-n", &ns, "-6", "route", "add", "default", "via", &gw6,
        ]);
        Pod { ns, ip, ip6 }
    }

    /// A second node on the underlay (192.168.77.2), default route via this node.
    pub(crate) fn other_node(&mut self) -> String {
        let ns = format!("{}-node2", self.id);
        self.add_ns(&ns);
        run(&[
            "ip", "-n", &self.node, "link", "add", "u0", "type", "veth", "peer", "name", "u0",
            "netns", &ns,
        ]);
        run(&[
            "ip",
            "-n",
            &self.node,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            "u0",
        ]);
        run(&["ip", "-n", &self.node, "link", "set", "u0", "up"]);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            "192.168.77.2/24",
            "dev",
            "u0",
        ]);
        run(&["ip", "-n", &ns, "link", "set", "u0", "up"]);
        run(&["ip", "-n", &ns, "route", "add", "default", "via", NODE_IP]);
        ns
    }

    /// Starts the test backend in `pod` answering `<name> <client ip>`.
    pub(crate) fn backend(&mut self, pod: &Pod, name: &str, specs: &[&str]) {
        let mut args = vec![
            "netns", "exec", &pod.ns, "python3", "-u", "-c", BACKEND, name,
        ];
        args.extend_from_slice(specs);
        let mut child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("backend");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "ready", "backend {name} did not start");
        self.children.push(child);
    }

    /// Spawns a long-lived process in a namespace (killed on drop).
    pub(crate) fn spawn(&mut self, ns: &str, args: &[&str]) -> &mut Child {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        self.children.push(child);
        self.children.last_mut().expect("child")
    }

    /// A fresh proxier (like a restarted `knet proxy`); its first sync is full.
    pub(crate) fn start_proxy(&mut self) {
        let ct = Box::new(ConntrackNetlink::new(Netns::named(&self.node)));
        self.start_proxy_with(ct);
    }

    /// A fresh proxier that never deletes conntrack entries (negative controls).
    pub(crate) fn start_proxy_without_conntrack_cleanup(&mut self) {
        self.start_proxy_with(Box::new(NoCleanup));
    }

    fn start_proxy_with(&mut self, conntrack: Box<dyn Conntrack>) {
        let netns = Netns::named(&self.node);
        self.metrics = Arc::default();
        let cfg = RenderConfig {
            cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
            ..RenderConfig::default()
        };
        self.proxier = Some(Proxier::new(
            nft_for(&netns).expect("nft"),
            conntrack,
            cfg,
            self.metrics.clone(),
        ));
    }

    /// Syncs the proxy to `objects` (Services, EndpointSlices, Nodes).
    pub(crate) fn sync(&mut self, objects: &[Value]) -> SyncReport {
        let state = state(objects);
        self.proxier
            .as_mut()
            .expect("proxier")
            .sync(state, false)
            .expect("sync")
    }

    /// `curl http://addr/` from `ns`: Ok(body) or Err(curl exit code, elapsed).
    pub(crate) fn curl(&self, ns: &str, addr: &str) -> Result<String, (i32, Duration)> {
        let started = Instant::now();
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "curl",
                "-sS",
                "--max-time",
                "2",
                &format!("http://{addr}/"),
            ])
            .output()
            .expect("curl");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err((out.status.code().unwrap_or(-1), started.elapsed()))
        }
    }

    /// Name of the backend answering `addr` from `ns` (panics on failure).
    pub(crate) fn hit(&self, ns: &str, addr: &str) -> String {
        let body = self
            .curl(ns, addr)
            .unwrap_or_else(|e| panic!("curl {addr} from {ns}: {e:?}"));
        body.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// One UDP request from `ns` (optionally from a fixed source port).
    pub(crate) fn udp(&self, ns: &str, ip: &str, port: u16, sport: Option<u16>) -> Option<String> {
        let port = port.to_string();
        let sport = sport.map(|p| p.to_string());
        let mut args = vec![
            "netns", "exec", ns, "python3", "-c", CLIENT, "udp", ip, &port,
        ];
        args.extend(sport.as_deref());
        let out = Command::new("ip").args(&args).output().expect("udp client");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Client script path-free invocation for long TCP sessions.
    pub(crate) fn echo_client(&mut self, ns: &str, ip: &str, port: u16) -> &mut Child {
        let port = port.to_string();
        self.spawn(ns, &["python3", "-u", "-c", CLIENT, "echo", ip, &port])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let out = Command::new("ip").args(["netns", "del", ns]).output();
            if !out.is_ok_and(|o| o.status.success()) {
                eprintln!("warning: could not delete netns {ns}");
            }
        }
    }
}

/// The proxy state for [`NODE`] from objects.
pub(crate) fn state(objects: &[Value]) -> ProxyState {
    let text = serde_json::to_string(&json!({"kind": "List", "items": objects})).expect("json");
    knet_proxy::source::parse_objects(&text, std::path::Path::new("test"))
        .expect("objects")
        .state(NODE)
}

/// A Service `default/<name>`; `ports` are (name, port, protocol); `extra` merges into spec.
pub(crate) fn svc(name: &str, ip: &str, ports: &[(&str, u16, &str)], extra: Value) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, pr)| json!({"name": n, "port": p, "protocol": pr}))
        .collect();
    let mut spec =
        json!({"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ports": ports});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": name}, "spec": spec})
}

/// An endpoint: (ip, node, ready, serving, terminating).
pub(crate) type Ep<'a> = (&'a str, &'a str, bool, bool, bool);

/// A ready endpoint on `node`.
pub(crate) fn ready<'a>(ip: &'a str, node: &'a str) -> Ep<'a> {
    (ip, node, true, true, false)
}

/// An EndpointSlice of Service `default/<name>`.
/// The address family follows the first endpoint (IPv4 when empty).
pub(crate) fn slice(name: &str, ports: &[(&str, u16, &str)], eps: &[Ep<'_>]) -> Value {
    let family = if eps.first().is_some_and(|e| e.0.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, pr)| json!({"name": n, "port": p, "protocol": pr}))
        .collect();
    let eps: Vec<Value> = eps
        .iter()
        .map(|(ip, node, r, s, t)| {
            json!({"addresses": [ip], "nodeName": node,
            "conditions": {"ready": r, "serving": s, "terminating": t}})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "default", "name": format!("{name}-x"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": family, "ports": ports, "endpoints": eps})
}
