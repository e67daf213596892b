//! Validation with Kubernetes' messages and field paths, the unknown-field
//! check behind `fieldValidation=Strict|Warn`, and the silent drop behind
//! `fieldValidation=Ignore`.
//!
//! Each cause carries kube's `field.Error` parts: the reason
//! (`FieldValueInvalid`, `FieldValueRequired`, …), the field path, and the
//! body without the path (`Invalid value: "x": must be …`), so the server's
//! `Status` reads exactly like kube-apiserver's.
//!
//! CONTRACT (used by the server): keep these signatures.

mod meta;
mod misc;
mod node;
mod pod;
mod service;
mod unknown;
mod workloads;

use crate::resources::Resource;
use crate::status::Cause;
use serde_json::Value;

/// Validates an object of `resource` (after defaulting); `old` is the stored
/// object on update. An empty result means valid.
pub fn validate(resource: &Resource, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Errs::default();
    meta::object_meta(resource, obj, &mut errs);
    match (resource.group, resource.plural) {
        ("", "services") => service::validate(obj, old, &mut errs),
        ("", "pods") => {
            pod::pod(obj, &mut errs);
            if let Some(old) = old {
                pod::ephemeral_update(obj, old, &mut errs);
            }
        }
        ("", "nodes") => node::validate(obj, old, &mut errs),
        ("", "endpoints") => misc::endpoints(obj, &mut errs),
        ("", "configmaps") => misc::config_map(obj, &mut errs),
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            workloads::validate(resource.kind, obj, old, &mut errs)
        }
        ("discovery.k8s.io", "endpointslices") => misc::endpoint_slice(obj, &mut errs),
        _ => {}
    }
    errs.0
}

/// Paths of fields in `obj` that the schema of `resource` does not know
/// (`spec.foo`, `spec.template.spec.containers[0].bogus`). Err when the object
/// does not even decode (wrong types): that is a 400 BadRequest with the message.
pub fn unknown_fields(resource: &Resource, obj: &Value) -> Result<Vec<String>, String> {
    unknown::unknown_fields(resource, obj)
}

/// Decodes `obj` as `resource` and drops the fields its schema does not know,
/// without naming them: `fieldValidation=Ignore`, where kube-apiserver decodes
/// non-strictly and skips unknown-field detection. The object ends up as
/// after [`unknown_fields`] plus removal of what it reports; Err (400) when
/// the object does not decode, whatever the validation mode.
pub fn drop_unknown_fields(resource: &Resource, obj: &mut Value) -> Result<(), String> {
    unknown::drop_unknown_fields(resource, obj)
}

/// Accumulated causes, with constructors named after kube's `field.*`.
#[derive(Debug, Default)]
pub(crate) struct Errs(pub(crate) Vec<Cause>);

impl Errs {
    /// `Invalid value: <value>: <detail>`; `value` is already rendered.
    pub(crate) fn invalid(&mut self, field: &str, value: impl std::fmt::Display, detail: &str) {
        self.0.push(Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {value}: {detail}"),
        ));
    }

    /// `Required value[: detail]`.
    pub(crate) fn required(&mut self, field: &str, detail: &str) {
        let msg = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        self.0.push(Cause::new("FieldValueRequired", field, msg));
    }

    /// `Unsupported value: "x": supported values: "A", "B"`.
    pub(crate) fn not_supported(&mut self, field: &str, value: &str, valid: &[&str]) {
        let quoted: Vec<String> = valid.iter().map(|v| format!("{v:?}")).collect();
        self.0.push(Cause::new(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                quoted.join(", ")
            ),
        ));
    }

    /// `Duplicate value: <value>`.
    pub(crate) fn duplicate(&mut self, field: &str, value: impl std::fmt::Display) {
        self.0.push(Cause::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {value}"),
        ));
    }

    /// `Forbidden: <detail>`.
    pub(crate) fn forbidden(&mut self, field: &str, detail: &str) {
        self.0.push(Cause::new(
            "FieldValueForbidden",
            field,
            format!("Forbidden: {detail}"),
        ));
    }

    /// `Not found: <value>`.
    pub(crate) fn not_found(&mut self, field: &str, value: impl std::fmt::Display) {
        self.0.push(Cause::new(
            "FieldValueNotFound",
            field,
            format!("Not found: {value}"),
        ));
    }

    /// `Too long: must have at most N bytes`.
    pub(crate) fn too_long(&mut self, field: &str, max: usize) {
        self.0.push(Cause::new(
            "FieldValueTooLong",
            field,
            format!("Too long: must have at most {max} bytes"),
        ));
    }

    /// One `Invalid` per message of a name/label check.
    pub(crate) fn each_invalid(&mut self, field: &str, value: &str, msgs: Vec<String>) {
        for m in msgs {
            self.invalid(field, q(value), &m);
        }
    }
}

/// Go's `%q` of a string (close enough: Rust's debug escaping).
pub(crate) fn q(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `%#v` of a `map[string]string` (keys sorted, as Go prints maps).
pub(crate) fn go_map(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object) else {
        return "map[string]string(nil)".into();
    };
    let mut pairs: Vec<(String, String)> = m
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    pairs.sort();
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

/// Go's `%#v` of a `[]string` (`[]string(nil)` when empty).
pub(crate) fn go_strings(items: &[String]) -> String {
    if items.is_empty() {
        return "[]string(nil)".into();
    }
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// The string at `key` of `obj`, or `""`.
pub(crate) fn s<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The array at `key` of `obj`, or empty.
pub(crate) fn arr<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests;
