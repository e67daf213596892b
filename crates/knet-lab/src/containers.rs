//! What a container runs in the lab (pure). knet pulls no images: a container
//! with `command`/`args` runs that command from the host filesystem; one
//! without runs the built-in workload (`knet workload`), serving HTTP on its
//! declared TCP ports (port 80 for web images such as nginx or httpd) and
//! echoing on its UDP ports; anything else idles.

use crate::files::strings;
use serde_json::Value;
use std::collections::BTreeMap;

/// Images treated as web servers listening on port 80 when no port is declared.
const WEB_IMAGES: &[&str] = &[
    "nginx",
    "httpd",
    "apache",
    "caddy",
    "traefik/whoami",
    "http-echo",
    "echoserver",
    "agnhost",
];

/// The process a container runs and its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// argv; `argv[0]` is resolved on the host's PATH.
    pub argv: Vec<String>,
    /// Environment, in the kubelet's precedence (Service variables, then the container's own).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub workdir: Option<String>,
}

/// Facts the environment can refer to (`valueFrom.fieldRef`).
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    /// Pod IP.
    pub pod_ip: String,
    /// Node address.
    pub host_ip: String,
    /// Node name.
    pub node_name: String,
}

/// The image's base name: `docker.io/library/nginx:1.19` → `nginx`.
fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// Whether the image is one the built-in workload serves HTTP for on port 80.
pub fn is_web_image(image: &str) -> bool {
    let full = image.split([':', '@']).next().unwrap_or(image);
    let name = image_name(image);
    WEB_IMAGES.iter().any(|w| *w == name || full.ends_with(w))
}

/// The argv for `container` (`knet_exe` runs the built-in workload).
pub fn argv(container: &Value, knet_exe: &str) -> Vec<String> {
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    if !command.is_empty() {
        return command.into_iter().chain(args).collect();
    }
    if !args.is_empty() {
        return args;
    }
    let mut argv = vec![knet_exe.to_string(), "workload".to_string()];
    let ports: Vec<String> = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = p["containerPort"].as_u64()?;
            let proto = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
            (proto == "tcp" || proto == "udp").then(|| format!("{port}/{proto}"))
        })
        .collect();
    if ports.is_empty() && is_web_image(container["image"].as_str().unwrap_or("")) {
        argv.extend(["--port".to_string(), "80/tcp".to_string()]);
    }
    for p in ports {
        argv.extend(["--port".to_string(), p]);
    }
    argv
}

/// The argv of an ephemeral container (`kubectl debug`): its own command
/// when it has one; with neither `command` nor `args` but a stdin (`-i`),
/// a shell, the entrypoint of the debug images people use (busybox,
/// alpine, netshoot); otherwise `argv` (the idle built-in workload).
pub fn ephemeral_argv(container: &Value, argv: Vec<String>) -> Vec<String> {
    let own = !strings(&container["command"]).is_empty() || !strings(&container["args"]).is_empty();
    if !own && container["stdin"].as_bool().unwrap_or(false) {
        return vec!["sh".to_string()];
    }
    argv
}

/// Resolves one `env[].valueFrom.fieldRef`.
fn field_ref(pod: &Value, facts: &PodFacts, path: &str) -> Option<String> {
    let meta = &pod["metadata"];
    Some(match path {
        "metadata.name" => meta["name"].as_str()?.to_string(),
        "metadata.namespace" => meta["namespace"].as_str()?.to_string(),
        "metadata.uid" => meta["uid"].as_str()?.to_string(),
        "spec.nodeName" => facts.node_name.clone(),
        "spec.serviceAccountName" => pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        p => {
            let key = p.strip_prefix("metadata.labels['")?.strip_suffix("']");
            let key =
                key.or_else(|| p.strip_prefix("metadata.annotations['")?.strip_suffix("']"))?;
            let from = if p.starts_with("metadata.labels") {
                "labels"
            } else {
                "annotations"
            };
            meta[from][key].as_str()?.to_string()
        }
    })
}

