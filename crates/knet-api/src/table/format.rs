//! Cell formatting shared by the printers: kube's human durations, label and
//! selector strings, JSON accessors.

use knet_core::selector::Selector;
use serde_json::Value;
use std::time::SystemTime;

/// `<none>`, kube's placeholder for an empty cell.
pub(crate) const NONE: &str = "<none>";

/// kube's `HumanDuration`: `5s`, `3m2s`, `10h`, `2d`, `3y45d`, … Negative
/// durations down to -1 s read as `0s`; anything earlier is `<invalid>`.
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = hours / 24 / 365;
        return match (hours / 24) % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Whole seconds from the RFC 3339 time `ts` to `now`, truncated toward zero.
pub(crate) fn seconds_since(ts: &str, now: SystemTime) -> Option<i64> {
    let t: jiff::Timestamp = ts.parse().ok()?;
    let now = jiff::Timestamp::try_from(now).ok()?;
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    i64::try_from(nanos / 1_000_000_000).ok()
}

/// kube's `translateTimestampSince`: `<unknown>` for a missing time.
pub(crate) fn since(ts: &Value, now: SystemTime) -> String {
    match ts.as_str().and_then(|t| seconds_since(t, now)) {
        Some(s) => human_duration(s),
        None => "<unknown>".into(),
    }
}

/// The string at `ptr` (a JSON pointer), or `""`.
pub(crate) fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `ptr`, or 0.
pub(crate) fn int_at(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at `ptr`, or an empty slice.
pub(crate) fn arr_at<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// kube's `labels.FormatLabels`: sorted `k=v,…`, or `<none>`.
pub(crate) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        NONE.into()
    } else {
        pairs.join(",")
    }
}

/// kube's `metav1.FormatLabelSelector`: canonical string, `<none>` when
/// empty, `<error>` when invalid.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match Selector::from_label_selector(sel.unwrap_or(&Value::Null)) {
        Ok(s) if s.to_string().is_empty() => NONE.into(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".into(),
    }
}

/// Container names and images of a pod template, comma-joined.
pub(crate) fn container_cells(pod_spec: &Value) -> (String, String) {
    let containers = arr_at(pod_spec, "/containers");
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// Up to three items joined by `,`, then ` + N more...`; `<unset>` when empty.
pub(crate) fn list_with_more(items: &[String]) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items[..items.len().min(MAX)].join(",");
    if items.len() > MAX {
        format!("{shown} + {} more...", items.len() - MAX)
    } else {
        shown
    }
}
