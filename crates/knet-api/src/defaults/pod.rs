//! Pod and pod-template defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`,
//! probes, volumes), plus what pod creation and admission add to bare pods.

use super::{child, items, set, unset};
use serde_json::{Value, json};

/// Seconds a pod gets to stop gracefully.
pub(crate) const TERMINATION_GRACE_SECONDS: i64 = 30;
/// Seconds a pod tolerates a not-ready or unreachable node.
pub(crate) const NOT_READY_TOLERATION_SECONDS: i64 = 300;

/// Defaults for a bare Pod: the spec, plus status and admission fields.
pub(crate) fn pod(obj: &mut Value) {
    let spec = child(obj, "spec");
    pod_spec(spec);
    set(spec, "serviceAccountName", json!("default"));
    if let Some(sa) = spec.get("serviceAccountName").cloned() {
        set(spec, "serviceAccount", sa);
    }
    if spec.get("priority").is_none_or(Value::is_null) {
        spec["priority"] = json!(0);
    }
    tolerations(spec);
    let qos = qos_class(spec);
    let status = child(obj, "status");
    set(status, "phase", json!("Pending"));
    set(status, "qosClass", json!(qos));
}

/// Defaults for a pod template (`spec.template` of workloads).
pub(crate) fn template(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    let Some(tpl) = spec.get_mut("template") else {
        return;
    };
    if tpl.is_object() {
        pod_spec(child(tpl, "spec"));
    }
}

/// `SetDefaults_PodSpec` and everything under it.
pub(crate) fn pod_spec(spec: &mut Value) {
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "schedulerName", json!("default-scheduler"));
    if spec
        .get("terminationGracePeriodSeconds")
        .is_none_or(Value::is_null)
    {
        spec["terminationGracePeriodSeconds"] = json!(TERMINATION_GRACE_SECONDS);
    }
    if spec.get("enableServiceLinks").is_none_or(Value::is_null) {
        spec["enableServiceLinks"] = json!(true);
    }
    if spec.get("securityContext").is_none_or(Value::is_null) {
        spec["securityContext"] = json!({});
    }
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["initContainers", "containers"] {
        for c in items(spec, key) {
            container(c, host_network);
        }
    }
    for v in items(spec, "volumes") {
        volume(v);
    }
}

/// `Always` for `:latest` or untagged images (without a digest), else `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container(c: &mut Value, host_network: bool) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    set(c, "terminationMessagePath", json!("/dev/termination-log"));
    set(c, "terminationMessagePolicy", json!("File"));
    for port in items(c, "ports") {
        set(port, "protocol", json!("TCP"));
        if host_network
            && port.get("hostPort").is_none_or(Value::is_null)
            && let Some(cp) = port.get("containerPort").cloned()
        {
            port["hostPort"] = cp;
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            probe_defaults(p);
        }
    }
    for env in items(c, "env") {
        if let Some(field_ref) = env
            .pointer_mut("/valueFrom/fieldRef")
            .filter(|f| f.is_object())
        {
            set(field_ref, "apiVersion", json!("v1"));
        }
    }
    // Limits without requests: requests = limits.
    if let Some(res) = c.get_mut("resources").filter(|r| r.is_object())
        && let Some(limits) = res.get("limits").and_then(Value::as_object).cloned()
    {
        let requests = child(res, "requests");
        for (k, v) in limits {
            if unset(requests.get(&k)) {
                requests[k] = v;
            }
        }
    }
}

fn probe_defaults(p: &mut Value) {
    for (key, value) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        if p.get(key).is_none_or(|v| v.is_null() || v == 0) {
            p[key] = json!(value);
        }
    }
    if let Some(http) = p.get_mut("httpGet").filter(|h| h.is_object()) {
        set(http, "path", json!("/"));
        set(http, "scheme", json!("HTTP"));
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn volume(v: &mut Value) {
    if !VOLUME_SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v["emptyDir"] = json!({});
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).filter(|s| s.is_object())
            && s.get("defaultMode").is_none_or(Value::is_null)
        {
            s["defaultMode"] = json!(420);
        }
    }
    if let Some(h) = v.get_mut("hostPath").filter(|h| h.is_object())
        && h.get("type").is_none_or(Value::is_null)
    {
        h["type"] = json!("");
    }
}

/// The DefaultTolerationSeconds admission: tolerate not-ready/unreachable
/// nodes for five minutes unless the pod says otherwise.
fn tolerations(spec: &mut Value) {
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        spec["tolerations"] = json!([]);
    }
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let present = spec["tolerations"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                let k = t.get("key").and_then(Value::as_str);
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                (k == Some(key) || k.is_none()) && (effect.is_empty() || effect == "NoExecute")
            })
        });
        if !present && let Some(ts) = spec["tolerations"].as_array_mut() {
            ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": NOT_READY_TOLERATION_SECONDS}));
        }
    }
}

/// `Guaranteed` when every container limits cpu and memory with equal
/// requests, `BestEffort` when nothing requests or limits anything, else
/// `Burstable`.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec.get(*k).and_then(Value::as_array).into_iter().flatten())
        .collect();
    let res =
        |c: &Value, kind: &str, r: &str| c.pointer(&format!("/resources/{kind}/{r}")).cloned();
    let any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c.pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = res(c, "limits", r);
            limit.is_some() && res(c, "requests", r).is_none_or(|req| Some(req) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
