//! Batched UDP I/O: one `recvmmsg` moves up to [`BATCH`] queries in, one
//! `sendmmsg` moves the answers out — the technique Knot DNS uses, and what
//! keeps system calls from dominating the cost of a cluster lookup.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Largest query accepted over UDP (longer ones are cut and get FORMERR).
const MAX_QUERY: usize = 4096;

/// Buffers and message headers reused across calls.
pub(crate) struct Batch {
    bufs: Vec<Vec<u8>>,
    recv: MultiHeaders<SockaddrStorage>,
    send: MultiHeaders<SockaddrStorage>,
}

/// A received datagram: its length in the batch buffer and its sender.
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) from: SockaddrStorage,
}

/// Converts a nix socket address to std.
pub(crate) fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch {
            bufs: (0..BATCH).map(|_| vec![0u8; MAX_QUERY]).collect(),
            recv: MultiHeaders::preallocate(BATCH, None),
            send: MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// Blocks for at least one datagram (or the socket's read timeout) and
    /// returns every datagram already queued, up to [`BATCH`].
    pub(crate) fn recv(&mut self, fd: RawFd) -> nix::Result<Vec<Received>> {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        let res = recvmmsg(
            fd,
            &mut self.recv,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        Ok(res
            .filter_map(|m| {
                Some(Received {
                    len: m.bytes.min(MAX_QUERY),
                    from: m.address?,
                })
            })
            .collect())
    }

    /// The i-th received datagram.
    pub(crate) fn packet(&self, i: usize, len: usize) -> &[u8] {
        &self.bufs[i][..len]
    }

    /// Sends answers (best effort: a full socket buffer drops the rest, as
    /// a lost UDP datagram would).
    pub(crate) fn send(&mut self, fd: RawFd, out: &[(Vec<u8>, SockaddrStorage)]) {
        let mut at = 0;
        while at < out.len() {
            let chunk = &out[at..];
            let iovs: Vec<[IoSlice<'_>; 1]> =
                chunk.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> = chunk.iter().map(|(_, a)| Some(*a)).collect();
            let none: [ControlMessage<'_>; 0] = [];
            match sendmmsg(fd, &mut self.send, &iovs, addrs, none, MsgFlags::empty()) {
                Ok(r) => {
                    let sent = r.count();
                    if sent == 0 {
                        return;
                    }
                    at += sent;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// True when the address is IPv6 (for the `family` metric label).
pub(crate) fn is_v6(a: &SockaddrStorage) -> bool {
    a.family() == Some(nix::sys::socket::AddressFamily::Inet6)
}
