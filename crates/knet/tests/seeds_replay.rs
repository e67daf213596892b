//! End-to-end: each seed document's transcript, replayed on a `knet up` lab by
//! `examples/seeds/<seed>/replay.sh` (issue 8), shows what the seed's author
//! saw: record types and counts, answers equal to the ClusterIP / pod IPs,
//! rotation, load spread, reachability, resolv.conf, env and kubectl columns.
//! Then `knet down` leaves nothing behind. Real kubectl, dig, curl, ping,
//! tcpdump; all traffic stays inside the lab's namespaces.

#[path = "support/lab.rs"]
mod lab;
#[path = "seeds_support/replay.rs"]
mod seeds;

use lab::{Lab, privileged};
use seeds::{
    Upstream, a_records, down_leaves_nothing, header, pod_ips, records, replay, row, seeds_dir,
};
use std::collections::BTreeSet;

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// Seed 000: pod network, shared pod IP, resolv.conf, ClusterIP name,
/// headless + StatefulSet, ExternalName.
#[test]
fn seed_000_touching_network_and_dns() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s0", 3, &[]);
    let r = replay(&lab, "000-touching-k8s-network-dns");

    // One IP per pod, on two different nodes; pings work node→pod and pod→pod.
    let pods = r.section("one IP per pod");
    let (c1, c2) = (row(pods, "cent-1"), row(pods, "cent-2"));
    assert_eq!(
        header(pods)[..7],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    );
    assert_ne!(c1[5], c2[5], "one IP per pod");
    assert_ne!(c1[6], c2[6], "cent-1 and cent-2 run on different nodes");
    assert!(
        r.section("pings pod cent-1").contains("2 received"),
        "{}",
        r.out
    );
    assert!(
        r.section("Pod cent-1 pings").contains("2 received"),
        "{}",
        r.out
    );

    // Both containers of cent-cent show the pod's one address on eth0.
    let ip = lab.ok(&["get", "pod", "cent-cent", "-o", "jsonpath={.status.podIP}"]);
    let shared = r.section("share its IP");
    assert_eq!(
        shared.matches(&format!("inet {ip} ")).count(),
        2,
        "{shared}"
    );
    // …and tcpdump in each container sees the same echo requests.
    let dump = r.section("tcpdump in both containers");
    assert_eq!(
        dump.matches(&format!("> {ip}: ICMP echo request")).count(),
        2,
        "{dump}"
    );
    assert!(
        r.section("cannot bind").contains("CrashLoopBackOff"),
        "{}",
        r.out
    );

    // resolv.conf and the ClusterIP answer (DNS agrees with the API).
    let dns = r.section("DNS: Service my-nginx-svc");
    assert!(dns.contains(
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    ), "{dns}");
    let cluster_ip = row(dns, "my-nginx-svc")[2].to_string();
    assert!(
        dns.contains("status: NOERROR") && dns.contains("ANSWER: 1,"),
        "{dns}"
    );
    assert_eq!(
        a_records(dns, "my-nginx-svc.default.svc.cluster.local."),
        [cluster_ip]
    );

    // Headless: no ClusterIP, one A per pod (the pods' IPs), per-pod names.
    let headless = r.section("Headless Service + StatefulSet");
    assert_eq!(row(headless, "my-nginx-svc")[2], "None");
    for n in ["my-nginx-0", "my-nginx-1", "my-nginx-2"] {
        row(headless, n);
    }
    let ips = pod_ips(&lab, "app=nginx");
    assert_eq!(ips.len(), 3);
    let all = a_records(headless, "my-nginx-svc.default.svc.cluster.local.");
    assert_eq!(set(&all), ips, "{headless}");
    let ip0 = lab.ok(&["get", "pod", "my-nginx-0", "-o", "jsonpath={.status.podIP}"]);
    assert_eq!(
        a_records(
            headless,
            "my-nginx-0.my-nginx-svc.default.svc.cluster.local."
        ),
        [ip0]
    );

    // The order of the headless answer rotates across queries (from a pod).
    let mut orders = BTreeSet::new();
    for _ in 0..20 {
        let out = lab.ok(&[
            "exec",
            "cent-1",
            "--",
            "dig",
            "+short",
            "+search",
            "my-nginx-svc",
        ]);
        let got: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        assert_eq!(set(&got), ips);
        orders.insert(got);
    }
    assert!(
        orders.len() > 1,
        "headless answers never changed order: {orders:?}"
    );

    // ExternalName: the cluster name is a CNAME for google.com (authoritative).
    let ext = r.section("ExternalName");
    assert_eq!(
        row(ext, "google-externalname")[1..4],
        ["ExternalName", "<none>", "google.com"]
    );
    let rrs = records(ext);
    assert_eq!(
        rrs.first(),
        Some(&(
            "google-externalname.default.svc.cluster.local.".to_string(),
            "CNAME".to_string(),
            "google.com.".to_string()
        )),
        "{ext}"
    );
    assert!(ext.contains("flags: qr aa"), "{ext}");
    down_leaves_nothing(lab);
}

