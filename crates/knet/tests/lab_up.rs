//! End-to-end: `knet up` gives a working cluster network (issue 6, seeds 000
//! and 003), and `knet down` — also after `kill -9` — leaves nothing behind.
//! Real kubectl, ping and curl; traffic stays inside the lab's namespaces.

#[path = "support/lab.rs"]
mod lab;

use knet_testing::stdout_of_success;
use lab::{Lab, knet, namespaces_of, privileged};
use std::process::Command;

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: pod-a, labels: {app: pinger}}
spec:
  nodeName: NODE1
  containers: [{name: c, image: centos:7, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: pod-b, labels: {app: pinger}}
spec:
  nodeName: NODE2
  containers: [{name: c, image: centos:7, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: cent-cent, labels: {app: myapp}}
spec:
  containers:
  - {name: cent7-1, image: centos:7, command: ["/bin/sh", "-c", "sleep 3600"]}
  - {name: cent7-2, image: centos:7, command: ["/bin/sh", "-c", "sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: two-nginx}
spec:
  containers:
  - {name: nginx-1, image: nginx}
  - {name: nginx-2, image: nginx}
"#;

/// A plain HTTP/1.0 GET to 127.0.0.1:`port` (kubectl's end of a port-forward).
fn http_get_local(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(c, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").expect("request");
    let mut reply = String::new();
    c.read_to_string(&mut reply).expect("reply");
    reply.trim_end().to_string()
}

fn ip_of(lab: &Lab, pod: &str) -> String {
    lab.wait_for(&["get", "pod", pod], "{.status.phase}", "Running", 30);
    lab.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])
}

#[test]
fn a_cluster_network_on_one_machine() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("net", 3, &[]);

    // Nodes Ready with distinct pod CIDRs.
    let ready = lab.ok(&[
        "get",
        "nodes",
        "-o",
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#,
    ]);
    assert_eq!(
        ready.split_whitespace().collect::<Vec<_>>(),
        ["True", "True", "True"],
        "{ready}"
    );
    let cidrs = lab.ok(&["get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}"]);
    let mut c: Vec<&str> = cidrs.split_whitespace().collect();
    assert_eq!(c.len(), 3, "{cidrs}");
    c.dedup();
    assert_eq!(c.len(), 3, "pod CIDRs must differ: {cidrs}");

    // Seed 000: pods on different nodes ping each other; a node pings a pod.
    let manifest = PODS
        .replace("NODE1", &lab.node(1))
        .replace("NODE2", &lab.node(2));
    lab.apply(&manifest);
    let (a, b) = (ip_of(&lab, "pod-a"), ip_of(&lab, "pod-b"));
    assert_ne!(a, b);
    let ping = lab.ok(&["exec", "pod-a", "--", "ping", "-c", "2", "-W", "2", &b]);
    assert!(
        ping.contains("2 received"),
        "pod-a → pod-b across nodes: {ping}"
    );
    let (ok, out) = lab.on_node(&lab.node(0), &["ping", "-c", "1", "-W", "2", &a]);
    assert!(ok, "control-plane node → pod-a: {out}");

    // Two containers of one pod share its IP.
    let ip = ip_of(&lab, "cent-cent");
    for c in ["cent7-1", "cent7-2"] {
        let addr = lab.ok(&[
            "exec",
            "cent-cent",
            "-c",
            c,
            "--",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ]);
        assert!(addr.contains(&format!("inet {ip}/")), "{c}: {addr}");
    }

    // …and cannot both bind port 80: one serves, the other keeps failing.
    // Which one wins the race for the port is not fixed, as in Kubernetes.
    let crashing = lab.wait_for_nonempty(
        &["get", "pod", "two-nginx"],
        r#"{.status.containerStatuses[?(@.state.waiting.reason=="CrashLoopBackOff")].name}"#,
        30,
    );
    let serving = lab.ok(&[
        "get",
        "pod",
        "two-nginx",
        "-o",
        r#"jsonpath={.status.containerStatuses[?(@.ready==true)].name}"#,
    ]);
    let mut both = [crashing.as_str(), serving.as_str()];
    both.sort();
    assert_eq!(
        both,
        ["nginx-1", "nginx-2"],
        "one serves port 80, the other cannot bind it"
    );
    let log = lab.ok(&["logs", "two-nginx", "-c", &crashing]);
    assert!(log.contains("bind() to 0.0.0.0:80 failed"), "{log}");

    // ClusterFirst resolv.conf, as in seed 000.
    let resolv = lab.ok(&["exec", "pod-a", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv,
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    let hostname = lab.ok(&["exec", "pod-a", "--", "hostname"]);
    assert_eq!(hostname.trim(), "pod-a");

    // `kubectl run -i --rm`: kubectl attaches to the container's stdin and
    // output, then deletes the pod; the process reads what was typed.
    let run = lab.kubectl_with_input(
        &[
            "run",
            "-i",
            "--rm",
            "--restart=Never",
            "asker",
            "--image=busybox",
            "--",
            "sh",
            "-c",
            "read answer; echo \"got $answer in $(hostname)\"",
        ],
        "forty-two\n",
    );
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && said.contains("got forty-two in asker"),
        "kubectl run -i: {said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(said.contains("pod \"asker\" deleted"), "{said}");
    // `kubectl debug -i`: an ephemeral container joins the running pod's
    // namespaces (its hostname, its IP) and reads kubectl's stdin.
    let a_ip = ip_of(&lab, "pod-a");
    let run = lab.kubectl_with_input(
        &[
            "debug",
            "pod-a",
            "-i",
            "--image=busybox",
            "--container=dbg",
            "--",
            "sh",
            "-c",
            "read w; echo \"$w from $(hostname)\"; ip -4 -o addr",
        ],
        "hello\n",
    );
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && said.contains("hello from pod-a") && said.contains(&a_ip),
        "kubectl debug -i: {said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    lab.wait_for(
        &["get", "pod", "pod-a"],
        "{.status.ephemeralContainerStatuses[0].name}/{.status.ephemeralContainerStatuses[0].state.terminated.reason}",
        "dbg/Completed",
        30,
    );
    assert_eq!(
        lab.ok(&["get", "pod", "pod-a", "-o", "jsonpath={.status.phase}"]),
        "Running"
    );
    assert!(
        lab.ok(&["logs", "pod-a", "-c", "dbg"])
            .contains("hello from pod-a")
    );
    // `kubectl port-forward`: a loopback port on this machine reaches the
    // pod's port inside its network namespace.
    let (_forward, local) = lab.port_forward("pod/two-nginx", 80);
    let page = http_get_local(local, "/hostname");
    assert!(page.ends_with("two-nginx"), "through port-forward: {page}");
    // A crashing container: one log file per run (`--previous` reads the
    // last one), and the kubelet's Events tell the story in `describe`.
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: busybox, command: [sh, -c, "echo run $(cat /proc/sys/kernel/random/uuid); exit 1"]}
"#,
    );
    lab.wait_for(
        &["get", "pod", "crasher"],
        "{.status.containerStatuses[0].restartCount}",
        "1",
        40,
    );
    let previous = lab.ok(&["logs", "crasher", "--previous"]);
    let current = lab.ok(&["logs", "crasher"]);
    assert!(
        previous.starts_with("run ") && previous.lines().count() == 1,
        "{previous}"
    );
    assert!(
        current.starts_with("run ") && current.lines().count() == 1 && current != previous,
        "current run {current} vs previous {previous}"
    );
    let reasons = lab.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crasher",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    for r in ["Scheduled", "Pulled", "Created", "Started", "BackOff"] {
        assert!(reasons.split(' ').any(|x| x == r), "{r} in {reasons}");
    }
    let described = lab.ok(&["describe", "pod", "crasher"]);
    assert!(
        described.contains("Back-off restarting failed container c in pod crasher_default("),
        "{described}"
    );

    // Attaching without stdin to a container that has none streams its output.
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - {name: t, image: busybox, command: [sh, -c, "sleep 2; for i in 1 2 3; do echo tick $i; sleep 0.2; done"]}
  restartPolicy: Never
