//! SPDY/3.1 framing, as much of it as `kubectl port-forward` uses (pure).
//!
//! kubectl (1.31 and later) tunnels a SPDY/3.1 session through a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`): the bytes of SPDY frames travel in
//! binary messages, split wherever the client's writes split them. A frame
//! is an 8-byte header and a body:
//! - control frames: `1 | version(15) | type(16) | flags(8) | length(24)`;
//! - data frames: `0 | stream-id(31) | flags(8) | length(24)`.
//!
//! Header blocks (in SYN_STREAM, SYN_REPLY and HEADERS) are name/value pairs
//! with 32-bit lengths, compressed with zlib primed with the dictionary of
//! the SPDY/3 specification; each direction of a session is one zlib stream,
//! flushed (SYNC_FLUSH) at the end of every block.

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// SPDY protocol version carried by control frames.
pub const VERSION: u16 = 3;
/// FLAG_FIN: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// Largest frame body this side accepts or sends (the 24-bit length field's
/// range is 16 MiB; nothing kubectl sends comes close).
pub const MAX_FRAME: usize = 1 << 20;

/// Control frame types.
mod kind {
    pub(super) const SYN_STREAM: u16 = 1;
    pub(super) const SYN_REPLY: u16 = 2;
    pub(super) const RST_STREAM: u16 = 3;
    pub(super) const SETTINGS: u16 = 4;
    pub(super) const PING: u16 = 6;
    pub(super) const GOAWAY: u16 = 7;
    pub(super) const HEADERS: u16 = 8;
    pub(super) const WINDOW_UPDATE: u16 = 9;
}

/// RST_STREAM status: the stream was refused (or is unknown).
pub const RST_PROTOCOL_ERROR: u32 = 1;

/// One SPDY frame; header blocks are still compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A new stream from the peer.
    SynStream {
        /// Stream ID (odd: the client's).
        stream: u32,
        /// FLAG_FIN / FLAG_UNIDIRECTIONAL.
        flags: u8,
        /// Compressed header block.
        headers: Vec<u8>,
    },
    /// The answer to a SYN_STREAM.
    SynReply {
        /// Stream ID.
        stream: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Compressed header block.
        headers: Vec<u8>,
    },
    /// Abnormal end of a stream.
    RstStream {
        /// Stream ID.
        stream: u32,
        /// Status code.
        status: u32,
    },
    /// Session settings (read and ignored).
    Settings,
    /// Liveness check; answered with the same ID.
    Ping(u32),
    /// The peer is ending the session.
    GoAway {
        /// Last stream the peer accepted.
        last_stream: u32,
    },
    /// More headers on a stream (ignored beyond FLAG_FIN).
    Headers {
        /// Stream ID.
        stream: u32,
        /// FLAG_FIN.
        flags: u8,
    },
    /// Flow-control credit (the Go client does not enforce windows).
    WindowUpdate,
    /// Payload on a stream.
    Data {
        /// Stream ID.
        stream: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Payload.
        data: Vec<u8>,
    },
    /// A control frame type this side does not know (ignored, as the spec asks).
    Unknown(u16),
}

/// What is wrong with the bytes a peer sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    /// A control frame of a version other than 3.
    #[error("SPDY version {0} is not supported (only 3)")]
    Version(u16),
    /// A frame longer than [`MAX_FRAME`].
    #[error("SPDY frame of {0} bytes is too large")]
    TooLarge(usize),
    /// A control frame shorter than its type needs.
    #[error("SPDY control frame type {0} is truncated")]
    Truncated(u16),
    /// A header block that does not decompress or parse.
    #[error("SPDY header block is malformed: {0}")]
    Headers(String),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Takes one whole frame off the front of `buf`, or None until more bytes arrive.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = (be32(&buf[4..8]) & 0x00ff_ffff) as usize;
    if len > MAX_FRAME {
        return Err(SpdyError::TooLarge(len));
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let head = buf.split_to(8);
    let body = buf.split_to(len);
    let flags = head[4];
    if head[0] & 0x80 == 0 {
        return Ok(Some(Frame::Data {
            stream: be32(&head[0..4]) & 0x7fff_ffff,
            flags,
            data: body.to_vec(),
        }));
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != VERSION {
        return Err(SpdyError::Version(version));
    }
    let ty = u16::from_be_bytes([head[2], head[3]]);
    let need = |n: usize| {
        if body.len() < n {
            Err(SpdyError::Truncated(ty))
        } else {
            Ok(())
        }
    };
    let stream = || be32(&body[0..4]) & 0x7fff_ffff;
    Ok(Some(match ty {
        kind::SYN_STREAM => {
            need(10)?;
            Frame::SynStream {
                stream: stream(),
                flags,
                headers: body[10..].to_vec(),
            }
        }
        kind::SYN_REPLY => {
            need(4)?;
            Frame::SynReply {
                stream: stream(),
                flags,
                headers: body[4..].to_vec(),
            }
        }
        kind::RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream: stream(),
                status: be32(&body[4..8]),
            }
        }
        kind::SETTINGS => Frame::Settings,
        kind::PING => {
            need(4)?;
            Frame::Ping(be32(&body[0..4]))
        }
        kind::GOAWAY => {
            need(4)?;
            Frame::GoAway {
                last_stream: stream(),
            }
        }
        kind::HEADERS => {
            need(4)?;
            Frame::Headers {
                stream: stream(),
                flags,
            }
        }
        kind::WINDOW_UPDATE => Frame::WindowUpdate,
        other => Frame::Unknown(other),
    }))
}

