//! Service validation (`ValidateService`, `ValidateServiceUpdate`).

use super::{Errs, arr, meta, q, s};
use knet_core::names;
use serde_json::Value;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
/// Longest ClientIP affinity timeout, seconds (one day).
const MAX_CLIENT_IP_TIMEOUT: i64 = 86400;

fn cluster_ip_list(spec: &Value) -> Vec<String> {
    arr(spec, "clusterIPs")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// The first ClusterIP a spec carries (`clusterIPs[0]`, else `clusterIP`).
fn primary_ip(spec: &Value) -> String {
    cluster_ip_list(spec)
        .first()
        .cloned()
        .unwrap_or_else(|| s(spec, "clusterIP").to_string())
}

pub(crate) fn validate(svc: &Value, old: Option<&Value>, errs: &mut Errs) {
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let ty = match s(spec, "type") {
        "" => "ClusterIP",
        t => t,
    };
    if !TYPES.contains(&ty) {
        errs.not_supported("spec.type", ty, TYPES);
    }
    let headless = primary_ip(spec) == "None";
    let ports = arr(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.required("spec.ports", "");
    }
    if ty == "ExternalName" {
        external_name(spec, old.and_then(|o| o.get("spec")), errs);
    }
    let old_spec = old.and_then(|o| o.get("spec"));
    ports_valid(ports, ty, &carried_node_ports(old_spec), errs);
    meta::labels(spec.get("selector"), "spec.selector", errs);
    affinity(spec, errs);
    traffic_policies(spec, ty, old_spec, errs);
    if ty != "ExternalName" {
        cluster_ip_fields(spec, errs);
    }
    if let Some(old) = old {
        immutable_ip(spec, old.get("spec").unwrap_or(&Value::Null), ty, errs);
    }
}

/// kube's `ValidateServiceClusterIPsRelatedFields`, with `clusterIPs`
/// normalised from `clusterIP` first as kube's strategy does.
fn cluster_ip_fields(spec: &Value, errs: &mut Errs) {
    let single = s(spec, "clusterIP");
    let mut ips = cluster_ip_list(spec);
    if !single.is_empty() && !ips.is_empty() && ips[0] != single {
        errs.invalid(
            "spec.clusterIPs",
            super::go_strings(&ips),
            "first value must match `clusterIP`",
        );
        return;
    }
    if ips.is_empty() && !single.is_empty() {
        ips.push(single.to_string());
    }
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                errs.invalid(
                    "spec.clusterIPs",
                    super::go_strings(&ips),
                    "'None' must be the first and only value",
                );
            }
            continue;
        }
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.invalid(
                &format!("spec.clusterIPs[{i}]"),
                q(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            );
        }
    }
    if ips.len() > 2 {
        errs.invalid(
            "spec.clusterIPs",
            super::go_strings(&ips),
            "may only hold up to 2 values",
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        let field = format!("spec.ipFamilies[{i}]");
        if f != "IPv4" && f != "IPv6" {
            errs.not_supported(&field, f, &["IPv4", "IPv6"]);
        }
        if seen.contains(&f) {
            errs.duplicate(&field, q(f));
        }
        seen.push(f);
    }
    let policy = s(spec, "ipFamilyPolicy");
    const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
    if !policy.is_empty() && !POLICIES.contains(&policy) {
        errs.not_supported("spec.ipFamilyPolicy", policy, POLICIES);
    }
}

fn external_name(spec: &Value, old: Option<&Value>, errs: &mut Errs) {
    // On a type change the allocator drops values still equal to the stored ones.
    let carried = |key: &str| old.is_some_and(|o| o.get(key) == spec.get(key));
    if !cluster_ip_list(spec).is_empty() && !carried("clusterIPs") {
        errs.forbidden(
            "spec.clusterIPs",
            "may not be set for ExternalName services",
        );
    }
    let name = s(spec, "externalName");
    let cname = name.strip_suffix('.').unwrap_or(name);
    if cname.is_empty() {
        errs.required("spec.externalName", "");
    } else {
        errs.each_invalid("spec.externalName", cname, names::dns1123_subdomain(cname));
    }
}

/// Go's `%#v` of the duplicated `core.ServicePort`.
fn go_service_port(p: &Value) -> String {
    let target = match p.get("targetPort") {
        Some(Value::String(name)) => {
            format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{name:?}}}")
        }
        Some(v) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            v.as_i64().unwrap_or(0)
        ),
        None => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    };
    format!(
        "core.ServicePort{{Name:{:?}, Protocol:{:?}, AppProtocol:(*string)(nil), Port:{}, TargetPort:{target}, NodePort:{}}}",
        s(p, "name"),
        s(p, "protocol"),
        p["port"].as_i64().unwrap_or(0),
        p["nodePort"].as_i64().unwrap_or(0),
    )
}

