# Test clients run inside a pod namespace.
#   udp IP PORT [SPORT]   one datagram, print the answer (exit 1 on timeout)
#   echo IP PORT          TCP line session: for each stdin line, send it and print the answer
import socket
import sys

mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if len(sys.argv) > 4:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(sys.argv[4])))
    s.settimeout(1.0)
    s.sendto(b"x", (ip, port))
    try:
        print(s.recv(2048).decode().strip())
    except OSError as e:
        print(f"error {e}")
        sys.exit(1)
elif mode == "echo":
    s = socket.create_connection((ip, port), timeout=3)
    f = s.makefile("r")
    for line in sys.stdin:
        s.sendall(line.encode())
        print(f.readline().strip(), flush=True)
