//! The strategic-merge schema: for each object type, which fields hold
//! nested objects and how each list merges. Facts from the `patchStrategy` /
//! `patchMergeKey` struct tags of k8s.io/api (core/v1, apps/v1, batch/v1) and
//! k8s.io/apimachinery (ObjectMeta). Lists not listed here are atomic: a patch
//! replaces them whole, as Kubernetes does for untagged lists (tolerations,
//! command, args, service selectors…).

/// A struct type whose fields the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// A top-level object of the given kind.
    Root(&'static str),
    ObjectMeta,
    PodTemplateSpec,
    PodSpec,
    PodStatus,
    Container,
    ContainerStatus,
    Volume,
    ServiceSpec,
    ServiceStatus,
    NodeSpec,
    NodeStatus,
    NamespaceStatus,
    /// apps/v1 and batch/v1 workload spec (holds `template`).
    WorkloadSpec,
    /// Any status whose only keyed list is `conditions` keyed by `type`.
    ConditionsStatus,
    CronJobSpec,
    JobTemplateSpec,
}

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch's list replaces the original list.
    Atomic,
    /// Elements are objects merged by the value of this key.
    MergeByKey(&'static str),
    /// Elements are primitives merged as a set.
    MergeSet,
}

/// What the schema knows about one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    /// Type of the field's value, or of its list elements.
    pub(crate) ty: Option<Ty>,
    /// How the field merges when it is a list.
    pub(crate) list: ListStrategy,
}

const fn obj(ty: Ty) -> Field {
    Field {
        ty: Some(ty),
        list: ListStrategy::Atomic,
    }
}

const fn keyed(key: &'static str, ty: Option<Ty>) -> Field {
    Field {
        ty,
        list: ListStrategy::MergeByKey(key),
    }
}

const SET: Field = Field {
    ty: None,
    list: ListStrategy::MergeSet,
};

const CONDITIONS: Field = keyed("type", None);

/// The schema type of a top-level object of `kind`.
pub(crate) fn root(kind: &'static str) -> Ty {
    Ty::Root(kind)
}

/// Looks up field `name` of a `ty` value; `None` means "no special
/// knowledge": maps merge recursively, lists are atomic.
pub(crate) fn field(ty: Ty, name: &str) -> Option<Field> {
    match ty {
        Ty::Root(kind) => root_field(kind, name),
        Ty::ObjectMeta => match name {
            "finalizers" => Some(SET),
            "ownerReferences" => Some(keyed("uid", None)),
            _ => None,
        },
        Ty::PodTemplateSpec => match name {
            "metadata" => Some(obj(Ty::ObjectMeta)),
            "spec" => Some(obj(Ty::PodSpec)),
            _ => None,
        },
        Ty::PodSpec => pod_spec_field(name),
        Ty::PodStatus => match name {
            "conditions" => Some(CONDITIONS),
            "podIPs" | "hostIPs" => Some(keyed("ip", None)),
            "resourceClaimStatuses" => Some(keyed("name", None)),
            "containerStatuses" | "initContainerStatuses" | "ephemeralContainerStatuses" => {
                Some(obj(Ty::ContainerStatus))
            }
            _ => None,
        },
        Ty::Container => match name {
            "ports" => Some(keyed("containerPort", None)),
            "env" => Some(keyed("name", None)),
            "volumeMounts" => Some(keyed("mountPath", None)),
            "volumeDevices" => Some(keyed("devicePath", None)),
            _ => None,
        },
        Ty::ContainerStatus => match name {
            "volumeMounts" => Some(keyed("mountPath", None)),
            "allocatedResourcesStatus" => Some(keyed("name", None)),
            _ => None,
        },
        Ty::Volume => None,
        Ty::ServiceSpec => match name {
            "ports" => Some(keyed("port", None)),
            _ => None,
        },
        Ty::NodeSpec => match name {
            "podCIDRs" => Some(SET),
            _ => None,
        },
        Ty::NodeStatus => match name {
            "conditions" | "addresses" => Some(CONDITIONS),
            _ => None,
        },
        Ty::ServiceStatus | Ty::NamespaceStatus | Ty::ConditionsStatus => match name {
            "conditions" => Some(CONDITIONS),
            _ => None,
        },
        Ty::WorkloadSpec => match name {
            "template" => Some(obj(Ty::PodTemplateSpec)),
            _ => None,
        },
        Ty::CronJobSpec => match name {
            "jobTemplate" => Some(obj(Ty::JobTemplateSpec)),
            _ => None,
        },
        Ty::JobTemplateSpec => match name {
            "metadata" => Some(obj(Ty::ObjectMeta)),
            "spec" => Some(obj(Ty::WorkloadSpec)),
            _ => None,
        },
    }
}

