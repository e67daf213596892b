//! ObjectMeta: names, generateName, namespace, labels, annotations.

use super::{Errs, q, s};
use crate::resources::Resource;
use knet_core::names;
use serde_json::Value;

/// Most bytes all annotations of an object may take together.
pub(crate) const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;

/// The name rule kube applies to objects of `resource`.
pub(crate) fn name_rule(resource: &Resource) -> fn(&str) -> Vec<String> {
    match (resource.group, resource.plural) {
        ("", "services") => names::dns1035_label,
        ("", "namespaces") | ("apps", "statefulsets") => names::dns1123_label,
        _ => names::dns1123_subdomain,
    }
}

/// kube's `maskTrailingDash`: a generateName prefix may end in `-`.
fn mask_trailing_dash(prefix: &str) -> String {
    match prefix.strip_suffix('-') {
        Some(rest) if !rest.is_empty() => format!("{rest}a"),
        _ => prefix.to_string(),
    }
}

pub(crate) fn object_meta(resource: &Resource, obj: &Value, errs: &mut Errs) {
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    let rule = name_rule(resource);
    let name = s(meta, "name");
    let generate = s(meta, "generateName");
    if !generate.is_empty() {
        errs.each_invalid(
            "metadata.generateName",
            generate,
            rule(&mask_trailing_dash(generate)),
        );
    }
    if name.is_empty() {
        if generate.is_empty() {
            errs.required("metadata.name", "name or generateName is required");
        }
    } else {
        errs.each_invalid("metadata.name", name, rule(name));
    }
    let ns = s(meta, "namespace");
    if resource.namespaced {
        if ns.is_empty() {
            errs.required("metadata.namespace", "");
        } else {
            errs.each_invalid("metadata.namespace", ns, names::dns1123_label(ns));
        }
    } else if !ns.is_empty() {
        errs.forbidden("metadata.namespace", "not allowed on this type");
    }
    labels(meta.get("labels"), "metadata.labels", errs);
    annotations(meta.get("annotations"), errs);
}

/// kube's `ValidateLabels`: keys are qualified names, values label values.
pub(crate) fn labels(map: Option<&Value>, field: &str, errs: &mut Errs) {
    let Some(m) = map.and_then(Value::as_object) else {
        return;
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        errs.each_invalid(field, k, names::label_key(k));
        match m[k].as_str() {
            Some(v) => errs.each_invalid(field, v, names::label_value(v)),
            None => errs.invalid(field, &m[k], "label values must be strings"),
        }
    }
}

fn annotations(map: Option<&Value>, errs: &mut Errs) {
    let Some(m) = map.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0;
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        for msg in names::label_key(&k.to_lowercase()) {
            errs.invalid("metadata.annotations", q(k), &msg);
        }
        total += k.len() + m[k].as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE);
    }
}
