//! Random patches against a realistic object: every patch type must return
//! a value or an error, never panic.

use knet_api::patch::{json_patch, merge_patch, server_side_apply_at, strategic_merge_patch};
use knet_api::resources::lookup_kind;
use serde_json::{Map, Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

const KEYS: &[&str] = &[
    "spec",
    "template",
    "containers",
    "name",
    "image",
    "ports",
    "containerPort",
    "env",
    "value",
    "metadata",
    "labels",
    "finalizers",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$deleteFromPrimitiveList/finalizers",
    "replicas",
    "strategy",
    "volumes",
    "status",
    "conditions",
    "type",
];
const STRINGS: &[&str] = &[
    "web", "replace", "delete", "merge", "a", "", "$patch", "nginx",
];

fn random_value(r: &mut Rng, depth: u32) -> Value {
    match r.next() % if depth > 4 { 4 } else { 7 } {
        0 => Value::Null,
        1 => json!(r.next().is_multiple_of(3)),
        2 => json!((r.next() % 100) as i64 - 10),
        3 => json!(r.pick(STRINGS)),
        4 | 5 => {
            let mut m = Map::new();
            for _ in 0..(r.next() % 4) {
                let k = r.pick(KEYS).to_string();
                m.insert(k, random_value(r, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(
            (0..(r.next() % 4))
                .map(|_| random_value(r, depth + 1))
                .collect(),
        ),
    }
}

fn random_pointer(r: &mut Rng) -> String {
    let segs = [
        "spec",
        "template",
        "containers",
        "0",
        "1",
        "-",
        "name",
        "metadata",
        "labels",
        "~1",
        "~",
        "00",
    ];
    (0..(r.next() % 5))
        .map(|_| format!("/{}", segs[(r.next() as usize) % segs.len()]))
        .collect()
}

fn random_json_patch(r: &mut Rng) -> Value {
    let ops = ["add", "remove", "replace", "move", "copy", "test", "bogus"];
    Value::Array(
        (0..(r.next() % 4))
            .map(|_| {
                json!({"op": ops[(r.next() as usize) % ops.len()], "path": random_pointer(r),
                       "from": random_pointer(r), "value": random_value(r, 3)})
            })
            .collect(),
    )
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"replicas": 2, "template": {"spec": {
            "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]},
                           {"name": "side", "image": "busybox"}],
            "volumes": [{"name": "v", "emptyDir": {}}]}}}})
}

#[test]
fn random_patches_never_panic() {
    let r_dep = lookup_kind("apps/v1", "Deployment").unwrap();
    let base = deployment();
    let mut live =
        server_side_apply_at(r_dep, None, &base, "seed", false, "2026-01-01T00:00:00Z").unwrap();
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..5_000 {
        let p = random_value(&mut r, 0);
        let _ = merge_patch(&base, &p);
        match strategic_merge_patch(r_dep, &base, &p) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        let _ = json_patch(&base, &random_json_patch(&mut r));
        let force = r.next().is_multiple_of(2);
        if let Ok(next) = server_side_apply_at(
            r_dep,
            Some(&live),
            &p,
            "fuzz",
            force,
            "2026-01-01T00:00:01Z",
        ) {
            live = next;
        }
    }
    assert!(
        ok > 0 && err > 0,
        "the generator should hit both paths (ok={ok}, err={err})"
    );
}
