#!/usr/bin/env python3
"""A TLS echo client for echod's tests (Python's ssl module, memory BIOs over a socket).

tls_client.py PORT CA VERSION NBYTES [--close-first]
Sends NBYTES pseudo-random bytes over TLS VERSION (1.2 or 1.3), verifying the server
against CA for the name localhost, and reads the echo. --close-first sends close_notify right
after the last byte instead of after the whole echo arrived. Prints one JSON line and exits 0
when every byte came back in order, then echod's close_notify, then TCP EOF.
"""
import json
import random
import select
import socket
import ssl
import sys


def main():
    port, ca, version, nbytes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    close_first = "--close-first" in sys.argv[5:]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
    ctx.minimum_version = v
    ctx.maximum_version = v
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    data = random.Random(nbytes).randbytes(nbytes)
    sent = 0
    got = bytearray()
    handshaken = close_sent = peer_close = eof = False
    wire = b""
    result = {"error": None}
    try:
        while not (peer_close and eof):
            if not handshaken:
                try:
                    tls.do_handshake()
                    handshaken = True
                except ssl.SSLWantReadError:
                    pass
            if handshaken:
                while sent < len(data) and len(wire) + outgoing.pending < (1 << 20):
                    sent += tls.write(data[sent:sent + 16384])
                try:
                    while not peer_close:
                        chunk = tls.read(65536)
                        if not chunk:
                            peer_close = True
                            break
                        got += chunk
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    peer_close = True
                want_close = sent == len(data) and (close_first or len(got) == len(data))
                if want_close and not close_sent:
                    try:
                        tls.unwrap()
                    except ssl.SSLWantReadError:
                        pass
                    close_sent = True
            wire += outgoing.read()
            readable, writable, _ = select.select([sock], [sock] if wire else [], [], 10)
            if not readable and not writable:
                result["error"] = "timeout"
                break
            if writable:
                wire = wire[sock.send(wire):]
            if readable:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    eof = True
                    incoming.write_eof()
                    if not peer_close and len(got) < len(data):
                        result["error"] = "EOF before the whole echo"
                        break
                else:
                    incoming.write(chunk)
    except (ssl.SSLError, OSError) as e:
        result["error"] = repr(e)
    result.update(version=tls.version(), sent=sent, echoed=len(got), match=bytes(got) == data,
                  close_notify=peer_close, eof=eof)
    print(json.dumps(result))
    ok = result["error"] is None and result["match"] and peer_close and eof
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
