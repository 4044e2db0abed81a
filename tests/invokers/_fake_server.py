"""A scriptable loopback HTTP server speaking just enough of the OpenAI API.

    server = FakeServer()                        # started, on 127.0.0.1:<free port>
    server.script(Reply(status=429, headers={"Retry-After": "0"}), Reply())
    ...  # point an invoker at server.url + "/v1"
    server.requests[0].path, server.requests[0].headers["authorization"]
    server.requests[1].at - server.requests[0].at   # seconds between two arrivals
    server.close()

Each request takes the next scripted Reply; the last one repeats. A Reply can wait
(``delay``), never answer (``hang``), stream SSE chunks (``stream``), or cut its
stream midway (``cut``: the socket closes before the chunked body ends).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeServer", "Recorded", "Reply", "chat_body"]


def chat_body(text: str = "Paris", model: str = "fake-model") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def completion_body(text: str = " Paris", model: str = "fake-model") -> dict[str, Any]:
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "text": text}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def _chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON, str -> text; None -> a canned completion
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    stream: list[str] | None = None  # text pieces sent as SSE chunks
    cut: bool = False  # close the socket after the first half of the stream
    echo_key: bool = False  # put the received key into the error body (as some servers do)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    at: float = field(default_factory=time.monotonic)  # when it had arrived (body read)


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once
        self._replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies = list(replies) or [Reply()]

    def _next(self) -> Reply:
        with self._lock:
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode("utf-8", "replace")
                parts = urllib.parse.urlsplit(self.path)
                server.requests.append(
                    Recorded(
                        method="POST",
                        path=parts.path,
                        query=urllib.parse.parse_qs(parts.query),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        json=payload,
                    )
                )
                reply = server._next()
                if reply.hang:
                    server._stop.wait(60)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.stream is not None:
                    self._stream(reply)
                    return
                body = reply.body
                if reply.echo_key:
                    auth = self.headers.get("authorization") or self.headers.get("api-key") or ""
                    key = auth.removeprefix("Bearer ")
                    body = {"error": {"message": f"Incorrect API key provided: {key}"}}
                if body is None:
                    is_completion = parts.path.endswith("/completions") and not parts.path.endswith(
                        "chat/completions"
                    )
                    model = payload.get("model", "fake-model") if isinstance(payload, dict) else ""
                    body = completion_body(model=model) if is_completion else chat_body(model=model)
                data = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
                ctype = "application/json" if not isinstance(body, str) else "text/plain"
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = list(reply.stream or [])
                events = [_chunk(piece) for piece in pieces] + [_chunk(None, "stop")]
                if reply.cut:
                    events = events[: max(1, len(pieces) // 2)]
                for event in events:
                    self._send_chunk(f"data: {json.dumps(event)}\n\n".encode())
                    time.sleep(0.01)
                if reply.cut:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self._send_chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _send_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler
