"""A loopback HTTP server (127.0.0.1, a thread) serving files from memory, for download tests.

It honours ``Range: bytes=N-`` (206 Partial Content), records every request's path and Range
header, and can cut the next transfer of a file halfway: it announces the full length, sends
half of it and closes the connection.

The suite runs under ``unshare -n`` (make test): a new network namespace has no route out and
its loopback interface starts *down*. ``ensure_loopback`` brings that namespace's own ``lo`` up
(root in the namespace may; it reaches nothing outside) and skips the test where it cannot.
"""
from __future__ import annotations

import errno
import fcntl
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def _loopback_reachable() -> bool:
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        try:
            client.connect(server.getsockname())
            return True
        except OSError as err:
            if err.errno in (errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.ECONNREFUSED):
                return False
            raise


def ensure_loopback() -> None:
    """Make 127.0.0.1 connectable (bring ``lo`` up in an isolated namespace) or skip."""
    if _loopback_reachable():
        return
    try:  # the interfaces of this process's network namespace
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
        interfaces = [line.split(":")[0].strip() for line in lines]
    except OSError:
        interfaces = []
    if interfaces != ["lo"]:  # only touch `lo` in an isolated namespace, never on a real host
        pytest.skip(f"127.0.0.1 is unreachable here (interfaces: {interfaces})")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sH", b"lo", 0)
            flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    except OSError as err:
        pytest.skip(f"127.0.0.1 is unreachable here and the loopback interface cannot be brought up ({err})")
    if not _loopback_reachable():
        pytest.skip("127.0.0.1 is unreachable here")


class Loopback:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0].lstrip("/")
                owner.requests.append((path, self.headers.get("Range")))
                if path not in owner.files:
                    self.send_error(404)
                    return
                body, start = owner.files[path], 0
                wanted = self.headers.get("Range")
                if wanted and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if path in owner.cut:
                    owner.cut.discard(path)
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        ensure_loopback()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
