//! Defaulting of objects on create and update, following Kubernetes'
//! defaulters (`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`,
//! …) plus the few fields kube-apiserver's create strategies and built-in
//! admission fill in (namespace finalizers and phase, pod phase and QoS
//! class, service account, priority and not-ready tolerations), so objects
//! read back the way they do from a real cluster.
//!
//! Defaulting is idempotent: applying it twice changes nothing more, so the
//! server may run it on every write.
//!
//! CONTRACT (used by the server): keep `apply_defaults`'s signature.

mod pod;
mod service;
mod workloads;

pub use pod::image_pull_policy;

use crate::resources::Resource;
use serde_json::{Map, Value, json};

/// Fills in Kubernetes' defaults for an object of `resource` in place.
pub fn apply_defaults(resource: &Resource, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (resource.group, resource.plural) {
        ("", "services") => service::defaults(obj),
        ("", "pods") => pod::pod(obj),
        ("", "namespaces") => namespace(obj),
        ("", "endpoints") => endpoints(obj),
        ("", "secrets") => set(obj, "type", json!("Opaque")),
        ("", "nodes") => node(obj),
        ("apps", "deployments") => workloads::deployment(obj),
        ("apps", "replicasets") => workloads::replica_set(obj),
        ("apps", "statefulsets") => workloads::stateful_set(obj),
        ("apps", "daemonsets") => workloads::daemon_set(obj),
        ("discovery.k8s.io", "endpointslices") => endpoint_slice(obj),
        ("networking.k8s.io", "networkpolicies") => network_policy(obj),
        _ => {}
    }
}

/// Whether a field counts as unset: missing, null, or Go's zero string.
fn unset(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Sets `obj[key]` to `value` when unset.
fn set(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut()
        && unset(m.get(key))
    {
        m.insert(key.to_string(), value);
    }
}

/// `obj[key]` as an object, created (or replaced, if null) when missing.
fn child<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    if !obj.get(key).is_some_and(Value::is_object) {
        obj[key] = Value::Object(Map::new());
    }
    &mut obj[key]
}

/// Mutable items of the array at `key`, if it is one.
fn items<'a>(obj: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    obj.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|a| a.iter_mut())
}

fn namespace(obj: &mut Value) {
    if let Some(name) = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(String::from)
    {
        let labels = child(child(obj, "metadata"), "labels");
        set(labels, "kubernetes.io/metadata.name", json!(name));
    }
    let spec = child(obj, "spec");
    if !spec.get("finalizers").is_some_and(Value::is_array) {
        spec["finalizers"] = json!(["kubernetes"]);
    }
    set(child(obj, "status"), "phase", json!("Active"));
}

fn endpoints(obj: &mut Value) {
    for subset in items(obj, "subsets") {
        for port in items(subset, "ports") {
            set(port, "protocol", json!("TCP"));
        }
    }
}

fn endpoint_slice(obj: &mut Value) {
    for port in items(obj, "ports") {
        set(port, "protocol", json!("TCP"));
        if port.get("name").is_none_or(Value::is_null) {
            port["name"] = json!("");
        }
    }
}

fn node(obj: &mut Value) {
    let status = child(obj, "status");
    if let Some(cap) = status.get("capacity").cloned()
        && unset(status.get("allocatable"))
    {
        status["allocatable"] = cap;
    }
}

fn network_policy(obj: &mut Value) {
    let spec = child(obj, "spec");
    for dir in ["ingress", "egress"] {
        for rule in items(spec, dir) {
            for port in items(rule, "ports") {
                set(port, "protocol", json!("TCP"));
            }
        }
    }
    let has_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_types {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec["policyTypes"] = Value::Array(types);
    }
}

#[cfg(test)]
mod tests;
