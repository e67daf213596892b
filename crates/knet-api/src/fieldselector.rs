//! Field selectors (`metadata.name=x,status.phase!=Running`): parsing, the
//! fields each resource supports (as kube-apiserver's `ToSelectableFields`),
//! and matching against an object.

use crate::resources::Resource;
use crate::status::ApiError;
use serde_json::Value;

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The field path (`spec.nodeName`).
    pub field: String,
    /// The value compared against.
    pub value: String,
    /// `!=` rather than `=`/`==`.
    pub negated: bool,
}

/// A parsed field selector: all terms must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Fields `resource` can be selected on, beyond `metadata.name/namespace`.
fn extra_fields(resource: &Resource) -> &'static [&'static str] {
    match (resource.group, resource.plural) {
        ("", "pods") => POD_FIELDS,
        ("", "events") => EVENT_FIELDS,
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "secrets") => &["type"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses `sel` for `resource`; an unknown field is a 400 BadRequest in
    /// Kubernetes' words.
    pub fn parse(resource: &Resource, sel: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in sel.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {part:?}: expected field=value, field==value or field!=value"
                )));
            };
            let field = field.trim();
            let known = field == "metadata.name"
                || (field == "metadata.namespace" && resource.namespaced)
                || extra_fields(resource).contains(&field);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push(Term {
                field: field.to_string(),
                value: value.trim().to_string(),
                negated,
            });
        }
        Ok(Self { terms })
    }

    /// Whether no term restricts anything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Whether `obj` satisfies every term. A missing field reads as `""`
    /// (booleans as `true`/`false`), as Kubernetes' field sets do.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let actual = field_value(obj, &t.field);
            (actual == t.value) != t.negated
        })
    }
}

fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => {
                return if path == "spec.hostNetwork" || path == "spec.unschedulable" {
                    "false".into()
                } else {
                    String::new()
                };
            }
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use serde_json::json;

    #[test]
    fn pods_select_on_node_and_phase() {
        let pods = lookup("", "v1", "pods").unwrap();
        let sel = FieldSelector::parse(pods, "spec.nodeName=n1,status.phase!=Failed").unwrap();
        let p = json!({"spec":{"nodeName":"n1"},"status":{"phase":"Running"}});
        assert!(sel.matches(&p));
        let q = json!({"spec":{"nodeName":"n2"},"status":{"phase":"Running"}});
        assert!(!sel.matches(&q));
        let host = FieldSelector::parse(pods, "spec.hostNetwork=false").unwrap();
        assert!(host.matches(&p));
    }

    #[test]
    fn unsupported_fields_are_bad_requests() {
        let svc = lookup("", "v1", "services").unwrap();
        let e = FieldSelector::parse(svc, "spec.clusterIP=1.2.3.4").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "field label not supported: spec.clusterIP")
        );
        assert_eq!(FieldSelector::parse(svc, "nonsense").unwrap_err().code, 400);
        let ok = FieldSelector::parse(svc, "metadata.name==web").unwrap();
        assert!(ok.matches(&json!({"metadata":{"name":"web"}})));
    }

    #[test]
    fn events_select_on_involved_object() {
        let ev = lookup("", "v1", "events").unwrap();
        let sel = FieldSelector::parse(
            ev,
            "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Service",
        )
        .unwrap();
        let e = json!({"involvedObject":{"name":"web","namespace":"default","kind":"Service"}});
        assert!(sel.matches(&e));
        assert!(!sel.matches(&json!({"involvedObject":{"name":"web"}})));
    }
}
