//! `/etc/hosts` and `/etc/hostname` for a pod, in the kubelet's format.

use serde_json::Value;

/// The pod's hostname: `spec.hostname`, else the pod name (truncated to 63
/// bytes like the kubelet, without a trailing `-` or `.`).
pub fn pod_hostname(pod: &Value) -> String {
    let name = pod["spec"]["hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .or_else(|| pod["metadata"]["name"].as_str())
        .unwrap_or("pod");
    let mut h: String = name.chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}

/// The pod's fully qualified name when it has a `subdomain`:
/// `<hostname>.<subdomain>.<ns>.svc.<domain>`.
pub fn pod_fqdn(pod: &Value, cluster_domain: &str) -> Option<String> {
    let sub = pod["spec"]["subdomain"]
        .as_str()
        .filter(|s| !s.is_empty())?;
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    Some(format!(
        "{}.{sub}.{ns}.svc.{cluster_domain}",
        pod_hostname(pod)
    ))
}

/// Renders `/etc/hosts` for a pod with IPs `pod_ips`.
pub fn render_hosts(pod: &Value, pod_ips: &[String], cluster_domain: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let hostname = pod_hostname(pod);
    let names = match pod_fqdn(pod, cluster_domain) {
        Some(fqdn) => format!("{fqdn}\t{hostname}"),
        None => hostname,
    };
    for ip in pod_ips {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    let aliases = pod["spec"]["hostAliases"]
        .as_array()
        .filter(|a| !a.is_empty());
    if let Some(aliases) = aliases {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let hosts: Vec<&str> = a["hostnames"]
                .as_array()
                .map(|h| h.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let (Some(ip), false) = (a["ip"].as_str(), hosts.is_empty()) {
                s.push_str(&format!("{ip}\t{}\n", hosts.join("\t")));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_pod() {
        let pod = json!({"metadata": {"name": "webserver", "namespace": "default"}, "spec": {}});
        let text = render_hosts(&pod, &["10.244.1.5".into()], "cluster.local");
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(
            text.ends_with("fe00::2\tip6-allrouters\n10.244.1.5\twebserver\n"),
            "{text}"
        );
    }

    #[test]
    fn statefulset_pod_gets_its_fqdn_and_aliases() {
        let pod = json!({"metadata": {"name": "my-nginx-0", "namespace": "default"},
            "spec": {"hostname": "my-nginx-0", "subdomain": "my-nginx-svc",
                     "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]}]}});
        let text = render_hosts(&pod, &["10.244.2.7".into()], "cluster.local");
        assert!(text.contains(
            "10.244.2.7\tmy-nginx-0.my-nginx-svc.default.svc.cluster.local\tmy-nginx-0\n"
        ));
        assert!(
            text.ends_with(
                "\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn hostname_is_truncated_without_trailing_dash() {
        let long = format!("{}-{}", "a".repeat(62), "b");
        let pod = json!({"metadata": {"name": long}, "spec": {}});
        assert_eq!(pod_hostname(&pod), "a".repeat(62));
    }
}
