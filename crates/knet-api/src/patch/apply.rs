//! Server-side apply: create-or-merge with field ownership recorded in
//! `metadata.managedFields`, conflicts between managers, and removal of
//! fields a manager stopped applying.

use super::PatchError;
use super::fields::{self, FieldSet, Path};
use super::managed::{self, Entry};
use super::{schema, strategic};
use crate::resources::Resource;
use serde_json::{Map, Value};

/// See [`crate::patch::server_side_apply`]; `now` is the RFC 3339 time
/// recorded in the manager's entry when its field set changes.
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
    let mut entries = managed::entries_of(live);
    let is_ours = |e: &Entry| e.manager == manager && e.operation == "Apply";
    let base = match live {
        None => Map::new(),
        Some(live) => {
            let conflicts = find_conflicts(&entries, &is_ours, &applied_set, live, applied);
            if !conflicts.is_empty() && !force {
                return Err(PatchError::Conflict(conflict_message_for(
                    &entries, &conflicts,
                )));
            }
            for (i, path) in &conflicts {
                entries[*i].set.remove(path);
            }
            let mut base = live.clone();
            remove_dropped_fields(&mut base, &entries, &is_ours, &applied_set);
            base.as_object().cloned().unwrap_or_default()
        }
    };
    let mut merged = strategic::merge_map(base, &applied_map, Some(schema::root(kind)))?;
    let previous = entries.iter().position(is_ours).map(|i| entries.remove(i));
    let time = match previous {
        Some(p) if p.set == applied_set => p.time,
        _ => Some(Value::String(now.to_string())),
    };
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .map_or_else(|| resource.api_version(), str::to_string);
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version,
        time,
        subresource: None,
        set: applied_set,
    });
    managed::store_entries(&mut merged, entries);
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
