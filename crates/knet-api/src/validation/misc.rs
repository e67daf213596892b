//! Endpoints, EndpointSlices and ConfigMaps.

use super::{Errs, arr, q, s};
use knet_core::names;
use serde_json::Value;
use std::net::IpAddr;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

fn port_common(p: &Value, path: &str, errs: &mut Errs) {
    let port = p["port"].as_i64().unwrap_or(0);
    for m in names::port_number(port) {
        errs.invalid(&format!("{path}.port"), port, &m);
    }
    let proto = s(p, "protocol");
    if !PROTOCOLS.contains(&proto) {
        errs.not_supported(&format!("{path}.protocol"), proto, PROTOCOLS);
    }
    let name = s(p, "name");
    if !name.is_empty() {
        errs.each_invalid(&format!("{path}.name"), name, names::dns1123_label(name));
    }
}

pub(crate) fn endpoints(ep: &Value, errs: &mut Errs) {
    for (i, ss) in arr(ep, "subsets").iter().enumerate() {
        for key in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(ss, key).iter().enumerate() {
                let ip = s(a, "ip");
                if ip.parse::<IpAddr>().is_err() {
                    errs.invalid(&format!("subsets[{i}].{key}[{j}].ip"), q(ip), IP_MSG);
                }
            }
        }
        let ports = arr(ss, "ports");
        for (j, p) in ports.iter().enumerate() {
            let path = format!("subsets[{i}].ports[{j}]");
            if ports.len() > 1 && s(p, "name").is_empty() {
                errs.required(&format!("{path}.name"), "");
            }
            port_common(p, &path, errs);
        }
    }
}

pub(crate) fn endpoint_slice(es: &Value, errs: &mut Errs) {
    let ty = s(es, "addressType");
    if ty.is_empty() {
        errs.required("addressType", "");
    } else if !ADDRESS_TYPES.contains(&ty) {
        errs.not_supported("addressType", ty, ADDRESS_TYPES);
    }
    for (i, e) in arr(es, "endpoints").iter().enumerate() {
        let addrs = arr(e, "addresses");
        if addrs.is_empty() {
            errs.required(
                &format!("endpoints[{i}].addresses"),
                "must contain at least 1 address",
            );
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let field = format!("endpoints[{i}].addresses[{j}]");
            let ok = match (ty, a.parse::<IpAddr>()) {
                ("IPv4", Ok(ip)) => ip.is_ipv4(),
                ("IPv6", Ok(ip)) => ip.is_ipv6(),
                ("FQDN", _) => names::dns1123_subdomain(a).is_empty(),
                _ => false,
            };
            if !ok {
                let detail = match ty {
                    "IPv4" => "must be a valid IPv4 address",
                    "IPv6" => "must be a valid IPv6 address",
                    _ => "must be a valid DNS subdomain",
                };
                errs.invalid(&field, q(a), detail);
            }
        }
    }
    for (i, p) in arr(es, "ports").iter().enumerate() {
        let path = format!("ports[{i}]");
        if p.get("port").is_some_and(|v| !v.is_null()) {
            port_common(p, &path, errs);
        } else {
            let proto = s(p, "protocol");
            if !proto.is_empty() && !PROTOCOLS.contains(&proto) {
                errs.not_supported(&format!("{path}.protocol"), proto, PROTOCOLS);
            }
        }
    }
}

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

pub(crate) fn config_map(cm: &Value, errs: &mut Errs) {
    for field in ["data", "binaryData"] {
        let Some(m) = cm.get(field).and_then(Value::as_object) else {
            continue;
        };
        for k in m.keys() {
            let valid = !k.is_empty()
                && k.len() <= 253
                && k.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
                && k != "."
                && k != ".."
                && !k.starts_with("..");
            if !valid {
                errs.invalid(&format!("{field}[{k}]"), q(k), CONFIG_KEY_MSG);
            }
        }
    }
}
