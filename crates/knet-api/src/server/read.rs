//! Get and list, with label and field selectors and Table output.

use super::Api;
use super::request::{Query, Target, wants_table};
use super::respond;
use crate::fieldselector::FieldSelector;
use crate::status::ApiError;
use crate::store::Key;
use crate::table;
use axum::response::Response;
use knet_core::selector::Selector;
use serde_json::{Value, json};
use std::time::SystemTime;

/// Label and field selectors of a list or watch.
pub(crate) struct Filter {
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    /// From `labelSelector` and `fieldSelector`; malformed ones are 400s.
    pub(crate) fn parse(t: &Target, q: &Query) -> Result<Self, ApiError> {
        let labels = match q.get("labelSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => Selector::parse(s).map_err(|e| {
                ApiError::bad_request(format!("unable to parse requirement: {}", e.0))
            })?,
            None => Selector::everything(),
        };
        let fields = FieldSelector::parse(t.resource, q.get("fieldSelector").unwrap_or(""))?;
        Ok(Self { labels, fields })
    }

    /// Whether `obj` passes both selectors.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let empty = json!({});
        let labels = obj["metadata"].get("labels").unwrap_or(&empty);
        self.labels.matches(labels) && (self.fields.is_empty() || self.fields.matches(obj))
    }
}

/// The objects a collection request selects, and the list revision.
pub(crate) fn select(api: &Api, t: &Target, q: &Query) -> Result<(Vec<Value>, u64), ApiError> {
    let filter = Filter::parse(t, q)?;
    let r = t.resource;
    let (raw, rv) = api
        .store
        .list_raw(&Key::prefix(r.group, r.plural, t.namespace.as_deref()));
    let items = raw
        .iter()
        .filter_map(|j| serde_json::from_slice::<Value>(j).ok())
        .filter(|o| filter.matches(o))
        .collect();
    Ok((items, rv))
}

fn table_response(t: &Target, objects: &[Value], rv: u64) -> Response {
    let tbl = table::table(t.resource, objects, &rv.to_string(), SystemTime::now());
    respond::with_type(
        200,
        respond::TABLE_CONTENT_TYPE,
        serde_json::to_vec(&tbl).unwrap_or_default(),
    )
}

/// `GET` of a collection.
pub(crate) fn list(
    api: &Api,
    t: &Target,
    q: &Query,
    accept: Option<&str>,
) -> Result<Response, ApiError> {
    let (items, rv) = select(api, t, q)?;
    if wants_table(accept) {
        return Ok(table_response(t, &items, rv));
    }
    let r = t.resource;
    let list = json!({
        "kind": r.list_kind(),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    });
    Ok(respond::json(200, &list))
}

/// `GET` of an item (or its `status`/`scale`).
pub(crate) fn get(api: &Api, t: &Target, accept: Option<&str>) -> Result<Response, ApiError> {
    let r = t.resource;
    let name = t.name.as_deref().unwrap_or("");
    let key = Key::new(
        r.group,
        r.plural,
        t.namespace.as_deref().unwrap_or(""),
        name,
    );
    let obj = api
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(r.group, r.plural, name))?;
    match t.sub.as_deref() {
        None | Some("status") => {}
        Some("scale") if r.has_subresource("scale") => {
            return Ok(respond::json(200, &super::write::scale_of(&obj)));
        }
        Some(other) => {
            return Err(ApiError::method_not_allowed(format!(
                "GET is not supported on {}/{other}",
                r.qualified_plural()
            )));
        }
    }
    if wants_table(accept) {
        let rv = admit_rv(&obj);
        return Ok(table_response(t, std::slice::from_ref(&obj), rv));
    }
    Ok(respond::json(200, &obj))
}

fn admit_rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