fn pod_spec_field(name: &str) -> Option<Field> {
    match name {
        "containers" | "initContainers" | "ephemeralContainers" => {
            Some(keyed("name", Some(Ty::Container)))
        }
        "volumes" => Some(keyed("name", Some(Ty::Volume))),
        "imagePullSecrets" | "schedulingGates" | "resourceClaims" => Some(keyed("name", None)),
        "hostAliases" => Some(keyed("ip", None)),
        "topologySpreadConstraints" => Some(keyed("topologyKey", None)),
        _ => None,
    }
}

fn root_field(kind: &str, name: &str) -> Option<Field> {
    if name == "metadata" {
        return Some(obj(Ty::ObjectMeta));
    }
    let ty = match (kind, name) {
        ("Pod", "spec") => Ty::PodSpec,
        ("Pod", "status") => Ty::PodStatus,
        ("PodTemplate", "template") => Ty::PodTemplateSpec,
        ("Service", "spec") => Ty::ServiceSpec,
        ("Service", "status") => Ty::ServiceStatus,
        ("Node", "spec") => Ty::NodeSpec,
        ("Node", "status") => Ty::NodeStatus,
        ("Namespace", "status") => Ty::NamespaceStatus,
        ("ServiceAccount", "secrets") => return Some(keyed("name", None)),
        (
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController",
            "spec",
        ) => Ty::WorkloadSpec,
        (
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController"
            | "PersistentVolumeClaim",
            "status",
        ) => Ty::ConditionsStatus,
        ("CronJob", "spec") => Ty::CronJobSpec,
        _ => return None,
    };
    Some(obj(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(kind: &'static str, path: &[&str]) -> Option<Field> {
        let mut ty = root(kind);
        let mut last = None;
        for name in path {
            let f = field(ty, name)?;
            last = Some(f);
            if let Some(t) = f.ty {
                ty = t;
            }
        }
        last
    }

    #[test]
    fn deployment_containers_merge_by_name() {
        let f = walk("Deployment", &["spec", "template", "spec", "containers"]).unwrap();
        assert_eq!(f.list, ListStrategy::MergeByKey("name"));
        let p = walk(
            "Deployment",
            &["spec", "template", "spec", "containers", "ports"],
        )
        .unwrap();
        assert_eq!(p.list, ListStrategy::MergeByKey("containerPort"));
    }

    #[test]
    fn cronjob_reaches_pod_spec() {
        let f = walk(
            "CronJob",
            &["spec", "jobTemplate", "spec", "template", "spec", "volumes"],
        )
        .unwrap();
        assert_eq!(f.list, ListStrategy::MergeByKey("name"));
    }

    #[test]
    fn untagged_lists_are_unknown_hence_atomic() {
        assert_eq!(walk("Pod", &["spec", "tolerations"]), None);
        assert_eq!(
            walk("Service", &["spec", "ports"]).unwrap().list,
            ListStrategy::MergeByKey("port")
        );
        assert_eq!(
            walk("Pod", &["metadata", "finalizers"]).unwrap().list,
            ListStrategy::MergeSet
        );
    }
}
