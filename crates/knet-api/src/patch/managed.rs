//! `metadata.managedFields` bookkeeping: decoding and encoding entries, and
//! recording ownership for non-apply writes (create, update, patch) so that
//! server-side apply sees the fields other managers set.

use super::fields::{self, FieldSet};
use crate::resources::Resource;
use serde_json::{Map, Value, json};

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: Option<Value>,
    pub(crate) subresource: Option<Value>,
    pub(crate) set: FieldSet,
}

impl Entry {
    pub(crate) fn parse(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v.get("manager")?.as_str()?.to_string(),
            operation: v.get("operation")?.as_str()?.to_string(),
            api_version: v
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            time: v.get("time").cloned(),
            subresource: v.get("subresource").cloned(),
            set: v
                .get("fieldsV1")
                .map(fields::from_fields_v1)
                .unwrap_or_default(),
        })
    }

    pub(crate) fn render(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone());
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), fields::to_fields_v1(&self.set));
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), s.clone());
        }
        Value::Object(m)
    }
}

/// The decoded `managedFields` of `obj` (entries that do not parse are dropped).
pub(crate) fn entries_of(obj: Option<&Value>) -> Vec<Entry> {
    obj.and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default()
}

/// Writes `entries` (minus empty ones) into `obj.metadata.managedFields`.
pub(crate) fn store_entries(obj: &mut Map<String, Value>, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    let rendered: Vec<Value> = entries.iter().map(Entry::render).collect();
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        if rendered.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

/// Records a non-apply write of `new` (over `old`, `None` for a create) by
/// `manager`: the manager's `Update` entry gains every field whose value
/// changed, other managers lose those fields, and fields gone from the
/// object leave every entry. `subresource` is `Some("status")` for status
/// writes. Managed fields sent by the client are replaced by the server's.
pub(crate) fn record_update(
    resource: &Resource,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let kind = resource.kind;
    let Value::Object(new_map) = new else { return };
    let mut entries = entries_of(old);
    let new_set = fields::of_object(kind, &Value::Object(new_map.clone()));
    let new_value = Value::Object(new_map.clone());
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| old.and_then(|o| fields::lookup(o, p)) != fields::lookup(&new_value, p))
        .cloned()
        .collect();
    let sub = subresource.map(|s| json!(s));
    let is_mine =
        |e: &Entry| e.manager == manager && e.operation == "Update" && e.subresource == sub;
    for e in entries.iter_mut() {
        let mine = is_mine(e);
        e.set
            .retain(|p| new_set.contains(p) && (mine || !changed.contains(p)));
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| is_mine(e)) {
            Some(e) => {
                e.set.extend(changed);
                e.time = Some(json!(now));
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: new_map
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .map_or_else(|| resource.api_version(), str::to_string),
                time: Some(json!(now)),
                subresource: sub,
                set: changed,
            }),
        }
    }
    store_entries(new_map, entries);
}
