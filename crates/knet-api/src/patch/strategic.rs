//! Strategic merge patch (`application/strategic-merge-patch+json`), the
//! format `kubectl apply` (client-side) and `kubectl edit` send: a JSON merge
//! patch in which lists merge by the schema's merge keys and these
//! directives steer the merge:
//!
//! - `"$patch": "replace" | "merge" | "delete"` in a map, or as a list element
//!   (`{"name": "x", "$patch": "delete"}` deletes element `x`;
//!   `{"$patch": "replace"}` makes the list replace the original);
//! - `"$setElementOrder/<list>": [...]` fixes the order of a merged list;
//! - `"$retainKeys": [...]` drops original keys not named;
//! - `"$deleteFromPrimitiveList/<list>": [...]` removes primitive values;
//! - `null` deletes a key.

use super::PatchError;
use super::schema::{self, Field, ListStrategy, Ty};
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` to `original`, an object of `kind`.
pub(crate) fn apply(
    kind: &'static str,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::Malformed(
            "strategic merge patch must be a JSON object".into(),
        ));
    };
    let orig = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    merge_map(orig, p, Some(schema::root(kind))).map(Value::Object)
}

/// Merges patch map `p` into `orig`, a value of schema type `ty`.
pub(crate) fn merge_map(
    mut orig: Map<String, Value>,
    p: &Map<String, Value>,
    ty: Option<Ty>,
) -> Result<Map<String, Value>, PatchError> {
    match p.get(DIRECTIVE) {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "replace" => {
            return merge_map(Map::new(), &without(p, DIRECTIVE), ty);
        }
        Some(Value::String(s)) if s == "delete" => return Ok(Map::new()),
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "unknown $patch directive {other} in a map (want replace, merge or delete)"
            )));
        }
    }
    if let Some(keep) = p.get(RETAIN_KEYS) {
        retain_keys(&mut orig, keep, p)?;
    }
    for (k, v) in p {
        if let Some(list) = k.strip_prefix(DELETE_PRIMITIVE) {
            delete_from_primitive_list(&mut orig, list, v)?;
        }
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        let f = ty.and_then(|t| schema::field(t, k));
        if v.is_null() {
            orig.shift_remove(k);
            continue;
        }
        let merged = merge_value(orig.get(k), v, f)?;
        orig.insert(k.clone(), merged);
    }
    for (k, v) in p {
        if let Some(list) = k.strip_prefix(SET_ORDER) {
            let f = ty.and_then(|t| schema::field(t, list));
            set_element_order(&mut orig, list, v, f)?;
        }
    }
    Ok(orig)
}

fn without(p: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut m = p.clone();
    m.shift_remove(key);
    m
}

fn merge_value(orig: Option<&Value>, patch: &Value, f: Option<Field>) -> Result<Value, PatchError> {
    let ty = f.and_then(|f| f.ty);
    match (orig, patch) {
        (Some(Value::Object(o)), Value::Object(p)) => {
            merge_map(o.clone(), p, ty).map(Value::Object)
        }
        (_, Value::Object(p)) => merge_map(Map::new(), p, ty).map(Value::Object),
        (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, f),
        (_, Value::Array(p)) => merge_list(&[], p, f),
        (_, scalar) => Ok(scalar.clone()),
    }
}

fn merge_list(orig: &[Value], patch: &[Value], f: Option<Field>) -> Result<Value, PatchError> {
    let strategy = f.map_or(ListStrategy::Atomic, |f| f.list);
    let ty = f.and_then(|f| f.ty);
    if let Some(rest) = replace_directive(patch)? {
        return clean_list(&rest, ty);
    }
    match strategy {
        ListStrategy::Atomic => clean_list(patch, ty),
        ListStrategy::MergeSet => {
            let mut out = orig.to_vec();
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListStrategy::MergeByKey(key) => merge_keyed(orig, patch, key, ty),
    }
}

/// If the list holds a `{"$patch": "replace"}` element, returns the other elements.
fn replace_directive(patch: &[Value]) -> Result<Option<Vec<Value>>, PatchError> {
    let mut replace = false;
    let mut rest = Vec::with_capacity(patch.len());
    for v in patch {
        if let Value::Object(m) = v
            && m.len() == 1
            && let Some(d) = m.get(DIRECTIVE)
        {
            match d.as_str() {
                Some("replace") => replace = true,
                Some("merge") => {}
                _ => {
                    return Err(PatchError::Malformed(format!(
                        "unknown list-level $patch directive {d} (want replace or merge)"
                    )));
                }
            }
            continue;
        }
        rest.push(v.clone());
    }
    Ok(replace.then_some(rest))
}

/// Strips directives from a list that replaces (or creates) a field.
fn clean_list(items: &[Value], ty: Option<Ty>) -> Result<Value, PatchError> {
    items
        .iter()
        .filter(|v| !is_delete_element(v))
        .map(|v| match v {
            Value::Object(m) => merge_map(Map::new(), m, ty).map(Value::Object),
            other => Ok(other.clone()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn is_delete_element(v: &Value) -> bool {
    v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

fn merge_keyed(
    orig: &[Value],
    patch: &[Value],
    key: &str,
    ty: Option<Ty>,
) -> Result<Value, PatchError> {
    let mut out = orig.to_vec();
    let mut used = vec![false; out.len()];
    for item in patch {
        let Value::Object(pm) = item else {
            return Err(PatchError::Malformed(format!(
                "list element {item} must be an object with merge key {key:?}"
            )));
        };
        let Some(kv) = pm.get(key) else {
            return Err(PatchError::Malformed(format!(
                "map: {item} does not contain declared merge key: {key}"
            )));
        };
        if is_delete_element(item) {
            let mut i = 0;
            while i < out.len() {
                if out[i].get(key) == Some(kv) && agrees(&out[i], pm, key) {
                    out.remove(i);
                    used.remove(i);
                } else {
                    i += 1;
                }
            }
            continue;
        }
        match best_match(&out, &used, pm, key, kv) {
            Some(i) => {
                let base = out[i].as_object().cloned().unwrap_or_default();
                out[i] = Value::Object(merge_map(base, pm, ty)?);
                used[i] = true;
            }
            None => {
                out.push(Value::Object(merge_map(Map::new(), pm, ty)?));
                used.push(true);
            }
        }
    }
    Ok(Value::Array(out))
}

/// The original element a patch element merges into: one with the same
/// merge key, preferring (when several share it, like a Service's 53/UDP
/// and 53/TCP ports) one not yet merged whose other scalars agree.
fn best_match(
    out: &[Value],
    used: &[bool],
    pm: &Map<String, Value>,
    key: &str,
    kv: &Value,
) -> Option<usize> {
    let candidates: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].get(key) == Some(kv))
        .collect();
    let pick = |pred: &dyn Fn(usize) -> bool| candidates.iter().copied().find(|&i| pred(i));
    pick(&|i| !used[i] && agrees(&out[i], pm, key))
        .or_else(|| pick(&|i| !used[i]))
        .or_else(|| candidates.first().copied())
}

/// Whether `orig` has the same value for every scalar the patch element
/// sets besides the merge key and directives (absent counts as agreeing).
fn agrees(orig: &Value, pm: &Map<String, Value>, key: &str) -> bool {
    pm.iter()
        .filter(|(k, v)| *k != key && !k.starts_with('$') && !v.is_object() && !v.is_array())
        .all(|(k, v)| orig.get(k).is_none_or(|o| o == v))
}

fn retain_keys(
    orig: &mut Map<String, Value>,
    keep: &Value,
    p: &Map<String, Value>,
) -> Result<(), PatchError> {
    let Value::Array(keep) = keep else {
        return Err(PatchError::Malformed(
            "$retainKeys must be a list of field names".into(),
        ));
    };
    let mut names = Vec::with_capacity(keep.len());
    for k in keep {
        let Some(name) = k.as_str() else {
            return Err(PatchError::Malformed(format!(
                "$retainKeys entry {k} is not a string"
            )));
        };
        names.push(name);
    }
    for (k, v) in p {
        if !k.starts_with('$') && !v.is_null() && !names.contains(&k.as_str()) {
            return Err(PatchError::Malformed(format!(
                "field {k:?} is set in the patch but missing from $retainKeys"
            )));
        }
    }
    orig.retain(|k, _| names.contains(&k.as_str()));
    Ok(())
}

fn delete_from_primitive_list(
    orig: &mut Map<String, Value>,
    list: &str,
    values: &Value,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::Malformed(format!(
            "$deleteFromPrimitiveList/{list} must be a list"
        )));
    };
    if let Some(Value::Array(items)) = orig.get_mut(list) {
        items.retain(|v| !values.contains(v));
    }
    Ok(())
}

/// Reorders `orig[list]` as `order` says. Elements the order does not name
/// (added by someone else) keep their place relative to the named ones.
fn set_element_order(
    orig: &mut Map<String, Value>,
    list: &str,
    order: &Value,
    f: Option<Field>,
) -> Result<(), PatchError> {
    let Value::Array(order) = order else {
        return Err(PatchError::Malformed(format!(
            "$setElementOrder/{list} must be a list"
        )));
    };
    let key = match f.map(|f| f.list) {
        Some(ListStrategy::MergeByKey(k)) => Some(k),
        _ => None,
    };
    let Some(Value::Array(items)) = orig.get(list) else {
        return Ok(());
    };
    let ident = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&ident).collect();
    let rank = |v: &Value| wanted.iter().position(|w| *w == ident(v));
    let mut named: Vec<&Value> = items.iter().filter(|v| rank(v).is_some()).collect();
    named.sort_by_key(|v| rank(v));
    let mut named = named.into_iter();
    let reordered: Vec<Value> = items
        .iter()
        .map(|v| {
            if rank(v).is_some() {
                named.next().unwrap_or(v).clone()
            } else {
                v.clone()
            }
        })
        .collect();
    orig.insert(list.to_string(), Value::Array(reordered));
    Ok(())
}
