//! Traffic policies, terminating fallback and session affinity.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::lab::{Lab, NODE, NODE_IP, ready, slice, svc};

const VIP: &str = "10.96.0.40";
const P80: &[(&str, u16, &str)] = &[("", 80, "TCP")];
const P8080: &[(&str, u16, &str)] = &[("", 8080, "TCP")];

fn hits(lab: &Lab, ns: &str, addr: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| lab.hit(ns, addr)).collect()
}

/// "should respect internalTrafficPolicy=Local Pod to Pod": local endpoint
/// used exclusively; without one the Service drops.
#[test]
fn internal_traffic_policy_local() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let (local, remote) = (lab.pod(2), lab.pod(3));
    lab.backend(&local, "local", &["http:8080"]);
    lab.backend(&remote, "remote", &["http:8080"]);
    let service = svc("itp", VIP, P80, json!({"internalTrafficPolicy": "Local"}));
    lab.sync(&[
        service.clone(),
        slice(
            "itp",
            P8080,
            &[ready(&local.ip, NODE), ready(&remote.ip, "node-b")],
        ),
    ]);
    assert_eq!(
        hits(&lab, &client.ns, &format!("{VIP}:80"), 12),
        BTreeSet::from(["local".to_string()])
    );
    lab.sync(&[service, slice("itp", P8080, &[ready(&remote.ip, "node-b")])]);
    let err = lab
        .curl(&client.ns, &format!("{VIP}:80"))
        .expect_err("remote-only endpoint used");
    assert_eq!(err.0, 28, "dropped (timeout), not refused: {err:?}");
}

/// "should fallback to terminating endpoints when there are no ready endpoints"
/// (internalTrafficPolicy Cluster and Local).
#[test]
fn fallback_to_terminating_endpoints() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let serving_terminating = [(be.ip.as_str(), NODE, false, true, true)];
    for itp in ["Cluster", "Local"] {
        let service = svc("ft", VIP, P80, json!({"internalTrafficPolicy": itp}));
        lab.sync(&[service.clone(), slice("ft", P8080, &serving_terminating)]);
        assert_eq!(lab.hit(&client.ns, &format!("{VIP}:80")), "be", "{itp}");
        let not_serving = [(be.ip.as_str(), NODE, false, false, true)];
        lab.sync(&[service, slice("ft", P8080, &not_serving)]);
        assert!(
            lab.curl(&client.ns, &format!("{VIP}:80")).is_err(),
            "{itp}: non-serving endpoint used"
        );
    }
}

fn affinity_service(on: bool, timeout: u32) -> serde_json::Value {
    let mut spec =
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30090, "protocol": "TCP"}]});
    if on {
        spec["sessionAffinity"] = json!("ClientIP");
        spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": timeout}});
    }
    svc("aff", VIP, &[], spec)
}

fn three_backends(lab: &mut Lab) -> serde_json::Value {
    let mut ips = Vec::new();
    for k in 2..=4 {
        let pod = lab.pod(k);
        lab.backend(&pod, &format!("be-{k}"), &["http:8080"]);
        ips.push(pod.ip);
    }
    let eps: Vec<_> = ips.iter().map(|ip| ready(ip, NODE)).collect();
    slice("aff", P8080, &eps)
}

/// "should have session affinity work for service with type clusterIP / NodePort"
/// and "should be able to switch session affinity" (on → off → on).
#[test]
fn session_affinity_cluster_ip_nodeport_and_switch() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let other = lab.other_node();
    let eps = three_backends(&mut lab);
    lab.sync(&[affinity_service(true, 10800), eps.clone()]);
    assert_eq!(
        hits(&lab, &client.ns, &format!("{VIP}:80"), 15).len(),
        1,
        "ClusterIP affinity"
    );
    assert_eq!(
        hits(&lab, &other, &format!("{NODE_IP}:30090"), 15).len(),
        1,
        "NodePort affinity"
    );
    lab.sync(&[affinity_service(false, 0), eps.clone()]);
    assert!(
        hits(&lab, &client.ns, &format!("{VIP}:80"), 30).len() > 1,
        "affinity off still sticky"
    );
    lab.sync(&[affinity_service(true, 10800), eps]);
    assert_eq!(
        hits(&lab, &client.ns, &format!("{VIP}:80"), 15).len(),
        1,
        "affinity back on"
    );
}

/// "should have session affinity timeout work": after the timeout a client may land elsewhere.
#[test]
fn session_affinity_timeout() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let eps = three_backends(&mut lab);
    lab.sync(&[affinity_service(true, 1), eps]);
    let mut seen = BTreeSet::new();
    for _ in 0..8 {
        seen.insert(lab.hit(&client.ns, &format!("{VIP}:80")));
        std::thread::sleep(Duration::from_millis(1600));
        if seen.len() > 1 {
            break;
        }
    }
    assert!(seen.len() > 1, "affinity never expired: {seen:?}");
}
