//! Rows for core/v1 kinds other than pods, and for the networking,
//! discovery and coordination kinds.

use super::format::{
    NONE, arr_at, format_label_selector, format_labels, int_at, list_with_more, since, str_at,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::SystemTime;

fn name(obj: &Value) -> Value {
    json!(str_at(obj, "/metadata/name"))
}

fn age(obj: &Value, now: SystemTime) -> Value {
    json!(since(&obj["metadata"]["creationTimestamp"], now))
}

/// LB ingress IPs (or hostnames), de-duplicated and sorted.
fn lb_ingress(ingress: &[Value]) -> Vec<String> {
    let set: BTreeSet<String> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, "/ip");
            let host = str_at(i, "/hostname");
            if !ip.is_empty() {
                Some(ip.to_string())
            } else if !host.is_empty() {
                Some(host.to_string())
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect()
}

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<String> = arr_at(svc, "/spec/externalIPs")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    match str_at(svc, "/spec/type") {
        "ClusterIP" | "NodePort" | "" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" | "" => NONE.into(),
        "LoadBalancer" => {
            let mut all = lb_ingress(arr_at(svc, "/status/loadBalancer/ingress"));
            if all.is_empty() && external.is_empty() {
                return "<pending>".into();
            }
            all.extend(external);
            all.join(",")
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_ports(svc: &Value) -> String {
    let pieces: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "/port");
            let proto = str_at(p, "/protocol");
            match int_at(p, "/nodePort") {
                n if n > 0 => format!("{port}:{n}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    if pieces.is_empty() {
        NONE.into()
    } else {
        pieces.join(",")
    }
}

/// NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
pub(crate) fn service(svc: &Value, now: SystemTime) -> Vec<Value> {
    let cluster_ip = arr_at(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or(NONE);
    vec![
        name(svc),
        json!(str_at(svc, "/spec/type")),
        json!(cluster_ip),
        json!(service_external_ip(svc)),
        json!(service_ports(svc)),
        age(svc, now),
        json!(format_labels(svc.pointer("/spec/selector"))),
    ]
}

/// kube's `formatEndpoints`: `ip:port` per address and port, max three.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, "/subsets");
    if subsets.is_empty() {
        return NONE.into();
    }
    let mut all = Vec::new();
    for ss in subsets {
        let addrs = arr_at(ss, "/addresses");
        let ports = arr_at(ss, "/ports");
        if ports.is_empty() {
            all.extend(addrs.iter().map(|a| str_at(a, "/ip").to_string()));
            continue;
        }
        for p in ports {
            let port = int_at(p, "/port");
            for a in addrs {
                let ip = str_at(a, "/ip");
                all.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    if all.is_empty() {
        return String::new();
    }
    list_with_more(&all)
}

/// NAME ENDPOINTS AGE
pub(crate) fn endpoints(ep: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(ep), json!(format_endpoints(ep)), age(ep, now)]
}

/// NAME ADDRESSTYPE PORTS ENDPOINTS AGE
pub(crate) fn endpoint_slice(es: &Value, now: SystemTime) -> Vec<Value> {
    let ports: Vec<String> = arr_at(es, "/ports")
        .iter()
        .map(|p| {
            match (
                p.get("port").and_then(Value::as_i64),
                p.get("name").and_then(Value::as_str),
            ) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => n.to_string(),
                _ => "*".into(),
            }
        })
        .collect();
    let addrs: Vec<String> = arr_at(es, "/endpoints")
        .iter()
        .flat_map(|e| arr_at(e, "/addresses").iter())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    vec![
        name(es),
        json!(str_at(es, "/addressType")),
        json!(list_with_more(&ports)),
        json!(list_with_more(&addrs)),
        age(es, now),
    ]
}

fn node_status(node: &Value) -> String {
    let mut status: Vec<String> = arr_at(node, "/status/conditions")
        .iter()
        .rfind(|c| str_at(c, "/type") == "Ready")
        .map(|c| {
            if str_at(c, "/status") == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        })
        .into_iter()
        .map(String::from)
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    status.join(",")
}

fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
                roles.insert(v.as_str().unwrap_or_default().to_string());
            }
        }
    }
    if roles.is_empty() {
        NONE.into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, ty: &str) -> String {
    arr_at(node, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == ty)
        .map(|a| str_at(a, "/address").to_string())
        .unwrap_or_else(|| NONE.into())
}

fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "<unknown>".into()
    } else {
        s.into()
    }
}

/// NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME
pub(crate) fn node(node: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(node),
        json!(node_status(node)),
        json!(node_roles(node)),
        age(node, now),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(or_unknown(str_at(node, "/status/nodeInfo/osImage"))),
        json!(or_unknown(str_at(node, "/status/nodeInfo/kernelVersion"))),
        json!(or_unknown(str_at(
            node,
            "/status/nodeInfo/containerRuntimeVersion"
        ))),
    ]
}

