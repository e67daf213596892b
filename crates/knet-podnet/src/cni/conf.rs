//! The network configuration on stdin: one plugin entry of a conflist with
//! the runtime's injected keys (`cniVersion`, `name`, `prevResult`,
//! `runtimeConfig`), parsed and resolved into [`BridgeConf`].
//!
//! Two modes share the bridge code: `bridge`-style configs carry an `ipam`
//! object; flannel-style configs (type `knet`) leave it out and name the
//! node's pod CIDR (`podCIDR`) or a flannel `subnet.env` (`subnetFile`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::SUPPORTED_VERSIONS;
use super::error::{CniError, ErrorCode};
use crate::ipam::{IpamConfig, RangeConfig, RouteConfig};
use crate::types::IfName;

/// Default bridge device of knet-style configs (the seeds' `cbr0`).
pub const DEFAULT_BRIDGE: &str = "cbr0";
/// Where flanneld (and `knet podnet`) write the node's lease.
pub const DEFAULT_SUBNET_FILE: &str = "/run/flannel/subnet.env";

/// One entry of `cni.dev/valid-attachments` (GC input).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Container id.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Interface name.
    pub ifname: String,
}

/// The network config as sent on stdin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    /// Version of the config (and of the result to write).
    #[serde(default)]
    pub cni_version: String,
    /// Network name (the IPAM state directory's name).
    #[serde(default)]
    pub name: String,
    /// Plugin type.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Bridge device name.
    pub bridge: Option<String>,
    /// Put the gateway address on the bridge and enable forwarding.
    #[serde(default)]
    pub is_gateway: bool,
    /// Also install a default route in the pod (implies `isGateway`).
    #[serde(default)]
    pub is_default_gateway: bool,
    /// Masquerade traffic leaving the pod subnet (nftables, node namespace).
    pub ip_masq: Option<bool>,
    /// Let a pod reach itself through a Service (hairpin on the bridge port).
    #[serde(default)]
    pub hairpin_mode: bool,
    /// Promiscuous bridge (mutually exclusive with hairpin).
    #[serde(default)]
    pub promisc_mode: bool,
    /// MTU of the veth pair (and of a bridge knet creates).
    pub mtu: Option<u32>,
    /// host-local style IPAM.
    pub ipam: Option<IpamConfig>,
    /// Flannel-style: the node's pod CIDR.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<Ipv4Net>,
    /// Flannel-style: the whole pod network (a route to it goes in the pod).
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Option<Ipv4Net>,
    /// Flannel-style: read the lease from this `subnet.env`.
    pub subnet_file: Option<PathBuf>,
    /// Flannel-style: IPAM state directory parent.
    pub data_dir: Option<PathBuf>,
    /// The previous plugin's result (chaining, CHECK, DEL).
    pub prev_result: Option<serde_json::Value>,
    /// Capabilities the runtime supplied.
    pub runtime_config: Option<serde_json::Value>,
    /// GC: attachments that must survive.
    #[serde(rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// GC: the key the 1.1.0 tag used.
    #[serde(rename = "cni.dev/attachments")]
    pub attachments: Option<Vec<Attachment>>,
    /// Reference-bridge options knet does not implement: refused with code 2.
    pub vlan: Option<serde_json::Value>,
    /// Refused with code 2.
    pub vlan_trunk: Option<serde_json::Value>,
    /// Refused with code 2.
    pub macspoofchk: Option<bool>,
}

/// What the bridge code needs, all defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConf {
    /// Network name.
    pub network: String,
    /// Result version.
    pub cni_version: String,
    /// Bridge device.
    pub bridge: IfName,
    /// Gateway address on the bridge.
    pub is_gateway: bool,
    /// Default route in the pod.
    pub is_default_gateway: bool,
    /// Masquerade.
    pub ip_masq: bool,
    /// Hairpin on the host port.
    pub hairpin: bool,
    /// Promiscuous bridge.
    pub promisc: bool,
    /// Veth MTU.
    pub mtu: Option<u32>,
    /// IPAM.
    pub ipam: IpamConfig,
}

impl BridgeConf {
    /// The flannel-style config of one node, for library callers (the lab):
    /// bridge `cbr0` as default gateway, hairpin on, addresses from
    /// `pod_cidr`, a route to `cluster_cidr`, state under `data_dir`.
    pub fn for_node(
        network: &str,
        pod_cidr: ipnet::Ipv4Net,
        cluster_cidr: ipnet::Ipv4Net,
        mtu: u32,
        data_dir: &std::path::Path,
    ) -> Result<Self, CniError> {
        let conf = NetConf {
            cni_version: super::CNI_VERSION.to_string(),
            name: network.to_string(),
            kind: "knet".into(),
            is_default_gateway: true,
            hairpin_mode: true,
            ip_masq: Some(false),
            mtu: Some(mtu),
            pod_cidr: Some(pod_cidr),
            cluster_cidr: Some(cluster_cidr),
            data_dir: Some(data_dir.to_path_buf()),
            ..Default::default()
        };
        conf.resolve(|p| {
            Err(std::io::Error::other(format!(
                "unexpected read of {}",
                p.display()
            )))
        })
    }
}

