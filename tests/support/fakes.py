"""Small real HTTP servers on loopback standing in for Meta's Graph API and N8N.

Each records every request it receives and answers through a handler that a
test may replace. They run in their own threads, so the hotelbot server (a
separate process) and the test's event loop can both reach them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Real-format WhatsApp Cloud API payloads (personal data replaced), kept in the repository.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
LOCAL_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# How often a fake checks for shutdown; the standard library's 0.5 s made each stop take that long.
POLL_SECONDS = 0.05


def load_fixture(name: str) -> Any:
    """Load a WhatsApp fixture from tests/fixtures/whatsapp, else from tests/fixtures."""
    for folder in (FIXTURES, LOCAL_FIXTURES):
        path = folder / name
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(name)


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Recorded], Reply]


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers via ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Recorded] = []
        self._condition = threading.Condition()
        owner = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                if not owner._listening:
                    # A connection kept alive from before refuse_connections(): drop it unanswered.
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with owner._condition:
                    owner.requests.append(recorded)
                    owner._condition.notify_all()
                reply = owner.handler(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                content_type = reply.headers.get("Content-Type", "application/octet-stream")
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                    content_type = "application/json"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        if name.lower() not in ("content-type", "content-length"):
                            self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._request_handler = RequestHandler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True)
        self._port = self._server.server_address[1]
        self._listening = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._listening:
            self._server.shutdown()
            self._server.server_close()
            self._listening = False

    def refuse_connections(self) -> None:
        """Close the listening socket, so connections to ``url`` are refused until :meth:`accept_connections`."""
        self.stop()
        self._thread.join(5)

    def accept_connections(self) -> None:
        """Listen on the same port again after :meth:`refuse_connections`."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), self._request_handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True)
        self._thread.start()
        self._listening = True

    def matching(self, predicate: Callable[[Recorded], bool] = lambda _: True) -> list[Recorded]:
        with self._condition:
            return [request for request in self.requests if predicate(request)]

    def wait_for(self, count: int, predicate: Callable[[Recorded], bool] = lambda _: True, timeout: float = 10.0) -> list[Recorded]:
        """Block until ``count`` recorded requests match ``predicate``; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [request for request in self.requests if predicate(request)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} request(s), got {len(found)}")
                self._condition.wait(remaining)


class FakeGraph(RecordingServer):
    """Meta's Graph API: sends answer with a new wamid; media ids map to files this fake serves."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.media: dict[str, tuple[bytes, str]] = {}
        self.templates: list[dict] = []
        super().__init__(self.default_handler)

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    def default_handler(self, request: Recorded) -> Reply:
        parts = request.path.split("?")[0].strip("/").split("/")
        if request.method == "POST" and parts[-1] == "messages":
            body = json.loads(request.body or b"{}")
            if body.get("status") == "read":
                return Reply(200, {"success": True})
            wamid = f"wamid.FAKE{next(self._counter):08d}"
            return Reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}], "messages": [{"id": wamid}]})
        if request.method == "POST" and parts[-1] == "media":
            return Reply(200, {"id": f"uploaded{next(self._counter)}"})
        if request.method == "GET" and parts[-1] == "message_templates":
            return Reply(200, {"data": self.templates})
        if request.method == "GET" and parts[0] == "files" and parts[-1] in self.media:
            content, mime_type = self.media[parts[-1]]
            return Reply(200, content, {"Content-Type": mime_type})
        if request.method == "GET" and parts[-1] in self.media:
            import base64
            import hashlib

            content, mime_type = self.media[parts[-1]]
            return Reply(200, {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/files/{parts[-1]}",
                "mime_type": mime_type,
                "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
                "file_size": str(len(content)),
                "id": parts[-1],
            })
        return Reply(404, {"error": {"message": "Unknown path", "type": "GraphMethodException", "code": 100}})

    def sends(self) -> list[Recorded]:
        return self.matching(lambda request: request.method == "POST" and request.path.endswith("/messages"))


class FakeN8N(RecordingServer):
    """The tenant's N8N webhook: answers 200 unless a test changes ``handler``."""

    def __init__(self) -> None:
        super().__init__(lambda request: Reply(200, {"ok": True}))
