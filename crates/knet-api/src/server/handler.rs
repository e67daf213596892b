//! The request entry point: authentication, routing, body decoding and
//! dispatch; every failure becomes a `Status`.

use super::Api;
use super::binding;
use super::delete;
use super::read;
use super::request::{self, Query, Route, Target};
use super::respond;
use super::review;
use super::write::{self, PatchKind, PatchReq, WriteCtx};
use crate::status::ApiError;
use crate::{discovery, exec, openapi, portforward, watch};
use axum::body::Body;
use axum::response::Response;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;

/// Handles one request.
pub(crate) async fn handle<B>(api: Arc<Api>, req: Request<B>) -> Response
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = request::route(&path);
    let public = matches!(route, Route::Health | Route::Version);
    let authorized = api.token.accepts(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    );
    let resp = if !public && !authorized {
        Err(ApiError::unauthorized())
    } else {
        // A bug anywhere below must cost one request a 500, not the connection.
        use futures::FutureExt;
        std::panic::AssertUnwindSafe(dispatch(&api, route, req))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(%method, %path, "request handler panicked");
                Err(ApiError::internal(format!(
                    "internal error while handling {method} {path}"
                )))
            })
    };
    let resp = resp.unwrap_or_else(|e| respond::error(&e));
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

fn header_str<B>(req: &Request<B>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn dispatch<B>(api: &Arc<Api>, route: Route, req: Request<B>) -> Result<Response, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let accept = header_str(&req, header::ACCEPT);
    let get = req.method() == Method::GET;
    let ok = |v: Value| Ok(respond::json(200, &v));
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    match route {
        Route::Resource(t) => resource(api, t, req).await,
        _ if !get => Err(ApiError::method_not_allowed(format!(
            "{} is not supported here",
            req.method()
        ))),
        Route::Version => ok(discovery::version()),
        Route::Health => Ok(respond::with_type(200, "text/plain", b"ok".to_vec())),
        Route::CoreVersions | Route::Groups if request::wants_aggregated(accept.as_deref()) => {
            let v = discovery::aggregated(route == Route::CoreVersions);
            Ok(respond::with_type(
                200,
                discovery::AGGREGATED_CONTENT_TYPE,
                serde_json::to_vec(&v).unwrap_or_default(),
            ))
        }
        Route::CoreVersions => ok(discovery::core_versions()),
        Route::Groups => ok(discovery::group_list()),
        Route::Group(g) => discovery::group(&g).map_or_else(|| Err(not_found()), ok),
        Route::GroupVersion { group, version } => {
            discovery::resource_list(&group, &version).map_or_else(|| Err(not_found()), ok)
        }
        Route::OpenApiRoot => ok(openapi::root()),
        Route::OpenApiDoc(gv) => openapi_doc(&gv, &req),
        Route::OpenApiV2 | Route::Unknown => Err(not_found()),
    }
}

/// A per-group/version OpenAPI document: gzip when accepted, 304 when the
/// client's copy is current.
fn openapi_doc<B>(gv: &str, req: &Request<B>) -> Result<Response, ApiError> {
    let etag = openapi::etag();
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    if !openapi::group_versions().iter().any(|g| g == gv) {
        return Err(not_found());
    }
    let fresh = header_str(req, header::IF_NONE_MATCH).is_some_and(|v| v.contains(&etag));
    let mut resp = if fresh {
        respond::with_type(304, "application/json", Vec::new())
    } else if header_str(req, header::ACCEPT_ENCODING).is_some_and(|v| v.contains("gzip")) {
        let gz = openapi::document_gzip(gv).ok_or_else(not_found)?;
        let mut r = respond::with_type(200, "application/json", gz.to_vec());
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
        r
    } else {
        let plain = openapi::document_bytes(gv).ok_or_else(not_found)?;
        respond::with_type(200, "application/json", plain)
    };
    if let Ok(v) = http::HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut().insert(
        header::VARY,
        http::HeaderValue::from_static("Accept-Encoding"),
    );
    Ok(resp)
}

async fn read_body<B>(body: B) -> Result<bytes::Bytes, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

