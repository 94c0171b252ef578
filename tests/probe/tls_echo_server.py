#!/usr/bin/env python3
"""A TLS echo server for echo-probe's tests, on Python's ssl module (a TLS stack that is
not echo-probe's own code path).

  tls_echo_server.py --cert PEM --key PEM [--client-ca PEM] [--tls-version 1.2|1.3]
                     [--proxy-log FILE] [--host 127.0.0.1] [--abrupt]

Prints "listening PORT" on stdout once it accepts connections (port 0 = ephemeral). Every
connection: with --proxy-log, a PROXY protocol header (v1 or v2) is read off the raw socket
first and appended to FILE as one line "HEX CLIENT_PORT"; then the TLS handshake (with --client-ca a
client certificate signed by it is required); then every byte is echoed until the client
closes. A failed handshake is printed as "handshake failed: ..." on stdout, and the
connection is drained before it closes, so the client reads the TLS alert rather than a
reset; with --abrupt it is closed at once (unread client bytes make that a reset, as a
server that does not care would do). Runs until killed.
"""
import argparse
import socket
import ssl
import sys
import threading

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
log_lock = threading.Lock()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed inside the PROXY header")
        data += chunk
    return data


def read_proxy_header(sock):
    head = recv_exact(sock, 16)  # a v1 line is longer than 16 bytes; v2's fixed part is 16
    if head.startswith(b"PROXY "):
        while not head.endswith(b"\r\n"):
            head += recv_exact(sock, 1)
            if len(head) > 107:
                raise ValueError("v1 header longer than 107 bytes")
        return head
    if head[:12] == V2_SIGNATURE:
        return head + recv_exact(sock, int.from_bytes(head[14:16], "big"))
    raise ValueError("no PROXY header: " + head.hex())


def drain_and_close(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()


def serve(conn, ctx, proxy_log, abrupt):
    try:
        if proxy_log:
            header = read_proxy_header(conn)
            with log_lock, open(proxy_log, "a") as f:
                f.write("%s %d\n" % (header.hex(), conn.getpeername()[1]))
        tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
    except (OSError, ValueError) as e:
        print("proxy header failed:", e, flush=True)
        drain_and_close(conn)
        return
    try:
        tls.do_handshake()
    except (ssl.SSLError, OSError) as e:
        print("handshake failed:", e, flush=True)
        raw = socket.socket(fileno=tls.detach())
        if abrupt:
            raw.close()
        else:
            drain_and_close(raw)
        return
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                break
            tls.sendall(data)
        tls.unwrap()  # close_notify back
    except (ssl.SSLError, OSError):
        pass
    tls.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--client-ca")
    p.add_argument("--tls-version", choices=["1.2", "1.3"])
    p.add_argument("--proxy-log")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--abrupt", action="store_true")
    a = p.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(a.client_ca)
    if a.tls_version:
        v = ssl.TLSVersion.TLSv1_2 if a.tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v

    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((a.host, 0))
    listener.listen(128)
    print("listening", listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn, ctx, a.proxy_log, a.abrupt), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
