//! Server-side Tables (`meta.k8s.io/v1 Table`) with the columns kube-apiserver
//! prints for each resource; priority-1 columns are the `-o wide` ones.
//!
//! CONTRACT (used by the server): keep `table`'s signature.

use crate::resources::Resource;
use serde_json::Value;
use std::time::SystemTime;

/// A Table for `objects` of `resource` (a list, or one watch event's object),
/// with `metadata.resourceVersion` = `resource_version` and each row's
/// `object` a `PartialObjectMetadata`. `now` is used for AGE columns.
pub fn table(resource: &Resource, objects: &[Value], resource_version: &str, now: SystemTime) -> Value {
    let _ = now;
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "cells": [o["metadata"]["name"].clone()],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"].clone(),
                },
            })
        })
        .collect();
    serde_json::json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}],
        "rows": rows,
        "_resource": resource.plural,
    })
}
