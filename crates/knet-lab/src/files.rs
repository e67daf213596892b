//! The files a kubelet writes into every pod: `/etc/resolv.conf` by
//! `dnsPolicy`, `/etc/hosts`, `/etc/hostname`, and the Service environment
//! variables. All pure: they take the pod and cluster facts, return text.

pub mod envvars;
pub mod hosts;
pub mod resolv;

use serde_json::Value;

/// The strings of a JSON array (`command`, `searches`…); empty when absent.
pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
