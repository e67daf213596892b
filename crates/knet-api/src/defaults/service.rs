//! Service defaults: type, ports, session affinity, traffic policies, and
//! the IP family fields kube-apiserver's Service REST layer fills in.

use super::{child, items, set, unset};
use serde_json::{Value, json};

/// Default ClientIP session stickiness, seconds (3 hours).
pub(crate) const CLIENT_IP_TIMEOUT: i64 = 10800;

pub(crate) fn defaults(svc: &mut Value) {
    let spec = child(svc, "spec");
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    if spec["sessionAffinity"] == "None" {
        if let Some(m) = spec.as_object_mut() {
            m.remove("sessionAffinityConfig");
        }
    } else if spec["sessionAffinity"] == "ClientIP" {
        let client = child(child(spec, "sessionAffinityConfig"), "clientIP");
        set(client, "timeoutSeconds", json!(CLIENT_IP_TIMEOUT));
    }
    for port in items(spec, "ports") {
        set(port, "protocol", json!("TCP"));
        let target_unset = match port.get("targetPort") {
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            other => unset(other),
        };
        if target_unset {
            port["targetPort"] = port.get("port").cloned().unwrap_or(Value::Null);
        }
    }
    let ty = spec["type"].as_str().unwrap_or_default().to_string();
    if ty == "NodePort" || ty == "LoadBalancer" {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty != "ExternalName" {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    ip_families(spec, &ty);
    if svc.get("status").is_none_or(Value::is_null) {
        svc["status"] = json!({"loadBalancer": {}});
    }
}

/// The family of an address string, if it parses.
fn family_of(ip: &str) -> Option<&'static str> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(_) => Some("IPv4"),
        std::net::IpAddr::V6(_) => Some("IPv6"),
    }
}

/// `ipFamilyPolicy` and `ipFamilies`: ExternalName has none; headless
/// without a selector gets RequireDualStack; everything else SingleStack.
/// Families come from the requested ClusterIPs; otherwise the allocator
/// fills in the cluster's family (it alone knows the Service CIDR).
fn ip_families(spec: &mut Value, ty: &str) {
    if ty == "ExternalName" {
        if let Some(m) = spec.as_object_mut() {
            m.remove("ipFamilies");
            m.remove("ipFamilyPolicy");
        }
        return;
    }
    let cluster_ip = spec["clusterIP"].as_str().unwrap_or_default().to_string();
    let headless = cluster_ip == "None";
    let has_selector = spec
        .get("selector")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    let policy = if headless && !has_selector {
        "RequireDualStack"
    } else {
        "SingleStack"
    };
    set(spec, "ipFamilyPolicy", json!(policy));
    let has_families = spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_families {
        return;
    }
    let from_ips: Vec<Value> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|ip| ip.as_str().and_then(family_of))
                .map(|f| json!(f))
                .collect()
        })
        .unwrap_or_default();
    let from_ip = family_of(&cluster_ip).map(|f| json!([f]));
    if !from_ips.is_empty() {
        spec["ipFamilies"] = Value::Array(from_ips);
    } else if let Some(f) = from_ip {
        spec["ipFamilies"] = f;
    }
}
