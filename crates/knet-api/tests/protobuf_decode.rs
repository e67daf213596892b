//! `protobuf::decode` on hand-encoded messages (fields kubectl's generators
//! do not send) and on hostile input: truncation, garbage, bad envelopes.

use knet_api::protobuf::{MAGIC, decode};
use serde_json::json;

// === a tiny protobuf encoder for test input ===

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn len_field(n: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(n) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn str_field(n: u32, s: &str) -> Vec<u8> {
    len_field(n, s.as_bytes())
}

fn int_field(n: u32, v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(n) << 3, &mut out);
    varint(v as u64, &mut out);
    out
}

fn msg(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn map_entry(n: u32, k: &str, v: Vec<u8>) -> Vec<u8> {
    len_field(n, &msg(&[str_field(1, k), len_field(2, &v)]))
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(len_field(
        1,
        &msg(&[str_field(1, api_version), str_field(2, kind)]),
    ));
    out.extend(len_field(2, raw));
    out.extend(str_field(3, ""));
    out.extend(str_field(4, "application/vnd.kubernetes.protobuf"));
    out
}

/// A Pod exercising env, resources (Quantity map), volumes (inline
/// VolumeSource), probes (IntOrString string port), Time, a negative int32
/// and a pointer bool set to false.
fn pod() -> Vec<u8> {
    let meta = msg(&[
        str_field(1, "p"),
        str_field(3, "ns1"),
        len_field(8, &msg(&[int_field(1, 1_700_000_000)])),
        map_entry(11, "app", b"web".to_vec()),
        str_field(14, "example.com/f"),
    ]);
    let quantity = |s: &str| str_field(1, s);
    let container = msg(&[
        str_field(1, "web"),
        str_field(2, "nginx"),
        str_field(4, "-g"),
        str_field(4, "daemon off;"),
        len_field(
            6,
            &msg(&[str_field(1, "http"), int_field(3, 80), str_field(4, "TCP")]),
        ),
        len_field(7, &msg(&[str_field(1, "A"), str_field(2, "1")])),
        len_field(8, &map_entry(1, "cpu", quantity("500m"))),
        len_field(9, &msg(&[str_field(1, "data"), str_field(3, "/data")])),
        len_field(
            11,
            &msg(&[
                len_field(
                    1,
                    &len_field(
                        2,
                        &msg(&[
                            str_field(1, "/healthz"),
                            len_field(2, &msg(&[int_field(1, 1), str_field(3, "http")])),
                        ]),
                    ),
                ),
                int_field(2, 5),
            ]),
        ),
    ]);
    let volume = msg(&[
        str_field(1, "data"),
        len_field(2, &len_field(2, &msg(&[str_field(1, "Memory")]))),
    ]);
    let spec = msg(&[
        len_field(1, &volume),
        len_field(2, &container),
        str_field(3, "Always"),
        int_field(4, 30),
        int_field(21, 0),
        int_field(25, -5),
        len_field(22, &msg(&[str_field(1, "k"), str_field(2, "Exists")])),
    ]);
    msg(&[len_field(1, &meta), len_field(2, &spec), len_field(3, &[])])
}

#[test]
fn pod_decodes_with_kubernetes_json_shapes() {
    let out = decode(&envelope("v1", "Pod", &pod())).unwrap();
    assert_eq!(
        out,
        json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "namespace": "ns1", "creationTimestamp": "2023-11-14T22:13:20Z",
                         "labels": {"app": "web"}, "finalizers": ["example.com/f"]},
            "spec": {
                "volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}],
                "containers": [{
                    "name": "web", "image": "nginx", "args": ["-g", "daemon off;"],
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}],
                    "resources": {"limits": {"cpu": "500m"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5}
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "automountServiceAccountToken": false,
                "priority": -5,
                "tolerations": [{"key": "k", "operator": "Exists"}]
            },
            "status": {}
        })
    );
}

#[test]
fn unknown_field_numbers_are_skipped() {
    let raw = msg(&[
        len_field(1, &str_field(1, "foo")),
        str_field(99, "future"),
        int_field(98, 7),
    ]);
    let out = decode(&envelope("v1", "Namespace", &raw)).unwrap();
    assert_eq!(
        out,
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "foo"}})
    );
}

#[test]
fn bad_envelopes_get_clear_errors() {
    let err = |b: &[u8]| decode(b).unwrap_err().to_string();
    assert!(err(b"{\"kind\":\"Pod\"}").contains("magic"));
    assert!(err(&envelope("v1", "Frobnicator", &[])).contains("\"Frobnicator\""));
    assert!(err(&envelope("apps/v2", "Deployment", &[])).contains("not supported"));
    assert!(err(MAGIC).contains("apiVersion/kind"));
    let mut gz = envelope("v1", "Namespace", &[]);
    gz.extend(str_field(3, "gzip"));
    assert!(err(&gz).contains("contentEncoding"));
    // A string field sent as a varint.
    let wrong = envelope("v1", "Namespace", &len_field(1, &int_field(1, 5)));
    assert!(err(&wrong).contains("ObjectMeta.name"), "{}", err(&wrong));
}

#[test]
fn every_truncation_of_real_bodies_errors_or_decodes_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    let mut bodies = vec![envelope("v1", "Pod", &pod())];
    for name in [
        "deployment_multi",
        "svc_lb",
        "configmap",
        "cronjob",
        "ingress",
    ] {
        bodies.push(std::fs::read(dir.join(format!("{name}.pb"))).unwrap());
    }
    let mut errors = 0;
    for body in &bodies {
        for cut in 0..body.len() {
            if decode(&body[..cut]).is_err() {
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "truncated bodies must be rejected");
}

#[test]
fn random_and_mutated_input_never_panics() {
    // xorshift: deterministic, no extra dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = envelope("v1", "Pod", &pod());
    for i in 0..20_000 {
        let mut b = if i % 2 == 0 {
            base.clone()
        } else {
            let mut v = MAGIC.to_vec();
            v.extend((0..(next() % 200)).map(|_| next() as u8));
            v
        };
        for _ in 0..(next() % 4) {
            let at = (next() as usize) % b.len();
            b[at] = next() as u8;
        }
        let _ = decode(&b);
    }
}

#[test]
fn over_long_varints_and_lengths_are_errors() {
    let mut b = MAGIC.to_vec();
    b.extend([
        0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ]);
    assert!(decode(&b).unwrap_err().to_string().contains("varint"));
    let mut b = MAGIC.to_vec();
    b.extend([0x12, 0xff, 0xff, 0xff, 0x0f]);
    assert!(decode(&b).unwrap_err().to_string().contains("truncated"));
}
