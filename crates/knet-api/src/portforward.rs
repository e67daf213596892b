//! `pods/portforward`: `kubectl port-forward` against the node runtime.
//!
//! kubectl opens a WebSocket with the subprotocol
//! `SPDY/3.1+portforward.k8s.io` and runs a SPDY/3.1 session inside it
//! (the [`spdy`] module reads and writes its frames). For every local
//! connection it creates two streams with the headers `streamtype`
//! (`error` or `data`), `port` and `requestid`; once both exist this side
//! connects to the port inside the pod (through [`PodRuntime::port_forward`],
//! as the kubelet connects to localhost in the pod's network namespace),
//! copies bytes both ways on the data stream, and reports a failure as text
//! on the error stream — which kubectl prints.

pub mod spdy;

use crate::exec::PodRuntime;
use axum::extract::ws::{Message, WebSocket};
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use spdy::{FLAG_FIN, Frame, HeaderCodec};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The WebSocket subprotocol kubectl asks for.
pub const SUBPROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Largest DATA frame this side sends.
const CHUNK: usize = 32 * 1024;

/// The pod a session forwards to.
#[derive(Debug, Clone)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (in error messages, as the kubelet writes them).
    pub uid: String,
}

/// The streams of one forwarded connection, as they arrive.
#[derive(Debug, Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    started: bool,
}

/// What a stream's headers ask for.
#[derive(Debug, PartialEq, Eq)]
struct StreamAsk {
    kind: StreamKind,
    port: u16,
    request: String,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum StreamKind {
    Error,
    Data,
}

/// Reads `streamtype`, `port` and `requestid` (pure).
fn ask(headers: &[(String, String)]) -> Result<StreamAsk, String> {
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let kind = match get("streamtype") {
        Some("error") => StreamKind::Error,
        Some("data") => StreamKind::Data,
        Some(other) => return Err(format!("invalid stream type {other:?}")),
        None => return Err("missing streamtype header".into()),
    };
    let port = get("port").ok_or("missing port header")?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port {port:?}"))?;
    // Old clients send no request ID; one connection at a time then.
    let request = get("requestid").unwrap_or("").to_string();
    Ok(StreamAsk {
        kind,
        port,
        request,
    })
}

/// Frames from the session's tasks to the socket.
type Out = mpsc::Sender<Frame>;

/// Serves one port-forward session on an upgraded WebSocket.
pub async fn serve(socket: WebSocket, rt: Arc<dyn PodRuntime>, pod: PodRef) {
    let (mut sink, mut source) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            let bytes = spdy::encode(&f);
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut codec = HeaderCodec::new();
    let mut buf = BytesMut::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream → where the client's bytes for the pod go (None: FIN seen).
    let mut to_pod: HashMap<u32, mpsc::Sender<Option<Vec<u8>>>> = HashMap::new();
    // Data streams whose error stream has not arrived yet.
    let mut pending: HashMap<u32, mpsc::Receiver<Option<Vec<u8>>>> = HashMap::new();
    'session: while let Some(Ok(msg)) = source.next().await {
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        buf.extend_from_slice(&bytes);
        loop {
            let frame = match spdy::parse(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "port-forward: bad SPDY frame; closing");
                    break 'session;
                }
            };
            match frame {
                Frame::SynStream {
                    stream, headers, ..
                } => {
                    let asked = codec
                        .decode(&headers)
                        .map_err(|e| e.to_string())
                        .and_then(|h| ask(&h));
                    let asked = match asked {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::debug!(error = %e, stream, "port-forward: stream refused");
                            let _ = out_tx
                                .send(Frame::RstStream {
                                    stream,
                                    status: spdy::RST_PROTOCOL_ERROR,
                                })
                                .await;
                            continue;
                        }
                    };
                    let reply = codec.encode(&[]);
                    let _ = out_tx
                        .send(Frame::SynReply {
                            stream,
                            flags: 0,
                            headers: reply,
                        })
                        .await;
                    let pair = pairs.entry(asked.request.clone()).or_default();
                    pair.port = asked.port;
                    match asked.kind {
                        StreamKind::Error => pair.error = Some(stream),
                        StreamKind::Data => {
                            pair.data = Some(stream);
                            let (tx, rx) = mpsc::channel(16);
                            to_pod.insert(stream, tx);
                            // Bytes can arrive before the error stream does.
                            pending.insert(stream, rx);
                        }
                    }
                    if let (Some(error), Some(data), false) = (pair.error, pair.data, pair.started)
                    {
                        pair.started = true;
                        if let Some(rx) = pending.remove(&data) {
                            tokio::spawn(forward(
                                rt.clone(),
                                pod.clone(),
                                pair.port,
                                error,
                                data,
                                rx,
                                out_tx.clone(),
                            ));
                        }
                        pairs.remove(&asked.request);
                    }
                }
                Frame::Data {
                    stream,
                    flags,
                    data,
                } => {
                    if let Some(tx) = to_pod.get(&stream) {
                        if !data.is_empty() && tx.send(Some(data)).await.is_err() {
                            to_pod.remove(&stream);
                            continue;
                        }
                        if flags & FLAG_FIN != 0 {
                            let _ = tx.send(None).await;
                            to_pod.remove(&stream);
                        }
                    }
                }
                Frame::RstStream { stream, .. } => {
                    to_pod.remove(&stream);
                }
                Frame::Ping(id) => {
                    let _ = out_tx.send(Frame::Ping(id)).await;
                }
                Frame::GoAway { .. } => break 'session,
                Frame::SynReply { .. }
                | Frame::Settings
                | Frame::Headers { .. }
                | Frame::WindowUpdate
                | Frame::Unknown(_) => {}
            }
        }
    }
    drop(to_pod);
    drop(out_tx);
    let _ = writer.await;
}