/// Seed 001: the node's bridge and routes, the VXLAN device and its forwarding
/// table, and pod packets inside UDP 8472 on the node's eth0.
#[test]
fn seed_001_illustrated_pod_network() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s1", 3, &[]);
    let r = replay(&lab, "001-illustrated-pod-network");
    let pods = r.section("Every pod has its own IP");
    let (a, c) = (row(pods, "pod-a"), row(pods, "pod-c"));
    assert_eq!((a[6], c[6]), (lab.node(1).as_str(), lab.node(2).as_str()));

    assert!(r.section("Inside a pod").contains("eth0@if"), "{}", r.out);
    let bridge = r.section("sit on the bridge cbr0");
    assert!(
        bridge
            .lines()
            .filter(|l| l.contains("veth") && l.contains("master cbr0"))
            .count()
            >= 2,
        "{bridge}"
    );
    let arp = r.section("resolved by ARP");
    assert!(
        arp.contains("2 received") && arp.contains("lladdr"),
        "{arp}"
    );

    // The route table sends the other nodes' pod CIDRs to flannel.1, its own to cbr0.
    let routes = r.section("route -n");
    let nodes: Vec<Vec<&str>> = (0..3).map(|i| row(routes, &lab.node(i))).collect();
    assert_eq!(header(routes), ["NAME", "INTERNAL-IP", "POD-CIDR"]);
    for (i, n) in nodes.iter().enumerate() {
        let net = n[2].trim_end_matches("/24");
        let dev = if i == 1 { "cbr0" } else { "flannel.1" };
        assert!(
            routes
                .lines()
                .any(|l| l.starts_with(&format!("{net} ")) && l.ends_with(dev)),
            "{net} via {dev}: {routes}"
        );
    }

    // flannel.1: VXLAN VNI 1 on port 8472; one fdb entry per peer node.
    let vx = r.section("The overlay");
    assert!(
        vx.contains("vxlan id 1 ") && vx.contains("dstport 8472"),
        "{vx}"
    );
    for peer in [nodes[0][1], nodes[2][1]] {
        assert!(vx.contains(&format!("dst {peer} self permanent")), "{vx}");
    }
    // tcpdump on eth0 sees the pods' ICMP inside UDP 8472 between node IPs.
    let wire = r.section("pod packets inside UDP 8472");
    assert!(
        wire.contains(&format!("IP {}.", nodes[1][1]))
            && wire.contains(&format!("{}.8472: ", nodes[2][1])),
        "{wire}"
    );
    assert!(
        wire.contains(&format!("IP {} > {}: ICMP echo request", a[5], c[5])),
        "{wire}"
    );
    down_leaves_nothing(lab);
}

