//! Reads a CoreDNS Corefile of the shape kubeadm installs (the `coredns`
//! ConfigMap) into a [`Config`]. Pure: takes the text. Every directive or
//! option knet does not implement is an error naming its line, so a
//! migration never silently drops behaviour.

use std::collections::HashSet;
use std::time::Duration;

use super::{Config, ForwardSpec, UpstreamSpec, parse_listen};
use crate::cache::CacheConfig;
use crate::engine::PodMode;
use crate::forward::resolv::parse_upstream;

/// A Corefile problem, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct CorefileError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

fn err<T>(line: usize, msg: impl Into<String>) -> Result<T, CorefileError> {
    Err(CorefileError {
        line,
        msg: msg.into(),
    })
}

/// A directive with its arguments and optional block.
#[derive(Debug, Clone)]
struct Directive {
    name: String,
    args: Vec<String>,
    line: usize,
    block: Vec<Directive>,
}

/// A server block: its keys (`zone:port`) and directives.
#[derive(Debug)]
struct Block {
    keys: Vec<String>,
    line: usize,
    directives: Vec<Directive>,
}

fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        for t in line
            .replace('{', " { ")
            .replace('}', " } ")
            .split_whitespace()
        {
            out.push((i + 1, t.to_string()));
        }
    }
    out
}

/// Parses directives until a closing brace (or the end when `top`).
fn directives(toks: &[(usize, String)], at: &mut usize) -> Result<Vec<Directive>, CorefileError> {
    let mut out = Vec::new();
    while let Some((line, t)) = toks.get(*at) {
        if t == "}" {
            *at += 1;
            return Ok(out);
        }
        if t == "{" {
            return err(*line, "unexpected '{'");
        }
        let line = *line;
        let mut d = Directive {
            name: t.clone(),
            args: Vec::new(),
            line,
            block: Vec::new(),
        };
        *at += 1;
        while let Some((l, a)) = toks.get(*at) {
            if *l != line || a == "}" {
                break;
            }
            *at += 1;
            if a == "{" {
                d.block = directives(toks, at)?;
                break;
            }
            d.args.push(a.clone());
        }
        out.push(d);
    }
    err(toks.last().map_or(1, |t| t.0), "missing '}'")
}

fn blocks(text: &str) -> Result<Vec<Block>, CorefileError> {
    let toks = tokens(text);
    let mut at = 0;
    let mut out = Vec::new();
    while at < toks.len() {
        let line = toks[at].0;
        let mut keys = Vec::new();
        while let Some((_, t)) = toks.get(at) {
            at += 1;
            if t == "{" {
                break;
            }
            keys.push(t.trim_end_matches(',').to_string());
        }
        if keys.is_empty() {
            return err(line, "server block without a zone");
        }
        let directives = directives(&toks, &mut at)?;
        out.push(Block {
            keys,
            line,
            directives,
        });
    }
    Ok(out)
}

/// Parses `5s`, `500ms`, `1m`, `2h`.
fn duration(s: &str, line: usize) -> Result<Duration, CorefileError> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = match num.parse() {
        Ok(n) => n,
        Err(_) => return err(line, format!("{s:?} is not a duration")),
    };
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return err(line, format!("{s:?} is not a duration")),
    })
}

fn number<T: std::str::FromStr>(d: &Directive, i: usize) -> Result<T, CorefileError> {
    match d.args.get(i).map(|a| a.parse::<T>()) {
        Some(Ok(v)) => Ok(v),
        _ => err(d.line, format!("{}: expected a number", d.name)),
    }
}

fn zone_of(key: &str) -> (String, Option<u16>) {
    let key = key.trim_start_matches("dns://");
    let (zone, port) = match key.rsplit_once(':') {
        Some((z, p)) => (z, p.parse().ok()),
        None => (key, None),
    };
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    (zone, port)
}

