//! Rows for apps/v1 workloads.

use super::format::{container_cells, format_label_selector, format_labels, int_at, since, str_at};
use serde_json::{Value, json};
use std::time::SystemTime;

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn head(obj: &Value) -> Value {
    json!(str_at(obj, "/metadata/name"))
}

fn age(obj: &Value, now: SystemTime) -> Value {
    json!(since(&obj["metadata"]["creationTimestamp"], now))
}

fn template_cells(obj: &Value) -> (Value, Value) {
    let spec = obj.pointer("/spec/template/spec").unwrap_or(&Value::Null);
    let (names, images) = container_cells(spec);
    (json!(names), json!(images))
}

/// NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR
pub(crate) fn deployment(d: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = template_cells(d);
    vec![
        head(d),
        json!(format!(
            "{}/{}",
            int_at(d, "/status/readyReplicas"),
            replicas(d)
        )),
        json!(int_at(d, "/status/updatedReplicas")),
        json!(int_at(d, "/status/availableReplicas")),
        age(d, now),
        names,
        images,
        json!(selector_string(d)),
    ]
}

/// The deployment SELECTOR cell: the canonical selector, `<invalid>` if bad.
fn selector_string(d: &Value) -> String {
    match knet_core::selector::Selector::from_label_selector(
        d.pointer("/spec/selector").unwrap_or(&Value::Null),
    ) {
        Ok(s) => s.to_string(),
        Err(_) => "<invalid>".into(),
    }
}

/// NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR
pub(crate) fn replica_set(rs: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = template_cells(rs);
    vec![
        head(rs),
        json!(replicas(rs)),
        json!(int_at(rs, "/status/replicas")),
        json!(int_at(rs, "/status/readyReplicas")),
        age(rs, now),
        names,
        images,
        json!(format_label_selector(rs.pointer("/spec/selector"))),
    ]
}

/// NAME READY AGE CONTAINERS IMAGES
pub(crate) fn stateful_set(s: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = template_cells(s);
    vec![
        head(s),
        json!(format!(
            "{}/{}",
            int_at(s, "/status/readyReplicas"),
            replicas(s)
        )),
        age(s, now),
        names,
        images,
    ]
}

/// NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE CONTAINERS IMAGES SELECTOR
pub(crate) fn daemon_set(ds: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = template_cells(ds);
    vec![
        head(ds),
        json!(int_at(ds, "/status/desiredNumberScheduled")),
        json!(int_at(ds, "/status/currentNumberScheduled")),
        json!(int_at(ds, "/status/numberReady")),
        json!(int_at(ds, "/status/updatedNumberScheduled")),
        json!(int_at(ds, "/status/numberAvailable")),
        json!(format_labels(
            ds.pointer("/spec/template/spec/nodeSelector")
        )),
        age(ds, now),
        names,
        images,
        json!(format_label_selector(ds.pointer("/spec/selector"))),
    ]
}
