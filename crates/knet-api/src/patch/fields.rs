//! Field sets for server-side apply: which paths of an object a field
//! manager owns, and their `fieldsV1` encoding (`f:<field>`,
//! `k:<merge-key JSON>`, `v:<value JSON>`, `.` for "this node itself").

use super::schema::{self, Field, ListStrategy, Ty};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Elem {
    /// A map field.
    Field(String),
    /// A keyed list element, identified by its merge-key object (JSON text).
    Key(String),
    /// A member of a primitive set list (JSON text).
    Val(String),
}

/// A path from the object root.
pub(crate) type Path = Vec<Elem>;

/// A set of owned paths.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Paths no manager owns: identity and server-maintained bookkeeping.
fn is_ignored(path: &[Elem]) -> bool {
    fn name(e: &Elem) -> Option<&str> {
        match e {
            Elem::Field(f) => Some(f.as_str()),
            _ => None,
        }
    }
    match path {
        [top] => matches!(name(top), Some("apiVersion" | "kind")),
        [m, f] if name(m) == Some("metadata") => matches!(
            name(f),
            Some(
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "managedFields"
                    | "selfLink"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
            )
        ),
        _ => false,
    }
}

/// The field set an applied configuration (or any object) sets: every leaf
/// value, every keyed list element and every set member.
pub(crate) fn of_object(kind: &'static str, obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        walk_map(m, Some(schema::root(kind)), &mut Vec::new(), &mut out);
    }
    out
}

fn walk_map(m: &Map<String, Value>, ty: Option<Ty>, path: &mut Path, out: &mut FieldSet) {
    for (k, v) in m {
        path.push(Elem::Field(k.clone()));
        if !is_ignored(path) {
            let f = ty.and_then(|t| schema::field(t, k));
            walk_value(v, f, path, out);
        }
        path.pop();
    }
}

fn walk_value(v: &Value, f: Option<Field>, path: &mut Path, out: &mut FieldSet) {
    let ty = f.and_then(|f| f.ty);
    match (v, f.map(|f| f.list)) {
        (Value::Object(m), _) if !m.is_empty() => walk_map(m, ty, path, out),
        (Value::Array(items), Some(ListStrategy::MergeByKey(key))) if !items.is_empty() => {
            for item in items {
                let Some(id) = key_of(item, key) else {
                    continue;
                };
                path.push(Elem::Key(id));
                out.insert(path.clone());
                if let Value::Object(m) = item {
                    walk_map(m, ty, path, out);
                }
                path.pop();
            }
        }
        (Value::Array(items), Some(ListStrategy::MergeSet)) if !items.is_empty() => {
            for item in items {
                path.push(Elem::Val(item.to_string()));
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// `{"<key>": <value>}` as compact JSON, the `k:` identity of an element.
pub(crate) fn key_of(item: &Value, key: &str) -> Option<String> {
    let v = item.get(key)?;
    let mut m = Map::new();
    m.insert(key.to_string(), v.clone());
    Some(Value::Object(m).to_string())
}

/// Encodes a field set as a `fieldsV1` object: a member path with children
/// carries a `.` entry, a member leaf is `{}`.
pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for e in path {
            node = node.children.entry(encode(e)).or_default();
        }
        node.member = true;
    }
    root.render()
}

#[derive(Default)]
struct Node {
    member: bool,
    children: std::collections::BTreeMap<String, Node>,
}

impl Node {
    fn render(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, child) in &self.children {
            m.insert(k.clone(), child.render());
        }
        Value::Object(m)
    }
}

fn encode(e: &Elem) -> String {
    match e {
        Elem::Field(f) => format!("f:{f}"),
        Elem::Key(k) => format!("k:{k}"),
        Elem::Val(v) => format!("v:{v}"),
    }
}

/// Decodes a `fieldsV1` object; malformed parts are skipped (they only ever
/// come from our own store).
pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = v {
        decode_node(m, &mut Vec::new(), &mut out);
    }
    out
}

fn decode_node(m: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
    if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, v) in m {
        let elem = if let Some(f) = k.strip_prefix("f:") {
            Elem::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            Elem::Key(key.to_string())
        } else if let Some(val) = k.strip_prefix("v:") {
            Elem::Val(val.to_string())
        } else {
            continue;
        };
        if let Value::Object(child) = v {
            path.push(elem);
            decode_node(child, path, out);
            path.pop();
        }
    }
}

/// Renders a path the way Kubernetes prints conflicts:
/// `.spec.template.spec.containers[name="web"].image`.
pub(crate) fn render(path: &[Elem]) -> String {
    let mut s = String::new();
    for e in path {
        match e {
            Elem::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Elem::Key(k) => {
                let parsed: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let inner = parsed
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                s.push_str(&format!("[{inner}]"));
            }
            Elem::Val(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// The value at `path` in `obj`, if any.
pub(crate) fn lookup<'a>(obj: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    let mut cur = obj;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(k) => find_element(cur.as_array()?, k)?.1,
            Elem::Val(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|x| **x == want)?
            }
        };
    }
    Some(cur)
}

fn find_element<'a>(items: &'a [Value], key_json: &str) -> Option<(usize, &'a Value)> {
    let key: Value = serde_json::from_str(key_json).ok()?;
    let key = key.as_object()?;
    items
        .iter()
        .enumerate()
        .find(|(_, item)| key.iter().all(|(k, v)| item.get(k) == Some(v)))
}

/// Removes whatever sits at `path` in `obj` (no-op when absent).
pub(crate) fn remove(obj: &mut Value, path: &[Elem]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for e in parent {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            Elem::Key(k) => {
                let Some(items) = cur.as_array_mut() else {
                    return;
                };
                let Some((i, _)) = find_element(items, k) else {
                    return;
                };
                items.get_mut(i)
            }
            Elem::Val(_) => None,
        };
        let Some(next) = next else { return };
        cur = next;
    }
    match last {
        Elem::Field(f) => {
            if let Value::Object(m) = cur {
                m.shift_remove(f);
            }
        }
        Elem::Key(k) => {
            if let Value::Array(items) = cur
                && let Some((i, _)) = find_element(items, k)
            {
                items.remove(i);
            }
        }
        Elem::Val(v) => {
            if let (Value::Array(items), Ok(want)) = (cur, serde_json::from_str::<Value>(v)) {
                items.retain(|x| *x != want);
            }
        }
    }
}
