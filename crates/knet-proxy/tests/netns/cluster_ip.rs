//! ClusterIP behaviours.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::lab::{Lab, NODE, ready, slice, svc};

const VIP: &str = "10.96.0.20";
const P80: &[(&str, u16, &str)] = &[("", 80, "TCP")];
const P8080: &[(&str, u16, &str)] = &[("", 8080, "TCP")];

fn counts(lab: &Lab, ns: &str, addr: &str, n: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        *out.entry(lab.hit(ns, addr)).or_default() += 1;
    }
    out
}

/// Seed 003 + "should serve a basic endpoint from pods": 30 curls reach all three.
#[test]
fn thirty_curls_reach_all_three_backends() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let mut eps = Vec::new();
    for k in 2..=4 {
        let pod = lab.pod(k);
        lab.backend(&pod, &format!("web-{k}"), &["http:8080"]);
        eps.push(pod.ip);
    }
    let eps: Vec<_> = eps.iter().map(|ip| ready(ip, NODE)).collect();
    lab.sync(&[svc("web", VIP, P80, json!({})), slice("web", P8080, &eps)]);
    let seen = counts(&lab, &client.ns, &format!("{VIP}:80"), 30);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["web-2", "web-3", "web-4"],
        "{seen:?}"
    );
}

/// "should serve multiport endpoints from pods".
#[test]
fn multiport_endpoints() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let (a, b) = (lab.pod(2), lab.pod(3));
    lab.backend(&a, "a", &["http:8080"]);
    lab.backend(&b, "b", &["http:9090"]);
    let ports = &[("http", 80, "TCP"), ("alt", 81, "TCP")];
    lab.sync(&[
        svc("multi", VIP, ports, json!({})),
        slice("multi", &[("http", 8080, "TCP")], &[ready(&a.ip, NODE)]),
        {
            let mut s = slice("multi", &[("alt", 9090, "TCP")], &[ready(&b.ip, NODE)]);
            s["metadata"]["name"] = json!("multi-y");
            s
        },
    ]);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "a");
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:81")), "b");
}

/// "should be updated after adding or deleting ports", and unknown ports are refused.
#[test]
fn ports_added_and_removed() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080", "http:8081"]);
    let one = &[("a", 80, "TCP")];
    let two = &[("a", 80, "TCP"), ("b", 81, "TCP")];
    let eps = [ready(&be.ip, NODE)];
    lab.sync(&[
        svc("p", VIP, one, json!({})),
        slice("p", &[("a", 8080, "TCP")], &eps),
    ]);
    let refused = lab
        .curl(&client.ns, &format!("{VIP}:81"))
        .expect_err("port 81 not yet a Service port");
    assert_eq!(
        refused.0, 7,
        "unknown ClusterIP port must be refused, got {refused:?}"
    );
    lab.sync(&[
        svc("p", VIP, two, json!({})),
        slice("p", &[("a", 8080, "TCP"), ("b", 8081, "TCP")], &eps),
    ]);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:81")), "be");
    lab.sync(&[
        svc("p", VIP, one, json!({})),
        slice("p", &[("a", 8080, "TCP")], &eps),
    ]);
    assert!(
        lab.curl(&client.ns, &format!("{VIP}:81")).is_err(),
        "removed port still answers"
    );
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "be");
}

/// "should preserve source pod IP for traffic thru service cluster IP".
#[test]
fn source_pod_ip_preserved() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    lab.sync(&[
        svc("src", VIP, P80, json!({})),
        slice("src", P8080, &[ready(&be.ip, NODE)]),
    ]);
    let body = lab
        .curl(&client.ns, &format!("{VIP}:80"))
        .expect("reachable");
    assert_eq!(body, format!("be {}", client.ip));
}

/// "should allow pods to hairpin back to themselves through services".
#[test]
fn hairpin_is_masqueraded() {
    let Some(mut lab) = Lab::new() else { return };
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    lab.sync(&[
        svc("hp", VIP, P80, json!({})),
        slice("hp", P8080, &[ready(&be.ip, NODE)]),
    ]);
    let body = lab
        .curl(&be.ns, &format!("{VIP}:80"))
        .expect("hairpin works");
    assert_eq!(
        body, "be 10.244.2.1",
        "hairpin traffic is masqueraded to the node's address"
    );
}

/// "should be rejected when no endpoints exist": refused at once, not a timeout.
#[test]
fn no_endpoints_refused_at_once() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    lab.sync(&[
        svc("empty", VIP, P80, json!({})),
        slice("empty", P8080, &[]),
    ]);
    let (code, took) = lab
        .curl(&client.ns, &format!("{VIP}:80"))
        .expect_err("no endpoints");
    assert_eq!(code, 7, "curl: connection refused");
    assert!(took < Duration::from_millis(1000), "refusal took {took:?}");
}

