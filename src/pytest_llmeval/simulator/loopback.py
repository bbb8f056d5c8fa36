"""The simulator's HTTP plumbing: a threading server on loopback and its request handler."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from typing import Any

from pytest_llmeval.simulator.answers import DROP, Answer, error_answer

Responder = Callable[[str, str, str, "str | None", bytes, "list[tuple[str, str]]"], Answer]
"""Answers one request: (method, path, content type, Authorization header, body, headers)."""


class LoopbackServer(http.server.ThreadingHTTPServer):
    """One daemon thread per connection; a slow request never holds up the others."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], respond: Responder, stopping: threading.Event
    ) -> None:
        self.respond = respond
        self.stopping = stopping
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and leave are normal here; anything else is a bug to show.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) or self.stopping.is_set():
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmeval-simulator"
    disable_nagle_algorithm = True
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator counts requests instead of logging them."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Requests too malformed to route (bad request line, headers) get a JSON error too."""
        self.close_connection = True
        self._write(error_answer(code, message or http.HTTPStatus(code).phrase))

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True
            self._write(error_answer(400, f"Bad request body: {error}"))
            return
        reply = self.server.respond(
            self.command,
            self.path,
            self.headers.get("Content-Type") or "",
            self.headers.get("Authorization"),
            body,
            list(self.headers.items()),
        )
        if reply is DROP:
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline(65_537).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65_537)

    def _write(self, reply: Answer) -> None:
        if isinstance(reply.payload, bytes):
            data, content_type = reply.payload, "application/octet-stream"
        else:
            data = json.dumps(reply.payload, separators=(",", ":")).encode()
            content_type = "application/json"
        content_type = reply.content_type or content_type
        try:
            phrase = http.HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Error"
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if reply.cut_body:
            self.close_connection = True
        if self.close_connection:
            lines.append("Connection: close")
        # One write for head and body: two small writes can meet Nagle and delayed ACKs.
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if reply.events:
                self._stream(head, reply.events, reply.event_gap_s or 0.0)
            elif reply.drip_s:
                self._drip(head, data[: len(data) // 2] if reply.cut_body else data, reply.drip_s)
            elif reply.cut_body:
                self.wfile.write(head + data[: len(data) // 2])
            else:
                self.wfile.write(head + data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, head: bytes, events: tuple[bytes, ...], every_s: float) -> None:
        """The head and the first event at once, then each event `every_s` later (until
        stopped), as a server streams tokens while it makes them."""
        self.wfile.write(head + events[0])
        self.wfile.flush()
        for event in events[1:]:
            if every_s and self.server.stopping.wait(every_s):
                self.close_connection = True
                return
            self.wfile.write(event)
            self.wfile.flush()

    def _drip(self, head: bytes, data: bytes, every_s: float) -> None:
        """The head at once, then the body one byte every `every_s` (until stopped)."""
        self.wfile.write(head)
        for index in range(len(data)):
            if self.server.stopping.wait(every_s):
                self.close_connection = True
                return
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
