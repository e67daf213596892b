//! The resources the API server serves: one static table that discovery,
//! routing, OpenAPI, Tables and the store all read, so a resource is described
//! exactly once.

/// One served resource (a group/version/plural), as discovery describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind of the objects.
    pub kind: &'static str,
    /// Lower-case plural used in paths (`pods`).
    pub plural: &'static str,
    /// Lower-case singular (`pod`).
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names (`po`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Subresources served under an item (`status`, `scale`, `log`, `exec`…).
    pub subresources: &'static [&'static str],
    /// Verbs on the resource itself ([`VERBS`] for all but `bindings`).
    pub verbs: &'static [&'static str],
}

/// Verbs every resource supports.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl Resource {
    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The `plural.group` form Kubernetes uses in messages (`deployments.apps`).
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the list object (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether the resource supports `verb` (`create`, `list`, …).
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether `sub` is served under this resource's items.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

macro_rules! res {
    ($g:expr, $v:expr, $k:expr, $p:expr, $s:expr, $ns:expr, [$($sn:expr),*], [$($c:expr),*], [$($sub:expr),*]) => {
        Resource {
            group: $g,
            version: $v,
            kind: $k,
            plural: $p,
            singular: $s,
            namespaced: $ns,
            short_names: &[$($sn),*],
            categories: &[$($c),*],
            subresources: &[$($sub),*],
            verbs: VERBS,
        }
    };
}

/// Every resource knet serves.
pub static RESOURCES: &[Resource] = &[
    res!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        ["ns"],
        [],
        ["status", "finalize"]
    ),
    res!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        false,
        ["no"],
        [],
        ["status"]
    ),
    res!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        true,
        ["po"],
        ["all"],
        [
            "status",
            "log",
            "exec",
            "attach",
            "portforward",
            "binding",
            "eviction",
            "ephemeralcontainers"
        ]
    ),
    res!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        ["svc"],
        ["all"],
        ["status"]
    ),
    res!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        ["ep"],
        [],
        []
    ),
    res!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        ["cm"],
        [],
        []
    ),
    res!("", "v1", "Secret", "secrets", "secret", true, [], [], []),
    res!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        ["sa"],
        [],
        []
    ),
    res!("", "v1", "Event", "events", "event", true, ["ev"], [], []),
    // Create-only: a scheduler's `POST …/bindings` (as `pods/binding`).
    Resource {
        verbs: &["create"],
        ..res!("", "v1", "Binding", "bindings", "binding", true, [], [], [])
    },
    // Create-only reviews (`kubectl auth can-i`, `kubectl auth whoami`):
    // answered, never stored.
    Resource {
        verbs: &["create"],
        ..res!(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            false,
            [],
            [],
            []
        )
    },
    Resource {
        verbs: &["create"],
        ..res!(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            false,
            [],
            [],
            []
        )
    },
    Resource {
        verbs: &["create"],
        ..res!(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            "selfsubjectreview",
            false,
            [],
            [],
            []
        )
    },
    res!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        ["deploy"],
        ["all"],
        ["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        ["rs"],
        ["all"],
        ["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        ["sts"],
        ["all"],
        ["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        true,
        ["ds"],
        ["all"],
        ["status"]
    ),
    res!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        true,
        [],
        [],
        []
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        true,
        ["ing"],
        [],
        ["status"]
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        true,
        ["netpol"],
        [],
        []
    ),
    res!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        [],
        [],
        []
    ),
    res!(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        true,
        ["ev"],
        [],
        []
    ),
];

/// Finds a resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by `apiVersion` and kind, as written in an object.
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The groups served, in discovery order (core first, then by first appearance).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree() {
        let d = lookup("apps", "v1", "deployments").expect("deployments served");
        assert_eq!(d.kind, "Deployment");
        assert_eq!(d.qualified_plural(), "deployments.apps");
        assert_eq!(lookup_kind("apps/v1", "Deployment"), Some(d));
        assert_eq!(lookup_kind("v1", "Pod").map(|r| r.plural), Some("pods"));
        assert!(lookup("", "v1", "deployments").is_none());
    }

    #[test]
    fn plural_and_short_names_are_unique_per_group() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(!(a.group == b.group && a.plural == b.plural), "{a:?}");
                if a.group == b.group {
                    for s in a.short_names {
                        assert!(!b.short_names.contains(s), "short name {s} twice");
                    }
                }
            }
        }
        assert_eq!(groups()[0], "");
    }
}
