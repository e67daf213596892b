//! The `pod-template-hash` of a Deployment's ReplicaSets, computed the way
//! Kubernetes does: FNV-32a over the pod template (plus the collision count
//! when set), the decimal value "safe-encoded" into the alphabet
//! `bcdfghjklmnpqrstvwxz2456789` (so hashes look like `7b54d48599`).
//!
//! Upstream hashes Go's debug rendering of the template, which cannot be
//! reproduced outside Go; knet hashes the template's canonical JSON. The
//! hash is stable for a template and changes when the template changes,
//! which is all any client relies on.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::labels;

/// Characters the hash is encoded with (no vowels, no confusable digits).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// 32-bit FNV-1a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Maps each character of `s` into the safe alphabet (upstream's `SafeEncodeString`).
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE[usize::from(b) % SAFE.len()] as char)
        .collect()
}

/// The template without the `pod-template-hash` label: what the hash covers
/// and what "same template" compares.
pub fn strip_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut()
        && let Some(l) = meta.labels.as_mut()
    {
        l.remove(labels::POD_TEMPLATE_HASH);
        if l.is_empty() {
            meta.labels = None;
        }
    }
    t
}

/// The `pod-template-hash` for a template and collision count.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut data = serde_json::to_vec(&strip_hash(template)).unwrap_or_default();
    if let Some(c) = collision_count {
        data.extend_from_slice(c.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// Whether two templates are equal apart from the hash label.
pub fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    strip_hash(a) == strip_hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tpl(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": image}]}}))
        .unwrap()
    }

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn hash_is_safe_encoded_decimal_and_tracks_template() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let h = compute(&tpl("nginx:1.19"), None);
        assert!((6..=10).contains(&h.len()), "{h}");
        assert!(h.bytes().all(|b| SAFE.contains(&b)));
        assert_eq!(h, compute(&tpl("nginx:1.19"), None));
        assert_ne!(h, compute(&tpl("nginx:1.20"), None));
        assert_ne!(h, compute(&tpl("nginx:1.19"), Some(1)));
        let mut labelled = tpl("nginx:1.19");
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(labels::POD_TEMPLATE_HASH.into(), h.clone());
        assert_eq!(compute(&labelled, None), h);
        assert!(same_template(&labelled, &tpl("nginx:1.19")));
    }
}