/// One forwarded connection: connect inside the pod, then copy both ways.
async fn forward(
    rt: Arc<dyn PodRuntime>,
    pod: PodRef,
    port: u16,
    error: u32,
    data: u32,
    mut from_client: mpsc::Receiver<Option<Vec<u8>>>,
    out: Out,
) {
    let conn = match rt.port_forward(&pod.namespace, &pod.name, port).await {
        Ok(c) => c,
        Err(e) => {
            // The kubelet's wording, which kubectl shows the user.
            let msg = format!(
                "error forwarding port {port} to pod {}, uid {}: {}",
                pod.name, pod.uid, e.message
            );
            let _ = out
                .send(Frame::Data {
                    stream: error,
                    flags: FLAG_FIN,
                    data: msg.into_bytes(),
                })
                .await;
            let _ = out.send(fin(data)).await;
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let upstream = async move {
        while let Some(Some(bytes)) = from_client.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        // The client closed its side: half-close towards the pod.
        let _ = wr.shutdown().await;
    };
    let out_down = out.clone();
    let downstream = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let f = Frame::Data {
                        stream: data,
                        flags: 0,
                        data: buf[..n].to_vec(),
                    };
                    if out_down.send(f).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out_down.send(fin(data)).await;
    };
    tokio::join!(upstream, downstream);
    let _ = out.send(fin(error)).await;
}

/// An empty DATA frame with FLAG_FIN: this side's end of the stream.
fn fin(stream: u32) -> Frame {
    Frame::Data {
        stream,
        flags: FLAG_FIN,
        data: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn stream_headers_are_read_as_the_kubelet_reads_them() {
        assert_eq!(
            ask(&h(&[
                ("streamtype", "data"),
                ("port", "8080"),
                ("requestid", "3")
            ])),
            Ok(StreamAsk {
                kind: StreamKind::Data,
                port: 8080,
                request: "3".into()
            })
        );
        assert_eq!(
            ask(&h(&[("streamtype", "error"), ("port", "80")])),
            Ok(StreamAsk {
                kind: StreamKind::Error,
                port: 80,
                request: String::new()
            })
        );
        assert!(ask(&h(&[("streamtype", "data"), ("port", "0")])).is_err());
        assert!(ask(&h(&[("streamtype", "data"), ("port", "http")])).is_err());
        assert!(ask(&h(&[("streamtype", "video"), ("port", "80")])).is_err());
        assert!(ask(&h(&[("port", "80")])).is_err());
    }
}
