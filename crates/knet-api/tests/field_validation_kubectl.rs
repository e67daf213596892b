//! `fieldValidation` through real kubectl: `create --validate=strict|warn|ignore`
//! sends Strict, Warn and Ignore. Strict refuses an unknown field with kube's
//! 400, Warn creates the object and sends a Warning header kubectl prints,
//! Ignore creates it without a word; the unknown field is never stored.

mod support;

use std::path::Path;

/// Runs kubectl in `cwd` (callers pass `-v=6` where the request URLs must
/// show); exit code, stdout, stderr.
async fn kubectl(kubeconfig: &Path, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    support::kubectl(kubeconfig, &cwd.join("kcache"), cwd, args).await
}

/// A ConfigMap `name` with the unknown top-level field `bogus` and the
/// unknown `metadata.extra`.
fn manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  extra: 1\nbogus: true\ndata: {{k: v}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_validate_modes_map_to_strict_warn_and_ignore() {
    let (dir, server, _client) = support::start().await;
    let kc = server.kubeconfig_path().to_path_buf();
    let cwd = dir.path();
    let create = |mode: &'static str, name: &'static str| {
        let kc = kc.clone();
        async move {
            std::fs::write(cwd.join(format!("{name}.yaml")), manifest(name)).expect("write");
            let file = format!("{name}.yaml");
            let validate = format!("--validate={mode}");
            kubectl(&kc, cwd, &["create", "-v=6", &validate, "-f", &file]).await
        }
    };

    let (code, _, err) = create("strict", "strict").await;
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("fieldValidation=Strict"), "{err}");
    assert!(
        err.contains(
            r#"strict decoding error: [unknown field "bogus", unknown field "metadata.extra"]"#
        ),
        "{err}"
    );

    let (code, out, err) = create("warn", "warned").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configmap/warned created"), "{out}");
    assert!(err.contains("fieldValidation=Warn"), "{err}");
    assert!(err.contains(r#"Warning: unknown field "bogus""#), "{err}");
    assert!(
        err.contains(r#"Warning: unknown field "metadata.extra""#),
        "{err}"
    );

    let (code, out, err) = create("ignore", "ignored").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configmap/ignored created"), "{out}");
    assert!(err.contains("fieldValidation=Ignore"), "{err}");
    assert!(
        !err.contains("Warning"),
        "Ignore warns about nothing: {err}"
    );

    for name in ["warned", "ignored"] {
        let (code, out, err) = kubectl(&kc, cwd, &["get", "cm", name, "-o", "json"]).await;
        assert_eq!(code, 0, "{err}");
        let cm: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(cm["data"]["k"], "v", "{name}");
        assert!(cm.get("bogus").is_none(), "{name}: {cm}");
        assert!(cm["metadata"].get("extra").is_none(), "{name}: {cm}");
    }
    let (code, _, _) = kubectl(&kc, cwd, &["get", "cm", "strict"]).await;
    assert_ne!(code, 0, "Strict created nothing");

    // A value of the wrong type does not decode: 400 in every mode.
    std::fs::write(
        cwd.join("typed.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typed}\ndata: [1]\n",
    )
    .expect("write");
    let (code, _, err) = kubectl(
        &kc,
        cwd,
        &["create", "--validate=ignore", "-f", "typed.yaml"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("cannot be handled as a ConfigMap"), "{err}");
    server.stop().await;
}
