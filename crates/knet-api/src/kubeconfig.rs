//! The admin kubeconfig: server URL, CA data and bearer token, written with
//! mode 0600.

use base64::Engine;
use std::path::Path;

/// Renders a kubeconfig for `server` (`https://127.0.0.1:6443`).
pub fn render(server: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: knet
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: knet-admin
  user:
    token: {token}
contexts:
- name: knet
  context:
    cluster: knet
    user: knet-admin
    namespace: default
current-context: knet
preferences: {{}}
"
    )
}

/// Writes the kubeconfig to `path` (mode 0600), creating parent directories.
pub fn write(
    path: &Path,
    server: &str,
    ca_pem: &str,
    token: &str,
) -> Result<(), crate::tls::TlsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| crate::tls::TlsError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    crate::tls::write_private(path, &render(server, ca_pem, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_parses_as_yaml_with_our_values() {
        let text = render("https://127.0.0.1:6443", "PEM", "tok");
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"].as_str(),
            Some("https://127.0.0.1:6443")
        );
        assert_eq!(v["users"][0]["user"]["token"].as_str(), Some("tok"));
        assert_eq!(v["current-context"].as_str(), Some("knet"));
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"].as_str(),
            Some("UEVN")
        );
    }
}
