//! Parsing of request paths, query strings and media types into what the
//! handlers act on. Pure.

use crate::resources::{self, Resource};

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion { group: String, version: String },
    OpenApiRoot,
    OpenApiDoc(String),
    OpenApiV2,
    Resource(Target),
    Unknown,
}

/// A resource path: a collection, an item, or an item's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) resource: &'static Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) sub: Option<String>,
}

/// Splits a request path into a [`Route`].
pub(crate) fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => Route::OpenApiDoc(rest.join("/")),
        ["openapi", "v2"] | ["swagger.json"] => Route::OpenApiV2,
        ["api", v] => gv("", v),
        ["apis", g, v] => gv(g, v),
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::Unknown,
    }
}

fn gv(group: &str, version: &str) -> Route {
    Route::GroupVersion {
        group: group.to_string(),
        version: version.to_string(),
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::lookup(group, version, plural).is_some() =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let Some(plural) = rest.first() else {
        return Route::Unknown;
    };
    let Some(resource) = resources::lookup(group, version, plural) else {
        return Route::Unknown;
    };
    if namespace.is_some() && !resource.namespaced {
        return Route::Unknown;
    }
    if rest.len() > 3 || rest.iter().any(|s| s.is_empty()) && rest.len() > 1 {
        return Route::Unknown;
    }
    Route::Resource(Target {
        resource,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    })
}

/// Decoded query parameters, in order (repeated keys kept).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self(pairs)
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether `key` is `true` (or `1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The media type of a body, lower-cased, without parameters.
pub(crate) fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether the Accept header asks for a `meta.k8s.io` Table.
pub(crate) fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    })
}

/// Whether the Accept header asks for metadata only
/// (`as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`, what metadata
/// informers send). Any of its media types counts: the protobuf form comes
/// first and this server answers in JSON.
pub(crate) fn wants_metadata(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .any(|m| m.contains("as=PartialObjectMetadata") && m.contains("g=meta.k8s.io"))
    })
}

/// Whether the Accept header asks for aggregated discovery (`apidiscovery.k8s.io` v2).
pub(crate) fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|m| {
            m.contains("as=APIGroupDiscoveryList") && m.contains("v=v2") && !m.contains("v2beta1")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match route(path) {
            Route::Resource(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_split_into_targets() {
        let t = target("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(
            (
                t.resource.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("deployments", Some("default"), Some("web"), Some("scale"))
        );
        let ns = target("/api/v1/namespaces/kube-system");
        assert_eq!(
            (ns.resource.plural, ns.namespace, ns.name.as_deref()),
            ("namespaces", None, Some("kube-system"))
        );
        let fin = target("/api/v1/namespaces/x/finalize");
        assert_eq!(
            (fin.name.as_deref(), fin.sub.as_deref()),
            (Some("x"), Some("finalize"))
        );
        assert_eq!(target("/api/v1/pods").namespace, None);
        assert_eq!(route("/api/v1/namespaces/default/nodes"), Route::Unknown);
        assert_eq!(route("/apis/apps/v1/nothings"), Route::Unknown);
        assert_eq!(route("/version"), Route::Version);
    }

    #[test]
    fn query_decodes_percent_and_repeats() {
        let q = Query::parse(Some(
            "fieldSelector=metadata.name%3Dx&command=echo&command=hi+there&watch=true",
        ));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=x"));
        assert_eq!(q.all("command"), ["echo", "hi there"]);
        assert!(q.flag("watch"));
        assert_eq!(Query::parse(Some("a=%zz%")).get("a"), Some("%zz%"));
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )));
        assert!(!wants_table(Some("application/json")));
        assert!(!wants_table(None));
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(Some("application/json")));
    }
}
