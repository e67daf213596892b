//! `kubectl auth can-i` and `kubectl auth whoami` against `knet api`: the
//! reviews kubectl sends (as protobuf) are answered for the one admin
//! identity, and nothing is stored.

#[path = "api_support/server.rs"]
mod server;

use server::{ApiProc, Kubectl};

#[test]
fn kubectl_auth_can_i_and_whoami() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "delete",
            "deployments",
            "-n",
            "kube-system"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(k.ok(&["auth", "can-i", "get", "/healthz"]).trim(), "yes");
    let me = k.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ]);
    assert_eq!(
        me,
        r#"knet-admin ["system:masters","system:authenticated"]"#
    );
    let rules = k.ok(&["auth", "can-i", "--list"]);
    assert!(rules.lines().any(|l| l.starts_with("*.*")), "{rules}");
    // Reviews are answered, not stored; there is nothing to list.
    let listed = k.run(&["get", "selfsubjectaccessreviews"]);
    assert_ne!(listed.code, 0, "reviews cannot be listed: {listed:?}");
    assert!(
        listed.stderr.contains("MethodNotAllowed") || listed.stderr.contains("not allow"),
        "{listed:?}"
    );
}
