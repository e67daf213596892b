//! Server-side apply: create-or-merge with field ownership recorded in
//! `metadata.managedFields`, conflicts between managers, and removal of
//! fields a manager stopped applying.

use super::PatchError;
use super::fields::{self, FieldSet, Path};
use super::{schema, strategic};
use crate::resources::Resource;
use serde_json::{Map, Value, json};

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<Value>,
    subresource: Option<Value>,
    set: FieldSet,
}

impl Entry {
    fn parse(v: &Value) -> Option<Entry> {
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

    fn render(&self) -> Value {
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

/// See [`crate::patch::server_side_apply`]; `now` is the RFC 3339 time
/// recorded in the manager's entry.
pub(crate) fn server_side_apply_at(
    resource: &Resource,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, PatchError> {
    let Value::Object(applied_map) = applied else {
        return Err(PatchError::Malformed(
            "apply configuration must be an object".into(),
        ));
    };
    let kind = resource.kind;
    let mut applied_map = applied_map.clone();
    if let Some(Value::Object(meta)) = applied_map.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
    let applied_set = fields::of_object(kind, &Value::Object(applied_map.clone()));
    let mut entries: Vec<Entry> = live
        .and_then(|l| l.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default();
    let is_ours = |e: &Entry| e.manager == manager && e.operation == "Apply";

    let mut merged = match live {
        None => strategic::merge_map(Map::new(), &applied_map, Some(schema::root(kind)))?,
        Some(live) => {
            let conflicts = find_conflicts(&entries, &is_ours, &applied_set, live, applied);
            if !conflicts.is_empty() {
                if !force {
                    return Err(PatchError::Conflict(conflict_message_for(
                        &entries, &conflicts,
                    )));
                }
                for (i, path) in &conflicts {
                    entries[*i].set.remove(path);
                }
            }
            let mut base = live.clone();
            remove_dropped_fields(&mut base, &entries, &is_ours, &applied_set);
            let base = base.as_object().cloned().unwrap_or_default();
            strategic::merge_map(base, &applied_map, Some(schema::root(kind)))?
        }
    };
    entries.retain(|e| !is_ours(e));
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .map_or_else(|| resource.api_version(), str::to_string);
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version,
        time: Some(json!(now)),
        subresource: None,
        set: applied_set,
    });
    entries.retain(|e| !e.set.is_empty());
    let rendered: Vec<Value> = entries.iter().map(Entry::render).collect();
    let meta = merged
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("managedFields".into(), Value::Array(rendered));
    }
    Ok(Value::Object(merged))
}

/// Paths another manager owns whose live value the applied config changes,
/// with the index of the owning entry.
fn find_conflicts(
    entries: &[Entry],
    is_ours: &dyn Fn(&Entry) -> bool,
    applied_set: &FieldSet,
    live: &Value,
    applied: &Value,
) -> Vec<(usize, Path)> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if is_ours(e) {
            continue;
        }
        for path in e.set.intersection(applied_set) {
            let (have, want) = (fields::lookup(live, path), fields::lookup(applied, path));
            let differs = match (have, want) {
                (Some(h), Some(w)) => !h.is_object() && h != w,
                _ => false,
            };
            if differs {
                out.push((i, path.clone()));
            }
        }
    }
    out
}

/// Kubernetes' wording: `Apply failed with 1 conflict: conflict with
/// "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
fn conflict_message_for(entries: &[Entry], conflicts: &[(usize, Path)]) -> String {
    let n = conflicts.len();
    if let [(i, path)] = conflicts {
        let e = &entries[*i];
        return format!(
            "Apply failed with 1 conflict: conflict with {:?} using {}: {}",
            e.manager,
            e.api_version,
            fields::render(path)
        );
    }
    let mut by_owner: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, path) in conflicts {
        match by_owner.iter_mut().find(|(o, _)| o == i) {
            Some((_, paths)) => paths.push(fields::render(path)),
            None => by_owner.push((*i, vec![fields::render(path)])),
        }
    }
    let mut msg = format!("Apply failed with {n} conflicts:");
    for (i, paths) in by_owner {
        let e = &entries[i];
        let word = if paths.len() == 1 {
            "conflict"
        } else {
            "conflicts"
        };
        msg.push_str(&format!(
            " {word} with {:?} using {}:",
            e.manager, e.api_version
        ));
        for p in paths {
            msg.push_str(&format!("\n- {p}"));
        }
    }
    msg
}

/// Removes from `obj` fields this manager applied before, no longer applies,
/// and nobody else owns (nor anything beneath them).
fn remove_dropped_fields(
    obj: &mut Value,
    entries: &[Entry],
    is_ours: &dyn Fn(&Entry) -> bool,
    applied_set: &FieldSet,
) {
    let Some(ours) = entries.iter().find(|e| is_ours(e)) else {
        return;
    };
    let others: Vec<&Entry> = entries.iter().filter(|e| !is_ours(e)).collect();
    let owned_by_others = |p: &Path| {
        others.iter().any(|e| {
            e.set
                .iter()
                .any(|q| q.len() >= p.len() && q[..p.len()] == p[..])
        })
    };
    let still_applied = |p: &Path| {
        applied_set
            .iter()
            .any(|q| q.len() >= p.len() && q[..p.len()] == p[..])
    };
    // Forward (sorted) order visits a path before its descendants, so a
    // removed element is never first stripped of its merge key.
    let mut removed: Vec<&Path> = Vec::new();
    for path in &ours.set {
        let under_removed = removed
            .iter()
            .any(|r| path.len() > r.len() && path[..r.len()] == r[..]);
        if !under_removed && !still_applied(path) && !owned_by_others(path) {
            fields::remove(obj, path);
            removed.push(path);
        }
    }
}
