"""Lambda's asynchronous Invoke on a loopback port, for the refreshers' calls to a spare of their own.

A refresher loop with no standby calls one: `POST /2015-03-31/functions/<name>/invocations` with
`X-Amz-Invocation-Type: Event`, SigV4-signed by the functions' lean client (`deadman.stores.aws`).
Here that request is answered 202, as Lambda answers it, and the event is handed to `run` (the
sandbox's scheduler, which starts the refresher's handler as one more invocation). Only the form
deadman sends is taken: another path, method or invocation type is a 4xx, as Lambda would refuse it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.venues.registry import VENUES

PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[A-Za-z0-9_-]{1,64})/invocations$")


def function_name(venue: str) -> str:
    return f"sandbox-refresher-{venue}"


class LocalLambda:
    """One endpoint for every refresher; `run(venue)` starts an invocation (set by the stack)."""

    def __init__(self, run: Callable[[str], Any]) -> None:
        self.run = run
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LocalLambda:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                match = PATH.match(self.path)
                venue = (match.group("name") if match else "").removeprefix("sandbox-refresher-")
                if not match or not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    self._answer(403 if match else 404)
                    return
                if self.headers.get("X-Amz-Invocation-Type") != "Event" or venue not in VENUES:
                    self._answer(400)
                    return
                try:
                    event = json.loads(raw)
                except ValueError:
                    self._answer(400)
                    return
                api.calls.append((venue, event))
                api.run(venue)
                self._answer(202)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-lambda", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
