//! apps/v1 defaults (`pkg/apis/apps/v1/defaults.go`).

use super::pod::template;
use super::{child, set};
use serde_json::{Value, json};

fn replicas(spec: &mut Value) {
    if spec.get("replicas").is_none_or(Value::is_null) {
        spec["replicas"] = json!(1);
    }
}

fn history(spec: &mut Value) {
    if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
        spec["revisionHistoryLimit"] = json!(10);
    }
}

fn set_absent(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

pub(crate) fn deployment(obj: &mut Value) {
    let spec = child(obj, "spec");
    replicas(spec);
    let strategy = child(spec, "strategy");
    set(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        let ru = child(strategy, "rollingUpdate");
        set_absent(ru, "maxUnavailable", json!("25%"));
        set_absent(ru, "maxSurge", json!("25%"));
    }
    history(spec);
    set_absent(spec, "progressDeadlineSeconds", json!(600));
    template(obj);
}

pub(crate) fn replica_set(obj: &mut Value) {
    replicas(child(obj, "spec"));
    template(obj);
}

pub(crate) fn stateful_set(obj: &mut Value) {
    let spec = child(obj, "spec");
    replicas(spec);
    set(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = child(spec, "updateStrategy");
    set(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        set_absent(child(strategy, "rollingUpdate"), "partition", json!(0));
    }
    history(spec);
    let retention = child(spec, "persistentVolumeClaimRetentionPolicy");
    set(retention, "whenDeleted", json!("Retain"));
    set(retention, "whenScaled", json!("Retain"));
    template(obj);
}

pub(crate) fn daemon_set(obj: &mut Value) {
    let spec = child(obj, "spec");
    let strategy = child(spec, "updateStrategy");
    set(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        let ru = child(strategy, "rollingUpdate");
        set_absent(ru, "maxUnavailable", json!(1));
        set_absent(ru, "maxSurge", json!(0));
    }
    history(spec);
    template(obj);
}
