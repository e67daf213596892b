//! Server-side Tables (`meta.k8s.io/v1 Table`) with the columns kube-apiserver
//! prints for each resource; priority-1 columns are the `-o wide` ones.
//!
//! As kube-apiserver does, every row carries all columns (kubectl hides the
//! priority-1 ones unless `-o wide`) and an `object` that is the row's
//! `PartialObjectMetadata`, from which kubectl builds NAMESPACE and LABELS.
//!
//! CONTRACT (used by the server): keep `table`'s signature.

mod apps;
mod columns;
mod core;
mod format;
mod pod;

use crate::resources::Resource;
use columns::Column;
use serde_json::{Value, json};
use std::time::SystemTime;

/// kube's `HumanDuration` of `secs` seconds (`5s`, `3m2s`, `10h`, `2d`), for
/// other printers (describe, events) that need the same wording.
pub fn human_duration(secs: i64) -> String {
    format::human_duration(secs)
}

type Printer = fn(&Value, SystemTime) -> Vec<Value>;

/// Column definitions and the row printer for a resource.
fn printer(resource: &Resource) -> (&'static [Column], Printer) {
    match (resource.group, resource.plural) {
        ("", "pods") => (columns::PODS, pod::cells),
        ("", "services") => (columns::SERVICES, core::service),
        ("", "endpoints") => (columns::ENDPOINTS, core::endpoints),
        ("", "nodes") => (columns::NODES, core::node),
        ("", "namespaces") => (columns::NAMESPACES, core::namespace),
        ("", "configmaps") => (columns::CONFIG_MAPS, core::config_map),
        ("", "secrets") => (columns::SECRETS, core::secret),
        ("", "serviceaccounts") => (columns::SERVICE_ACCOUNTS, core::service_account),
        ("" | "events.k8s.io", "events") => (columns::EVENTS, core::event),
        ("apps", "deployments") => (columns::DEPLOYMENTS, apps::deployment),
        ("apps", "replicasets") => (columns::REPLICA_SETS, apps::replica_set),
        ("apps", "statefulsets") => (columns::STATEFUL_SETS, apps::stateful_set),
        ("apps", "daemonsets") => (columns::DAEMON_SETS, apps::daemon_set),
        ("discovery.k8s.io", "endpointslices") => (columns::ENDPOINT_SLICES, core::endpoint_slice),
        ("networking.k8s.io", "ingresses") => (columns::INGRESSES, core::ingress),
        ("networking.k8s.io", "networkpolicies") => {
            (columns::NETWORK_POLICIES, core::network_policy)
        }
        ("coordination.k8s.io", "leases") => (columns::LEASES, core::lease),
        _ => (columns::GENERIC, core::generic),
    }
}

/// The `PartialObjectMetadata` kubectl reads NAMESPACE and LABELS from.
fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One row: its cells, its object, and (for finished pods) its conditions.
fn row(resource: &Resource, print: Printer, obj: &Value, now: SystemTime) -> Value {
    let mut row = json!({"cells": print(obj, now), "object": partial_metadata(obj)});
    if resource.group.is_empty()
        && resource.plural == "pods"
        && let Some(c) = pod::conditions(obj)
    {
        row["conditions"] = c;
    }
    row
}

/// A Table for `objects` of `resource` (a list, or one watch event's object),
/// with `metadata.resourceVersion` = `resource_version` and each row's
/// `object` a `PartialObjectMetadata`. `now` is used for AGE columns.
pub fn table(
    resource: &Resource,
    objects: &[Value],
    resource_version: &str,
    now: SystemTime,
) -> Value {
    let (cols, print) = printer(resource);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| row(resource, print, o, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": cols.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "rows": rows,
    })
}

/// Applies `includeObject` to a Table built from `objects` (row i is
/// object i): `Object` puts each whole object in its row (what kubectl asks
/// for with `--sort-by`, which sorts on any field), `None` leaves rows
/// without one; `Metadata` (the default) keeps the `PartialObjectMetadata`.
pub fn include_objects(table: &mut Value, objects: &[Value], include: Option<&str>) {
    let Some(rows) = table["rows"].as_array_mut() else {
        return;
    };
    match include {
        Some("Object") => {
            for (row, obj) in rows.iter_mut().zip(objects) {
                row["object"] = obj.clone();
            }
        }
        Some("None") => {
            for row in rows.iter_mut() {
                if let Some(r) = row.as_object_mut() {
                    r.remove("object");
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
