//! `ipMasq`: one nftables rule per attachment in table `ip knet-cni`, chain
//! `postrouting`, inside the node namespace only. Rules carry a comment that
//! names the attachment so DEL removes exactly its own.

use std::io::Write;
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;

use crate::netns::{Netns, NetnsError};

/// The nftables table knet's CNI plugin owns.
pub const TABLE: &str = "knet-cni";

/// Errors of the masquerade rules.
#[derive(Debug, thiserror::Error)]
pub enum MasqError {
    /// Entering the namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Running `nft` failed.
    #[error("nft {what}: {detail}")]
    Nft {
        /// What was attempted.
        what: &'static str,
        /// stderr or the spawn error.
        detail: String,
    },
}

fn comment(network: &str, id: &str, ifname: &str) -> String {
    let tag = super::bridge::host_veth_name(id, ifname);
    format!("knet {network} {tag}")
}

fn nft(
    ns: &Netns,
    what: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, MasqError> {
    let out = ns.run(|| -> std::io::Result<std::process::Output> {
        let mut child = Command::new("nft")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(s) = stdin {
            child.stdin.take().expect("piped").write_all(s.as_bytes())?;
        }
        drop(child.stdin.take());
        child.wait_with_output()
    })?;
    let out = out.map_err(|e| MasqError::Nft {
        what,
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(MasqError::Nft {
            what,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Masquerades traffic from `addr` leaving its subnet, except to the
/// networks in `keep` (e.g. the cluster's pod network) and multicast.
pub fn add(
    ns: &Netns,
    network: &str,
    id: &str,
    ifname: &str,
    addr: Ipv4Net,
    keep: &[Ipv4Net],
) -> Result<(), MasqError> {
    let mut all: Vec<Ipv4Net> = vec![addr.trunc(), "224.0.0.0/4".parse().expect("literal")];
    all.extend(
        keep.iter()
            .filter(|n| n.prefix_len() > 0)
            .map(|n| n.trunc()),
    );
    // nft refuses overlapping intervals in one set: keep only the outermost.
    let nets: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|n| !all.iter().any(|o| o != *n && o.contains(*n)))
        .map(|n| n.to_string())
        .collect();
    let script = format!(
        "table ip {TABLE} {{\n chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n}}\n\
         add rule ip {TABLE} postrouting ip saddr {ip} ip daddr != {{ {set} }} masquerade comment \"{c}\"\n",
        ip = addr.addr(),
        set = nets.into_iter().collect::<Vec<_>>().join(", "),
        c = comment(network, id, ifname),
    );
    nft(ns, "add masquerade rule", &["-f", "-"], Some(&script)).map(drop)
}

/// Removes the attachment's rule; a missing table or rule is fine.
pub fn del(ns: &Netns, network: &str, id: &str, ifname: &str) -> Result<(), MasqError> {
    let listing = match nft(
        ns,
        "list chain",
        &["-j", "list", "chain", "ip", TABLE, "postrouting"],
        None,
    ) {
        Ok(s) => s,
        Err(MasqError::Nft { detail, .. }) if detail.contains("No such file") => return Ok(()),
        Err(e) => return Err(e),
    };
    let want = comment(network, id, ifname);
    let v: serde_json::Value = serde_json::from_str(&listing).map_err(|e| MasqError::Nft {
        what: "parse listing",
        detail: e.to_string(),
    })?;
    let handles = v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["comment"].as_str() == Some(want.as_str()))
        .filter_map(|r| r["handle"].as_u64());
    for h in handles {
        let h = h.to_string();
        nft(
            ns,
            "delete rule",
            &["delete", "rule", "ip", TABLE, "postrouting", "handle", &h],
            None,
        )?;
    }
    Ok(())
}
