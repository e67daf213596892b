//! A static node list (JSON or YAML: a list of [`NodeInfo`]), for running
//! the agent without an API server (`knet podnet --nodes-file`) and for tests.

use std::path::Path;

use super::{AgentError, NodeInfo};

/// Parses a node list (JSON is valid YAML, so one parser reads both).
pub fn parse(text: &str) -> Result<Vec<NodeInfo>, String> {
    serde_json::from_str(text).or_else(|je| {
        serde_yaml::from_str(text)
            .map_err(|ye| format!("not a JSON ({je}) or YAML ({ye}) node list"))
    })
}

/// Reads and parses the file.
pub fn read(path: &Path) -> Result<Vec<NodeInfo>, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentError::File {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|m| AgentError::File {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, m),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_and_yaml() {
        let j = r#"[{"name":"a","podCIDR":"10.244.0.0/24","nodeIP":"192.168.50.1","vtepMAC":"0e:00:00:00:00:01"}]"#;
        let n = super::parse(j).unwrap();
        assert_eq!(n[0].vtep_mac.unwrap().to_string(), "0e:00:00:00:00:01");
        let y = "- name: b\n  podCIDR: 10.244.1.0/24\n  nodeIP: 192.168.50.2\n";
        let n = super::parse(y).unwrap();
        assert_eq!(n[0].name, "b");
        assert!(n[0].vtep_mac.is_none());
        assert!(super::parse("- name: c").is_err());
    }
}
