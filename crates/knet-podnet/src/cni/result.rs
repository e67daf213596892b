//! The success result (§5), written in the config's `cniVersion`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

/// One interface of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name.
    pub name: String,
    /// MAC address.
    pub mac: String,
    /// MTU (reported from 1.1.0 on).
    pub mtu: Option<u32>,
    /// The netns path, for interfaces inside the container.
    pub sandbox: Option<String>,
}

/// One address of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// Address/prefix.
    pub address: Ipv4Net,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

/// One route of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOut {
    /// Destination.
    pub dst: Ipv4Net,
    /// Next hop.
    pub gw: Option<Ipv4Addr>,
}

/// A CNI result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniResult {
    /// Interfaces created.
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    pub ips: Vec<IpConfig>,
    /// Routes installed in the container.
    pub routes: Vec<RouteOut>,
}

impl CniResult {
    /// The result JSON for `version`.
    pub fn to_json(&self, version: &str) -> Value {
        let legacy = version.starts_with("0.");
        let with_mtu = version == "1.1.0";
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|i| {
                let mut v = json!({"name": i.name, "mac": i.mac});
                if let (true, Some(m)) = (with_mtu, i.mtu) {
                    v["mtu"] = json!(m);
                }
                if let Some(s) = &i.sandbox {
                    v["sandbox"] = json!(s);
                }
                v
            })
            .collect();
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|ip| {
                let mut v = json!({"address": ip.address.to_string()});
                if legacy {
                    v["version"] = json!("4");
                }
                if let Some(g) = ip.gateway {
                    v["gateway"] = json!(g.to_string());
                }
                if let Some(i) = ip.interface {
                    v["interface"] = json!(i);
                }
                v
            })
            .collect();
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| match r.gw {
                Some(g) => json!({"dst": r.dst.to_string(), "gw": g.to_string()}),
                None => json!({"dst": r.dst.to_string()}),
            })
            .collect();
        let mut out = json!({"cniVersion": version});
        if !interfaces.is_empty() {
            out["interfaces"] = Value::Array(interfaces);
        }
        out["ips"] = Value::Array(ips);
        if !routes.is_empty() {
            out["routes"] = Value::Array(routes);
        }
        out["dns"] = json!({});
        out
    }

    /// Reads the pod address and interface name back from a `prevResult`
    /// (for CHECK); `None` if it names none.
    pub fn pod_address(prev: &Value) -> Option<(Ipv4Net, Option<String>)> {
        let ip = prev.get("ips")?.as_array()?.first()?;
        let addr: Ipv4Net = ip.get("address")?.as_str()?.parse().ok()?;
        let name = ip
            .get("interface")
            .and_then(Value::as_u64)
            .and_then(|i| {
                prev.get("interfaces")?
                    .get(i as usize)?
                    .get("name")?
                    .as_str()
            })
            .map(String::from);
        Some((addr, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: "0e:00:00:00:00:01".into(),
                mtu: Some(1450),
                sandbox: Some("/run/netns/p".into()),
            }],
            ips: vec![IpConfig {
                address: "10.1.0.2/24".parse().unwrap(),
                gateway: Some(Ipv4Addr::new(10, 1, 0, 1)),
                interface: Some(0),
            }],
            routes: vec![RouteOut {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: Some(Ipv4Addr::new(10, 1, 0, 1)),
            }],
        }
    }

    #[test]
    fn versions_shape_the_json() {
        let v11 = sample().to_json("1.1.0");
        assert_eq!(v11["interfaces"][0]["mtu"], 1450);
        assert!(v11["ips"][0].get("version").is_none());
        let v04 = sample().to_json("0.4.0");
        assert_eq!(v04["ips"][0]["version"], "4");
        assert!(v04["interfaces"][0].get("mtu").is_none());
        assert_eq!(
            CniResult::pod_address(&v11),
            Some(("10.1.0.2/24".parse().unwrap(), Some("eth0".into())))
        );
    }
}
