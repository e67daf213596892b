//! `/etc/resolv.conf` for a pod, by `dnsPolicy`, as the kubelet writes it.

use super::strings;
use serde_json::Value;

/// The glibc limits the kubelet enforces: at most 3 nameservers and 32 search
/// domains (Kubernetes 1.28+ `MaxDNSSearchPaths`).
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCH: usize = 32;

/// A parsed resolver configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// The `search` list, in order.
    pub searches: Vec<String>,
    /// `options`, each `name` or `name:value`, in order.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text (`domain` counts as a one-entry search list).
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => out.nameservers.extend(words.next().map(str::to_string)),
                Some("search") => out.searches = words.map(str::to_string).collect(),
                Some("domain") => {
                    out.searches = words.next().map(str::to_string).into_iter().collect()
                }
                Some("options") => out.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        out
    }

    /// Renders the file in the kubelet's order: search, nameserver, options.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.searches.is_empty() {
            s.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            s.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

/// What the cluster DNS set-up is, for ClusterFirst pods.
#[derive(Debug, Clone)]
pub struct ClusterDns {
    /// The cluster DNS Service address (`10.96.0.10`).
    pub server: String,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
}

/// Builds a pod's resolv.conf from its spec, the node's resolver and the
/// cluster DNS. Policies: `ClusterFirst` (default), `ClusterFirstWithHostNet`,
/// `Default` (the node's resolver) and `None` (only `dnsConfig`); a
/// `hostNetwork` pod with `ClusterFirst` gets the node's resolver, as in Kubernetes.
pub fn pod_resolv_conf(pod: &Value, node: &ResolvConf, dns: &ClusterDns) -> ResolvConf {
    let spec = &pod["spec"];
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let host_network = spec["hostNetwork"].as_bool().unwrap_or(false);
    let policy = spec["dnsPolicy"].as_str().unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let mut conf = if cluster_first {
        let d = &dns.domain;
        let mut searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
        searches.extend(node.searches.iter().cloned());
        ResolvConf {
            nameservers: vec![dns.server.clone()],
            searches,
            options: vec!["ndots:5".to_string()],
        }
    } else if policy == "None" {
        ResolvConf::default()
    } else {
        node.clone()
    };
    merge_dns_config(&mut conf, &spec["dnsConfig"]);
    conf.nameservers.truncate(MAX_NAMESERVERS);
    dedup_keep_first(&mut conf.searches);
    conf.searches.truncate(MAX_SEARCH);
    conf
}

/// Applies `spec.dnsConfig`: nameservers and searches appended, options
/// replacing same-named ones.
fn merge_dns_config(conf: &mut ResolvConf, cfg: &Value) {
    conf.nameservers.extend(strings(&cfg["nameservers"]));
    conf.searches.extend(strings(&cfg["searches"]));
    for opt in cfg["options"].as_array().into_iter().flatten() {
        let Some(name) = opt["name"].as_str() else {
            continue;
        };
        let rendered = match opt["value"].as_str() {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        };
        conf.options.retain(|o| o.split(':').next() != Some(name));
        conf.options.push(rendered);
    }
}

fn dedup_keep_first(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|s| seen.insert(s.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dns() -> ClusterDns {
        ClusterDns {
            server: "10.96.0.10".into(),
            domain: "cluster.local".into(),
        }
    }

    #[test]
    fn cluster_first_matches_seed_000() {
        let pod = json!({"metadata": {"namespace": "default"}, "spec": {}});
        let conf = pod_resolv_conf(&pod, &ResolvConf::default(), &dns());
        assert_eq!(
            conf.render(),
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn cluster_first_appends_node_search_like_seed_004() {
        let node = ResolvConf::parse("nameserver 192.0.2.53\nsearch corp.example\n");
        let pod = json!({"metadata": {"namespace": "development"}, "spec": {"dnsPolicy": "ClusterFirst"}});
        let conf = pod_resolv_conf(&pod, &node, &dns());
        assert_eq!(conf.nameservers, vec!["10.96.0.10"]);
        assert_eq!(
            conf.searches,
            vec![
                "development.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
    }

    #[test]
    fn default_and_host_network_use_the_node_resolver() {
        let node = ResolvConf::parse("# c\nnameserver 192.0.2.53\noptions edns0\n");
        let pod = json!({"metadata": {"namespace": "x"}, "spec": {"dnsPolicy": "Default"}});
        assert_eq!(pod_resolv_conf(&pod, &node, &dns()), node);
        let hostnet = json!({"metadata": {"namespace": "x"}, "spec": {"hostNetwork": true}});
        assert_eq!(pod_resolv_conf(&hostnet, &node, &dns()), node);
        let with = json!({"metadata": {"namespace": "x"}, "spec": {"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}});
        assert_eq!(
            pod_resolv_conf(&with, &node, &dns()).nameservers,
            vec!["10.96.0.10"]
        );
    }

    #[test]
    fn none_uses_only_dns_config_and_options_override() {
        let pod = json!({"metadata": {"namespace": "x"}, "spec": {"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["192.0.2.1"], "searches": ["a.example", "a.example"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}});
        let conf = pod_resolv_conf(&pod, &ResolvConf::default(), &dns());
        assert_eq!(
            conf.render(),
            "search a.example\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
        );
        let over = json!({"metadata": {"namespace": "x"}, "spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "1"}]}}});
        assert_eq!(
            pod_resolv_conf(&over, &ResolvConf::default(), &dns()).options,
            vec!["ndots:1"]
        );
    }
}
