"""What every venue simulator shares: an HTTP server on a free loopback port, an injectable clock
(real or virtual), and switchable faults.

A simulator subclass implements `handle()` (one request in, one response out, under `self.lock`),
`poll()` (fire whatever timers are due at `self.now_ms()`), and the venue's own shapes for
`rate_limited()` and `maintenance()`. Timers are evaluated at the start of every request and on
`advance()`; in real-time mode a ticker thread also polls every `tick_s`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Headers = dict[str, str]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload).encode())


class VirtualClock:
    """Epoch ms that moves only when told to."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms

    def set(self, ms: int) -> None:
        with self._lock:
            self._now = ms


def real_clock() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Faults:
    """Switch on in a test; each applies to every request until switched off."""

    latency_s: float = 0.0
    http_5xx: int | None = None  # answer this status with an HTML error page
    hang_s: float = 0.0  # sleep this long before answering (past the client's timeout)
    rate_limited: bool = False
    maintenance: bool = False

    def clear(self) -> None:
        self.latency_s = 0.0
        self.http_5xx = None
        self.hang_s = 0.0
        self.rate_limited = False
        self.maintenance = False


class SimServer:
    venue: str = "venue"

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.clock: Callable[[], int] = clock or real_clock
        self.faults = Faults()
        self.lock = threading.RLock()
        self.requests_seen = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- to implement -------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        raise NotImplementedError

    def poll(self) -> None:
        """Fire every timer due at now_ms()."""

    def rate_limited(self) -> Response:
        return Response.json(429, {"error": "rate limited"})

    def maintenance(self) -> Response:
        return Response.json(503, {"error": "maintenance"})

    # -- shared -----------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.clock()

    def advance(self, ms: int) -> None:
        """Move a virtual clock on and fire what became due (virtual-time tests)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs a VirtualClock")
        advance(ms)
        with self.lock:
            self.poll()

    def dispatch(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        faults = self.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        if faults.hang_s:
            self._stopping.wait(faults.hang_s)
        if faults.http_5xx is not None:
            html = f"<html><body><h1>{faults.http_5xx} Server Error</h1></body></html>"
            return Response(faults.http_5xx, html.encode(), "text/html")
        if faults.maintenance:
            return self.maintenance()
        if faults.rate_limited:
            return self.rate_limited()
        with self.lock:
            self.requests_seen += 1
            self.poll()
            return self.handle(method, path, headers, body)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0, tick_s: float | None = 0.05) -> SimServer:
        """Serve on a free loopback port in background threads. `tick_s=None` disables the ticker
        (virtual-time tests fire timers with `advance()`)."""
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, each answer waits ~40 ms for
            # the client's delayed ACK (measured: 44 ms -> 0.8 ms per request).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    resp = sim.dispatch(self.command, self.path, headers, body)
                except Exception as exc:  # a simulator bug must show, not hang the client
                    resp = Response.json(500, {"error": f"simulator error: {type(exc).__name__}: {exc}"})
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)

            do_GET = _serve
            do_POST = _serve
            do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        serve = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.venue}-sim",
            daemon=True,
        )
        serve.start()
        self._threads.append(serve)
        if tick_s is not None:
            ticker = threading.Thread(
                target=self._tick, args=(tick_s,), name=f"{self.venue}-tick", daemon=True
            )
            ticker.start()
            self._threads.append(ticker)
        return self

    def _tick(self, every_s: float) -> None:
        while not self._stopping.wait(every_s):
            with self.lock:
                self.poll()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_standalone(factory: Callable[[argparse.Namespace], SimServer], argv: list[str] | None = None) -> None:
    """`python -m sandbox.venues.<venue> --port N [--config accounts.json]`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", help="JSON file with the accounts to register")
    args = parser.parse_args(argv)
    sim = factory(args).start(args.host, args.port)
    print(f"{sim.venue} simulator listening on {sim.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
