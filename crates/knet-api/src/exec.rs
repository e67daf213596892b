//! `pods/exec`, `pods/attach` and `pods/log`, served against a narrow
//! [`PodRuntime`] trait that a node runtime (the lab) provides. Without one,
//! these endpoints answer a 503 Status saying so.
//!
//! Exec speaks the WebSocket `v5.channel.k8s.io` protocol (as kubectl 1.32
//! does first): binary frames whose first byte is the channel (0 stdin,
//! 1 stdout, 2 stderr, 3 status), closed after the status.

use crate::status::ApiError;
use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;

/// An exec or attach into a pod's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container (None: the pod's first).
    pub container: Option<String>,
    /// Command and arguments (empty for attach).
    pub command: Vec<String>,
    /// Attach to the running process instead of starting one.
    pub attach: bool,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether a terminal was asked for.
    pub tty: bool,
}

/// Output of a running exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutput {
    /// Bytes on stdout.
    Stdout(Bytes),
    /// Bytes on stderr.
    Stderr(Bytes),
    /// The process ended with this exit code (last message).
    Exit(i32),
}

/// The streams of a running exec.
#[derive(Debug)]
pub struct ExecIo {
    /// Where client stdin goes (None when stdin was not asked for).
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// Output, ending with [`ExecOutput::Exit`].
    pub output: mpsc::Receiver<ExecOutput>,
    /// Where terminal size changes go, as (columns, rows) (None without a tty).
    pub resize: Option<mpsc::Sender<(u16, u16)>>,
}

/// Parses a channel-4 resize message: `{"Width":80,"Height":24}`.
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let dim = |k: &str| v[k].as_u64().and_then(|n| u16::try_from(n).ok());
    Some((dim("Width")?, dim("Height")?))
}

/// A log read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container (None: the pod's first).
    pub container: Option<String>,
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// The previous (terminated) instance of the container (`--previous`).
    pub previous: bool,
}

/// What a node runtime provides to the API server.
pub trait PodRuntime: Send + Sync + 'static {
    /// Starts an exec/attach; errors are Statuses (404 pod/container, …).
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<ExecIo, ApiError>>;
    /// Opens a container log; chunks of text until the end (or forever with follow).
    fn logs(&self, req: LogRequest) -> BoxFuture<'static, Result<mpsc::Receiver<Bytes>, ApiError>>;
    /// Connects to `port` on the pod's loopback, inside its network
    /// namespace (`kubectl port-forward`); errors are Statuses whose message
    /// kubectl shows.
    fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> BoxFuture<'static, Result<tokio::net::TcpStream, ApiError>> {
        let _ = (namespace, pod, port);
        Box::pin(async { Err(no_runtime("portforward")) })
    }
}

/// The error exec/attach/log give when no runtime is attached.
pub fn no_runtime(what: &str) -> ApiError {
    ApiError::unavailable(format!(
        "pods/{what} is not available: no node runtime is attached to this API server (run the lab with `knet up`)"
    ))
}

/// Bridges an upgraded WebSocket to a running exec.
pub async fn bridge(socket: WebSocket, mut io: ExecIo) {
    let (mut sink, mut source) = socket.split();
    let stdin = io.stdin.take();
    let resize = io.resize.take();
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            let Message::Binary(data) = msg else { continue };
            match (data.first(), &stdin) {
                (Some(0), Some(tx)) if tx.send(data.slice(1..)).await.is_err() => break,
                (Some(255), _) => break,
                (Some(4), _) => {
                    if let (Some(tx), Some(size)) = (&resize, parse_resize(&data[1..])) {
                        let _ = tx.send(size).await;
                    }
                }
                _ => {}
            }
        }
    });
    while let Some(out) = io.output.recv().await {
        let frame = match out {
            ExecOutput::Stdout(b) => framed(1, &b),
            ExecOutput::Stderr(b) => framed(2, &b),
            ExecOutput::Exit(code) => {
                let _ = sink
                    .send(Message::Binary(framed(3, &exit_status(code))))
                    .await;
                break;
            }
        };
        if sink.send(Message::Binary(frame)).await.is_err() {
            break;
        }
    }
    let _ = sink.send(normal_close()).await;
    reader.abort();
}

/// Ends an upgraded WebSocket with `err` as the Status on the error channel.
pub async fn refuse(mut socket: WebSocket, err: ApiError) {
    let status = serde_json::to_vec(&err.to_status()).unwrap_or_default();
    let _ = socket.send(Message::Binary(framed(3, &status))).await;
    let _ = socket.send(normal_close()).await;
}

fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

fn framed(channel: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Bytes::from(v)
}

/// The channel-3 status kubectl reads the exit code from.
pub fn exit_status(code: i32) -> Vec<u8> {
    let v = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {

    #[test]
    fn resize_messages_are_parsed() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some((120, 40))
        );
        assert_eq!(parse_resize(b"not json"), None);
        assert_eq!(parse_resize(br#"{"Width":70000,"Height":1}"#), None);
    }
    use super::*;

    #[test]
    fn exit_status_carries_the_code() {
        let ok: serde_json::Value = serde_json::from_slice(&exit_status(0)).unwrap();
        assert_eq!(ok["status"], "Success");
        let bad: serde_json::Value = serde_json::from_slice(&exit_status(3)).unwrap();
        assert_eq!(bad["details"]["causes"][0]["message"], "3");
        assert_eq!(no_runtime("exec").code, 503);
    }
}