/// Decodes a create/update body by Content-Type.
fn decode_object(content_type: Option<&str>, raw: &[u8]) -> Result<Value, ApiError> {
    let media = request::media_type(content_type);
    let v: Value = match media.as_str() {
        "application/json" | "" | "*/*" => serde_json::from_slice(raw)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?,
        "application/yaml" => serde_yaml::from_slice(raw)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))?,
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(raw)?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    Ok(v)
}

async fn resource<B>(api: &Arc<Api>, t: Target, req: Request<B>) -> Result<Response, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let q = Query::parse(req.uri().query());
    let accept = header_str(&req, header::ACCEPT);
    let ctype = header_str(&req, header::CONTENT_TYPE);
    if matches!(
        t.sub.as_deref(),
        Some("exec" | "attach" | "log" | "portforward")
    ) {
        return streaming(api, t, q, req).await;
    }
    let method = req.method().clone();
    let item = t.name.is_some();
    let is_binding = t.sub.as_deref() == Some("binding") && t.resource.plural == "pods"
        || t.resource.plural == "bindings" && t.sub.is_none() && !item;
    if is_binding && method == Method::POST && t.resource.group.is_empty() {
        let body = decode_object(ctype.as_deref(), &read_body(req.into_body()).await?)?;
        return binding::create(api, &t, &q, body).await;
    }
    if review::is_review(t.resource.group, t.resource.kind) && method == Method::POST && !item {
        let body = decode_object(ctype.as_deref(), &read_body(req.into_body()).await?)?;
        return Ok(respond::json(201, &review::answer(t.resource.kind, body)?));
    }
    if t.sub.is_none() {
        let verb = match method {
            Method::GET if q.flag("watch") => "watch",
            Method::GET if item => "get",
            Method::GET => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if item => "delete",
            Method::DELETE => "deletecollection",
            _ => "",
        };
        if !t.resource.supports(verb) {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    }
    match method {
        Method::GET if q.flag("watch") => watch_response(api, &t, &q, accept.as_deref()),
        Method::GET if item => read::get(api, &t, accept.as_deref()),
        Method::GET => read::list(api, &t, &q, accept.as_deref()),
        Method::POST if !item => {
            let body = decode_object(ctype.as_deref(), &read_body(req.into_body()).await?)?;
            write::create(WriteCtx::new(api, &t, &q)?, body).await
        }
        Method::PUT if item => {
            let body = decode_object(ctype.as_deref(), &read_body(req.into_body()).await?)?;
            write::update(WriteCtx::new(api, &t, &q)?, body).await
        }
        Method::PATCH if item => {
            let kind = PatchKind::from_media_type(&request::media_type(ctype.as_deref()))?;
            let raw = read_body(req.into_body()).await?;
            let body: Value = if kind == PatchKind::Apply {
                serde_yaml::from_slice(&raw)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
            } else {
                serde_json::from_slice(&raw)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
            };
            let manager = q
                .get("fieldManager")
                .unwrap_or(if kind == PatchKind::Apply {
                    ""
                } else {
                    "unknown"
                });
            if kind == PatchKind::Apply && manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH requests with apply content type require a fieldManager",
                ));
            }
            let p = PatchReq {
                kind,
                body,
                manager: manager.to_string(),
                force: q.flag("force"),
            };
            write::patch(WriteCtx::new(api, &t, &q)?, p).await
        }
        Method::DELETE => {
            let raw = read_body(req.into_body()).await?;
            let body = if raw.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(decode_object(ctype.as_deref(), &raw)?)
            };
            if item {
                delete::delete(api, &t, &q, body).await
            } else {
                delete::delete_collection(api, &t, &q, body).await
            }
        }
        m => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {}{}",
            t.resource.qualified_plural(),
            if item { " items" } else { "" }
        ))),
    }
}

struct SelectorFilter(read::Filter, bool);

impl watch::EventFilter for SelectorFilter {
    fn matches(&self, obj: &Value) -> bool {
        self.0.matches(obj)
    }
    fn is_everything(&self) -> bool {
        self.1
    }
}