/// The process for `container` of `pod`: Service variables first, then the
/// container's `env` (which wins on a clash), `$(VAR)` references expanded
/// against the variables defined before them, as Kubernetes does.
pub fn process(
    pod: &Value,
    container: &Value,
    service_env: &BTreeMap<String, String>,
    facts: &PodFacts,
    knet_exe: &str,
) -> Process {
    let mut env: Vec<(String, String)> = service_env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = match (
            e["value"].as_str(),
            e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        ) {
            (Some(v), _) => expand(v, &env),
            (None, Some(path)) => field_ref(pod, facts, path).unwrap_or_default(),
            (None, None) => String::new(),
        };
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    }
    env.push((
        "HOSTNAME".to_string(),
        crate::files::hosts::pod_hostname(pod),
    ));
    let argv = argv(container, knet_exe)
        .into_iter()
        .map(|a| expand(&a, &env))
        .collect();
    Process {
        argv,
        env,
        workdir: container["workingDir"].as_str().map(str::to_string),
    }
}

/// Expands `$(VAR)` from `env`; `$$(VAR)` escapes; unknown references stay as written.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$$") {
            out.push('$');
            rest = t;
        } else if let Some((name, after)) = tail.strip_prefix("$(").and_then(|t| t.split_once(')'))
        {
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..name.len() + 3]),
            }
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_runs_from_the_host_and_web_images_serve_port_80() {
        let c = json!({"name": "c", "image": "centos:7", "command": ["/bin/sh", "-c"], "args": ["sleep 3600"]});
        assert_eq!(argv(&c, "/k"), ["/bin/sh", "-c", "sleep 3600"]);
        let nginx = json!({"name": "nginx", "image": "docker.io/library/nginx:1.19"});
        assert_eq!(argv(&nginx, "/k"), ["/k", "workload", "--port", "80/tcp"]);
        let redis = json!({"name": "redis", "image": "redis:6", "ports": [{"containerPort": 6379}, {"containerPort": 53, "protocol": "UDP"}]});
        assert_eq!(
            argv(&redis, "/k"),
            ["/k", "workload", "--port", "6379/tcp", "--port", "53/udp"]
        );
        let idle = json!({"name": "x", "image": "busybox"});
        assert_eq!(argv(&idle, "/k"), ["/k", "workload"]);
        // Ephemeral: a shell for `kubectl debug -i` without a command.
        let debug =
            json!({"name": "debugger-abcde", "image": "busybox", "stdin": true, "tty": true});
        assert_eq!(ephemeral_argv(&debug, argv(&debug, "/k")), ["sh"]);
        let cmd =
            json!({"name": "d", "image": "busybox", "stdin": true, "command": ["ip", "addr"]});
        assert_eq!(ephemeral_argv(&cmd, argv(&cmd, "/k")), ["ip", "addr"]);
        assert_eq!(ephemeral_argv(&idle, argv(&idle, "/k")), ["/k", "workload"]);
        assert!(!is_web_image("example.com/nginx-exporter:1"));
    }

    #[test]
    fn env_order_field_refs_and_expansion() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns1", "labels": {"app": "web"}}, "spec": {}});
        let c = json!({"name": "c", "image": "i", "command": ["echo", "$(GREETING) $(MY_IP) $$(X)"], "env": [
            {"name": "A_SERVICE_HOST", "value": "override"},
            {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "GREETING", "value": "hi-$(APP)"}]});
        let svc = BTreeMap::from([("A_SERVICE_HOST".to_string(), "10.96.0.5".to_string())]);
        let facts = PodFacts {
            pod_ip: "10.244.0.9".into(),
            ..Default::default()
        };
        let p = process(&pod, &c, &svc, &facts, "/k");
        let get = |k: &str| p.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A_SERVICE_HOST"), Some("override"));
        assert_eq!(get("GREETING"), Some("hi-web"));
        assert_eq!(get("HOSTNAME"), Some("p"));
        assert_eq!(p.argv[1], "hi-web 10.244.0.9 $(X)");
        assert_eq!(expand("$(NOPE)", &[]), "$(NOPE)");
    }
}