impl NetConf {
    /// Parses stdin: decode errors get code 6, version errors code 1.
    pub fn parse(stdin: &str) -> Result<Self, CniError> {
        let conf: Self = serde_json::from_str(stdin).map_err(|e| {
            CniError::with(
                ErrorCode::Decode,
                "cannot decode network config from stdin",
                &e,
            )
        })?;
        conf.check_version()?;
        Ok(conf)
    }

    /// Whether `cniVersion` is one knet speaks.
    pub fn check_version(&self) -> Result<(), CniError> {
        if SUPPORTED_VERSIONS.contains(&self.cni_version.as_str()) {
            Ok(())
        } else {
            Err(CniError::new(
                ErrorCode::IncompatibleVersion,
                format!(
                    "incompatible CNI versions: config is {:?}, plugin supports [{}]",
                    self.cni_version,
                    SUPPORTED_VERSIONS.join(" ")
                ),
            ))
        }
    }

    /// Resolves the bridge settings; `read` reads a subnet file.
    pub fn resolve(
        &self,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<BridgeConf, CniError> {
        self.refuse_unsupported()?;
        if self.name.is_empty() {
            return Err(invalid("network config has no \"name\""));
        }
        let bridge = IfName::new(self.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE))
            .map_err(|e| invalid(format!("bridge: {e}")))?;
        if self.hairpin_mode && self.promisc_mode {
            return Err(invalid(
                "cannot set hairpin mode and promiscuous mode at the same time",
            ));
        }
        let mut out = BridgeConf {
            network: self.name.clone(),
            cni_version: self.cni_version.clone(),
            bridge,
            is_gateway: self.is_gateway || self.is_default_gateway,
            is_default_gateway: self.is_default_gateway,
            ip_masq: self.ip_masq.unwrap_or(false),
            hairpin: self.hairpin_mode,
            promisc: self.promisc_mode,
            mtu: self.mtu,
            ipam: IpamConfig::default(),
        };
        match &self.ipam {
            Some(ipam) => {
                if !ipam.kind.is_empty() && ipam.kind != "host-local" {
                    return Err(CniError::new(
                        ErrorCode::UnsupportedField,
                        format!(
                            "ipam type {:?} is not supported: knet runs host-local IPAM in-process",
                            ipam.kind
                        ),
                    ));
                }
                out.ipam = ipam.clone();
            }
            None => self.resolve_flannel(&mut out, read)?,
        }
        out.ipam
            .range_set()
            .map_err(|e| CniError::with(ErrorCode::InvalidConfig, "invalid IPAM ranges", &e))?;
        Ok(out)
    }

    /// Like [`NetConf::resolve`], for DEL/GC/STATUS: those need only the
    /// network name, the bridge, the masquerade flag and the IPAM state
    /// directory, so a flannel-style config whose lease file is gone still
    /// resolves (with no ranges; masquerade cleanup is attempted).
    pub fn resolve_for_cleanup(
        &self,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<BridgeConf, CniError> {
        match self.resolve(read) {
            Ok(bc) => Ok(bc),
            Err(e)
                if self.ipam.is_none()
                    && !self.name.is_empty()
                    && e.code == ErrorCode::InvalidConfig =>
            {
                let bridge = IfName::new(self.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE))
                    .map_err(|_| e.clone())?;
                Ok(BridgeConf {
                    network: self.name.clone(),
                    cni_version: self.cni_version.clone(),
                    bridge,
                    is_gateway: true,
                    is_default_gateway: self.is_default_gateway,
                    ip_masq: self.ip_masq.unwrap_or(true),
                    hairpin: self.hairpin_mode,
                    promisc: self.promisc_mode,
                    mtu: self.mtu,
                    ipam: IpamConfig {
                        kind: "host-local".into(),
                        data_dir: self.data_dir.clone(),
                        ..Default::default()
                    },
                })
            }
            Err(e) => Err(e),
        }
    }

