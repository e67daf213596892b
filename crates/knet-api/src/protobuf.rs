//! Decoding of `application/vnd.kubernetes.protobuf` request bodies
//! (`k8s\0` + runtime.Unknown) into the JSON objects the rest of the server
//! handles. kubectl's `create deployment|namespace|service|configmap|…` send
//! these.
//!
//! Decoding is schema-driven: `protobuf/schema_table.rs` lists, for every
//! message reachable from the served kinds (and the other kinds kubectl's
//! `create` generators emit: Secret, ServiceAccount, Job, CronJob, Role…),
//! each field's number, JSON name and type, so the output is exactly the JSON
//! Kubernetes would print for the same object (unset timestamps omitted).
//!
//! CONTRACT (used by the server): keep `decode`'s signature.

mod decode;
mod schema;
mod schema_table;
mod special;
mod wire;

use crate::status::ApiError;
use serde_json::{Map, Value};
use wire::{Raw, Reader};

/// The 4-byte prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProtobufError(pub String);

impl From<ProtobufError> for ApiError {
    fn from(e: ProtobufError) -> Self {
        ApiError::bad_request(format!("unable to decode protobuf body: {}", e.0))
    }
}

/// Decodes a protobuf request body into a JSON object with `apiVersion` and `kind`.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let Some(rest) = body.strip_prefix(MAGIC.as_slice()) else {
        return Err(ProtobufError(
            "body does not start with the k8s protobuf magic \"k8s\\0\"".into(),
        ));
    };
    let envelope = Envelope::parse(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError(format!(
            "unsupported contentEncoding {:?}",
            envelope.content_encoding
        )));
    }
    let message = message_name(&envelope.api_version, &envelope.kind)?;
    let fields = decode::decode_message(envelope.raw, &message, 0)?;
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(envelope.kind));
    out.insert("apiVersion".into(), Value::String(envelope.api_version));
    out.extend(fields);
    Ok(Value::Object(out))
}

/// The schema message for an `apiVersion`/`kind` pair: `apps/v1` +
/// `Deployment` → `apps.v1.Deployment`, `v1` + `Pod` → `core.v1.Pod`.
fn message_name(api_version: &str, kind: &str) -> Result<String, ProtobufError> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.split('.').next().unwrap_or(g), v),
        None => ("core", api_version),
    };
    let name = format!("{group}.{version}.{kind}");
    if kind.is_empty() || schema::message(&name).is_none() {
        return Err(ProtobufError(format!(
            "protobuf decoding of {kind:?} in {api_version:?} is not supported; send JSON instead"
        )));
    }
    Ok(name)
}

/// `runtime.Unknown`: `typeMeta{apiVersion=1, kind=2}=1, raw=2,
/// contentEncoding=3, contentType=4`.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut r = Reader::new(buf);
        while let Some((n, raw)) = r.next_field()? {
            match (n, raw) {
                (1, Raw::Len(tm)) => {
                    let mut t = Reader::new(tm);
                    while let Some((n, raw)) = t.next_field()? {
                        match (n, raw) {
                            (1, Raw::Len(s)) => env.api_version = utf8(s, "apiVersion")?,
                            (2, Raw::Len(s)) => env.kind = utf8(s, "kind")?,
                            _ => {}
                        }
                    }
                }
                (2, Raw::Len(b)) => env.raw = b,
                (3, Raw::Len(s)) => env.content_encoding = utf8(s, "contentEncoding")?,
                (4, Raw::Len(_)) => {} // contentType: always protobuf here.
                (1..=4, other) => {
                    return Err(ProtobufError(format!(
                        "runtime.Unknown field {n} has wire type {:?}",
                        other.wire_type()
                    )));
                }
                _ => {}
            }
        }
        if env.api_version.is_empty() || env.kind.is_empty() {
            return Err(ProtobufError(
                "runtime.Unknown envelope has no apiVersion/kind".into(),
            ));
        }
        Ok(env)
    }
}

fn utf8(b: &[u8], what: &str) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError(format!("{what} is not valid UTF-8")))
}
