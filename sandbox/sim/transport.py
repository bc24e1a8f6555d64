"""Venue requests without sockets: a session (`deadman.venues.http.Session`) that hands each
request to a venue simulator in-process, on the virtual clock, with the network's faults.

A request takes `up_ms` to reach the venue and `down_ms` for the answer to come back. If the two
together exceed the client's timeouts (connect + read, as `deadman.venues.http` sets them), the
client raises `TransportTimeout` when its patience runs out, and the request still lands at the
venue at `up_ms` (a straggler) unless it was lost. Every request that landed is logged, with whether
its client had given up by then: that is what the checker reads.

An answer that arrives may be damaged on its way back (`Delivery.answer`, see `ANSWER_MANGLES`):
the request landed and took effect, and the client reads a 200 that is not the venue's answer.
Every venue client must take each of them for an unknown outcome (`TransientError`), never for
"timer set" or "cancelled 0".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from deadman.venues.http import TransportTimeout
from sandbox.sim.world import World
from sandbox.venues.common import SimServer

# How an answer can be damaged on its way back, each arriving as an HTTP 200: "empty" (no body),
# "truncated" (the first half of the body), "html" (a proxy's page), "object" (`{}`), "reshaped" (a
# JSON value of the other shape: `[]` for an object, `{}` for anything else) and "hollow" (an
# object's envelope kept, its object and list members emptied: Kraken's `{"error": [], "result":
# {}}`). A mangle that would not change the answer (a hollow list) leaves it as it was.
ANSWER_MANGLES: Final = ("empty", "truncated", "html", "object", "reshaped", "hollow")
_PAGE = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>"


@dataclass(frozen=True)
class Delivery:
    up_ms: int = 2
    down_ms: int = 2
    lost: bool = False  # the request never arrives (connection dropped mid-flight)
    answer: str | None = None  # it lands and takes effect; its answer comes back damaged so

    def __post_init__(self) -> None:
        if self.answer is not None and self.answer not in ANSWER_MANGLES:
            raise ValueError(f"answer must be None or one of {ANSWER_MANGLES}, not {self.answer!r}")


def mangle(kind: str, body: bytes) -> bytes | None:
    """The body a 200 carries when the answer `body` is damaged as `kind`; None if it would not change."""
    if kind not in ANSWER_MANGLES:
        raise ValueError(f"unknown mangle {kind!r}")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    out: Any
    if kind == "empty":
        damaged = b""
    elif kind == "truncated":
        damaged = body[: len(body) // 2]
    elif kind == "html":
        damaged = _PAGE
    elif kind == "object":
        damaged = b"{}"
    elif kind == "reshaped":
        damaged = b"[]" if isinstance(data, dict) else b"{}"
    else:
        if not isinstance(data, dict):
            return None
        out = {k: type(v)() if isinstance(v, dict | list) else v for k, v in data.items()}
        if out == data:
            return None
        damaged = json.dumps(out).encode()
    return None if damaged == body else damaged


@dataclass(frozen=True)
class Landed:
    at_ms: int
    sent_ms: int
    venue: str
    path: str
    who: str  # which function sent it (refresher, kill, ...)
    status: int
    gave_up: bool  # the client had stopped waiting when it landed
    body: bytes


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.text = body.decode("utf-8", errors="replace")


DeliveryPolicy = Callable[[str, str, str], Delivery]


class SimNetwork:
    def __init__(self, world: World, delivery: DeliveryPolicy | None = None) -> None:
        self.world = world
        self.delivery: DeliveryPolicy = delivery or (lambda venue, path, who: Delivery())
        self.log: list[Landed] = []
        # Every answer delivered damaged: (when it reached its client, venue, path, who, how).
        self.mangled: list[tuple[int, str, str, str, str]] = []

    def session(self, server: SimServer, who: str) -> SimSession:
        return SimSession(self, server, who)

    def _land(
        self,
        server: SimServer,
        sent_ms: int,
        path: str,
        who: str,
        headers: dict[str, str],
        body: bytes,
        gave_up: bool,
        method: str = "POST",
        query: str = "",
    ) -> _Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        answer = server.dispatch(method, f"{path}?{query}" if query else path, lower, body)
        self.log.append(
            Landed(self.world.now_ms, sent_ms, server.venue, path, who, answer.status, gave_up, body)
        )
        return _Answer(answer.status, answer.body)


class SimSession:
    """What `deadman.venues.http.HttpTransport` needs of a session: `post`, `get` and `close`."""

    def __init__(self, network: SimNetwork, server: SimServer, who: str) -> None:
        self._net = network
        self._server = server
        self._who = who

    def post(
        self,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] = (2.0, 3.0),
        **_: Any,
    ) -> _Answer:
        return self._send("POST", url, data or b"", headers, timeout)

    def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] = (2.0, 3.0),
        **_: Any,
    ) -> _Answer:
        return self._send("GET", url, b"", headers, timeout)

    def _send(
        self, method: str, url: str, body: bytes, headers: dict[str, str] | None, timeout: tuple[float, float]
    ) -> _Answer:
        world = self._net.world
        parts = urlsplit(url)
        path, query = parts.path, parts.query
        hdrs = dict(headers or {})
        d = self._net.delivery(self._server.venue, path, self._who)
        patience = round((timeout[0] + timeout[1]) * 1000)
        sent = world.now_ms
        if not d.lost and d.up_ms + d.down_ms <= patience:
            world.sleep_ms(d.up_ms)
            answer = self._net._land(
                self._server, sent, path, self._who, hdrs, body, gave_up=False, method=method, query=query
            )
            world.sleep_ms(d.down_ms)
            damaged = None if d.answer is None else mangle(d.answer, answer.text.encode())
            if damaged is not None:
                assert d.answer is not None
                self._net.mangled.append((world.now_ms, self._server.venue, path, self._who, d.answer))
                return _Answer(200, damaged)
            return answer
        if not d.lost:
            # Lands while or after the client waits; its answer comes too late to be read.
            gave_up = d.up_ms >= patience

            def land() -> None:
                net = self._net
                net._land(
                    self._server,
                    sent,
                    path,
                    self._who,
                    hdrs,
                    body,
                    gave_up=gave_up,
                    method=method,
                    query=query,
                )

            world.call_at(sent + d.up_ms, land)
        world.sleep_ms(patience)
        raise TransportTimeout(f"simulated timeout after {patience} ms")

    def close(self) -> None:
        pass
