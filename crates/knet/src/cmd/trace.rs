//! `knet trace POD TARGET`: sends one real packet from a lab pod and shows
//! its path as the kernel saw it. For the time of the trace, every node gets
//! a small nftables table that marks the pod's packet for tracing
//! (`meta nftrace set 1`); `nft monitor trace` on each node reports each
//! chain and rule it passes — kube-proxy's Service DNAT, masquerading, the
//! CNI's rules — and `ip route get` shows where the node sends it next.
//! Everything it adds is removed when it ends.

use crate::lab::state::LabState;
use crate::lab::trace::{self, TraceLine};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use std::fmt::Write as _;
use std::io::BufRead;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The marking table's name.
const TABLE: &str = "knet-trace";

/// Options of `knet trace`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    knet trace client svc/web             # pod → Service: see the DNAT to an endpoint\n  \
    knet trace default/client pod/web-0 --port 80\n  \
    knet trace client 10.96.0.10 --port 53 --proto udp")]
pub(crate) struct Args {
    /// Cluster name.
    #[arg(long, default_value = "knet")]
    name: String,
    /// The pod that sends the packet: `NAME` or `NAMESPACE/NAME`.
    pod: String,
    /// Where to: an IP address, `svc/NAME[.NAMESPACE]` or `pod/NAME[.NAMESPACE]`
    /// (namespace defaults to the sending pod's).
    target: String,
    /// Destination port (default: the Service's first port, or 80).
    #[arg(long)]
    port: Option<u16>,
    /// Protocol: tcp (one connection attempt; the SYN is traced) or udp (one datagram).
    #[arg(long)]
    proto: Option<Proto>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Where the packet goes.
struct Dest {
    label: String,
    ip: IpAddr,
    port: u16,
    proto: Proto,
}

fn split_ns<'a>(s: &'a str, default_ns: &'a str) -> (&'a str, &'a str) {
    match s.split_once('.') {
        Some((n, ns)) => (ns, n),
        None => (default_ns, s),
    }
}

async fn resolve(client: &kube::Client, a: &Args, pod_ns: &str) -> anyhow::Result<Dest> {
    if let Ok(ip) = a.target.parse::<IpAddr>() {
        let proto = a.proto.unwrap_or(Proto::Tcp);
        return Ok(Dest {
            label: ip.to_string(),
            ip,
            port: a.port.unwrap_or(80),
            proto,
        });
    }
    if let Some(svc) = a.target.strip_prefix("svc/") {
        let (ns, name) = split_ns(svc, pod_ns);
        let s = Api::<Service>::namespaced(client.clone(), ns)
            .get(name)
            .await
            .map_err(|e| missing(e, "Service", ns, name))?;
        let spec = s.spec.unwrap_or_default();
        let ip: IpAddr = spec
            .cluster_ip
            .as_deref()
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("Service {ns}/{name} has no ClusterIP (headless?)"))?;
        let ports = spec.ports.unwrap_or_default();
        let chosen = match a.port {
            Some(p) => ports.iter().find(|sp| sp.port == i32::from(p)),
            None => ports.first(),
        };
        let port = a
            .port
            .or_else(|| chosen.and_then(|p| u16::try_from(p.port).ok()))
            .unwrap_or(80);
        let proto = a
            .proto
            .unwrap_or(match chosen.and_then(|p| p.protocol.as_deref()) {
                Some("UDP") => Proto::Udp,
                _ => Proto::Tcp,
            });
        return Ok(Dest {
            label: format!("svc/{name} in {ns}"),
            ip,
            port,
            proto,
        });
    }
    if let Some(p) = a.target.strip_prefix("pod/") {
        let (ns, name) = split_ns(p, pod_ns);
        let pod = Api::<Pod>::namespaced(client.clone(), ns)
            .get(name)
            .await
            .map_err(|e| missing(e, "pod", ns, name))?;
        let ip = pod
            .status
            .and_then(|s| s.pod_ip)
            .and_then(|i| i.parse().ok())
            .with_context(|| format!("pod {ns}/{name} has no IP yet"))?;
        return Ok(Dest {
            label: format!("pod/{name} in {ns}"),
            ip,
            port: a.port.unwrap_or(80),
            proto: a.proto.unwrap_or(Proto::Tcp),
        });
    }
    bail!(
        "target {:?}: give an IP address, svc/NAME[.NAMESPACE] or pod/NAME[.NAMESPACE]",
        a.target
    )
}

/// A readable error for a failed GET: "pod default/x not found".
fn missing(e: kube::Error, kind: &str, ns: &str, name: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!("{kind} {ns}/{name} not found"),
        other => anyhow::Error::new(other).context(format!("reading {kind} {ns}/{name}")),
    }
}

