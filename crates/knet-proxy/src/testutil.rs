//! Builders of Services and EndpointSlices for unit tests.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

/// A ClusterIP Service `ns/name` with `ports` (name, port, protocol) and extra `spec` fields.
pub(crate) fn service(
    ns: &str,
    name: &str,
    ip: &str,
    ports: &[(&str, u16, &str)],
    extra: Value,
) -> Service {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto, "targetPort": p}))
        .collect();
    let mut spec =
        json!({"clusterIP": ip, "clusterIPs": [ip], "ports": ports, "type": "ClusterIP"});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
        .expect("valid Service")
}

/// One endpoint: (ip, node, ready, serving, terminating).
pub(crate) type Ep<'a> = (&'a str, &'a str, bool, bool, bool);

/// An IPv4 EndpointSlice for Service `ns/name` with the given ports and endpoints.
pub(crate) fn slice(
    ns: &str,
    name: &str,
    ports: &[(&str, u16, &str)],
    eps: &[Ep<'_>],
) -> EndpointSlice {
    let fam = if eps.first().is_some_and(|e| e.0.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
        .collect();
    let eps: Vec<Value> = eps
        .iter()
        .map(|(ip, node, ready, serving, term)| {
            json!({"addresses": [ip], "nodeName": node,
                   "conditions": {"ready": ready, "serving": serving, "terminating": term}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": format!("{name}-abc"),
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": fam, "ports": ports, "endpoints": eps
    }))
    .expect("valid EndpointSlice")
}

/// A ready endpoint on `node`.
pub(crate) fn ready<'a>(ip: &'a str, node: &'a str) -> Ep<'a> {
    (ip, node, true, true, false)
}