fn control(ty: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Encodes a frame (header blocks already compressed).
pub fn encode(frame: &Frame) -> Vec<u8> {
    match frame {
        Frame::SynStream {
            stream,
            flags,
            headers,
        } => {
            let mut body = stream.to_be_bytes().to_vec();
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            body.extend_from_slice(headers);
            control(kind::SYN_STREAM, *flags, &body)
        }
        Frame::SynReply {
            stream,
            flags,
            headers,
        } => {
            let mut body = stream.to_be_bytes().to_vec();
            body.extend_from_slice(headers);
            control(kind::SYN_REPLY, *flags, &body)
        }
        Frame::RstStream { stream, status } => {
            let mut body = stream.to_be_bytes().to_vec();
            body.extend_from_slice(&status.to_be_bytes());
            control(kind::RST_STREAM, 0, &body)
        }
        Frame::Settings => control(kind::SETTINGS, 0, &0u32.to_be_bytes()),
        Frame::Ping(id) => control(kind::PING, 0, &id.to_be_bytes()),
        Frame::GoAway { last_stream } => {
            let mut body = last_stream.to_be_bytes().to_vec();
            body.extend_from_slice(&0u32.to_be_bytes());
            control(kind::GOAWAY, 0, &body)
        }
        Frame::Headers { stream, flags } => control(kind::HEADERS, *flags, &stream.to_be_bytes()),
        Frame::WindowUpdate => control(kind::WINDOW_UPDATE, 0, &[0; 8]),
        Frame::Data {
            stream,
            flags,
            data,
        } => {
            let mut out = Vec::with_capacity(8 + data.len());
            out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
            out.extend_from_slice(&((u32::from(*flags) << 24) | data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
            out
        }
        Frame::Unknown(ty) => control(*ty, 0, &[]),
    }
}

/// The zlib dictionary of SPDY/3 (draft-mbelshe-httpbis-spdy-00, 2.6.10.1):
/// these words, each preceded by its length as 32 bits, then [`DICT_TAIL`].
const DICT_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's unprefixed tail.
const DICT_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414",
    "415416417502504505203 Non-Authoritative Information204 No Content",
    "301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden",
    "404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec",
    " 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,",
    "image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
    "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 header compression dictionary.
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1500);
    for w in DICT_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICT_TAIL.as_bytes());
    d
}

/// One side's header compression state: an inflater for what the peer
/// sends and a deflater for what this side sends, both primed with the
/// dictionary and kept for the whole session.
pub struct HeaderCodec {
    dict: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
    deflate_primed: bool,
}

impl std::fmt::Debug for HeaderCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderCodec")
    }
}

impl Default for HeaderCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCodec {
    /// A fresh session's codec.
    pub fn new() -> Self {
        HeaderCodec {
            dict: dictionary(),
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::default(), true),
            deflate_primed: false,
        }
    }

    /// Decompresses and parses one header block: (name, value) pairs, a
    /// value with NULs split into several.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let bad = |m: String| SpdyError::Headers(m);
        let mut raw = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if raw.capacity() - raw.len() < 256 {
                raw.reserve(raw.capacity());
            }
            let before_in = self.inflate.total_in();
            let before_out = self.inflate.total_out();
            match self
                .inflate
                .decompress_vec(input, &mut raw, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dict)
                        .map_err(|e| bad(format!("dictionary: {e}")))?;
                }
                Err(e) => return Err(bad(e.to_string())),
            }
            let used = (self.inflate.total_in() - before_in) as usize;
            input = &input[used..];
            let produced = self.inflate.total_out() - before_out;
            if input.is_empty() && raw.len() < raw.capacity() {
                break;
            }
            if used == 0 && produced == 0 && raw.len() < raw.capacity() {
                return Err(bad("inflate made no progress".into()));
            }
            if raw.len() > MAX_FRAME {
                return Err(bad("header block too large".into()));
            }
        }
        parse_block(&raw)
    }

    /// Serialises and compresses a header block.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        if !self.deflate_primed {
            // Cannot fail on a fresh stream with a valid dictionary.
            let _ = self.deflate.set_dictionary(&self.dict);
            self.deflate_primed = true;
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity() + 64);
            }
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            // Done once all input is in and the flush fitted in the buffer.
            if input.is_empty() && out.len() < out.capacity() || status.is_err() {
                break;
            }
            if matches!(status, Ok(Status::StreamEnd)) {
                break;
            }
        }
        out
    }
}

