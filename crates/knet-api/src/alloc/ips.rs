//! ClusterIP allocation.

use super::{ServiceAllocator, Taken, spec};
use crate::status::Cause;
use serde_json::{Value, json};
use std::net::IpAddr;

/// Go's `%#v` of a `[]string`, as kube prints `clusterIPs` in messages.
pub(super) fn go_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl ServiceAllocator {
    fn family(&self) -> &'static str {
        if self.ips.cidr().is_ipv4() {
            "IPv4"
        } else {
            "IPv6"
        }
    }

    /// Families and policy the cluster can serve (single-stack).
    fn check_families(&self, svc: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        for (i, f) in strings(svc["spec"].get("ipFamilies")).iter().enumerate() {
            if f != self.family() {
                causes.push(invalid(
                    &format!("spec.ipFamilies[{i}]"),
                    &format!("{f:?}"),
                    "not configured on this cluster",
                ));
            }
        }
        if svc["spec"]["ipFamilyPolicy"] == "RequireDualStack" {
            causes.push(invalid(
                "spec.ipFamilyPolicy",
                "\"RequireDualStack\"",
                "this cluster is not configured for dual-stack services",
            ));
        }
        causes
    }

    /// Fills `clusterIP`/`clusterIPs`: `None` for headless, nothing for
    /// ExternalName, else the requested or a fresh address.
    pub(super) fn cluster_ips(
        &mut self,
        svc: &mut Value,
        old: Option<&Value>,
        taken: &mut Taken,
    ) -> Result<(), Vec<Cause>> {
        if spec::ty(svc) == "ExternalName" {
            return Ok(());
        }
        if spec::headless(svc) {
            svc["spec"]["clusterIP"] = json!("None");
            svc["spec"]["clusterIPs"] = json!(["None"]);
            if svc["spec"]["ipFamilies"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                svc["spec"]["ipFamilies"] = json!([self.family()]);
            }
            return Ok(());
        }
        let causes = self.check_families(svc);
        if !causes.is_empty() {
            return Err(causes);
        }
        let requested = self.requested_ip(svc)?;
        let held = old
            .filter(|o| spec::needs_cluster_ip(o))
            .map(spec::cluster_ips)
            .unwrap_or_default();
        let ip = match (requested, held.first()) {
            (Some(ip), Some(h)) if *h == ip.to_string() => ip,
            (Some(ip), Some(_)) => {
                let shown = vec![ip.to_string()];
                return Err(vec![invalid(
                    "spec.clusterIPs[0]",
                    &go_strings(&shown),
                    "may not change once set",
                )]);
            }
            (Some(ip), None) => {
                self.take_ip(svc, ip)?;
                taken.ips.push(ip);
                ip
            }
            (None, _) => {
                let ip = self.next_ip(svc)?;
                taken.ips.push(ip);
                ip
            }
        };
        svc["spec"]["clusterIP"] = json!(ip.to_string());
        svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        svc["spec"]["ipFamilies"] = json!([self.family()]);
        Ok(())
    }

    /// The address the Service asks for, if any, after checking that
    /// `clusterIP` and `clusterIPs` agree and parse.
    fn requested_ip(&self, svc: &Value) -> Result<Option<IpAddr>, Vec<Cause>> {
        let single = svc["spec"]
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let list = strings(svc["spec"].get("clusterIPs"));
        if !single.is_empty() && !list.is_empty() && list[0] != single {
            return Err(vec![invalid(
                "spec.clusterIPs",
                &go_strings(&list),
                "first value must match `clusterIP`",
            )]);
        }
        if list.len() > 1 {
            return Err(vec![invalid(
                "spec.clusterIPs",
                &go_strings(&list),
                "this cluster is not configured for dual-stack services",
            )]);
        }
        let want = if single.is_empty() {
            list.first().cloned().unwrap_or_default()
        } else {
            single
        };
        if want.is_empty() {
            return Ok(None);
        }
        match want.parse::<IpAddr>() {
            Ok(ip) if ip.is_ipv4() == self.ips.cidr().is_ipv4() => Ok(Some(ip)),
            Ok(_) => Err(vec![invalid(
                "spec.clusterIPs[0]",
                &format!("{want:?}"),
                &format!(
                    "expected an {} value as indicated by `ipFamilies[0]`",
                    self.family()
                ),
            )]),
            Err(_) => Err(vec![invalid(
                "spec.clusterIPs[0]",
                &format!("{want:?}"),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )]),
        }
    }

    fn is_kubernetes_service(svc: &Value) -> bool {
        svc.pointer("/metadata/namespace").and_then(Value::as_str) == Some("default")
            && svc.pointer("/metadata/name").and_then(Value::as_str) == Some("kubernetes")
    }

    /// Allocates an explicitly requested address. The first address is kept
    /// for `default/kubernetes`.
    fn take_ip(&mut self, svc: &Value, ip: IpAddr) -> Result<(), Vec<Cause>> {
        let list = vec![ip.to_string()];
        let fail = |detail: String| {
            vec![invalid(
                "spec.clusterIPs",
                &go_strings(&list),
                &format!("failed to allocate IP {ip}: {detail}"),
            )]
        };
        let Some(index) = self.ips.index_of(ip) else {
            return Err(fail(format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.ips.cidr()
            )));
        };
        if index == 0 && !Self::is_kubernetes_service(svc) {
            return Err(fail("provided IP is already allocated".into()));
        }
        self.ips
            .allocate(ip)
            .map_err(|_| fail("provided IP is already allocated".into()))
    }

    /// A fresh address: `default/kubernetes` gets the first one; others a
    /// random one in the upper band, then the lower band (never the first).
    fn next_ip(&mut self, svc: &Value) -> Result<IpAddr, Vec<Cause>> {
        if Self::is_kubernetes_service(svc)
            && let Some(first) = self.ips.addr(0)
            && self.ips.allocate(first).is_ok()
        {
            return Ok(first);
        }
        let size = self.ips.size();
        let start = self.random_start(self.ip_static, size);
        self.ips
            .allocate_in(self.ip_static.max(1), size, start)
            .or_else(|| self.ips.allocate_in(1, self.ip_static.max(1), 1))
            .ok_or_else(|| {
                vec![Cause::new(
                    "InternalError",
                    "spec.clusterIPs",
                    format!(
                        "failed to allocate a serviceIP: range is full: no IPs left in {}",
                        self.ips.cidr()
                    ),
                )]
            })
    }
}
