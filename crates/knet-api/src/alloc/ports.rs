//! NodePort and health-check NodePort allocation.

use super::{ServiceAllocator, Taken, spec};
use crate::status::Cause;
use serde_json::{Value, json};

fn invalid(field: String, value: i64, detail: String) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

impl ServiceAllocator {
    fn range_text(&self) -> String {
        let (lo, hi) = self.node_port_range();
        format!("{lo}-{hi}")
    }

    /// Takes `port` unless `held` by this Service already; the error text is
    /// kube's port allocator's.
    fn claim_port(&mut self, port: i64, held: &[u16], taken: &mut Taken) -> Result<(), String> {
        let (lo, hi) = self.node_port_range();
        let Some(p) = u16::try_from(port).ok().filter(|p| (lo..=hi).contains(p)) else {
            return Err(format!(
                "provided port is not in the valid range. The range of valid ports is {}",
                self.range_text()
            ));
        };
        if held.contains(&p) || taken.ports.contains(&p) {
            return Ok(());
        }
        if !self.take_port(p) {
            return Err("provided port is already allocated".into());
        }
        taken.ports.push(p);
        Ok(())
    }

    /// A fresh port: random in the upper band, then the lower band.
    fn next_port(&mut self, taken: &mut Taken) -> Result<u16, Cause> {
        let size = self.ports.size();
        let start = self.random_start(self.port_static, size);
        let i = self
            .ports
            .allocate_in(self.port_static, size, start)
            .or_else(|| self.ports.allocate_in(0, self.port_static, 0))
            .ok_or_else(|| {
                Cause::new(
                    "InternalError",
                    "spec.ports",
                    format!(
                        "failed to allocate a nodePort: range is full: no ports left in {}",
                        self.range_text()
                    ),
                )
            })?;
        let port = self.port_base + i as u16;
        taken.ports.push(port);
        Ok(port)
    }

    /// Fills `nodePort`s (shared by ports with the same number) and the
    /// health-check port, honouring explicit values.
    pub(super) fn node_ports(
        &mut self,
        svc: &mut Value,
        old: Option<&Value>,
        taken: &mut Taken,
    ) -> Result<(), Vec<Cause>> {
        let held = old.map(spec::node_ports).unwrap_or_default();
        if spec::needs_node_ports(svc) {
            self.service_node_ports(svc, &held, taken)?;
        }
        if spec::needs_health_check_port(svc) {
            let requested = svc["spec"]
                .get("healthCheckNodePort")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if requested != 0 {
                self.claim_port(requested, &held, taken).map_err(|e| {
                    vec![invalid(
                        "spec.healthCheckNodePort".into(),
                        requested,
                        format!(
                            "failed to allocate requested HealthCheck NodePort {requested}: {e}"
                        ),
                    )]
                })?;
            } else {
                let port = self.next_port(taken).map_err(|c| vec![c])?;
                svc["spec"]["healthCheckNodePort"] = json!(port);
            }
        }
        Ok(())
    }

    fn service_node_ports(
        &mut self,
        svc: &mut Value,
        held: &[u16],
        taken: &mut Taken,
    ) -> Result<(), Vec<Cause>> {
        let Some(ports) = svc["spec"].get_mut("ports").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        let requested: Vec<(i64, i64)> = ports
            .iter()
            .map(|p| {
                (
                    p["port"].as_i64().unwrap_or(0),
                    p["nodePort"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        let mut by_port: Vec<(i64, i64)> = Vec::new();
        let mut causes = Vec::new();
        for (i, p) in ports.iter_mut().enumerate() {
            let (port, want) = requested[i];
            let shared = by_port
                .iter()
                .find(|(sp, _)| *sp == port)
                .map(|(_, np)| *np);
            let node_port = match (want, shared) {
                (0, Some(np)) => np,
                (0, None) => {
                    // A later port with the same number may ask for a specific node port.
                    let later = requested[i..]
                        .iter()
                        .find(|(sp, np)| *sp == port && *np != 0)
                        .map(|(_, np)| *np);
                    match later {
                        Some(np) => np,
                        None => match self.next_port(taken) {
                            Ok(np) => i64::from(np),
                            Err(c) => return Err(vec![c]),
                        },
                    }
                }
                (np, _) => np,
            };
            if let Err(e) = self.claim_port(node_port, held, taken) {
                causes.push(invalid(format!("spec.ports[{i}].nodePort"), node_port, e));
                continue;
            }
            if shared.is_none() {
                by_port.push((port, node_port));
            }
            p["nodePort"] = json!(node_port);
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(causes)
        }
    }
}
