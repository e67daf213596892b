//! The "who am I / may I" reviews kubectl asks for: `kubectl auth can-i`
//! (SelfSubjectAccessReview, with `--list` a SelfSubjectRulesReview) and
//! `kubectl auth whoami` (SelfSubjectReview). knet's API server has one
//! identity, the admin of its kubeconfig, and it may do everything — the
//! answers say so, the way kube-apiserver answers for `system:masters`.
//! Nothing is stored: the review comes back with its status filled in.

use crate::status::ApiError;
use serde_json::{Value, json};

/// The user every accepted bearer token is.
pub(crate) const USER: &str = "knet-admin";
/// Its groups (`system:masters` is what grants everything in Kubernetes).
pub(crate) const GROUPS: &[&str] = &["system:masters", "system:authenticated"];

/// Whether `kind` is one of the reviews answered here.
pub(crate) fn is_review(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "authorization.k8s.io",
            "SelfSubjectAccessReview" | "SelfSubjectRulesReview"
        ) | ("authentication.k8s.io", "SelfSubjectReview")
    )
}

/// The review `body` (of `kind`) with its status.
pub(crate) fn answer(kind: &str, mut body: Value) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "{kind}: body must be an object"
        )));
    }
    let status = match kind {
        "SelfSubjectAccessReview" => {
            let spec = &body["spec"];
            if spec["resourceAttributes"].is_null() && spec["nonResourceAttributes"].is_null() {
                return Err(ApiError::bad_request(
                    "SelfSubjectAccessReview: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set",
                ));
            }
            json!({"allowed": true, "reason": format!("{USER} is in group system:masters")})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({"userInfo": {"username": USER, "groups": GROUPS}}),
        other => return Err(ApiError::bad_request(format!("{other} is not a review"))),
    };
    body["status"] = status;
    if body["metadata"].is_null() {
        body["metadata"] = json!({});
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_allowed_and_needs_attributes() {
        let r = answer(
            "SelfSubjectAccessReview",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": {"verb": "create", "resource": "pods"}}}),
        )
        .unwrap();
        assert_eq!(r["status"]["allowed"], true);
        assert_eq!(r["spec"]["resourceAttributes"]["verb"], "create");
        let bad = answer("SelfSubjectAccessReview", json!({"spec": {}})).unwrap_err();
        assert_eq!(bad.code, 400);
    }

    #[test]
    fn whoami_and_rules() {
        let me = answer("SelfSubjectReview", json!({})).unwrap();
        assert_eq!(me["status"]["userInfo"]["username"], USER);
        assert_eq!(me["status"]["userInfo"]["groups"][0], "system:masters");
        let rules = answer(
            "SelfSubjectRulesReview",
            json!({"spec": {"namespace": "default"}}),
        )
        .unwrap();
        assert_eq!(rules["status"]["resourceRules"][0]["verbs"][0], "*");
        assert!(is_review("authorization.k8s.io", "SelfSubjectAccessReview"));
        assert!(!is_review("", "Pod"));
    }
}
