//! Pod and pod-template validation: containers, ports, policies.

use super::{Errs, arr, q, s};
use knet_core::names;
use serde_json::Value;

const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

pub(crate) fn pod(obj: &Value, errs: &mut Errs) {
    pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", errs);
}

/// kube's `ValidatePodSpec`, for the parts knet relies on.
pub(crate) fn pod_spec(spec: &Value, path: &str, errs: &mut Errs) {
    let containers = arr(spec, "containers");
    if containers.is_empty() {
        errs.required(&format!("{path}.containers"), "");
    }
    let mut seen: Vec<String> = Vec::new();
    for (key, list) in [
        ("initContainers", arr(spec, "initContainers")),
        ("containers", containers),
    ] {
        for (i, c) in list.iter().enumerate() {
            container(c, &format!("{path}.{key}[{i}]"), &mut seen, errs);
        }
    }
    let regular = seen.clone();
    for (i, c) in arr(spec, "ephemeralContainers").iter().enumerate() {
        let p = format!("{path}.ephemeralContainers[{i}]");
        container(c, &p, &mut seen, errs);
        ephemeral_only(c, &p, &regular, errs);
    }
    let restart = s(spec, "restartPolicy");
    if !restart.is_empty() && !RESTART_POLICIES.contains(&restart) {
        errs.not_supported(&format!("{path}.restartPolicy"), restart, RESTART_POLICIES);
    }
    let dns = s(spec, "dnsPolicy");
    if !dns.is_empty() && !DNS_POLICIES.contains(&dns) {
        errs.not_supported(&format!("{path}.dnsPolicy"), dns, DNS_POLICIES);
    }
    if dns == "None" && spec.get("dnsConfig").is_none_or(Value::is_null) {
        errs.required(
            &format!("{path}.dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        );
    }
    let hostname = s(spec, "hostname");
    if !hostname.is_empty() {
        errs.each_invalid(
            &format!("{path}.hostname"),
            hostname,
            names::dns1123_label(hostname),
        );
    }
    let subdomain = s(spec, "subdomain");
    if !subdomain.is_empty() {
        errs.each_invalid(
            &format!("{path}.subdomain"),
            subdomain,
            names::dns1123_label(subdomain),
        );
    }
    if let Some(g) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .filter(|g| *g < 0)
    {
        errs.invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            g,
            "must be greater than or equal to 0",
        );
    }
}

/// What kube's `validateEphemeralContainers` forbids beyond a container's
/// checks: ephemeral containers get no ports, probes, lifecycle hooks or
/// resources, and `targetContainerName` must name a pod container.
fn ephemeral_only(c: &Value, path: &str, regular: &[String], errs: &mut Errs) {
    for field in [
        "ports",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
        "resources",
        "resizePolicy",
    ] {
        let set = c.get(field).is_some_and(|v| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        });
        if set {
            errs.forbidden(
                &format!("{path}.{field}"),
                "cannot be set for an Ephemeral Container",
            );
        }
    }
    let target = s(c, "targetContainerName");
    if !target.is_empty() && !regular.iter().any(|n| n == target) {
        errs.not_found(&format!("{path}.targetContainerName"), q(target));
    }
}

/// kube's `ValidatePodEphemeralContainersUpdate`: ephemeral containers are
/// only ever added; one already in the pod may not change or go away.
pub(crate) fn ephemeral_update(new: &Value, old: &Value, errs: &mut Errs) {
    let now = arr(&new["spec"], "ephemeralContainers");
    for (i, was) in arr(&old["spec"], "ephemeralContainers").iter().enumerate() {
        let name = s(was, "name");
        match now.iter().find(|c| s(c, "name") == name) {
            None => errs.forbidden(
                "spec.ephemeralContainers",
                &format!(
                    "existing ephemeral containers {} may not be removed",
                    q(name)
                ),
            ),
            Some(c) if c != was => errs.forbidden(
                &format!("spec.ephemeralContainers[{i}]"),
                &format!(
                    "existing ephemeral containers {} may not be changed",
                    q(name)
                ),
            ),
            Some(_) => {}
        }
    }
}

fn container(c: &Value, path: &str, seen: &mut Vec<String>, errs: &mut Errs) {
    let name = s(c, "name");
    if name.is_empty() {
        errs.required(&format!("{path}.name"), "");
    } else {
        errs.each_invalid(&format!("{path}.name"), name, names::dns1123_label(name));
        if seen.iter().any(|n| n == name) {
            errs.duplicate(&format!("{path}.name"), q(name));
        }
        seen.push(name.to_string());
    }
    if s(c, "image").trim().is_empty() {
        errs.required(&format!("{path}.image"), "");
    }
    let pull = s(c, "imagePullPolicy");
    if !pull.is_empty() && !PULL_POLICIES.contains(&pull) {
        errs.not_supported(&format!("{path}.imagePullPolicy"), pull, PULL_POLICIES);
    }
    let mut port_names: Vec<&str> = Vec::new();
    for (i, p) in arr(c, "ports").iter().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        let pname = s(p, "name");
        if !pname.is_empty() {
            errs.each_invalid(&format!("{pp}.name"), pname, names::port_name(pname));
            if port_names.contains(&pname) {
                errs.duplicate(&format!("{pp}.name"), q(pname));
            }
            port_names.push(pname);
        }
        match p["containerPort"].as_i64().unwrap_or(0) {
            0 => errs.required(&format!("{pp}.containerPort"), ""),
            cp => {
                for m in names::port_number(cp) {
                    errs.invalid(&format!("{pp}.containerPort"), cp, &m);
                }
            }
        }
        if let Some(hp) = p
            .get("hostPort")
            .and_then(Value::as_i64)
            .filter(|h| *h != 0)
        {
            for m in names::port_number(hp) {
                errs.invalid(&format!("{pp}.hostPort"), hp, &m);
            }
        }
        let proto = s(p, "protocol");
        if !proto.is_empty() && !PROTOCOLS.contains(&proto) {
            errs.not_supported(&format!("{pp}.protocol"), proto, PROTOCOLS);
        }
    }
    for (i, e) in arr(c, "env").iter().enumerate() {
        if s(e, "name").is_empty() {
            errs.required(&format!("{path}.env[{i}].name"), "");
        }
    }
}