"#,
    );
    lab.wait_for(&["get", "pod", "ticker"], "{.status.phase}", "Running", 30);
    let attached = lab.ok(&["attach", "ticker"]);
    assert!(attached.contains("tick 3"), "kubectl attach: {attached}");
    // `logs -f` of a container that has ended returns once it is all read.
    let followed = lab.ok(&["logs", "-f", "ticker", "--request-timeout=20s"]);
    assert_eq!(followed, "tick 1\ntick 2\ntick 3\n");
    let refused = lab.kubectl(&["attach", "-i", "pod-a"]);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("stdin: true"),
        "attach -i to a container without stdin is refused: {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Seed 003: a sibling container answers on localhost; Service env vars are set.
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: sample-clusterip}
spec:
  selector: {app: sample-app}
  ports: [{name: http-port, port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: sample-pod, labels: {app: sample-app}}
spec:
  containers:
  - {name: nginx-container, image: nginx:1.19, ports: [{containerPort: 80}]}
  - {name: redis-container, image: redis:6, ports: [{containerPort: 6379}]}
"#,
    );
    ip_of(&lab, "sample-pod");
    lab.wait_for(
        &["get", "pod", "sample-pod"],
        "{.status.containerStatuses[*].ready}",
        "true true",
        30,
    );
    let page = lab.ok(&[
        "exec",
        "sample-pod",
        "-c",
        "redis-container",
        "--",
        "curl",
        "-s",
        "-m",
        "3",
        "localhost:80",
    ]);
    assert_eq!(page.trim(), "sample-pod");
    let env = lab.ok(&["exec", "sample-pod", "-c", "redis-container", "--", "env"]);
    let svc_ip = lab.ok(&[
        "get",
        "svc",
        "sample-clusterip",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(
        env.contains(&format!("SAMPLE_CLUSTERIP_SERVICE_HOST={svc_ip}\n")),
        "{env}"
    );
    assert!(
        env.contains("SAMPLE_CLUSTERIP_SERVICE_PORT_HTTP_PORT=8080\n"),
        "{env}"
    );
    assert!(env.contains("KUBERNETES_SERVICE_HOST=10.96.0.1\n"), "{env}");

    // `knet trace`: one real packet from pod-a to the Service, told from the
    // kernel's nftables trace — the DNAT to the endpoint and its route.
    let told = stdout_of_success(Command::new(knet()).args([
        "trace",
        "--name",
        &lab.name,
        "pod-a",
        "svc/sample-clusterip",
    ]));
    let sample_ip = ip_of(&lab, "sample-pod");
    assert!(told.contains("result: connected"), "{told}");
    assert!(
        told.contains(&format!(
            "DNAT: destination {svc_ip}:8080 is now {sample_ip}:80"
        )),
        "{told}"
    );
    assert!(
        told.contains(&format!("{sample_ip} is pod default/sample-pod")),
        "{told}"
    );
    for n in 0..3 {
        let (_, tables) = lab.on_node(&lab.node(n), &["nft", "list", "tables"]);
        assert!(
            !tables.contains("knet-trace"),
            "trace table left on node {n}: {tables}"
        );
    }

    // Cluster DNS runs as pods behind 10.96.0.10 and answers from inside a pod.
    lab.wait_for(
        &["get", "deploy", "coredns", "-n", "kube-system"],
        "{.status.readyReplicas}",
        "2",
        30,
    );
    let dig = lab.ok(&[
        "exec",
        "pod-a",
        "--",
        "dig",
        "+short",
        "sample-clusterip.default.svc.cluster.local",
    ]);
    assert_eq!(
        dig.trim(),
        svc_ip,
        "A record of the Service is its ClusterIP"
    );

    // A LoadBalancer Service gets an EXTERNAL-IP that answers from outside;
    // its NodePort answers on a node address; the ClusterIP does not.
    lab.ok(&[
        "expose",
        "pod",
        "sample-pod",
        "--name",
        "sample-lb",
        "--type",
        "LoadBalancer",
        "--port",
        "80",
    ]);
    let lb = lab.wait_for_nonempty(
        &["get", "svc", "sample-lb"],
        "{.status.loadBalancer.ingress[0].ip}",
        20,
    );
    assert!(
        lb.starts_with("172.18.255."),
        "address from the lab pool: {lb}"
    );
    // The proxies program a new address asynchronously, as kube-proxy does.
    let page = lab.eventually_on_node(
        "client",
        &["curl", "-s", "-m", "2", &format!("http://{lb}/")],
        10,
    );
    assert!(
        page.trim() == "sample-pod",
        "outside client → LoadBalancer: {page}"
    );
    let node_port = lab.ok(&[
        "get",
        "svc",
        "sample-lb",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let worker_ip = lab.ok(&[
        "get",
        "node",
        &lab.node(1),
        "-o",
        r#"jsonpath={.status.addresses[?(@.type=="InternalIP")].address}"#,
    ]);
    let page = lab.eventually_on_node(
        "client",
        &[
            "curl",
            "-s",
            "-m",
            "2",
            &format!("http://{worker_ip}:{node_port}/"),
        ],
        10,
    );
    assert!(
        page.trim() == "sample-pod",
        "outside client → NodePort: {page}"
    );
    let (ok, _) = lab.on_node(
        "client",
        &["curl", "-s", "-m", "2", &format!("http://{svc_ip}:8080/")],
    );
    assert!(!ok, "a ClusterIP is not reachable from outside the cluster");

    // Down leaves nothing behind — also no process a user started in a
    // lab namespace (it would outlive the namespace).
    let mut straggler = Command::new(knet())
        .args(["exec", "--name", &lab.name, "client", "--", "sleep", "600"])
        .spawn()
        .expect("knet exec sleep");
    let name = lab.name.clone();
    drop(lab);
    let gone = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        straggler.try_wait().is_ok_and(|s| s.is_some())
    });
    if !gone {
        let _ = straggler.kill();
        let _ = straggler.wait();
    }
    assert!(
        gone,
        "a process in the lab's client namespace survived knet down"
    );
    assert_eq!(namespaces_of(&name), Vec::<String>::new());
    assert!(!std::path::Path::new(&format!("/run/knet/{name}")).exists());
}

#[test]
fn down_force_after_kill_9_leaves_nothing() {
    if !privileged() {
        return;
    }
    let lab = Lab::up("crash", 2, &[]);
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: nginx}]\n");
    lab.wait_for(&["get", "pod", "web"], "{.status.phase}", "Running", 30);
    let state = std::fs::read_to_string(format!("/run/knet/{}/state.json", lab.name)).unwrap();
    let pid: i32 = serde_json::from_str::<serde_json::Value>(&state).unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !lab.namespaces().is_empty(),
        "a crashed lab leaves namespaces until swept"
    );
    stdout_of_success(Command::new(knet()).args(["down", "--force", "--name", &lab.name]));
    assert_eq!(lab.namespaces(), Vec::<String>::new());
    let leftover = Command::new("pgrep")
        .args(["-f", &format!("knet pause.*{}-pod-", lab.name)])
        .output()
        .unwrap();
    assert!(
        leftover.stdout.is_empty(),
        "pause processes left: {}",
        String::from_utf8_lossy(&leftover.stdout)
    );
}
