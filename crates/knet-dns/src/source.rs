//! Where the index's data comes from: a static file of Kubernetes objects
//! ([`load_objects`]) or the API server through kube-rs watchers ([`kube`]).

pub mod convert;
pub mod kube;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::index::{IndexBuilder, Snapshot};
pub use convert::{ConvertError, Object};

/// Errors of the static source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A YAML/JSON document could not be parsed.
    #[error("document {doc} is not valid YAML/JSON: {source}")]
    Yaml {
        /// 1-based document number.
        doc: usize,
        /// Parser error.
        #[source]
        source: serde_yaml::Error,
    },
    /// A JSON document could not be parsed.
    #[error("JSON document {doc} is invalid: {source}")]
    Json {
        /// 1-based document number.
        doc: usize,
        /// Parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A document could not be converted.
    #[error("document {doc}: {source}")]
    Convert {
        /// 1-based document number.
        doc: usize,
        /// Conversion error.
        #[source]
        source: ConvertError,
    },
}

/// Parses Kubernetes objects from multi-document YAML or JSON text (`List`
/// kinds are expanded; kinds DNS does not use are skipped).
pub fn load_objects(text: &str) -> Result<Vec<Object>, SourceError> {
    let mut out = Vec::new();
    for_each_object(text, |o| out.push(o))?;
    Ok(out)
}

/// Parses objects like [`load_objects`] and builds a complete (synced)
/// snapshot, applying each object as soon as it is parsed (no list of all
/// objects is ever held, which keeps the peak memory of large loads low).
pub fn load_snapshot(text: &str, serial: u32) -> Result<Snapshot, SourceError> {
    let mut b = IndexBuilder::new();
    for_each_object(text, |o| o.apply(&mut b))?;
    b.set_serial(serial);
    b.set_synced(true);
    Ok(b.snapshot())
}

fn for_each_object(text: &str, mut f: impl FnMut(Object)) -> Result<(), SourceError> {
    use serde::Deserialize;
    if text.trim_start().starts_with('{') {
        return json_stream(text, f);
    }
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(doc)
            .map_err(|source| SourceError::Yaml { doc: i + 1, source })?;
        if value.is_null() {
            continue;
        }
        let objs = convert::from_value(value)
            .map_err(|source| SourceError::Convert { doc: i + 1, source })?;
        objs.into_iter().for_each(&mut f);
    }
    Ok(())
}

/// JSON objects one after another (e.g. one per line): parsed as a stream,
/// much faster than YAML for the large benchmark clusters.
fn json_stream(text: &str, mut f: impl FnMut(Object)) -> Result<(), SourceError> {
    let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    for (i, value) in stream.enumerate() {
        let value = value.map_err(|e| SourceError::Json {
            doc: i + 1,
            source: e,
        })?;
        let objs = convert::from_value(value)
            .map_err(|source| SourceError::Convert { doc: i + 1, source })?;
        objs.into_iter().for_each(&mut f);
    }
    Ok(())
}

/// Builds a complete (synced) snapshot from a set of objects.
pub fn static_snapshot(objects: Vec<Object>, serial: u32) -> Snapshot {
    let mut b = IndexBuilder::new();
    for o in objects {
        o.apply(&mut b);
    }
    b.set_serial(serial);
    b.set_synced(true);
    b.snapshot()
}

/// A published snapshot readers load without locking.
pub type SharedIndex = Arc<ArcSwap<Snapshot>>;

/// A fresh, unsynced shared index (queries get SERVFAIL until a source
/// publishes its first full list).
pub fn empty_index() -> SharedIndex {
    Arc::new(ArcSwap::from_pointee(Snapshot::default()))
}
