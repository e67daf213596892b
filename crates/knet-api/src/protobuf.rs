//! Decoding of `application/vnd.kubernetes.protobuf` request bodies
//! (`k8s\0` + runtime.Unknown) into the JSON objects the rest of the server
//! handles. kubectl's `create deployment|namespace|service|configmap|…` send
//! these.
//!
//! CONTRACT (used by the server): keep `decode`'s signature.

use crate::status::ApiError;
use serde_json::Value;

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
pub fn decode(_body: &[u8]) -> Result<Value, ProtobufError> {
    Err(ProtobufError("protobuf request bodies are not supported yet".into()))
}
