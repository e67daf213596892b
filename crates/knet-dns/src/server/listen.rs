//! UDP and TCP listeners. UDP runs on dedicated threads that all receive
//! from one socket (batched with `recvmmsg`); answers that need an upstream
//! are finished on the tokio runtime. TCP runs on tokio.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::batch::{self, Batch};
use super::{Dns, Handled};
use crate::config::UdpSched;

/// Idle time after which a TCP connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Running UDP threads and the TCP accept task; stops on drop.
#[derive(Debug)]
pub struct Listeners {
    /// The bound address (with the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tcp: tokio::task::JoinHandle<()>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tcp.abort();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn reuseport_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(false)?;
    }
    // Room for bursts (dnsperf keeps many queries outstanding).
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Binds a UDP socket served by `threads` threads and one TCP listener on
/// `addr` and starts serving. Must be called inside a tokio runtime.
pub async fn start(
    dns: Arc<Dns>,
    addr: SocketAddr,
    threads: usize,
    sched: UdpSched,
) -> std::io::Result<Listeners> {
    let first = reuseport_udp(addr)?;
    let addr = first.local_addr()?;
    // All threads receive from one socket (as Knot's UDP workers do by
    // default): the kernel wakes one idle waiter per datagram, so the load
    // spreads evenly. One SO_REUSEPORT socket per thread pins each client
    // flow to one thread by hash instead, and with few client flows (a node's
    // resolvers, dnsperf's 10 sockets) one thread queues work while the
    // other idles: 2-thread throughput measured 30-40% lower that way.
    let mut sockets = vec![first];
    for _ in 1..threads.max(1) {
        sockets.push(sockets[0].try_clone()?);
    }
    let tcp = TcpListener::bind(addr).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Handle::current();
    let threads = sockets
        .into_iter()
        .enumerate()
        .map(|(i, sock)| {
            let (dns, stop, rt) = (dns.clone(), stop.clone(), rt.clone());
            std::thread::Builder::new()
                .name(format!("knet-dns-udp-{i}"))
                .spawn(move || {
                    if sched == UdpSched::Batch
                        && let Err(e) = sched_batch()
                    {
                        tracing::warn!(error = %e, "cannot set SCHED_BATCH on a UDP worker; it keeps the default policy");
                    }
                    udp_loop(dns, Arc::new(sock), stop, rt)
                })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let tcp = tokio::spawn(tcp_accept(dns, tcp));
    tracing::info!(%addr, "DNS listening on UDP and TCP");
    Ok(Listeners {
        addr,
        stop,
        threads,
        tcp,
    })
}

/// Puts the calling thread under `SCHED_BATCH` (see [`UdpSched::Batch`]).
#[allow(unsafe_code)]
fn sched_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler only reads `param`, which outlives the
    // call; pid 0 names the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn udp_loop(
    dns: Arc<Dns>,
    sock: Arc<UdpSocket>,
    stop: Arc<AtomicBool>,
    rt: tokio::runtime::Handle,
) {
    if let Err(e) = sock.set_read_timeout(Some(Duration::from_millis(200))) {
        tracing::error!(error = %e, "cannot set UDP read timeout");
        return;
    }
    let fd = sock.as_raw_fd();
    let mut batch = Batch::new();
    let mut out = Vec::with_capacity(batch::BATCH);
    let mut rotate = 0usize;
    let autopath = dns.engine.autopath;
    while !stop.load(Ordering::Relaxed) {
        let got = match batch.recv(fd) {
            Ok(got) => got,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let received = Instant::now();
        for (i, r) in got.iter().enumerate() {
            rotate = rotate.wrapping_add(1);
            let v6 = batch::is_v6(&r.from);
            // The source matters only to autopath (client pod by address).
            let src = if autopath {
                batch::to_std(&r.from).map(|a| a.ip())
            } else {
                None
            };
            match dns.handle_at(batch.packet(i, r.len), false, v6, src, rotate, received) {
                Handled::Reply(bytes) => out.push((bytes, r.from)),
                Handled::Drop => {}
                Handled::Later(job) => {
                    let Some(src) = batch::to_std(&r.from) else {
                        continue;
                    };
                    let (dns, sock) = (dns.clone(), sock.clone());
                    rt.spawn(async move {
                        let bytes = dns.finish(job).await;
                        let _ = sock.send_to(&bytes, src);
                    });
                }
            }
        }
        batch.send(fd, &out);
        out.clear();
    }
}

async fn tcp_accept(dns: Arc<Dns>, l: TcpListener) {
    loop {
        match l.accept().await {
            Ok((s, peer)) => {
                tokio::spawn(tcp_conn(dns.clone(), s, peer.ip()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_conn(dns: Arc<Dns>, mut s: TcpStream, peer: std::net::IpAddr) {
    let v6 = peer.is_ipv6();
    let mut rotate = 0usize;
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(TCP_IDLE, s.read_u16()).await else {
            return;
        };
        let mut msg = vec![0u8; usize::from(len)];
        if !matches!(
            tokio::time::timeout(TCP_IDLE, s.read_exact(&mut msg)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        rotate = rotate.wrapping_add(1);
        let out = match dns.handle_from(&msg, true, v6, Some(peer), rotate) {
            Handled::Reply(out) => out,
            Handled::Drop => return,
            Handled::Later(job) => dns.finish(job).await,
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
        framed.extend_from_slice(&out);
        if s.write_all(&framed).await.is_err() {
            return;
        }
    }
}