/// NAME STATUS AGE
pub(crate) fn namespace(ns: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(ns), json!(str_at(ns, "/status/phase")), age(ns, now)]
}

fn count(obj: &Value, key: &str) -> i64 {
    obj.get(key)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len() as i64)
}

/// NAME DATA AGE
pub(crate) fn config_map(cm: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(cm),
        json!(count(cm, "data") + count(cm, "binaryData")),
        age(cm, now),
    ]
}

/// NAME TYPE DATA AGE
pub(crate) fn secret(s: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(s),
        json!(str_at(s, "/type")),
        json!(count(s, "data")),
        age(s, now),
    ]
}

/// NAME SECRETS AGE
pub(crate) fn service_account(sa: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(sa), json!(arr_at(sa, "/secrets").len()), age(sa, now)]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// LAST SEEN, FIRST SEEN and COUNT of an event, whichever API wrote it.
fn event_times(ev: &Value, now: SystemTime) -> (String, String, i64) {
    let present = |k: &str| ev.get(k).filter(|v| !v.is_null());
    let first_ts = present("firstTimestamp")
        .or_else(|| present("deprecatedFirstTimestamp"))
        .or_else(|| ev.get("eventTime"))
        .cloned()
        .unwrap_or(Value::Null);
    let first = since(&first_ts, now);
    let mut last = present("lastTimestamp")
        .or_else(|| present("deprecatedLastTimestamp"))
        .map_or_else(|| first.clone(), |t| since(t, now));
    let mut n = ev
        .get("count")
        .or_else(|| ev.get("deprecatedCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = ev.get("series").filter(|s| s.is_object()) {
        last = since(&series["lastObservedTime"], now);
        n = int_at(series, "/count");
    } else if n == 0 {
        n = 1;
    }
    (last, first, n)
}

/// LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME,
/// for core/v1 and events.k8s.io/v1 shapes alike.
pub(crate) fn event(ev: &Value, now: SystemTime) -> Vec<Value> {
    let (last, first, n) = event_times(ev, now);
    let involved = ev
        .get("involvedObject")
        .or_else(|| ev.get("regarding"))
        .unwrap_or(&Value::Null);
    let kind = str_at(involved, "/kind").to_lowercase();
    let target = match str_at(involved, "/name") {
        "" => kind,
        obj => format!("{kind}/{obj}"),
    };
    let source = ev
        .get("source")
        .or_else(|| ev.get("deprecatedSource"))
        .unwrap_or(&Value::Null);
    let component = first_non_empty(
        str_at(source, "/component"),
        str_at(ev, "/reportingController"),
    );
    let host = first_non_empty(str_at(source, "/host"), str_at(ev, "/reportingInstance"));
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    let message = first_non_empty(str_at(ev, "/message"), str_at(ev, "/note")).trim();
    vec![
        json!(last),
        json!(str_at(ev, "/type")),
        json!(str_at(ev, "/reason")),
        json!(target),
        json!(str_at(involved, "/fieldPath")),
        json!(source),
        json!(message),
        json!(first),
        json!(n),
        name(ev),
    ]
}

/// NAME CLASS HOSTS ADDRESS PORTS AGE
pub(crate) fn ingress(ing: &Value, now: SystemTime) -> Vec<Value> {
    let class = ing
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
        .unwrap_or(NONE);
    let rules = arr_at(ing, "/spec/rules");
    let hosts: Vec<&str> = rules
        .iter()
        .take(3)
        .map(|r| str_at(r, "/host"))
        .filter(|h| !h.is_empty())
        .collect();
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if rules.len() > 3 {
        format!("{} + {} more...", hosts.join(","), rules.len() - 3)
    } else {
        hosts.join(",")
    };
    let address = lb_ingress(arr_at(ing, "/status/loadBalancer/ingress")).join(",");
    let ports = if arr_at(ing, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(ing),
        json!(class),
        json!(hosts),
        json!(address),
        json!(ports),
        age(ing, now),
    ]
}

/// NAME POD-SELECTOR AGE
pub(crate) fn network_policy(np: &Value, now: SystemTime) -> Vec<Value> {
    let sel = np
        .pointer("/spec/podSelector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    vec![
        name(np),
        json!(format_label_selector(Some(&sel))),
        age(np, now),
    ]
}

/// NAME HOLDER AGE
pub(crate) fn lease(l: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(l),
        json!(str_at(l, "/spec/holderIdentity")),
        age(l, now),
    ]
}

/// NAME AGE
pub(crate) fn generic(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), age(obj, now)]
}