    fn refuse_unsupported(&self) -> Result<(), CniError> {
        let field = if self.vlan.is_some() {
            Some("vlan")
        } else if self.vlan_trunk.is_some() {
            Some("vlanTrunk")
        } else if self.macspoofchk == Some(true) {
            Some("macspoofchk")
        } else {
            None
        };
        match field {
            Some(f) => Err(CniError::new(
                ErrorCode::UnsupportedField,
                format!("field {f:?} is not supported by knet"),
            )),
            None => Ok(()),
        }
    }

    /// Flannel-style: subnet/MTU/masquerade from `podCIDR` or `subnet.env`.
    fn resolve_flannel(
        &self,
        out: &mut BridgeConf,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), CniError> {
        let lease = match self.pod_cidr {
            Some(subnet) => SubnetEnv {
                network: self.cluster_cidr,
                subnet,
                mtu: None,
                ipmasq: None,
            },
            None => {
                let path = self
                    .subnet_file
                    .clone()
                    .unwrap_or(DEFAULT_SUBNET_FILE.into());
                let text = read(&path).map_err(|e| {
                    CniError::with(
                        ErrorCode::InvalidConfig,
                        format!(
                            "no \"ipam\" and no \"podCIDR\", and cannot read subnet file {}",
                            path.display()
                        ),
                        &e,
                    )
                })?;
                SubnetEnv::parse(&text).map_err(|m| invalid(format!("{}: {m}", path.display())))?
            }
        };
        out.is_gateway = true;
        out.mtu = self.mtu.or(lease.mtu);
        // flannel: the node masquerades (FLANNEL_IPMASQ) unless told otherwise.
        out.ip_masq = self.ip_masq.unwrap_or(lease.ipmasq == Some(false));
        let network = self.cluster_cidr.or(lease.network);
        out.ipam = IpamConfig {
            kind: "host-local".into(),
            ranges: vec![vec![RangeConfig {
                subnet: lease.subnet.trunc(),
                range_start: None,
                range_end: None,
                gateway: None,
            }]],
            routes: network
                .map(|n| vec![RouteConfig { dst: n, gw: None }])
                .unwrap_or_default(),
            data_dir: self.data_dir.clone(),
            ..Default::default()
        };
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::InvalidConfig, msg)
}

/// A flannel `subnet.env` lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetEnv {
    /// `FLANNEL_NETWORK`.
    pub network: Option<Ipv4Net>,
    /// `FLANNEL_SUBNET` (first address/len).
    pub subnet: Ipv4Net,
    /// `FLANNEL_MTU`.
    pub mtu: Option<u32>,
    /// `FLANNEL_IPMASQ`.
    pub ipmasq: Option<bool>,
}