fn parse_block(raw: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let mut b = raw;
    let take_u32 = |b: &mut &[u8]| -> Result<usize, SpdyError> {
        if b.remaining() < 4 {
            return Err(SpdyError::Headers("truncated header block".into()));
        }
        Ok(b.get_u32() as usize)
    };
    let n = take_u32(&mut b)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let field = |b: &mut &[u8]| -> Result<String, SpdyError> {
            let len = take_u32(b)?;
            if b.remaining() < len {
                return Err(SpdyError::Headers("truncated header block".into()));
            }
            let s = String::from_utf8_lossy(&b[..len]).into_owned();
            b.advance(len);
            Ok(s)
        };
        let name = field(&mut b)?;
        let value = field(&mut b)?;
        for v in value.split('\0') {
            out.push((name.clone(), v.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_has_the_specified_shape() {
        let d = dictionary();
        assert!(d.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(d.ends_with(b",enq=0."));
        // Its Adler-32 (what zlib streams name as DICTID) must match the
        // one Go's and Chromium's SPDY stacks use; a wrong byte shows here.
        let mut z = Compress::new(Compression::default(), true);
        assert_eq!(z.set_dictionary(&d).expect("dictionary"), 0xe3c6_a7c2_u32);
    }

    #[test]
    fn headers_round_trip_across_blocks_of_one_session() {
        let mut client = HeaderCodec::new();
        let mut server = HeaderCodec::new();
        let first = client.encode(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        let second = client.encode(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]);
        let h1 = server.decode(&first).expect("first block");
        let h2 = server
            .decode(&second)
            .expect("second block reuses the stream");
        assert_eq!(
            h1,
            vec![
                ("streamtype".into(), "error".into()),
                ("port".into(), "80".into()),
                ("requestid".into(), "0".into())
            ]
        );
        assert_eq!(h2[0], ("streamtype".into(), "data".into()));
        // A value with NULs is several values.
        let multi = client.encode(&[("x", "a\0b")]);
        assert_eq!(
            server.decode(&multi).expect("multi"),
            vec![("x".into(), "a".into()), ("x".into(), "b".into())]
        );
        // Large blocks need several passes of the inflater.
        let big = "v".repeat(100_000);
        let block = client.encode(&[("big", &big)]);
        assert_eq!(server.decode(&block).expect("big")[0].1.len(), 100_000);
    }

    #[test]
    fn garbage_header_blocks_are_errors() {
        let mut server = HeaderCodec::new();
        assert!(server.decode(b"\x78\xbb\xff\xff\xff\xff").is_err());
        assert!(parse_block(&[0, 0, 0, 2, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn frames_round_trip_and_wait_for_whole_frames() {
        let frames = [
            Frame::SynStream {
                stream: 1,
                flags: 0,
                headers: vec![1, 2, 3],
            },
            Frame::SynReply {
                stream: 1,
                flags: FLAG_FIN,
                headers: vec![9],
            },
            Frame::RstStream {
                stream: 3,
                status: RST_PROTOCOL_ERROR,
            },
            Frame::Ping(7),
            Frame::GoAway { last_stream: 5 },
            Frame::Data {
                stream: 3,
                flags: FLAG_FIN,
                data: b"hello".to_vec(),
            },
        ];
        let mut wire = BytesMut::new();
        for f in &frames {
            wire.extend_from_slice(&encode(f));
        }
        // Byte by byte: nothing until a frame is whole.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            buf.extend_from_slice(&[*b]);
            while let Some(f) = parse(&mut buf).expect("valid") {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut v2 = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(parse(&mut v2), Err(SpdyError::Version(2)));
        let mut short = BytesMut::from(&[0x80, 3, 0, 3, 0, 0, 0, 2, 0, 1][..]);
        assert_eq!(parse(&mut short), Err(SpdyError::Truncated(3)));
        let mut huge = BytesMut::from(&[0, 0, 0, 1, 0, 0xff, 0xff, 0xff][..]);
        assert!(matches!(parse(&mut huge), Err(SpdyError::TooLarge(_))));
        let mut unknown = BytesMut::from(&[0x80, 3, 0, 42, 0, 0, 0, 0][..]);
        assert_eq!(parse(&mut unknown), Ok(Some(Frame::Unknown(42))));
    }
}
