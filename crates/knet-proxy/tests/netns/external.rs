//! NodePort, externalIP, LoadBalancer source ranges and health-check node ports.

use std::sync::Arc;

use knet_proxy::apply::Netns;
use serde_json::json;
use tokio::sync::watch;

use super::lab::{Lab, NODE, NODE_IP, ready, slice, state, svc};

const VIP: &str = "10.96.0.30";
const P8080: &[(&str, u16, &str)] = &[("", 8080, "TCP")];

fn nodeport(np: u16, extra: serde_json::Value) -> serde_json::Value {
    let mut spec =
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": np, "protocol": "TCP"}]});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    svc("np", VIP, &[], spec)
}

/// "should be able to create a functioning NodePort service": from another node,
/// via the node's address; the backend sees the node (masquerade).
#[test]
fn nodeport_from_another_node() {
    let Some(mut lab) = Lab::new() else { return };
    let other = lab.other_node();
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    lab.sync(&[
        nodeport(30080, json!({})),
        slice("np", P8080, &[ready(&be.ip, NODE)]),
    ]);
    let body = lab
        .curl(&other, &format!("{NODE_IP}:30080"))
        .expect("NodePort reachable from another node");
    assert_eq!(body, "be 10.244.2.1", "external traffic is masqueraded");
    assert_eq!(
        lab.hit(&client.ns, &format!("{VIP}:80")),
        "be",
        "ClusterIP of a NodePort Service"
    );
    assert!(
        lab.curl(&other, &format!("{NODE_IP}:30081")).is_err(),
        "other ports stay closed"
    );
}

/// "should be possible to connect to a service via ExternalIP when the external IP is not assigned to a node".
#[test]
fn external_ip_not_on_any_node() {
    let Some(mut lab) = Lab::new() else { return };
    let other = lab.other_node();
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let service = svc(
        "np",
        VIP,
        &[("", 80, "TCP")],
        json!({"externalIPs": ["192.0.2.50"]}),
    );
    lab.sync(&[service, slice("np", P8080, &[ready(&be.ip, NODE)])]);
    assert_eq!(lab.hit(&other, "192.0.2.50:80"), "be");
}

/// loadBalancerSourceRanges: only listed sources reach the LB address.
#[test]
fn load_balancer_source_ranges() {
    let Some(mut lab) = Lab::new() else { return };
    let other = lab.other_node();
    let client = lab.pod(1);
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let mut service = nodeport(
        30080,
        json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["192.168.77.0/24"]}),
    );
    service["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}});
    lab.sync(&[service, slice("np", P8080, &[ready(&be.ip, NODE)])]);
    assert_eq!(lab.hit(&other, "198.51.100.7:80"), "be", "allowed source");
    assert!(
        lab.curl(&client.ns, "198.51.100.7:80").is_err(),
        "source outside the ranges got through"
    );
}

/// "should fail health check node port if there are only terminating endpoints":
/// 200 → 503 while the NodePort still serves (externalTrafficPolicy Local).
#[test]
fn health_check_node_port_503_with_only_terminating() {
    let Some(mut lab) = Lab::new() else { return };
    let other = lab.other_node();
    let be = lab.pod(2);
    lab.backend(&be, "be", &["http:8080"]);
    let service = nodeport(
        30080,
        json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 32100}),
    );
    let serving = [ready(&be.ip, NODE)];
    let terminating = [(be.ip.as_str(), NODE, false, true, true)];
    let objs = [service.clone(), slice("np", P8080, &serving)];
    lab.sync(&objs);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = watch::channel(Arc::new(state(&objs)));
    let metrics = lab.metrics.clone();
    rt.spawn(knet_proxy::serve::run_health_checks(
        Netns::named(&lab.node),
        rx,
        metrics,
    ));
    let hc = format!("http://{NODE_IP}:32100/");
    let (code, body) = http_get(&other, &hc);
    assert_eq!(code, "200", "{body}");
    assert_eq!(
        body,
        r#"{"service":{"namespace":"default","name":"np"},"localEndpoints":1,"serviceProxyHealthy":true}"#
    );
    let objs = [service, slice("np", P8080, &terminating)];
    lab.sync(&objs);
    tx.send_replace(Arc::new(state(&objs)));
    let mut last = (String::new(), String::new());
    for _ in 0..20 {
        last = http_get(&other, &hc);
        if last.0 == "503" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(last.0, "503", "{last:?}");
    assert!(last.1.contains(r#""localEndpoints":0"#), "{last:?}");
    assert_eq!(
        lab.hit(&other, &format!("{NODE_IP}:30080")),
        "be",
        "terminating endpoint still serves the NodePort"
    );
    drop(rt);
}

/// GET `url` from namespace `ns`, retrying until something answers: (status, body).
fn http_get(ns: &str, url: &str) -> (String, String) {
    for _ in 0..50 {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                url,
            ])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        match text.rsplit_once('\n') {
            Some((body, code)) if code != "000" => return (code.to_string(), body.to_string()),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    panic!("{url} never answered from {ns}");
}
