//! Service environment variables, docker-link style, as the kubelet sets them:
//! `<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`, `<SVC>_SERVICE_PORT_<NAME>`,
//! `<SVC>_PORT`, `<SVC>_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}`.

use serde_json::Value;
use std::collections::BTreeMap;

/// The variables a container in `namespace` sees for `services` (all
/// Services of the cluster). With `enable_service_links` off only the
/// `kubernetes` Service of `default` is exposed, as in Kubernetes.
pub fn service_env(
    services: &[Value],
    namespace: &str,
    enable_service_links: bool,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for svc in services {
        let name = svc["metadata"]["name"].as_str().unwrap_or("");
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("");
        let master = name == "kubernetes" && ns == "default";
        let visible = master || (enable_service_links && ns == namespace);
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or("");
        if !visible || ip.is_empty() || ip == "None" {
            continue;
        }
        add_service(&mut env, name, ip, &svc["spec"]["ports"]);
    }
    env
}

fn add_service(env: &mut BTreeMap<String, String>, name: &str, ip: &str, ports: &Value) {
    let prefix = env_name(name);
    let ports = ports.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let Some(first) = ports.first() else { return };
    env.insert(format!("{prefix}_SERVICE_HOST"), ip.to_string());
    env.insert(format!("{prefix}_SERVICE_PORT"), first["port"].to_string());
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    for (i, p) in ports.iter().enumerate() {
        let port = p["port"].to_string();
        if let Some(pn) = p["name"].as_str().filter(|n| !n.is_empty()) {
            env.insert(
                format!("{prefix}_SERVICE_PORT_{}", env_name(pn)),
                port.clone(),
            );
        }
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        let lower = proto.to_ascii_lowercase();
        let url = format!("{lower}://{host}:{port}");
        if i == 0 {
            env.insert(format!("{prefix}_PORT"), url.clone());
        }
        let pp = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        env.insert(pp.clone(), url);
        env.insert(format!("{pp}_PROTO"), lower);
        env.insert(format!("{pp}_PORT"), port);
        env.insert(format!("{pp}_ADDR"), ip.to_string());
    }
}

/// `my-svc` → `MY_SVC`.
fn env_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svcs() -> Vec<Value> {
        vec![
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                   "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "sample-clusterip", "namespace": "default"},
                   "spec": {"clusterIP": "10.100.1.2", "ports": [{"name": "http-port", "port": 8080, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "headless", "namespace": "default"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}),
            json!({"metadata": {"name": "other", "namespace": "prod"}, "spec": {"clusterIP": "10.100.9.9", "ports": [{"port": 53, "protocol": "UDP"}]}}),
        ]
    }

    #[test]
    fn seed_003_variables() {
        let env = service_env(&svcs(), "default", true);
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.96.0.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP"], "tcp://10.96.0.1:443");
        assert_eq!(env["SAMPLE_CLUSTERIP_SERVICE_PORT_HTTP_PORT"], "8080");
        assert_eq!(env["SAMPLE_CLUSTERIP_PORT"], "tcp://10.100.1.2:8080");
        assert_eq!(env["SAMPLE_CLUSTERIP_PORT_8080_TCP_ADDR"], "10.100.1.2");
        assert_eq!(env["SAMPLE_CLUSTERIP_PORT_8080_TCP_PROTO"], "tcp");
        assert!(
            !env.keys()
                .any(|k| k.starts_with("HEADLESS") || k.starts_with("OTHER"))
        );
    }

    #[test]
    fn service_links_off_keeps_only_kubernetes() {
        let env = service_env(&svcs(), "default", false);
        assert!(env.keys().all(|k| k.starts_with("KUBERNETES_")), "{env:?}");
        let prod = service_env(&svcs(), "prod", true);
        assert_eq!(prod["OTHER_PORT_53_UDP"], "udp://10.100.9.9:53");
        assert!(!prod.contains_key("SAMPLE_CLUSTERIP_SERVICE_HOST"));
    }
}
