#!/usr/bin/env python3
"""asyncio_echo: the Python asyncio echo server a user would write (standard library only).

A peer in bench/ (issue 15). One thread, one event loop (the default selector loop, epoll),
a Protocol that writes back what it receives; transport.pause_reading() while the peer is
not reading keeps memory bounded (backpressure), like the other servers.

Usage: asyncio_echo.py [--port N] [--host A.B.C.D]; prints "port N" once listening.
"""
import argparse
import asyncio
import signal


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def pause_writing(self):  # the peer's window is full: stop reading until it drains
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def main(host, port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, host, port, reuse_address=True, backlog=4096)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    await stop


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    asyncio.run(main(a.host, a.port))
