//! Node update rules: a Node's pod CIDR is set once (from empty to a value)
//! and never changed, as kube-apiserver's `ValidateNodeUpdate` enforces —
//! the routes and addresses of every pod on the node depend on it.

use super::Errs;
use serde_json::Value;

/// Validates a Node; `old` is the stored Node on update.
pub(super) fn validate(obj: &Value, old: Option<&Value>, errs: &mut Errs) {
    let Some(old) = old else { return };
    let cidrs = |n: &Value| -> Vec<String> {
        let spec = &n["spec"];
        let mut v: Vec<String> = spec["podCIDRs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if v.is_empty()
            && let Some(c) = spec["podCIDR"].as_str().filter(|c| !c.is_empty())
        {
            v.push(c.to_string());
        }
        v
    };
    let before = cidrs(old);
    if !before.is_empty() && cidrs(obj) != before {
        errs.forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_cidr_is_set_once() {
        let empty = json!({"spec": {}});
        let a = json!({"spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}});
        let b = json!({"spec": {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"]}});
        let check = |new: &Value, old: &Value| {
            let mut e = Errs::default();
            validate(new, Some(old), &mut e);
            e.0
        };
        assert!(
            check(&a, &empty).is_empty(),
            "from empty to a value is allowed"
        );
        assert!(check(&a, &a).is_empty(), "unchanged is allowed");
        let errs = check(&b, &a);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.podCIDRs");
        assert!(
            errs[0]
                .message
                .starts_with("Forbidden: node updates may not change podCIDR")
        );
        assert_eq!(check(&empty, &a).len(), 1, "removing it is a change too");
    }
}
