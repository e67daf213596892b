//! Cluster add-ons the lab deploys, as kubeadm does: the cluster DNS — a
//! `coredns` Deployment in `kube-system` (running `knet dns` instead of
//! CoreDNS) behind Service `kube-dns` at 10.96.0.10 — so pod queries take
//! the real path: pod → ClusterIP → the proxy's DNAT → a DNS pod.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// Labels of the DNS pods and the Service selector (kubeadm's).
const DNS_LABEL: &str = "kube-dns";

/// Service `kube-system/kube-dns`.
pub(crate) fn dns_service(cluster_ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": DNS_LABEL, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
        "spec": {"clusterIP": cluster_ip, "selector": {"k8s-app": DNS_LABEL}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]},
    })
}

/// Deployment `kube-system/coredns` running `knet dns` (in-cluster config,
/// forwarding to the node's resolver as kubeadm's `forward . /etc/resolv.conf`,
/// or answering only the cluster zone when the lab has no upstream).
pub(crate) fn dns_deployment(knet_exe: &str, replicas: u32, forward: bool) -> Value {
    let mut command = vec![knet_exe, "dns", "--pods", "insecure", "--ttl", "30"];
    if !forward {
        command.push("--no-forward");
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": DNS_LABEL}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"k8s-app": DNS_LABEL}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"k8s-app": DNS_LABEL}},
                "spec": {
                    "dnsPolicy": "Default",
                    "priorityClassName": "system-cluster-critical",
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "coredns",
                        "image": "knet/dns:0.1.0",
                        "command": command,
                        "ports": [
                            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
                        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 60,
                            "timeoutSeconds": 5, "failureThreshold": 5},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                    }],
                },
            },
        },
    })
}

/// Creates the add-ons (already existing ones are left as they are).
pub(crate) async fn install(
    client: &kube::Client,
    knet_exe: &str,
    dns_ip: &str,
    forward: bool,
) -> anyhow::Result<()> {
    let svc: Service = serde_json::from_value(dns_service(dns_ip))?;
    let dep: Deployment = serde_json::from_value(dns_deployment(knet_exe, 2, forward))?;
    let pp = PostParams::default();
    ignore_exists(
        Api::<Service>::namespaced(client.clone(), "kube-system")
            .create(&pp, &svc)
            .await,
    )?;
    ignore_exists(
        Api::<Deployment>::namespaced(client.clone(), "kube-system")
            .create(&pp, &dep)
            .await,
    )?;
    Ok(())
}

fn ignore_exists<T>(r: Result<T, kube::Error>) -> anyhow::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addons_are_valid_objects_with_kubeadms_shape() {
        let svc: Service = serde_json::from_value(dns_service("10.96.0.10")).unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        let ports: Vec<_> = spec
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.port))
            .collect();
        assert_eq!(
            ports,
            [
                ("dns".into(), 53),
                ("dns-tcp".into(), 53),
                ("metrics".into(), 9153)
            ]
        );
        let dep: Deployment =
            serde_json::from_value(dns_deployment("/bin/knet", 2, false)).unwrap();
        let c = &dep.spec.unwrap().template.spec.unwrap().containers[0];
        let cmd = c.command.as_ref().unwrap();
        assert_eq!(cmd[..2], ["/bin/knet".to_string(), "dns".to_string()]);
        assert_eq!(cmd.last().map(String::as_str), Some("--no-forward"));
    }
}
