//! Label selector matching over the shapes the controllers meet: a Service's
//! `spec.selector` map, a workload's `metav1.LabelSelector`, and a pod's node
//! affinity terms.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Labels of an object; `None` behaves as an empty set.
pub type Labels = Option<BTreeMap<String, String>>;

fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

/// Whether `labels` carry every `key=value` of a Service-style selector map.
/// An empty map selects nothing: upstream treats a Service without selector
/// entries as selector-less (its endpoints are written by hand).
pub fn map_selects(selector: &BTreeMap<String, String>, labels: &Labels) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| label(labels, k) == Some(v.as_str()))
}

/// Whether a `metav1.LabelSelector` selects `labels`. An empty selector
/// selects everything (the workload API rejects it, so this rarely matters).
pub fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label(labels, k) == Some(v.as_str()));
    by_labels
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|r| requirement_holds(r, labels))
}

fn requirement_holds(r: &LabelSelectorRequirement, labels: &Labels) -> bool {
    let value = label(labels, &r.key);
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// Whether a node (its name and labels) satisfies one node-selector term:
/// every `matchExpressions` entry over labels and every `matchFields` entry
/// (only `metadata.name` exists) must hold. An empty term matches nothing.
pub fn node_term_matches(term: &NodeSelectorTerm, node_name: &str, labels: &Labels) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| node_requirement_holds(r, label(labels, &r.key)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(node_name);
            node_requirement_holds(r, value)
        })
}

fn node_requirement_holds(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let num = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (value.and_then(num), values.first().and_then(|b| num(b)))
            else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn service_map_selector() {
        let sel: BTreeMap<_, _> = [("app".to_string(), "nginx".to_string())].into();
        assert!(map_selects(&sel, &labels(&[("app", "nginx"), ("x", "y")])));
        assert!(!map_selects(&sel, &labels(&[("app", "web")])));
        assert!(!map_selects(&sel, &None));
        assert!(!map_selects(&BTreeMap::new(), &labels(&[("app", "nginx")])));
    }

    #[test]
    fn label_selector_expressions() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]}
            ]
        }))
        .unwrap();
        assert!(selects(&sel, &labels(&[("app", "web"), ("tier", "a")])));
        assert!(!selects(&sel, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!selects(
            &sel,
            &labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])
        ));
        assert!(!selects(
            &sel,
            &labels(&[("app", "web"), ("tier", "a"), ("env", "prod")])
        ));
        assert!(selects(&LabelSelector::default(), &None));
    }

    #[test]
    fn node_terms_match_fields_and_labels() {
        let term: NodeSelectorTerm = serde_json::from_value(serde_json::json!({
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}],
            "matchExpressions": [{"key": "cpu", "operator": "Gt", "values": ["2"]}]
        }))
        .unwrap();
        assert!(node_term_matches(&term, "n1", &labels(&[("cpu", "4")])));
        assert!(!node_term_matches(&term, "n2", &labels(&[("cpu", "4")])));
        assert!(!node_term_matches(&term, "n1", &labels(&[("cpu", "1")])));
        assert!(!node_term_matches(
            &NodeSelectorTerm::default(),
            "n1",
            &None
        ));
    }
}
