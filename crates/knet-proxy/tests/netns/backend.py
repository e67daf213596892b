# Test backend run inside a pod namespace: answers "<name> <client ip>".
# Args: NAME then specs http:PORT | udp:PORT | echo:PORT (line echo over TCP).
import http.server
import socket
import sys
import threading

NAME = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        client = self.client_address[0].removeprefix("::ffff:")
        body = f"{NAME} {client}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DualStackServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def bind_http(port):
    srv = DualStackServer(("::", port), Handler)
    return srv.serve_forever


def bind_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))

    def loop():
        while True:
            _, addr = s.recvfrom(2048)
            s.sendto(f"{NAME} {addr[0]}\n".encode(), addr)

    return loop


def echo_conn(conn):
    with conn, conn.makefile("r") as f:
        for line in f:
            conn.sendall(f"{NAME} {line.strip()}\n".encode())


def bind_echo(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)

    def loop():
        while True:
            conn, _ = s.accept()
            threading.Thread(target=echo_conn, args=(conn,), daemon=True).start()

    return loop


KINDS = {"http": bind_http, "udp": bind_udp, "echo": bind_echo}
threads = []
for spec in sys.argv[2:]:
    kind, port = spec.split(":")
    t = threading.Thread(target=KINDS[kind](int(port)), daemon=True)
    t.start()
    threads.append(t)
print("ready", flush=True)
for t in threads:
    t.join()
