//! UDP: same port on TCP and UDP, and stale conntrack entries.

use serde_json::json;

use super::lab::{Lab, NODE, ready, slice, svc};

const VIP: &str = "10.96.0.53";

/// "should be able to update service type to NodePort listening on same port number but different protocols".
#[test]
fn same_port_tcp_and_udp() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let (t, u) = (lab.pod(2), lab.pod(3));
    lab.backend(&t, "tcp-be", &["http:8080"]);
    lab.backend(&u, "udp-be", &["udp:8080"]);
    let ports = &[("tcp", 80, "TCP"), ("udp", 80, "UDP")];
    let mut udp_slice = slice("both", &[("udp", 8080, "UDP")], &[ready(&u.ip, NODE)]);
    udp_slice["metadata"]["name"] = json!("both-udp");
    lab.sync(&[
        svc("both", VIP, ports, json!({})),
        slice("both", &[("tcp", 8080, "TCP")], &[ready(&t.ip, NODE)]),
        udp_slice,
    ]);
    assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "tcp-be");
    let answer = lab.udp(&client.ns, VIP, 80, None).expect("udp answer");
    assert_eq!(answer, format!("udp-be {}", client.ip));
}

/// Stale UDP conntrack: a client with a fixed source port moves to the new
/// endpoint right after the change (kube-proxy issues 19029, 48370).
#[test]
fn stale_udp_conntrack_removed() {
    let Some(mut lab) = Lab::new() else { return };
    let (first, second) = stale_udp(&mut lab);
    let first = first.expect("answer after endpoints appeared");
    assert!(first.starts_with("a "), "{first}");
    let second = second.expect("answer after endpoint change");
    assert!(
        second.starts_with("b "),
        "stale conntrack entry kept the old endpoint: {second}"
    );
}

/// Negative control: the same scenario without conntrack cleanup does get
/// stuck on the stale entries (so the test above can fail).
#[test]
fn stale_udp_conntrack_sticks_without_cleanup() {
    let Some(mut lab) = Lab::new() else { return };
    lab.start_proxy_without_conntrack_cleanup();
    let (first, second) = stale_udp(&mut lab);
    let stuck_at_none = first.is_none();
    let stuck_at_a = second.as_deref().is_none_or(|s| !s.starts_with("b "));
    assert!(
        stuck_at_none || stuck_at_a,
        "without cleanup the flows should stick: {first:?} {second:?}"
    );
}

/// none → some → replaced, with one fixed client port: the answers after the
/// endpoints appeared and after the endpoint was replaced.
fn stale_udp(lab: &mut Lab) -> (Option<String>, Option<String>) {
    let client = lab.pod(1);
    let (a, b) = (lab.pod(2), lab.pod(3));
    lab.backend(&a, "a", &["udp:5353"]);
    lab.backend(&b, "b", &["udp:5353"]);
    let ports = &[("dns", 53, "UDP")];
    let sport = Some(40000);
    // none → some: a flow created while the Service had no endpoints must not stick.
    lab.sync(&[
        svc("dns", VIP, ports, json!({})),
        slice("dns", &[("dns", 5353, "UDP")], &[]),
    ]);
    assert_eq!(
        lab.udp(&client.ns, VIP, 53, sport),
        None,
        "no endpoints: no answer"
    );
    lab.sync(&[
        svc("dns", VIP, ports, json!({})),
        slice("dns", &[("dns", 5353, "UDP")], &[ready(&a.ip, NODE)]),
    ]);
    let first = lab.udp(&client.ns, VIP, 53, sport);
    // endpoint replaced: the old flow is deleted, the same 5-tuple reaches b.
    let report = lab.sync(&[
        svc("dns", VIP, ports, json!({})),
        slice("dns", &[("dns", 5353, "UDP")], &[ready(&b.ip, NODE)]),
    ]);
    assert!(report.stale_flows > 0);
    let second = lab.udp(&client.ns, VIP, 53, sport);
    (first, second)
}