/// Parses a Corefile. One server block for `.` is the main server; further
/// blocks for other zones holding a `forward` become stub domains.
pub fn parse(text: &str) -> Result<Config, CorefileError> {
    let mut cfg = Config {
        forward: None,
        cache: None,
        health: None,
        ready: None,
        metrics: None,
        loop_detect: false,
        ..Config::default()
    };
    cfg.engine.zones.clear();
    cfg.engine.reverse_zones.clear();
    cfg.engine.fallthrough = None;
    cfg.engine.pods = PodMode::Disabled;
    cfg.engine.ttl = 5;
    let mut stubs = Vec::new();
    let mut main_seen = false;
    for b in blocks(text)? {
        let (zone, port) = zone_of(&b.keys[0]);
        if zone.is_empty() {
            if main_seen {
                return err(b.line, "a second server block for '.' is not supported");
            }
            main_seen = true;
            if let Some(p) = port {
                cfg.listen.set_port(p);
            }
            for d in &b.directives {
                main_directive(&mut cfg, d)?;
            }
            if let Some(d) = b.directives.iter().find(|d| d.name == "autopath")
                && cfg.engine.pods != PodMode::Verified
            {
                return err(
                    d.line,
                    "autopath @kubernetes needs `pods verified` in the kubernetes block (the client pod is found by its IP)",
                );
            }
        } else {
            let fwd = stub_block(&b)?;
            for key in &b.keys {
                stubs.push((zone_of(key).0, fwd.clone()));
            }
        }
    }
    if !main_seen {
        return err(1, "no server block for '.'");
    }
    if !stubs.is_empty() {
        let fwd = cfg.forward.get_or_insert_with(ForwardSpec::default);
        for (zone, ups) in stubs {
            fwd.groups.insert(0, (zone, ups));
        }
    }
    Ok(cfg)
}

fn stub_block(b: &Block) -> Result<Vec<UpstreamSpec>, CorefileError> {
    let mut ups = None;
    for d in &b.directives {
        match d.name.as_str() {
            "errors" | "log" | "cache" | "loop" | "reload" | "loadbalance" => {}
            "forward" => ups = Some(forward_targets(d)?),
            other => {
                return err(
                    d.line,
                    format!(
                        "directive {other:?} is not supported in a stub-domain block (only forward)"
                    ),
                );
            }
        }
    }
    match ups {
        Some(u) => Ok(u),
        None => err(b.line, "stub-domain block needs a forward directive"),
    }
}

fn http_addr(d: &Directive, default: &str) -> Result<std::net::SocketAddr, CorefileError> {
    let a = d.args.first().map_or(default, String::as_str);
    match parse_listen(a) {
        Some(x) => Ok(x),
        None => err(d.line, format!("{}: {a:?} is not an address", d.name)),
    }
}

fn main_directive(cfg: &mut Config, d: &Directive) -> Result<(), CorefileError> {
    match d.name.as_str() {
        "errors" | "log" | "reload" => {}
        "loadbalance" => {
            if d.args.first().is_some_and(|a| a != "round_robin") {
                return err(d.line, "loadbalance: only round_robin is supported");
            }
        }
        "loop" => cfg.loop_detect = true,
        "health" => {
            for s in &d.block {
                if s.name != "lameduck" {
                    return err(
                        s.line,
                        format!("health: option {:?} is not supported", s.name),
                    );
                }
            }
            cfg.health = Some(http_addr(d, ":8080")?);
        }
        "ready" => cfg.ready = Some(http_addr(d, ":8181")?),
        "prometheus" => cfg.metrics = Some(http_addr(d, ":9153")?),
        "kubernetes" => kubernetes(cfg, d)?,
        "autopath" => {
            if d.args.len() != 1 || d.args[0] != "@kubernetes" {
                return err(
                    d.line,
                    "autopath: only `autopath @kubernetes` is supported by knet dns",
                );
            }
            cfg.engine.autopath = true;
            cfg.autopath_resolv = Some("/etc/resolv.conf".into());
        }
        "forward" => forward(cfg, d)?,
        "cache" => cache(cfg, d)?,
        other => {
            return err(
                d.line,
                format!("directive {other:?} is not supported by knet dns"),
            );
        }
    }
    Ok(())
}

