//! RFC 6902 JSON patch, including the RFC's own appendix examples.

use knet_api::patch::{PatchError, json_patch};
use serde_json::{Value, json};

fn ok(doc: Value, patch: Value) -> Value {
    json_patch(&doc, &patch).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn unapplicable(doc: Value, patch: Value) -> String {
    match json_patch(&doc, &patch) {
        Err(PatchError::Unapplicable(m)) => m,
        other => panic!("want Unapplicable, got {other:?}"),
    }
}

fn malformed(doc: Value, patch: Value) -> String {
    match json_patch(&doc, &patch) {
        Err(PatchError::Malformed(m)) => m,
        other => panic!("want Malformed, got {other:?}"),
    }
}

#[test]
fn add_object_member_and_array_elements() {
    assert_eq!(
        ok(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}])
        ),
        json!({"foo": "bar", "baz": "qux"})
    );
    assert_eq!(
        ok(
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}])
        ),
        json!({"foo": ["bar", "qux", "baz"]})
    );
    assert_eq!(
        ok(
            json!({"foo": [1]}),
            json!([{"op": "add", "path": "/foo/-", "value": 2}])
        ),
        json!({"foo": [1, 2]})
    );
    assert_eq!(
        ok(
            json!({"foo": [1]}),
            json!([{"op": "add", "path": "/foo/1", "value": 2}])
        ),
        json!({"foo": [1, 2]})
    );
}

#[test]
fn remove_replace_move_copy() {
    assert_eq!(
        ok(
            json!({"a": 1, "b": 2}),
            json!([{"op": "remove", "path": "/a"}])
        ),
        json!({"b": 2})
    );
    assert_eq!(
        ok(
            json!({"a": [1, 2, 3]}),
            json!([{"op": "remove", "path": "/a/1"}])
        ),
        json!({"a": [1, 3]})
    );
    assert_eq!(
        ok(
            json!({"a": 1}),
            json!([{"op": "replace", "path": "/a", "value": {"x": 1}}])
        ),
        json!({"a": {"x": 1}})
    );
    assert_eq!(
        ok(
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
        ),
        json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
    );
    assert_eq!(
        ok(
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}])
        ),
        json!({"foo": ["all", "cows", "eat", "grass"]})
    );
    assert_eq!(
        ok(
            json!({"a": {"b": 1}}),
            json!([{"op": "copy", "from": "/a", "path": "/c"}])
        ),
        json!({"a": {"b": 1}, "c": {"b": 1}})
    );
}

#[test]
fn replace_whole_document_with_empty_pointer() {
    assert_eq!(
        ok(
            json!({"a": 1}),
            json!([{"op": "replace", "path": "", "value": [1]}])
        ),
        json!([1])
    );
}

#[test]
fn pointer_escapes() {
    let doc = json!({"metadata": {"labels": {"app.kubernetes.io/name": "x", "a~b": "y"}}});
    let out = ok(
        doc,
        json!([
            {"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "z"},
            {"op": "remove", "path": "/metadata/labels/a~0b"}
        ]),
    );
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"app.kubernetes.io/name": "z"}}})
    );
    let m = malformed(json!({}), json!([{"op": "remove", "path": "/a~2"}]));
    assert!(m.contains("escape"), "{m}");
}

#[test]
fn test_op_passes_and_fails_atomically() {
    let doc = json!({"spec": {"replicas": 3}});
    assert_eq!(
        ok(
            doc.clone(),
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 3},
                {"op": "replace", "path": "/spec/replicas", "value": 5}
            ])
        ),
        json!({"spec": {"replicas": 5}})
    );
    let m = unapplicable(
        doc,
        json!([
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "test", "path": "/spec/replicas", "value": 3}
        ]),
    );
    assert!(
        m.contains("operation 1") && m.contains("test failed"),
        "{m}"
    );
}

#[test]
fn errors_name_the_problem() {
    assert!(unapplicable(json!({}), json!([{"op": "remove", "path": "/nope"}])).contains("/nope"));
    assert!(
        unapplicable(
            json!({"a": [1]}),
            json!([{"op": "replace", "path": "/a/5", "value": 1}])
        )
        .contains("out of range")
    );
    assert!(
        unapplicable(
            json!({"a": [1]}),
            json!([{"op": "add", "path": "/a/01", "value": 1}])
        )
        .contains("not an array index")
    );
    assert!(
        unapplicable(
            json!({}),
            json!([{"op": "add", "path": "/a/b", "value": 1}])
        )
        .contains("/a")
    );
    assert!(malformed(json!({}), json!({"op": "add"})).contains("array"));
    assert!(malformed(json!({}), json!([{"op": "frob", "path": "/a"}])).contains("frob"));
    assert!(malformed(json!({}), json!([{"op": "add", "path": "/a"}])).contains("value"));
    assert!(
        malformed(json!({}), json!([{"op": "add", "path": "a", "value": 1}]))
            .contains("start with")
    );
    assert!(
        malformed(
            json!({"a": {}}),
            json!([{"op": "move", "from": "/a", "path": "/a/b"}])
        )
        .contains("own child")
    );
    assert!(malformed(json!({}), json!([{"path": "/a"}])).contains("\"op\""));
}

#[test]
fn kubectl_patch_type_json_on_a_deployment() {
    // `kubectl patch deploy web --type=json -p '[...]'`
    let dep = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.19"}]}}}});
    let out = ok(
        dep,
        json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"},
            {"op": "add", "path": "/spec/template/spec/containers/0/env", "value": [{"name": "A", "value": "1"}]}
        ]),
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0],
        json!({"name": "web", "image": "nginx:1.28", "env": [{"name": "A", "value": "1"}]})
    );
}