/// The marking tables, removed on drop (also when the trace fails).
struct Marks {
    nodes: Vec<String>,
}

impl Marks {
    fn add(nodes: &[String], src: IpAddr, first: &str, dest: &Dest) -> anyhow::Result<Self> {
        let mut marks = Marks { nodes: Vec::new() };
        let l4 = match dest.proto {
            Proto::Tcp => "tcp flags & (syn | ack) == syn".to_string(),
            Proto::Udp => "meta l4proto udp".to_string(),
        };
        for node in nodes {
            // On the sender's node the destination is still the one asked
            // for; elsewhere it may have been rewritten to an endpoint.
            let dst = if node == first {
                format!("ip daddr {} ", dest.ip)
            } else {
                String::new()
            };
            let rules = format!(
                "table ip {TABLE} {{\n chain pre {{ type filter hook prerouting priority -350; ip saddr {src} {dst}{l4} meta nftrace set 1; }}\n}}\n"
            );
            nft(node, &rules).with_context(|| format!("adding the trace table on {node}"))?;
            marks.nodes.push(node.clone());
        }
        Ok(marks)
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        for node in &self.nodes {
            let _ = nft(node, &format!("delete table ip {TABLE}\n"));
        }
    }
}

fn nft(node: &str, script: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", node, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (is nftables installed?)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `nft monitor trace` on one node, collecting lines until stopped.
struct Monitor {
    node: String,
    child: Child,
    lines: Arc<Mutex<Vec<TraceLine>>>,
}

impl Monitor {
    fn start(node: &str) -> anyhow::Result<Self> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", node, "nft", "monitor", "trace"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running nft monitor trace")?;
        let out = child.stdout.take().context("nft monitor stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(t) = trace::parse_line(&l) {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(t);
                }
            }
        });
        Ok(Monitor {
            node: node.to_string(),
            child,
            lines,
        })
    }

    fn stop(mut self) -> (String, Vec<TraceLine>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()));
        (self.node.clone(), lines)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the packet from inside the pod's network namespace.
fn send(pod_netns: &str, dest: &Dest) -> anyhow::Result<String> {
    let ns = knet_podnet::netns::Netns::open(format!("/run/netns/{pod_netns}"))
        .with_context(|| format!("opening the pod's namespace {pod_netns}"))?;
    let addr = std::net::SocketAddr::new(dest.ip, dest.port);
    let started = Instant::now();
    let result = match dest.proto {
        Proto::Tcp => {
            ns.run(
                || match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                    Ok(_) => format!("connected in {:.1} ms", ms(started)),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        format!(
                            "refused after {:.1} ms (no endpoint listening?)",
                            ms(started)
                        )
                    }
                    Err(e) => format!("failed: {e}"),
                },
            )?
        }
        Proto::Udp => ns.run(|| -> String {
            let sock = match std::net::UdpSocket::bind(("0.0.0.0", 0)) {
                Ok(s) => s,
                Err(e) => return format!("failed: {e}"),
            };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
            // A DNS query for the root's NS when sending to port 53, so a
            // DNS server answers; other ports get a plain line.
            let payload: &[u8] = if dest.port == 53 {
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"
            } else {
                b"knet trace\n"
            };
            if let Err(e) = sock.send_to(payload, addr) {
                return format!("failed: {e}");
            }
            let mut buf = [0u8; 2048];
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => format!("answered by {from} ({n} bytes) in {:.1} ms", ms(started)),
                Err(_) => "sent; no answer within 2 s".to_string(),
            }
        })?,
    };
    Ok(result)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The route a node takes to `dst` for a packet from `src` arriving on `iif`.
fn route(node: &str, dst: &str, src: IpAddr, iif: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", node, "route", "get", dst, "from"])
        .arg(src.to_string())
        .args(["iif", iif])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim().to_string();
    (!first.is_empty()).then_some(first)
}