fn kubernetes(cfg: &mut Config, d: &Directive) -> Result<(), CorefileError> {
    let e = &mut cfg.engine;
    let zones: Vec<String> = d.args.iter().map(|z| zone_of(z).0).collect();
    e.reverse_zones = zones
        .iter()
        .filter(|z| z.ends_with("arpa"))
        .cloned()
        .collect();
    e.zones = zones.into_iter().filter(|z| !z.ends_with("arpa")).collect();
    if e.zones.is_empty() {
        e.zones.push(knet_core::defaults::CLUSTER_DOMAIN.into());
    }
    for s in &d.block {
        match s.name.as_str() {
            "pods" => {
                e.pods = match s.args.first().map(String::as_str) {
                    Some("disabled") => PodMode::Disabled,
                    Some("insecure") => PodMode::Insecure,
                    Some("verified") => PodMode::Verified,
                    _ => return err(s.line, "pods: expected disabled, insecure or verified"),
                }
            }
            "fallthrough" => {
                e.fallthrough = Some(s.args.iter().map(|z| zone_of(z).0).collect());
            }
            "ttl" => {
                let t: u32 = number(s, 0)?;
                if t > 3600 {
                    return err(s.line, "ttl: must be 0-3600");
                }
                e.ttl = t;
            }
            "endpoint_pod_names" => e.endpoint_pod_names = true,
            "namespaces" => {
                e.namespaces = Some(
                    s.args
                        .iter()
                        .map(|n| n.to_ascii_lowercase())
                        .collect::<HashSet<_>>(),
                );
            }
            "ignore" if s.args.first().map(String::as_str) == Some("empty_service") => {
                e.ignore_empty_service = true;
            }
            "kubeconfig" => {
                cfg.source = super::SourceConfig::Kube {
                    kubeconfig: s.args.first().map(Into::into),
                    context: s.args.get(1).cloned(),
                };
            }
            other => {
                return err(
                    s.line,
                    format!("kubernetes: option {other:?} is not supported by knet dns"),
                );
            }
        }
    }
    Ok(())
}

fn forward_targets(d: &Directive) -> Result<Vec<UpstreamSpec>, CorefileError> {
    if d.args.len() < 2 {
        return err(d.line, "forward: expected FROM and at least one TO");
    }
    d.args[1..]
        .iter()
        .map(|t| {
            if t.starts_with('/') {
                Ok(UpstreamSpec::ResolvConf(t.into()))
            } else {
                match parse_upstream(t) {
                    Some(a) => Ok(UpstreamSpec::Addr(a)),
                    None => err(d.line, format!("forward: {t:?} is not an address or file")),
                }
            }
        })
        .collect()
}

fn forward(cfg: &mut Config, d: &Directive) -> Result<(), CorefileError> {
    let from = zone_of(&d.args.first().cloned().unwrap_or_default()).0;
    let mut spec = cfg.forward.take().unwrap_or_default();
    spec.groups.push((from, forward_targets(d)?));
    for s in &d.block {
        match s.name.as_str() {
            "max_concurrent" => spec.max_concurrent = number(s, 0)?,
            "max_fails" => spec.max_fails = number(s, 0)?,
            "health_check" => {
                spec.health_check = duration(s.args.first().map_or("", String::as_str), s.line)?
            }
            "expire" | "policy" | "prefer_udp" => {}
            other => {
                return err(
                    s.line,
                    format!("forward: option {other:?} is not supported by knet dns"),
                );
            }
        }
    }
    cfg.forward = Some(spec);
    Ok(())
}

fn cache(cfg: &mut Config, d: &Directive) -> Result<(), CorefileError> {
    let mut c = CacheConfig::default();
    if !d.args.is_empty() {
        let ttl: u32 = number(d, 0)?;
        c.max_success_ttl = ttl;
        c.max_denial_ttl = ttl;
    }
    for s in &d.block {
        match s.name.as_str() {
            "success" | "denial" => {
                if let Some(t) = s.args.get(1) {
                    let t: u32 = match t.parse() {
                        Ok(t) => t,
                        Err(_) => return err(s.line, "cache: expected a TTL"),
                    };
                    if s.name == "success" {
                        c.max_success_ttl = t;
                    } else {
                        c.max_denial_ttl = t;
                    }
                }
            }
            "serve_stale" => {
                c.serve_stale = Some(match s.args.first() {
                    Some(a) => duration(a, s.line)?,
                    None => Duration::from_secs(3600),
                });
            }
            // Cluster-zone answers are never cached: `disable … <zone>` holds already.
            "disable" => {}
            other => {
                return err(
                    s.line,
                    format!("cache: option {other:?} is not supported by knet dns"),
                );
            }
        }
    }
    cfg.cache = Some(c);
    Ok(())
}

#[cfg(test)]
mod tests;