impl SubnetEnv {
    /// Parses `KEY=VALUE` lines.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut network = None;
        let mut subnet = None;
        let mut mtu = None;
        let mut ipmasq = None;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line.split_once('=').ok_or(format!("bad line {line:?}"))?;
            let bad = |_| format!("bad value in {line:?}");
            match k {
                "FLANNEL_NETWORK" => {
                    network = Some(
                        v.parse()
                            .map_err(|e: ipnet::AddrParseError| bad(e.to_string()))?,
                    )
                }
                "FLANNEL_SUBNET" => {
                    subnet = Some(
                        v.parse()
                            .map_err(|e: ipnet::AddrParseError| bad(e.to_string()))?,
                    )
                }
                "FLANNEL_MTU" => {
                    mtu = Some(
                        v.parse()
                            .map_err(|e: std::num::ParseIntError| bad(e.to_string()))?,
                    )
                }
                "FLANNEL_IPMASQ" => ipmasq = Some(v == "true"),
                _ => {}
            }
        }
        Ok(Self {
            network,
            subnet: subnet.ok_or("FLANNEL_SUBNET missing")?,
            mtu,
            ipmasq,
        })
    }

    /// Renders the file flanneld writes.
    pub fn render(&self) -> String {
        let first = Ipv4Addr::from(u32::from(self.subnet.network()) + 1);
        let mut s = String::new();
        if let Some(n) = self.network {
            s.push_str(&format!("FLANNEL_NETWORK={n}\n"));
        }
        s.push_str(&format!(
            "FLANNEL_SUBNET={first}/{}\n",
            self.subnet.prefix_len()
        ));
        if let Some(m) = self.mtu {
            s.push_str(&format!("FLANNEL_MTU={m}\n"));
        }
        if let Some(b) = self.ipmasq {
            s.push_str(&format!("FLANNEL_IPMASQ={b}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_file(_: &std::path::Path) -> std::io::Result<String> {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    #[test]
    fn decode_and_version_errors() {
        assert_eq!(
            NetConf::parse("{not json").unwrap_err().code,
            ErrorCode::Decode
        );
        let e = NetConf::parse(r#"{"cniVersion":"9.9.9","name":"n","type":"bridge"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::IncompatibleVersion);
        assert!(e.msg.contains("9.9.9"));
        for v in ["0.4.0", "1.0.0", "1.1.0"] {
            NetConf::parse(&format!(
                r#"{{"cniVersion":"{v}","name":"n","type":"bridge"}}"#
            ))
            .unwrap();
        }
    }

    #[test]
    fn bridge_mode_keeps_ipam() {
        let c = NetConf::parse(
            r#"{"cniVersion":"1.0.0","name":"lab","type":"bridge","bridge":"cni0","isDefaultGateway":true,
                "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24"}]],"dataDir":"/tmp/x"}}"#,
        )
        .unwrap()
        .resolve(no_file)
        .unwrap();
        assert!(c.is_gateway && c.is_default_gateway);
        assert_eq!(c.bridge.as_str(), "cni0");
        assert_eq!(c.ipam.state_dir("lab"), PathBuf::from("/tmp/x/lab"));
    }

    #[test]
    fn flannel_mode_from_subnet_env() {
        let env = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
        let c = NetConf::parse(r#"{"cniVersion":"1.1.0","name":"cbr0","type":"knet"}"#)
            .unwrap()
            .resolve(|_| Ok(env.to_string()))
            .unwrap();
        assert_eq!(c.bridge.as_str(), "cbr0");
        assert_eq!(c.mtu, Some(1450));
        assert!(c.is_gateway);
        assert!(!c.ip_masq, "flanneld masquerades, so the plugin does not");
        assert_eq!(c.ipam.ranges[0][0].subnet.to_string(), "10.244.1.0/24");
        assert_eq!(c.ipam.routes[0].dst.to_string(), "10.244.0.0/16");
        let parsed = SubnetEnv::parse(env).unwrap();
        assert_eq!(SubnetEnv::parse(&parsed.render()).unwrap(), parsed);
    }

    #[test]
    fn for_node_matches_the_json_form() {
        let c = BridgeConf::for_node(
            "cbr0",
            "10.244.2.0/24".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
            1450,
            std::path::Path::new("/run/x"),
        )
        .unwrap();
        let j = NetConf::parse(
            r#"{"cniVersion":"1.1.0","name":"cbr0","type":"knet","isDefaultGateway":true,"hairpinMode":true,
                "ipMasq":false,"mtu":1450,"podCIDR":"10.244.2.0/24","clusterCIDR":"10.244.0.0/16","dataDir":"/run/x"}"#,
        )
        .unwrap()
        .resolve(no_file)
        .unwrap();
        assert_eq!(c, j);
    }

    #[test]
    fn cleanup_resolves_without_the_lease_file() {
        let c = NetConf::parse(
            r#"{"cniVersion":"1.1.0","name":"cbr0","type":"knet","dataDir":"/run/x"}"#,
        )
        .unwrap();
        assert_eq!(
            c.resolve(no_file).unwrap_err().code,
            ErrorCode::InvalidConfig
        );
        let bc = c.resolve_for_cleanup(no_file).unwrap();
        assert_eq!(bc.ipam.state_dir("cbr0"), PathBuf::from("/run/x/cbr0"));
        assert!(bc.ip_masq, "masquerade cleanup is attempted");
        let bad = NetConf::parse(r#"{"cniVersion":"1.1.0","type":"knet"}"#).unwrap();
        assert!(
            bad.resolve_for_cleanup(no_file).is_err(),
            "a nameless config stays an error"
        );
    }

    #[test]
    fn invalid_configs() {
        let p = |s: &str| NetConf::parse(s).unwrap().resolve(no_file).unwrap_err();
        assert_eq!(
            p(r#"{"cniVersion":"1.1.0","type":"knet","podCIDR":"10.0.0.0/24"}"#).code,
            ErrorCode::InvalidConfig
        );
        assert_eq!(
            p(r#"{"cniVersion":"1.1.0","name":"n","type":"knet"}"#).code,
            ErrorCode::InvalidConfig
        );
        assert_eq!(p(r#"{"cniVersion":"1.1.0","name":"n","type":"bridge","vlan":5,"podCIDR":"10.0.0.0/24"}"#).code, ErrorCode::UnsupportedField);
        assert_eq!(
            p(r#"{"cniVersion":"1.1.0","name":"n","type":"bridge","ipam":{"type":"dhcp"}}"#).code,
            ErrorCode::UnsupportedField
        );
        assert_eq!(
            p(r#"{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"waytoolongbridgename0","podCIDR":"10.0.0.0/24"}"#).code,
            ErrorCode::InvalidConfig
        );
    }
}