/// For a route through the VXLAN device: which node the packet is
/// encapsulated to (gateway → neighbour MAC → FDB entry → underlay IP).
fn vxlan_peer(node: &str, route: &str, nodes: &[(String, String)]) -> Option<String> {
    let words: Vec<&str> = route.split_whitespace().collect();
    let dev = words.windows(2).find(|w| w[0] == "dev").map(|w| w[1])?;
    let via = words.windows(2).find(|w| w[0] == "via").map(|w| w[1])?;
    let neigh = Command::new("ip")
        .args(["-n", node, "neigh", "show", via, "dev", dev])
        .output()
        .ok()?;
    let neigh = String::from_utf8_lossy(&neigh.stdout).into_owned();
    let nw: Vec<&str> = neigh.split_whitespace().collect();
    let mac = nw.windows(2).find(|w| w[0] == "lladdr").map(|w| w[1])?;
    let fdb = Command::new("bridge")
        .args(["-n", node, "fdb", "show", "dev", dev])
        .output()
        .ok()?;
    let fdb = String::from_utf8_lossy(&fdb.stdout).into_owned();
    let dst = fdb.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.first() == Some(&mac))
            .then(|| {
                w.windows(2)
                    .find(|p| p[0] == "dst")
                    .map(|p| p[1].to_string())
            })
            .flatten()
    })?;
    let peer = nodes
        .iter()
        .find(|(_, ip)| *ip == dst)
        .map_or("an unknown node", |(n, _)| n.as_str());
    Some(format!(
        "{dev} is VXLAN: {via} is {mac}, whose FDB entry sends the frame in UDP port 8472 to {dst} ({peer})"
    ))
}

/// Runs `knet trace`.
pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let state = LabState::load(&a.name).with_context(|| {
        format!(
            "no cluster {:?} on this machine (start one with `knet up`)",
            a.name
        )
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (pod_ns, pod_name) = match a.pod.split_once('/') {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => ("default".to_string(), a.pod.clone()),
    };
    let (pod, dest, pods) = rt.block_on(async {
        let client = super::kube_client::client(Some(&state.kubeconfig), "").await?;
        let pod = Api::<Pod>::namespaced(client.clone(), &pod_ns)
            .get(&pod_name)
            .await
            .map_err(|e| missing(e, "pod", &pod_ns, &pod_name))?;
        let dest = resolve(&client, &a, &pod_ns).await?;
        let pods = Api::<Pod>::all(client).list(&Default::default()).await?;
        anyhow::Ok((pod, dest, pods.items))
    })?;
    let status = pod.status.unwrap_or_default();
    let src: IpAddr = status
        .pod_ip
        .as_deref()
        .and_then(|i| i.parse().ok())
        .with_context(|| format!("pod {pod_ns}/{pod_name} has no IP yet (is it Running?)"))?;
    let node = pod
        .spec
        .and_then(|s| s.node_name)
        .with_context(|| format!("pod {pod_ns}/{pod_name} is not scheduled"))?;
    let pod_netns = format!("{}{pod_ns}-{pod_name}", state.pod_netns_prefix);
    let nodes: Vec<String> = state.nodes.iter().map(|(n, _)| n.clone()).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "knet trace: pod {pod_ns}/{pod_name} ({src}, on {node}) → {} ({}:{}/{})",
        dest.label,
        dest.ip,
        dest.port,
        dest.proto.name()
    );

    let marks = Marks::add(&nodes, src, &node, &dest)?;
    let monitors = nodes
        .iter()
        .map(|n| Monitor::start(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Let the monitors subscribe before the packet goes.
    std::thread::sleep(Duration::from_millis(300));
    let result = send(&pod_netns, &dest)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut traces: Vec<(String, Vec<TraceLine>)> =
        monitors.into_iter().map(Monitor::stop).collect();
    // The sender's node first: that is where the packet starts.
    traces.sort_by_key(|(n, _)| *n != node);
    drop(marks);

    let _ = writeln!(out, "result: {result}\n");
    let owner = |ip: &str| {
        pods.iter().find_map(|p| {
            let st = p.status.as_ref()?;
            (st.pod_ip.as_deref() == Some(ip)).then(|| {
                let m = &p.metadata;
                format!(
                    "pod {}/{} on {}",
                    m.namespace.as_deref().unwrap_or(""),
                    m.name.as_deref().unwrap_or(""),
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .unwrap_or("?")
                )
            })
        })
    };
    let mut any = false;
    for (n, lines) in &traces {
        let story = trace::narrate(lines, TABLE);
        if story.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(out, "on node {n}:");
        for step in &story {
            let _ = writeln!(out, "  {step}");
        }
        if let Some((dst, iif)) = trace::final_hop(lines, TABLE) {
            if let Some(r) = route(n, &dst, src, &iif) {
                let _ = writeln!(out, "  route: {r}");
                if let Some(v) = vxlan_peer(n, &r, &state.nodes) {
                    let _ = writeln!(out, "  {v}");
                }
            }
            if let Some(o) = owner(&dst) {
                let _ = writeln!(out, "  {dst} is {o}");
            }
        }
        out.push('\n');
    }
    if !any {
        out.push_str(
            "no node traced the packet: it did not leave the pod (no route?) or never reached a node\n",
        );
    }
    // A closed stdout (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}
