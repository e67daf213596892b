//! Well-known label, annotation and finalizer names the controllers read and
//! write (the values upstream Kubernetes uses, so tools that look for them work).

/// Label on an EndpointSlice naming its Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Label on an EndpointSlice naming the controller that manages it.
pub const SLICE_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// `SLICE_MANAGED_BY` value of the EndpointSlice controller.
pub const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
/// `SLICE_MANAGED_BY` value of the EndpointSlice mirroring controller.
pub const MIRRORING_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";
/// Label on an Endpoints object that asks the mirroring controller to skip it.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Label on Endpoints written by the Endpoints controller.
pub const ENDPOINTS_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// `ENDPOINTS_MANAGED_BY` value.
pub const ENDPOINTS_CONTROLLER: &str = "endpoint-controller";
/// Label marking the endpoints of a headless Service.
pub const HEADLESS: &str = "service.kubernetes.io/headless";
/// Annotation: when the last pod change that triggered an endpoints update happened.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Annotation set on Endpoints truncated to `MAX_ENDPOINTS_ADDRESSES`.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// Label a Deployment puts on its ReplicaSets and pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotation with the Deployment revision of a ReplicaSet (and the Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation with the Deployment's desired replicas, on its ReplicaSets.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation with replicas + maxSurge, on a Deployment's ReplicaSets.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Label with a StatefulSet pod's name.
pub const STS_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
/// Label with a StatefulSet (or indexed) pod's ordinal.
pub const POD_INDEX: &str = "apps.kubernetes.io/pod-index";
/// Label with the controller revision a StatefulSet/DaemonSet pod was made from.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// DaemonSet pods' template generation label.
pub const DS_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// Node label with the topology zone.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Taint kubeadm puts on control-plane nodes.
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";
/// Taint standing for `spec.unschedulable`.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
/// Finalizer holding an owner until its dependents are gone (Foreground deletion).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer holding an owner until its dependents are orphaned.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Namespace finalizer the namespace controller removes when the namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
/// Name the scheduler answers to.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