/// Node ports the stored Service holds: on a type change kube drops them
/// (when unchanged) before validating, and so does knet's allocator.
fn carried_node_ports(old: Option<&Value>) -> Vec<i64> {
    old.map(|o| {
        arr(o, "ports")
            .iter()
            .filter_map(|p| p["nodePort"].as_i64())
            .filter(|n| *n != 0)
            .collect()
    })
    .unwrap_or_default()
}

fn ports_valid(ports: &[Value], ty: &str, carried: &[i64], errs: &mut Errs) {
    let mut names_seen: Vec<&str> = Vec::new();
    let mut port_keys: Vec<(i64, &str)> = Vec::new();
    let mut node_keys: Vec<(i64, &str)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = s(p, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.required(&format!("{path}.name"), "");
        } else if !name.is_empty() {
            errs.each_invalid(&format!("{path}.name"), name, names::dns1123_label(name));
            if names_seen.contains(&name) {
                errs.duplicate(&format!("{path}.name"), q(name));
            }
            names_seen.push(name);
        }
        let port = p["port"].as_i64().unwrap_or(0);
        for m in names::port_number(port) {
            errs.invalid(&format!("{path}.port"), port, &m);
        }
        let proto = s(p, "protocol");
        if !PROTOCOLS.contains(&proto) {
            errs.not_supported(&format!("{path}.protocol"), proto, PROTOCOLS);
        }
        match p.get("targetPort") {
            Some(Value::String(tn)) => {
                errs.each_invalid(&format!("{path}.targetPort"), tn, names::port_name(tn))
            }
            Some(v) => {
                let tp = v.as_i64().unwrap_or(0);
                for m in names::port_number(tp) {
                    errs.invalid(&format!("{path}.targetPort"), tp, &m);
                }
            }
            None => {}
        }
        let node_port = p["nodePort"].as_i64().unwrap_or(0);
        if node_port != 0
            && (ty == "ClusterIP" || ty == "ExternalName")
            && !carried.contains(&node_port)
        {
            errs.forbidden(
                &format!("{path}.nodePort"),
                &format!("may not be used when `type` is '{ty}'"),
            );
        }
        if port_keys.contains(&(port, proto)) {
            errs.duplicate(&path, go_service_port(p));
        }
        port_keys.push((port, proto));
        if node_port != 0 {
            if node_keys.contains(&(node_port, proto)) {
                errs.duplicate(&format!("{path}.nodePort"), node_port);
            }
            node_keys.push((node_port, proto));
        }
    }
}

fn affinity(spec: &Value, errs: &mut Errs) {
    let affinity = s(spec, "sessionAffinity");
    match affinity {
        "" | "None" => {}
        "ClientIP" => {
            if let Some(t) = spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .and_then(Value::as_i64)
                .filter(|t| *t <= 0 || *t > MAX_CLIENT_IP_TIMEOUT)
            {
                errs.invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    &format!("must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"),
                );
            }
        }
        other => errs.not_supported("spec.sessionAffinity", other, &["ClientIP", "None"]),
    }
}

fn traffic_policies(spec: &Value, ty: &str, old: Option<&Value>, errs: &mut Errs) {
    let etp = s(spec, "externalTrafficPolicy");
    if !etp.is_empty() {
        if ty != "NodePort" && ty != "LoadBalancer" {
            errs.invalid(
                "spec.externalTrafficPolicy",
                q(etp),
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            );
        } else if etp != "Cluster" && etp != "Local" {
            errs.not_supported("spec.externalTrafficPolicy", etp, &["Cluster", "Local"]);
        }
    }
    let itp = s(spec, "internalTrafficPolicy");
    if !itp.is_empty() && itp != "Cluster" && itp != "Local" {
        errs.not_supported("spec.internalTrafficPolicy", itp, &["Cluster", "Local"]);
    }
    let hc = spec["healthCheckNodePort"].as_i64().unwrap_or(0);
    let carried = old.is_some_and(|o| o["healthCheckNodePort"].as_i64() == Some(hc));
    if hc != 0 && !(ty == "LoadBalancer" && etp == "Local") && !carried {
        errs.invalid(
            "spec.healthCheckNodePort",
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        );
    }
}

/// The primary ClusterIP may not change once set (ExternalName aside); an
/// update that leaves it out keeps the stored one.
fn immutable_ip(spec: &Value, old: &Value, ty: &str, errs: &mut Errs) {
    let old_ty = match s(old, "type") {
        "" => "ClusterIP",
        t => t,
    };
    if ty == "ExternalName" || old_ty == "ExternalName" {
        return;
    }
    let (new_ip, old_ip) = (primary_ip(spec), primary_ip(old));
    if old_ip.is_empty() || new_ip == old_ip {
        return;
    }
    let shown = super::go_strings(&cluster_ip_list(spec));
    if new_ip.is_empty() {
        if old_ip == "None" {
            errs.invalid(
                "spec.clusterIPs[0]",
                shown,
                "primary clusterIP can not be unset",
            );
        }
        return;
    }
    errs.invalid("spec.clusterIPs[0]", shown, "may not change once set");
}
