#!/usr/bin/env python3
"""seed_echo: the pattern echod was seeded from, kept as a peer to show where it breaks.

A blocking Python socket server: accept one client, one recv(1024), send it back, close.
It serves one client at a time (the next waits in the accept queue while this one is
read), echoes at most 1024 bytes of a message and nothing after the first read. The bench
reports those failures (the driver sees truncation, mismatches or closed connections within
its bounded timeouts) instead of numbers that would look like a server.

Usage: seed_echo.py [--port N] [--host A.B.C.D]; prints "port N" once listening.
"""
import argparse
import signal
import socket
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--host", default="127.0.0.1")
a = ap.parse_args()
signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((a.host, a.port))
srv.listen(128)
print(f"port {srv.getsockname()[1]}", flush=True)
while True:
    conn, _ = srv.accept()
    try:
        data = conn.recv(1024)
        conn.send(data)
    except OSError:
        pass
    conn.close()
