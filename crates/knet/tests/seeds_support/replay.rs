//! Helpers of the seed replay tests: run `examples/seeds/<seed>/replay.sh`
//! against a lab, split its output by heading, and read DNS answers out of it.

#![allow(dead_code)]

use crate::lab::{Lab, knet, namespaces_of};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// `examples/seeds` in the checkout.
pub(crate) fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/seeds")
}

/// The output of one replay, by section.
pub(crate) struct Replay {
    pub(crate) out: String,
    sections: Vec<(String, String)>,
}

impl Replay {
    /// The text under the first heading containing `title` (panics if none).
    pub(crate) fn section(&self, title: &str) -> &str {
        self.sections
            .iter()
            .find(|(h, _)| h.contains(title))
            .map(|(_, body)| body.as_str())
            .unwrap_or_else(|| panic!("no section {title:?} in the replay:\n{}", self.out))
    }
}

/// Runs `examples/seeds/<seed>/replay.sh` against `lab`; fails the test if it fails.
pub(crate) fn replay(lab: &Lab, seed: &str) -> Replay {
    let script = seeds_dir().join(seed).join("replay.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("KNET_CLUSTER", &lab.name)
        .env("KNET", knet())
        .env("KUBECONFIG", &lab.kubeconfig)
        .output()
        .expect("run replay.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{seed}/replay.sh failed ({}):\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sections = Vec::new();
    for chunk in stdout.split("\n=== ").skip(1) {
        let (head, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        sections.push((head.to_string(), body.to_string()));
    }
    Replay {
        out: stdout,
        sections,
    }
}

/// One resource record from dig's answer section: (owner, type, data).
pub(crate) type Rr = (String, String, String);

/// The resource records (`NAME TTL IN TYPE DATA`) in `text`, in order.
pub(crate) fn records(text: &str) -> Vec<Rr> {
    text.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 && f[2] == "IN" && f[1].parse::<u32>().is_ok() {
                Some((f[0].to_string(), f[3].to_string(), f[4..].join(" ")))
            } else {
                None
            }
        })
        .collect()
}

/// The A record data for `name` in `text`.
pub(crate) fn a_records(text: &str, name: &str) -> Vec<String> {
    records(text)
        .into_iter()
        .filter(|(n, t, _)| n == name && t == "A")
        .map(|(_, _, d)| d)
        .collect()
}

/// The row of a `kubectl get` table whose first column is `name`, split.
pub(crate) fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{table}"))
}

/// The header line of the first table in `text` starting with `NAME`.
pub(crate) fn header(text: &str) -> Vec<&str> {
    text.lines()
        .find(|l| l.starts_with("NAME "))
        .unwrap_or_else(|| panic!("no table header in:\n{text}"))
        .split_whitespace()
        .collect()
}

/// Pod IPs of pods matching `selector`.
pub(crate) fn pod_ips(lab: &Lab, selector: &str) -> BTreeSet<String> {
    lab.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

/// Stops the lab and checks nothing of it is left.
pub(crate) fn down_leaves_nothing(lab: Lab) {
    let name = lab.name.clone();
    let out = Command::new(knet())
        .args(["down", "--name", &name])
        .output()
        .expect("run knet down");
    assert!(
        out.status.success(),
        "knet down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(lab);
    assert_eq!(namespaces_of(&name), Vec::<String>::new());
    assert!(!std::path::Path::new(&format!("/run/knet/{name}")).exists());
}

/// The stand-in upstream DNS (`examples/seeds/upstream.sh`) of one lab;
/// stopped on drop.
pub(crate) struct Upstream {
    cluster: String,
}

impl Upstream {
    /// `upstream.sh start` for `lab`.
    pub(crate) fn start(lab: &Lab) -> Upstream {
        let up = Upstream {
            cluster: lab.name.clone(),
        };
        let out = up.run("start");
        assert!(
            out.status.success(),
            "upstream.sh start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        up
    }

    fn run(&self, verb: &str) -> std::process::Output {
        Command::new("bash")
            .arg(seeds_dir().join("upstream.sh"))
            .arg(verb)
            .env("KNET_CLUSTER", &self.cluster)
            .env("KNET", knet())
            .output()
            .expect("run upstream.sh")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}
