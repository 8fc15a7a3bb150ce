"""A tiny misbehaving HTTP server on loopback: each route answers from a script of replies.

``server.route("GET", "/user", Reply(502), Reply(200, {"login": "octocat"}))``: the first
request gets a 502, every later one the last reply. Unscripted paths answer 404 JSON. Every
request is logged (method, path, headers, body) so tests can count retries.

A reply can also misbehave at the socket: never answer (``hang``), send its body one byte at
a time (``trickle`` seconds apart), or close the connection halfway through (``drop``). Each
stops by itself once the client has gone or the server stops, so no test can hang on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A JSON-able value, ``bytes`` sent as they are, or None for no body."""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Read the request, then answer nothing until the server stops."""
    trickle: float = 0.0
    """Seconds between the body's bytes (after the headers, sent at once)."""
    drop: bool = False
    """Close the connection after the headers and half the body (before anything, if no body)."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    def route(self, method: str, path: str, *replies: Reply) -> None:
        with self.lock:
            self.routes[(method, path)] = list(replies)

    def hits(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for s in self.log if (s.method, s.path) == (method, path))

    def next_reply(self, method: str, path: str) -> Reply:
        with self.lock:
            script = self.routes.get((method, path))
            if not script:
                return Reply(404, {"message": "Not Found"})
            return script.pop(0) if len(script) > 1 else script[0]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # ends hanging and trickling replies
        self._server.shutdown()
        self._server.server_close()


def _handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            with stub.lock:
                stub.log.append(Seen(self.command, path, dict(self.headers), body))
            reply = stub.next_reply(self.command, path)
            if reply.hang:
                stub.stopping.wait(60)
                self.close_connection = True
                return
            if isinstance(reply.body, bytes):
                data = reply.body
            elif reply.body is None:
                data = b""
            else:
                data = json.dumps(reply.body).encode()
            if reply.drop and not data:
                self.close_connection = True  # the request was read; its answer is lost
                return
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if reply.drop:
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
            elif reply.trickle:
                self._trickle(data, reply.trickle)
            elif data:
                self.wfile.write(data)

        def _trickle(self, data: bytes, interval: float) -> None:
            for i in range(len(data)):
                if stub.stopping.wait(interval):
                    break
                try:
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    break
            self.close_connection = True

        do_PUT = do_DELETE = do_POST = do_GET

    return Handler


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    server.start()
    yield server
    server.stop()
