//! The built-in workload: what a container without a `command` runs in the
//! lab, since knet pulls no images. It serves HTTP on the container's ports
//! (port 80 for web images), answering the pod's hostname at `/` (as in seed
//! 003, where each nginx index page says which pod answered), plus
//! `/hostname`, `/clientip` and `/echo`; UDP ports echo datagrams back.
//! Plain std threads: one listener per port, one short thread per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

/// Protocol of a served port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP over TCP.
    Tcp,
    /// Datagram echo.
    Udp,
}

/// What a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// The response body for a request (pure), or None for 404.
pub fn respond(req: &Request, hostname: &str, client: SocketAddr) -> Option<String> {
    match req.path.as_str() {
        "/" | "/index.html" | "/hostname" => Some(format!("{hostname}\n")),
        "/clientip" => Some(format!("{}\n", client.ip())),
        "/echo" => Some(format!(
            "{} {} from {} to {hostname}\n{}",
            req.method,
            req.path,
            client,
            String::from_utf8_lossy(&req.body)
        )),
        _ => None,
    }
}

/// Reads one HTTP/1.x request head and body (Content-Length only).
fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0).min(1 << 20);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, body })
}

fn serve_conn(mut stream: TcpStream, hostname: &str) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Ok(client) = stream.peer_addr() else {
        return;
    };
    let Ok(req) = read_request(&stream) else {
        return;
    };
    let (status, body) = match respond(&req, hostname, client) {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", "not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\nServer: knet-workload\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// Binds every port (failing at once, like nginx's `bind() ... Address
/// already in use`, when one is taken) and serves until the process ends.
pub fn serve(ports: &[(u16, Proto)], hostname: &str) -> std::io::Result<std::convert::Infallible> {
    let mut threads = Vec::new();
    for &(port, proto) in ports {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let bind_err = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("bind() to 0.0.0.0:{port} failed ({e})"))
        };
        let host = hostname.to_string();
        match proto {
            Proto::Tcp => {
                let l = TcpListener::bind(addr).map_err(bind_err)?;
                threads.push(std::thread::spawn(move || {
                    for s in l.incoming().flatten() {
                        let h = host.clone();
                        std::thread::spawn(move || serve_conn(s, &h));
                    }
                }));
            }
            Proto::Udp => {
                let s = UdpSocket::bind(addr).map_err(bind_err)?;
                threads.push(std::thread::spawn(move || {
                    let mut buf = [0u8; 65535];
                    while let Ok((n, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }));
            }
        }
    }
    eprintln!("knet workload: {hostname} serving {ports:?}");
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            body: vec![],
        }
    }

    #[test]
    fn answers_hostname_and_client() {
        let c: SocketAddr = "10.244.1.7:40000".parse().unwrap();
        assert_eq!(respond(&req("/"), "web-1", c).as_deref(), Some("web-1\n"));
        assert_eq!(
            respond(&req("/clientip"), "web-1", c).as_deref(),
            Some("10.244.1.7\n")
        );
        assert!(
            respond(&req("/echo"), "web-1", c)
                .unwrap()
                .starts_with("GET /echo from 10.244.1.7:40000")
        );
        assert_eq!(respond(&req("/nope"), "web-1", c), None);
    }

    #[test]
    fn serves_over_loopback_and_refuses_a_taken_port() {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        std::thread::spawn(move || serve(&[(port, Proto::Tcp)], "pod-a"));
        let mut body = String::new();
        for _ in 0..50 {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.write_all(b"GET /hostname HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                s.read_to_string(&mut body).unwrap();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(body.ends_with("\r\n\r\npod-a\n"), "{body}");
        let err = serve(&[(port, Proto::Tcp)], "pod-b").unwrap_err();
        assert!(err.to_string().contains("failed"), "{err}");
    }
}