fn watch_response(
    api: &Arc<Api>,
    t: &Target,
    q: &Query,
    accept: Option<&str>,
) -> Result<Response, ApiError> {
    let filter = read::Filter::parse(t, q)?;
    let everything = q.get("labelSelector").is_none_or(|s| s.trim().is_empty())
        && q.get("fieldSelector").is_none_or(|s| s.trim().is_empty());
    let from = match q.get("resourceVersion").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {s:?}: must be a number"))
        })?),
    };
    let mut from = from;
    if t.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "watch an item with a metadata.name field selector",
        ));
    }
    let send_initial = q.flag("sendInitialEvents");
    if send_initial {
        from = None;
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(3600));
    let spec = watch::WatchSpec {
        resource: t.resource,
        namespace: t.namespace.clone(),
        from,
        table: request::wants_table(accept),
        metadata_only: request::wants_metadata(accept),
        bookmarks: q
            .flag("allowWatchBookmarks")
            .then_some(api.bookmark_interval),
        timeout,
        initial_events_end: send_initial,
    };
    let content_type = if spec.table {
        respond::TABLE_CONTENT_TYPE
    } else {
        "application/json"
    };
    let mut rx = watch::start(&api.store, spec, SelectorFilter(filter, everything));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

async fn streaming<B>(
    api: &Arc<Api>,
    t: Target,
    q: Query,
    req: Request<B>,
) -> Result<Response, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let sub = t.sub.clone().unwrap_or_default();
    let Some(rt) = api.runtime.clone() else {
        return Err(exec::no_runtime(&sub));
    };
    let namespace = t.namespace.clone().unwrap_or_default();
    let pod = t.name.clone().unwrap_or_default();
    read::get(
        api,
        &Target {
            sub: None,
            ..t.clone()
        },
        None,
    )?;
    if sub == "portforward" {
        return port_forward(api, rt, &t, req).await;
    }
    let container = q.get("container").map(str::to_string);
    if sub == "log" {
        let lr = exec::LogRequest {
            namespace,
            pod,
            container,
            follow: q.flag("follow"),
            tail_lines: q.get("tailLines").and_then(|s| s.parse().ok()),
            previous: q.flag("previous"),
        };
        let mut rx = rt.logs(lr).await?;
        let stream = futures::stream::poll_fn(move |cx| {
            rx.poll_recv(cx)
                .map(|o| o.map(Ok::<_, std::convert::Infallible>))
        });
        return Ok({
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain"),
            );
            r
        });
    }
    let er = exec::ExecRequest {
        namespace,
        pod,
        container,
        command: q.all("command"),
        attach: sub == "attach",
        stdin: q.flag("stdin"),
        tty: q.flag("tty"),
    };
    let (mut parts, _) = req.into_parts();
    let ws = <axum::extract::ws::WebSocketUpgrade as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("exec needs a WebSocket upgrade (v5.channel.k8s.io): {e}")))?;
    let ws = ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]);
    // As the kubelet does, a refusal by the runtime travels on the upgraded
    // stream's error channel, so kubectl shows it instead of falling back
    // to SPDY (which this server does not speak).
    Ok(match rt.exec(er).await {
        Ok(io) => ws.on_upgrade(move |socket| exec::bridge(socket, io)),
        Err(e) => ws.on_upgrade(move |socket| exec::refuse(socket, e)),
    })
}

/// `pods/{name}/portforward`: a SPDY/3.1 session tunnelled in a WebSocket.
async fn port_forward<B>(
    api: &Arc<Api>,
    rt: Arc<dyn exec::PodRuntime>,
    t: &Target,
    req: Request<B>,
) -> Result<Response, ApiError> {
    let key = crate::store::Key::new(
        "",
        "pods",
        t.namespace.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    );
    let uid = api
        .store
        .get(&key)
        .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let pod = portforward::PodRef {
        namespace: t.namespace.clone().unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
        uid,
    };
    let (mut parts, _) = req.into_parts();
    let ws = <axum::extract::ws::WebSocketUpgrade as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!(
            "port-forward needs a WebSocket upgrade ({}): {e}",
            portforward::SUBPROTOCOL
        )))?;
    Ok(ws
        .protocols([portforward::SUBPROTOCOL])
        .on_upgrade(move |socket| portforward::serve(socket, rt, pod)))
}