/// Seed 002: ClusterIP + Endpoints, scale, DNS A = ClusterIP, search names,
/// headless, StatefulSet names, selector-less Endpoints, ExternalName.
#[test]
fn seed_002_the_service_mechanism() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s2", 3, &[]);
    let r = replay(&lab, "002-iij-service");

    let lb = r.section("internal load balancer");
    assert_eq!(
        header(lb)[..6],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let svc = row(lb, "nginx");
    assert_eq!((svc[1], svc[3], svc[4]), ("ClusterIP", "<none>", "80/TCP"));
    let cluster_ip = svc[2].to_string();
    let pods_wide = lb.split("get pods --selector").nth(1).unwrap();
    assert_eq!(
        header(pods_wide),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    let pod_ip = pods_wide
        .lines()
        .find(|l| l.starts_with("nginx-"))
        .unwrap()
        .split_whitespace()
        .nth(5)
        .unwrap();
    let ep_rows: Vec<&str> = lb
        .lines()
        .filter(|l| l.starts_with("nginx ") && l.contains(":80"))
        .collect();
    assert_eq!(ep_rows.len(), 1, "{lb}");
    assert_eq!(
        ep_rows[0].split_whitespace().nth(1),
        Some(format!("{pod_ip}:80").as_str())
    );

    let scaled = r.section("Scale out");
    let eps: BTreeSet<&str> = row(scaled, "nginx")[1].split(',').collect();
    assert_eq!(eps.len(), 2, "{scaled}");
    assert!(eps.contains(format!("{pod_ip}:80").as_str()), "{scaled}");
    // `get svc,ep,pods -o wide`: three tables, the Service's selector, the
    // same endpoints, and the pods' IPs and nodes.
    let wide = scaled.split("-o wide\n").nth(1).unwrap();
    assert_eq!(
        header(wide),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    assert_eq!(row(wide, "service/nginx")[2], cluster_ip);
    assert_eq!(row(wide, "service/nginx")[6], "app=nginx");
    let wide_eps: BTreeSet<&str> = row(wide, "endpoints/nginx")[1].split(',').collect();
    assert_eq!(wide_eps, eps);
    let pod_rows: Vec<&str> = wide
        .lines()
        .filter(|l| l.starts_with("pod/nginx-"))
        .collect();
    assert_eq!(pod_rows.len(), 2, "{wide}");
    for l in pod_rows {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[2], "Running");
        assert!(eps.contains(format!("{}:80", f[5]).as_str()), "{l}");
        assert!(f[6].starts_with(&lab.name), "{l}");
    }

    let balancer = r.section("The balancer itself");
    assert!(
        balancer.contains(&format!("{cluster_ip} . 80 . 0 : "))
            && balancer.contains(&format!("{cluster_ip} . 80 . 1 : ")),
        "{balancer}"
    );
    assert_eq!(
        balancer.lines().filter(|l| l.starts_with("nginx-")).count(),
        4,
        "{balancer}"
    );

    let dns = r.section("authoritative cluster DNS");
    assert_eq!(
        a_records(dns, "nginx.default.svc.cluster.local."),
        vec![cluster_ip.clone(); 3],
        "{dns}"
    );
    assert!(dns.contains("nameserver 10.96.0.10\n"), "{dns}");

    let headless = r.section("Headless Service");
    assert_eq!(row(headless, "nginx")[2..5], ["None", "<none>", "<none>"]);
    let ep_ips: BTreeSet<String> = row(headless.split("get ep nginx\n").nth(1).unwrap(), "nginx")
        [1]
    .split(',')
    .map(str::to_string)
    .collect();
    assert_eq!(ep_ips.len(), 2, "{headless}");
    let answers = a_records(headless, "nginx.default.svc.cluster.local.");
    assert_eq!(
        answers.len(),
        4,
        "two queries, two A records each: {headless}"
    );
    assert_eq!(set(&answers), ep_ips);
    assert!(!ep_ips.contains(&cluster_ip));

    let sts = r.section("StatefulSet + headless");
    let ip0 = row(sts, "nginx-0")[5].to_string();
    let ip1 = row(sts, "nginx-1")[5].to_string();
    assert_eq!(
        a_records(sts, "nginx-0.nginx.default.svc.cluster.local."),
        std::slice::from_ref(&ip0)
    );
    assert_eq!(
        a_records(sts, "nginx-1.nginx.default.svc.cluster.local."),
        std::slice::from_ref(&ip1)
    );
    assert_eq!(
        set(&a_records(sts, "nginx.default.svc.cluster.local.")),
        set(&[ip0, ip1])
    );

    let manual = r.section("without selector");
    assert_eq!(
        row(
            manual.split("get svc,ep nginx\n").nth(1).unwrap(),
            "endpoints/nginx"
        )[1],
        "202.232.2.180"
    );
    assert_eq!(
        a_records(manual, "nginx.default.svc.cluster.local."),
        ["202.232.2.180"]
    );

    let ext = r.section("ExternalName");
    assert_eq!(
        row(ext, "nginx")[1..4],
        ["ExternalName", "<none>", "www.iij.ad.jp"]
    );
    let rrs = records(ext);
    assert_eq!(rrs[0].1, "CNAME", "{ext}");
    assert_eq!(rrs[0].2, "www.iij.ad.jp.", "{ext}");
    down_leaves_nothing(lab);
}

/// Seed 003: localhost inside a pod, pod→pod and node→pod, the ClusterIP
/// Service's columns and Endpoints, load spread, no answer from outside,
/// env, A/SRV/PTR records.
#[test]
fn seed_003_discovery_and_load_balancing() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s3", 3, &[]);
    let r = replay(&lab, "003-discovery-lb");

    let pods = r.section("Three pods");
    assert_eq!(header(pods), ["NAME", "IP", "NODE"]);
    let rows: Vec<Vec<&str>> = pods
        .lines()
        .filter(|l| l.starts_with("sample-deployment-"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{pods}");
    let names: BTreeSet<&str> = rows.iter().map(|f| f[0]).collect();
    let ips: BTreeSet<&str> = rows.iter().map(|f| f[1]).collect();

    let own = r.section("Same pod");
    assert!(names.iter().any(|n| own.lines().any(|l| l == *n)), "{own}");
    for s in ["Pod to pod", "control-plane node reaches"] {
        let got: BTreeSet<&str> = r.section(s).lines().filter(|l| names.contains(l)).collect();
        assert_eq!(got, names, "{s}: every pod answers");
    }

    let svc = r.section("Service sample-clusterip");
    let svc_row = row(svc, "sample-clusterip");
    assert_eq!(
        (svc_row[1], svc_row[3], svc_row[4]),
        ("ClusterIP", "<none>", "8080/TCP")
    );
    let cip = svc_row[2];
    assert!(
        svc.contains("Selector:                 app=sample-app"),
        "{svc}"
    );
    assert!(
        svc.contains("Port:                     http-port  8080/TCP"),
        "{svc}"
    );
    assert!(svc.contains("TargetPort:               80/TCP"), "{svc}");
    let eps_line = svc.lines().find(|l| l.starts_with("Endpoints:")).unwrap();
    let eps: BTreeSet<&str> = eps_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split(',')
        .collect();
    let want: BTreeSet<String> = ips.iter().map(|ip| format!("{ip}:80")).collect();
    assert_eq!(eps, want.iter().map(String::as_str).collect());

    assert!(
        r.section("not from outside").contains("# no answer"),
        "{}",
        r.out
    );
    let env = r.section("environment variables");
    assert!(
        env.contains(": 0\n"),
        "pods older than the Service have no variables: {env}"
    );
    assert!(
        env.contains(&format!("SAMPLE_CLUSTERIP_SERVICE_HOST={cip}\n")),
        "{env}"
    );
    assert!(
        env.contains("SAMPLE_CLUSTERIP_SERVICE_PORT_HTTP_PORT=8080\n"),
        "{env}"
    );
    assert!(
        env.contains(&format!(
            "SAMPLE_CLUSTERIP_PORT_8080_TCP=tcp://{cip}:8080\n"
        )),
        "{env}"
    );

    let dns = r.section("DNS A, SRV");
    assert_eq!(
        a_records(dns, "sample-clusterip.default.svc.cluster.local."),
        [cip]
    );
    let rrs = records(dns);
    assert!(
        rrs.contains(&(
            "_http-port._tcp.sample-clusterip.default.svc.cluster.local.".into(),
            "SRV".into(),
            "0 100 8080 sample-clusterip.default.svc.cluster.local.".into()
        )),
        "{dns}"
    );
    assert!(
        rrs.iter()
            .any(|(_, t, d)| t == "PTR" && d == "sample-clusterip.default.svc.cluster.local."),
        "{dns}"
    );
    assert!(
        rrs.iter().any(|(_, t, d)| t == "PTR"
            && d.ends_with(".sample-clusterip.default.svc.cluster.local.")
            && d.starts_with("10-244-")),
        "{dns}"
    );
    // Without an upstream the lab's DNS refuses names outside the cluster.
    assert!(
        r.section("outside DNS").contains("status: REFUSED"),
        "{}",
        r.out
    );
    assert!(r.section("Clean up").contains("deleted"));

    // Live: re-apply the seed's manifests; the ClusterIP spreads over all
    // three pods and does not answer the outside client.
    let dir = seeds_dir().join("003-discovery-lb");
    for f in ["sample-deployment.yaml", "sample-clusterip.yaml"] {
        lab.ok(&["apply", "-f", dir.join(f).to_str().unwrap()]);
    }
    lab.wait_for(
        &["get", "deploy", "sample-deployment"],
        "{.status.readyReplicas}",
        "3",
        60,
    );
    let names: BTreeSet<String> = lab
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=sample-app",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    lab.wait_for_nonempty(
        &["get", "endpoints", "sample-clusterip"],
        "{.subsets[0].addresses[2].ip}",
        30,
    );
    let cip = lab.ok(&[
        "get",
        "svc",
        "sample-clusterip",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        let (ok, page) = lab.on_node(
            &lab.node(0),
            &["curl", "-s", "-m", "3", &format!("{cip}:8080")],
        );
        assert!(ok, "curl ClusterIP from the control-plane node");
        seen.insert(page.trim().to_string());
    }
    assert_eq!(seen, names, "load spread over every pod");
    let (ok, _) = lab.on_node("client", &["curl", "-s", "-m", "2", &format!("{cip}:8080")]);
    assert!(!ok, "the ClusterIP answers only inside the cluster");
    down_leaves_nothing(lab);
}

/// Seed 004: the DNS pods behind 10.96.0.10, ClusterFirst and Default
/// resolv.conf, test.development, Service hoge's VIP in DNS and nftables.
#[test]
fn seed_004_kube_dns_at_cluster_start() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s4", 3, &[]);
    let r = replay(&lab, "004-kube-dns-startup");

    let dns = r.section("runs as pods in kube-system");
    assert_eq!(
        dns.lines()
            .filter(|l| l.starts_with("coredns-") && l.contains(" 1/1 "))
            .count(),
        2,
        "{dns}"
    );
    assert_eq!(
        row(dns, "kube-dns")[1..5],
        [
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "53/UDP,53/TCP,9153/TCP"
        ]
    );

    assert!(r.section("ClusterFirst").contains(
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    ), "{}", r.out);
    let default = r.section("dnsPolicy Default");
    assert!(
        !default.contains("10.96.0.10") && !default.contains("svc.cluster.local"),
        "{default}"
    );

    let dev = r.section("test.development");
    let vip = lab.ok(&[
        "get",
        "svc",
        "test",
        "-n",
        "development",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(a_records(dev, "test.development.svc.cluster.local."), [vip]);

    let hoge = r.section("Creating Service hoge");
    let vip = lab.ok(&["get", "svc", "hoge", "-o", "jsonpath={.spec.clusterIP}"]);
    assert_eq!(row(hoge, "hoge")[2], vip);
    assert_eq!(
        a_records(hoge, "hoge.default.svc.cluster.local."),
        std::slice::from_ref(&vip)
    );
    assert!(hoge.contains(&format!("{vip} . 80 . 0 : ")), "{hoge}");
    assert!(
        hoge.lines().any(|l| l == "hoge"),
        "curl http://hoge/ answers: {hoge}"
    );
    assert!(
        r.section("Upstream name servers").contains("--no-forward"),
        "{}",
        r.out
    );
    down_leaves_nothing(lab);
}

/// Seeds 000, 002, 003, 004: with `--upstream` and the stand-in upstream
/// (Knot DNS in the outside client), ExternalName answers CNAME + A and
/// other names resolve through the cluster DNS.
#[test]
fn external_names_resolve_through_the_upstream() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("sx", 3, &["--upstream", "172.18.255.254"]);
    let _upstream = Upstream::start(&lab);
    lab.wait_for(
        &["get", "deploy", "coredns", "-n", "kube-system"],
        "{.status.readyReplicas}",
        "2",
        60,
    );
    let dir = seeds_dir();
    lab.ok(&[
        "apply",
        "-f",
        dir.join("000-touching-k8s-network-dns/google-external.yaml")
            .to_str()
            .unwrap(),
    ]);
    lab.ok(&[
        "apply",
        "-f",
        dir.join("002-iij-service/externalname.yaml")
            .to_str()
            .unwrap(),
    ]);
    lab.ok(&[
        "run",
        "q",
        "--image=centos:7",
        "--command",
        "--",
        "sleep",
        "3600",
    ]);
    lab.wait_for(&["get", "pod", "q"], "{.status.phase}", "Running", 30);
    let dig = |name: &str| lab.ok(&["exec", "q", "--", "dig", "+search", "+time=3", name]);

    let g = dig("google-externalname");
    assert!(
        g.contains("status: NOERROR") && g.contains("ANSWER: 2,"),
        "{g}"
    );
    let rrs = records(&g);
    assert_eq!(rrs[0].1, "CNAME");
    assert_eq!(rrs[0].2, "google.com.");
    assert_eq!(a_records(&g, "google.com."), ["192.0.2.206"]);

    let i = dig("nginx.default.svc.cluster.local.");
    assert_eq!(records(&i)[0].2, "www.iij.ad.jp.", "{i}");
    assert_eq!(a_records(&i, "www.iij.ad.jp."), ["198.51.100.180"]);

    let o = dig("example.org");
    assert_eq!(a_records(&o, "example.org."), ["203.0.113.10"], "{o}");
    drop(_upstream);
    down_leaves_nothing(lab);
}

/// Seed 002 deletes a selector-less Service by name before reusing the name:
/// as in Kubernetes, its hand-written Endpoints must go with it.
#[test]
fn seed_002_deleting_a_selectorless_service_removes_its_endpoints() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s2e", 2, &[]);
    let f = seeds_dir().join("002-iij-service/selectorless.yaml");
    lab.ok(&["apply", "-f", f.to_str().unwrap()]);
    lab.wait_for(
        &["get", "endpoints", "nginx"],
        "{.subsets[0].addresses[0].ip}",
        "202.232.2.180",
        10,
    );
    lab.ok(&["delete", "svc", "nginx"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let out = lab.kubectl(&["get", "endpoints", "nginx", "-o", "name"]);
        if !out.status.success() {
            down_leaves_nothing(lab);
            return;
        }
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("Endpoints of the deleted Service still exist after 10 s: {last}");
}

/// Seed 001's first model: no overlay, the route table sends each pod CIDR
/// to the node that owns it (`--backend host-gw`), and pod packets cross the
/// underlay with the pods' own addresses.
#[test]
fn seed_001_host_gw_routes_without_overlay() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("s1h", 3, &["--backend", "host-gw"]);
    let yaml = std::fs::read_to_string(seeds_dir().join("001-illustrated-pod-network/pods.yaml"))
        .unwrap()
        .replace("WORKER2", &lab.node(2))
        .replace("WORKER\n", &format!("{}\n", lab.node(1)));
    lab.apply(&yaml);
    for p in ["pod-a", "pod-c"] {
        lab.wait_for(&["get", "pod", p], "{.status.phase}", "Running", 30);
    }
    let ip = |p: &str| lab.ok(&["get", "pod", p, "-o", "jsonpath={.status.podIP}"]);
    let (a, c) = (ip("pod-a"), ip("pod-c"));
    let peer = lab.ok(&[
        "get",
        "node",
        &lab.node(2),
        "-o",
        r#"jsonpath={.status.addresses[?(@.type=="InternalIP")].address}"#,
    ]);
    let cidr = lab.ok(&[
        "get",
        "node",
        &lab.node(2),
        "-o",
        "jsonpath={.spec.podCIDR}",
    ]);
    let (ok, routes) = lab.on_node(&lab.node(1), &["ip", "route"]);
    assert!(ok);
    assert!(
        routes.contains(&format!("{cidr} via {peer} dev eth0")),
        "{routes}"
    );
    let (_, links) = lab.on_node(&lab.node(1), &["ip", "-br", "link"]);
    assert!(
        !links.contains("flannel.1"),
        "no VXLAN device with host-gw: {links}"
    );

    let dump = std::process::Command::new(lab::knet())
        .args([
            "exec",
            "--name",
            &lab.name,
            &lab.node(1),
            "--",
            "timeout",
            "8",
            "tcpdump",
            "-lni",
            "eth0",
            "-c",
            "2",
            "icmp",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    lab.ok(&["exec", "pod-a", "--", "ping", "-c", "2", &c]);
    let out = dump.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("IP {a} > {c}: ICMP echo request")),
        "{text}"
    );
    down_leaves_nothing(lab);
}

/// `examples/seeds/upstream.sh`: Knot DNS in the lab's outside client answers
/// the seeds' external names with documentation addresses, for any machine on
/// the underlay; `stop` ends exactly that process.
#[test]
fn upstream_stand_in_serves_the_seeds_external_names() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("su", 2, &[]);
    let upstream = Upstream::start(&lab);
    let pidfile = format!("/run/knet-upstream/{}/knot.pid", lab.name);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for (name, want) in [
        ("google.com", "192.0.2.206"),
        ("www.iij.ad.jp", "198.51.100.180"),
        ("example.org", "203.0.113.10"),
    ] {
        let (ok, out) = lab.on_node(
            &lab.node(1),
            &["dig", "+short", "+time=2", "@172.18.255.254", name],
        );
        assert!(ok && out.trim() == want, "{name}: {out}");
    }
    let (_, nx) = lab.on_node(
        &lab.node(1),
        &["dig", "+time=2", "@172.18.255.254", "nothing.google.com"],
    );
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    drop(upstream);
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "knotd {pid} still running after upstream.sh stop"
    );
    assert!(!std::path::Path::new(&pidfile).exists());
    down_leaves_nothing(lab);
}
