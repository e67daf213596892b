//! Unknown-field detection: decode into the k8s-openapi type, encode again,
//! and report input paths that did not survive the round trip.
//!
//! k8s-openapi drops unknown fields silently and also drops `null`s of known
//! optional fields, so `null` inputs are never reported; everything else that
//! vanishes was not part of the schema.

use crate::resources::Resource;
use k8s_openapi::api::{apps, coordination, core, discovery, events, networking};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(obj: Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(obj).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// The re-encoded object, or None for kinds without a schema here.
fn through_schema(resource: &Resource, obj: Value) -> Option<Result<Value, String>> {
    Some(match (resource.group, resource.plural) {
        ("", "namespaces") => round_trip::<core::v1::Namespace>(obj),
        ("", "nodes") => round_trip::<core::v1::Node>(obj),
        ("", "pods") => round_trip::<core::v1::Pod>(obj),
        ("", "services") => round_trip::<core::v1::Service>(obj),
        ("", "endpoints") => round_trip::<core::v1::Endpoints>(obj),
        ("", "configmaps") => round_trip::<core::v1::ConfigMap>(obj),
        ("", "secrets") => round_trip::<core::v1::Secret>(obj),
        ("", "serviceaccounts") => round_trip::<core::v1::ServiceAccount>(obj),
        ("", "events") => round_trip::<core::v1::Event>(obj),
        ("", "bindings") => round_trip::<core::v1::Binding>(obj),
        ("apps", "deployments") => round_trip::<apps::v1::Deployment>(obj),
        ("apps", "replicasets") => round_trip::<apps::v1::ReplicaSet>(obj),
        ("apps", "statefulsets") => round_trip::<apps::v1::StatefulSet>(obj),
        ("apps", "daemonsets") => round_trip::<apps::v1::DaemonSet>(obj),
        ("discovery.k8s.io", "endpointslices") => round_trip::<discovery::v1::EndpointSlice>(obj),
        ("networking.k8s.io", "ingresses") => round_trip::<networking::v1::Ingress>(obj),
        ("networking.k8s.io", "networkpolicies") => {
            round_trip::<networking::v1::NetworkPolicy>(obj)
        }
        ("coordination.k8s.io", "leases") => round_trip::<coordination::v1::Lease>(obj),
        ("events.k8s.io", "events") => round_trip::<events::v1::Event>(obj),
        _ => return None,
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Paths present in `input` but not in `output`.
fn missing(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match input {
        Value::Object(m) => {
            for (k, v) in m {
                match output.get(k) {
                    Some(o) => missing(v, o, &join(path, k), out),
                    None if v.is_null() => {}
                    None => out.push(join(path, k)),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if let Some(o) = output.get(i) {
                    missing(v, o, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// `obj` decoded into its k8s-openapi type and encoded again (None for kinds
/// without a schema here); Err with kube's message when it does not decode.
fn decoded(resource: &Resource, obj: &Value) -> Result<Option<Value>, String> {
    if !obj.is_object() {
        return Err(format!(
            "{} in version {:?} cannot be handled as a {}: the body is not a JSON object",
            resource.kind, resource.version, resource.kind
        ));
    }
    let mut typed_in = obj.clone();
    typed_in["apiVersion"] = Value::String(resource.api_version());
    typed_in["kind"] = Value::String(resource.kind.to_string());
    let Some(result) = through_schema(resource, typed_in) else {
        return Ok(None);
    };
    result.map(Some).map_err(|e| {
        format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            resource.kind, resource.version, resource.kind
        )
    })
}

pub(crate) fn unknown_fields(resource: &Resource, obj: &Value) -> Result<Vec<String>, String> {
    let Some(output) = decoded(resource, obj)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    missing(obj, &output, "", &mut out);
    Ok(out)
}

pub(crate) fn drop_unknown_fields(resource: &Resource, obj: &mut Value) -> Result<(), String> {
    if let Some(output) = decoded(resource, obj)? {
        keep_known(obj, &output);
    }
    Ok(())
}

/// Removes from `input` what did not survive into `output` (but keeps
/// `null`s, as [`missing`] does not report them), without naming paths.
fn keep_known(input: &mut Value, output: &Value) {
    match input {
        Value::Object(m) => m.retain(|k, v| match output.get(k) {
            Some(o) => {
                keep_known(v, o);
                true
            }
            None => v.is_null(),
        }),
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                if let Some(o) = output.get(i) {
                    keep_known(v, o);
                }
            }
        }
        _ => {}
    }
}
