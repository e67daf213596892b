//! apps/v1 workload validation: selectors, templates, replicas, strategies.

use super::{Errs, arr, go_map, pod, s};
use knet_core::selector::Selector;
use serde_json::Value;

/// Go's `%#v` of a `*v1.LabelSelector`, as kube prints it in messages.
fn go_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return "(*v1.LabelSelector)(nil)".into();
    };
    let exprs = arr(sel, "matchExpressions");
    let exprs = if exprs.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                let vals: Vec<String> = arr(e, "values")
                    .iter()
                    .filter_map(|v| v.as_str().map(|v| format!("{v:?}")))
                    .collect();
                format!(
                    "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:[]string{{{}}}}}",
                    s(e, "key"),
                    s(e, "operator"),
                    vals.join(", ")
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!(
        "&v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{exprs}}}",
        go_map(sel.get("matchLabels"))
    )
}

fn non_negative(spec: &Value, key: &str, errs: &mut Errs) {
    if let Some(n) = spec.get(key).and_then(Value::as_i64).filter(|n| *n < 0) {
        errs.invalid(
            &format!("spec.{key}"),
            n,
            "must be greater than or equal to 0",
        );
    }
}

/// Validates a Deployment, ReplicaSet, StatefulSet or DaemonSet.
pub(crate) fn validate(kind: &str, obj: &Value, old: Option<&Value>, errs: &mut Errs) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let sel = spec.get("selector").filter(|v| !v.is_null());
    let mut selector = None;
    match sel {
        None => errs.required("spec.selector", ""),
        Some(v) => match Selector::from_label_selector(v) {
            Ok(parsed) if parsed.is_empty() => errs.invalid(
                "spec.selector",
                go_selector(sel),
                &format!("empty selector is invalid for {}", kind.to_lowercase()),
            ),
            Ok(parsed) => selector = Some(parsed),
            Err(e) => errs.invalid(
                "spec.selector",
                go_selector(sel),
                &format!("invalid label selector: {e}"),
            ),
        },
    }
    if kind != "DaemonSet" {
        non_negative(spec, "replicas", errs);
    }
    non_negative(spec, "revisionHistoryLimit", errs);
    non_negative(spec, "minReadySeconds", errs);
    template(spec, selector.as_ref(), errs);
    match kind {
        "Deployment" => deployment_strategy(spec, errs),
        "StatefulSet" => stateful_set(spec, errs),
        "DaemonSet" => daemon_set_strategy(spec, errs),
        _ => {}
    }
    if let Some(old) = old {
        let old_sel = old.pointer("/spec/selector");
        if old_sel.is_some() && sel != old_sel {
            errs.invalid("spec.selector", go_selector(sel), "field is immutable");
        }
    }
}

fn template(spec: &Value, selector: Option<&Selector>, errs: &mut Errs) {
    let Some(tpl) = spec.get("template").filter(|t| t.is_object()) else {
        errs.required("spec.template", "");
        return;
    };
    let labels = tpl.pointer("/metadata/labels");
    super::meta::labels(labels, "spec.template.metadata.labels", errs);
    if let Some(sel) = selector
        && !sel.matches(labels.unwrap_or(&Value::Null))
    {
        errs.invalid(
            "spec.template.metadata.labels",
            go_map(labels),
            "`selector` does not match template `labels`",
        );
    }
    let pod_spec = tpl.get("spec").unwrap_or(&Value::Null);
    pod::pod_spec(pod_spec, "spec.template.spec", errs);
    let restart = s(pod_spec, "restartPolicy");
    if !restart.is_empty() && restart != "Always" {
        errs.not_supported("spec.template.spec.restartPolicy", restart, &["Always"]);
    }
}

/// An int-or-percent value as (value, is_percent), if well-formed.
fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::String(s) => s.strip_suffix('%')?.parse().ok().map(|n| (n, true)),
        v => v.as_i64().map(|n| (n, false)),
    }
}

fn rolling_value(ru: &Value, key: &str, path: &str, errs: &mut Errs) -> Option<i64> {
    let v = ru.get(key).filter(|v| !v.is_null())?;
    let field = format!("{path}.{key}");
    match int_or_percent(v) {
        None => {
            errs.invalid(&field, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
            None
        }
        Some((n, _)) if n < 0 => {
            errs.invalid(&field, v, "must be greater than or equal to 0");
            None
        }
        Some((n, true)) if n > 100 => {
            errs.invalid(&field, v, "must not be greater than 100%");
            None
        }
        Some((n, _)) => Some(n),
    }
}

fn deployment_strategy(spec: &Value, errs: &mut Errs) {
    let strategy = spec.get("strategy").unwrap_or(&Value::Null);
    match s(strategy, "type") {
        "" | "RollingUpdate" => {}
        "Recreate" => {
            if strategy.get("rollingUpdate").is_some_and(|v| !v.is_null()) {
                errs.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        other => errs.not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"]),
    }
    if let Some(ru) = strategy.get("rollingUpdate").filter(|v| v.is_object()) {
        let path = "spec.strategy.rollingUpdate";
        let unavailable = rolling_value(ru, "maxUnavailable", path, errs);
        let surge = rolling_value(ru, "maxSurge", path, errs);
        if unavailable == Some(0) && surge == Some(0) {
            errs.invalid(
                &format!("{path}.maxUnavailable"),
                &ru["maxUnavailable"],
                "may not be 0 when `maxSurge` is 0",
            );
        }
    }
    if let Some(deadline) = spec.get("progressDeadlineSeconds").and_then(Value::as_i64) {
        let min_ready = spec
            .get("minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if deadline <= min_ready {
            errs.invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            );
        }
    }
}

fn stateful_set(spec: &Value, errs: &mut Errs) {
    let policy = s(spec, "podManagementPolicy");
    if !policy.is_empty() && policy != "OrderedReady" && policy != "Parallel" {
        errs.not_supported(
            "spec.podManagementPolicy",
            policy,
            &["OrderedReady", "Parallel"],
        );
    }
    let ty = spec
        .pointer("/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !ty.is_empty() && ty != "RollingUpdate" && ty != "OnDelete" {
        errs.not_supported(
            "spec.updateStrategy.type",
            ty,
            &["OnDelete", "RollingUpdate"],
        );
    }
    if let Some(p) = spec
        .pointer("/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        .filter(|p| *p < 0)
    {
        errs.invalid(
            "spec.updateStrategy.rollingUpdate.partition",
            p,
            "must be greater than or equal to 0",
        );
    }
}

fn daemon_set_strategy(spec: &Value, errs: &mut Errs) {
    let strategy = spec.get("updateStrategy").unwrap_or(&Value::Null);
    let ty = s(strategy, "type");
    if !ty.is_empty() && ty != "RollingUpdate" && ty != "OnDelete" {
        errs.not_supported(
            "spec.updateStrategy.type",
            ty,
            &["OnDelete", "RollingUpdate"],
        );
    }
    if let Some(ru) = strategy.get("rollingUpdate").filter(|v| v.is_object()) {
        let path = "spec.updateStrategy.rollingUpdate";
        let unavailable = rolling_value(ru, "maxUnavailable", path, errs);
        let surge = rolling_value(ru, "maxSurge", path, errs);
        if unavailable == Some(0) && surge == Some(0) {
            errs.invalid(
                &format!("{path}.maxUnavailable"),
                &ru["maxUnavailable"],
                "may not be 0 when `maxSurge` is 0",
            );
        }
    }
}