/// "should be able to up and down services" and "should work after the service has been recreated".
#[test]
fn services_up_down_and_recreated() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let objs = [
        svc("ud", VIP, P80, json!({})),
        slice("ud", P8080, &[ready(&be.ip, NODE)]),
    ];
    lab.sync(&objs);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "be");
    lab.sync(&[]);
    let gone = lab.curl(&client.ns, &format!("{VIP}:80"));
    assert!(gone.is_err(), "deleted Service still answers: {gone:?}");
    lab.sync(&objs);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "be");
}

/// "should implement service.kubernetes.io/service-proxy-name" and "…/headless": toggling flips reachability.
#[test]
fn proxy_name_and_headless_labels_toggle() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let eps = slice("lbl", P8080, &[ready(&be.ip, NODE)]);
    for label in [
        "service.kubernetes.io/service-proxy-name",
        "service.kubernetes.io/headless",
    ] {
        let mut labelled = svc("lbl", VIP, P80, json!({}));
        labelled["metadata"]["labels"] = json!({ label: "foo" });
        lab.sync(&[labelled, eps.clone()]);
        assert!(
            lab.curl(&client.ns, &format!("{VIP}:80")).is_err(),
            "{label}: labelled Service reachable"
        );
        lab.sync(&[svc("lbl", VIP, P80, json!({})), eps.clone()]);
        assert_eq!(
            lab.hit(&client.ns, &format!("{VIP}:80")),
            "be",
            "{label} removed"
        );
    }
}

/// "should (not) be able to connect to … unready endpoints if PublishNotReadyAddresses is true/false":
/// the EndpointSlice controller marks such endpoints ready; the proxy follows the condition.
#[test]
fn publish_not_ready_follows_slice_conditions() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let unready = (be.ip.as_str(), NODE, false, false, false);
    lab.sync(&[
        svc("pn", VIP, P80, json!({})),
        slice("pn", P8080, &[unready]),
    ]);
    assert!(
        lab.curl(&client.ns, &format!("{VIP}:80")).is_err(),
        "unready endpoint used"
    );
    let published = (be.ip.as_str(), NODE, true, false, false);
    lab.sync(&[
        svc("pn", VIP, P80, json!({"publishNotReadyAddresses": true})),
        slice("pn", P8080, &[published]),
    ]);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "be");
}

/// "should work after restarting kube-proxy": a new proxy replaces the table
/// atomically and an established connection keeps working.
#[test]
fn proxy_restart_keeps_established_connection() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["echo:9000", "http:8080"]);
    let objs = [
        svc(
            "rs",
            VIP,
            &[("echo", 9000, "TCP"), ("http", 80, "TCP")],
            json!({}),
        ),
        slice(
            "rs",
            &[("echo", 9000, "TCP"), ("http", 8080, "TCP")],
            &[ready(&be.ip, NODE)],
        ),
    ];
    lab.sync(&objs);
    let child = lab.echo_client(&client.ns, VIP, 9000);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    writeln!(stdin, "one").unwrap();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "be one");
    lab.start_proxy();
    let report = lab.sync(&objs);
    assert!(report.full, "a restarted proxy replaces the table");
    writeln!(stdin, "two").unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "be two",
        "established connection broke across the restart"
    );
    assert_eq!(
        lab.hit(&client.ns, &format!("{VIP}:80")),
        "be",
        "new connections work after restart"
    );
}

/// Dual-stack: an IPv6 ClusterIP is balanced by the `ip6` table; an IPv6
/// Service without endpoints is refused at once too.
#[test]
fn ipv6_cluster_ip() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be6", &["http:8080"]);
    let v6 = "fd00:96::20";
    lab.sync(&[
        svc("v6", v6, P80, json!({"ipFamilies": ["IPv6"]})),
        slice("v6", P8080, &[ready(&be.ip6, NODE)]),
        svc(
            "v6-empty",
            "fd00:96::21",
            P80,
            json!({"ipFamilies": ["IPv6"]}),
        ),
    ]);
    // Wait for IPv6 neighbour discovery between the pods and the node to settle.
    let direct = format!("[{}]:8080", be.ip6);
    let ready = (0..30).any(|_| {
        lab.curl(&client.ns, &direct).is_ok() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(ready, "backend never reachable directly over IPv6");
    let body = lab
        .curl(&client.ns, &format!("[{v6}]:80"))
        .unwrap_or_else(|e| {
            let rules =
                super::lab::run(&["ip", "netns", "exec", &lab.node, "nft", "list", "ruleset"]);
            panic!("IPv6 ClusterIP unreachable: {e:?}\n{rules}")
        });
    assert_eq!(body, format!("be6 {}", client.ip6));
    let (code, took) = lab
        .curl(&client.ns, "[fd00:96::21]:80")
        .expect_err("no endpoints");
    assert_eq!(code, 7, "refused");
    assert!(took < Duration::from_millis(1000), "refusal took {took:?}");
}
