//! Reading and normalising the allocation-related fields of a Service.

use serde_json::{Value, json};

/// `namespace/name`, for logs.
pub(super) fn full_name(svc: &Value) -> String {
    let ns = svc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = svc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{ns}/{name}")
}

/// `spec.type`, `ClusterIP` when unset.
pub(super) fn ty(svc: &Value) -> &str {
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        None | Some("") => "ClusterIP",
        Some(t) => t,
    }
}

fn str_field<'a>(svc: &'a Value, key: &str) -> &'a str {
    svc["spec"].get(key).and_then(Value::as_str).unwrap_or("")
}

fn ip_list(svc: &Value) -> Vec<String> {
    svc["spec"]
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the Service is headless (`clusterIP: None`).
pub(super) fn headless(svc: &Value) -> bool {
    str_field(svc, "clusterIP") == "None" || ip_list(svc).first().is_some_and(|ip| ip == "None")
}

/// Whether the Service gets ClusterIPs at all.
pub(super) fn needs_cluster_ip(svc: &Value) -> bool {
    ty(svc) != "ExternalName" && !headless(svc)
}

/// Whether its ports get NodePorts.
pub(super) fn needs_node_ports(svc: &Value) -> bool {
    match ty(svc) {
        "NodePort" => true,
        "LoadBalancer" => {
            svc.pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

/// Whether it gets a `healthCheckNodePort`.
pub(super) fn needs_health_check_port(svc: &Value) -> bool {
    ty(svc) == "LoadBalancer" && str_field(svc, "externalTrafficPolicy") == "Local"
}

/// The real addresses the Service holds (not `None`, not empty).
pub(super) fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut ips = ip_list(svc);
    if ips.is_empty() {
        ips.push(str_field(svc, "clusterIP").to_string());
    }
    ips.retain(|ip| !ip.is_empty() && ip != "None");
    ips
}

fn port_of(v: Option<&Value>) -> Option<u16> {
    v.and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .and_then(|p| u16::try_from(p).ok())
}

/// Every NodePort it holds, health-check port included.
pub(super) fn node_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = svc["spec"]
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| port_of(p.get("nodePort")))
        .collect();
    out.extend(port_of(svc["spec"].get("healthCheckNodePort")));
    out.sort_unstable();
    out.dedup();
    out
}

fn remove(spec: &mut Value, key: &str) {
    if let Some(m) = spec.as_object_mut() {
        m.remove(key);
    }
}

/// kube's `dropTypeDependentFields`: on a type change, fields the new type
/// may not carry are cleared when they still hold the old, allocated values.
pub(super) fn drop_type_dependent(svc: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && !needs_cluster_ip(svc) && !headless(svc) {
        let same_ip = str_field(svc, "clusterIP") == str_field(old, "clusterIP");
        let same_ips = svc["spec"].get("clusterIPs") == old["spec"].get("clusterIPs");
        let spec = &mut svc["spec"];
        if same_ip {
            remove(spec, "clusterIP");
        }
        if same_ips {
            remove(spec, "clusterIPs");
        }
    }
    if needs_node_ports(old) && !needs_node_ports(svc) {
        let old_ports: Vec<Option<u16>> = old["spec"]["ports"]
            .as_array()
            .map(|a| a.iter().map(|p| port_of(p.get("nodePort"))).collect())
            .unwrap_or_default();
        if let Some(ports) = svc["spec"].get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                let np = port_of(p.get("nodePort"));
                if np.is_some() && old_ports.contains(&np) {
                    remove(p, "nodePort");
                }
            }
        }
    }
    if needs_health_check_port(old) && !needs_health_check_port(svc) {
        let same = svc["spec"].get("healthCheckNodePort") == old["spec"].get("healthCheckNodePort");
        if same {
            remove(&mut svc["spec"], "healthCheckNodePort");
        }
    }
}

/// kube's `patchAllocatedValues`: values an update left out are taken from
/// the stored object when both sides need them (ClusterIPs; NodePorts by
/// port name, unless reused; the health-check port).
pub(super) fn patch_allocated(svc: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(svc) {
        if str_field(svc, "clusterIP").is_empty() && !str_field(old, "clusterIP").is_empty() {
            svc["spec"]["clusterIP"] = json!(str_field(old, "clusterIP"));
        }
        if ip_list(svc).is_empty() && !ip_list(old).is_empty() {
            svc["spec"]["clusterIPs"] = json!(ip_list(old));
        }
    }
    if needs_node_ports(old) && needs_node_ports(svc) {
        let by_name: Vec<(String, u16)> = old["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["name"].as_str().unwrap_or("").to_string(),
                    port_of(p.get("nodePort"))?,
                ))
            })
            .collect();
        let used: Vec<u16> = node_ports(svc);
        if let Some(ports) = svc["spec"].get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                if port_of(p.get("nodePort")).is_some() {
                    continue;
                }
                let name = p["name"].as_str().unwrap_or("");
                if let Some((_, np)) = by_name.iter().find(|(n, _)| n == name)
                    && !used.contains(np)
                {
                    p["nodePort"] = json!(np);
                }
            }
        }
    }
    if needs_health_check_port(old)
        && needs_health_check_port(svc)
        && port_of(svc["spec"].get("healthCheckNodePort")).is_none()
        && let Some(hc) = port_of(old["spec"].get("healthCheckNodePort"))
    {
        svc["spec"]["healthCheckNodePort"] = json!(hc);
    }
}
