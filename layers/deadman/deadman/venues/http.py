"""Bounded-time HTTP for venue adapters: every call has a timeout, network failures become
`TransientError`, and no header (which may carry keys or signatures) reaches an error message.

On urllib3 directly rather than requests: a venue call needs a kept-alive, verified POST and
nothing else, and requests (with the charset detector it loads) cost a cold start ~45 ms more.
A session is anything with `post(url, data=, headers=, timeout=)` answering `.status_code` and
`.text` (a `requests.Session` still fits, as the simulations' sessions do); its failures are
`OSError`s, a timeout a `TransportTimeout`. A venue whose reads are GETs (OKX lists its book so)
calls `get(url, headers=, timeout=)`, which such a session has too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from deadman.core.venue import ClockSource
from deadman.venues.errors import RateLimitError, TransientError, UnavailableError

# (connect, read) seconds. A tick is 10 s; one slow venue must not eat it, and a lost request must
# leave time to try again within Gemini's 30 s (the venues answer in well under a second when well).
DEFAULT_TIMEOUT: tuple[float, float] = (2.0, 3.0)
USER_AGENT = "deadman/0.1 (+dead-man's-switch refresher)"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class TransportTimeout(OSError):
    """The venue did not connect or answer within the timeout."""


class TransportError(OSError):
    """The venue could not be reached, or the connection broke; the message is the cause's class."""


class Answer(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...


class Session(Protocol):
    def post(
        self, url: str, *, data: bytes | None, headers: dict[str, str], timeout: tuple[float, float]
    ) -> Answer: ...

    def get(self, url: str, *, headers: dict[str, str], timeout: tuple[float, float]) -> Answer: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Answer:
    status_code: int
    text: str


class PooledSession:
    """Kept-alive, certificate-checked POSTs over urllib3, one try each."""

    def __init__(self) -> None:
        import certifi
        import urllib3

        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=4, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        )

    def post(
        self, url: str, *, data: bytes | None, headers: dict[str, str], timeout: tuple[float, float]
    ) -> Answer:
        return self._request("POST", url, data, headers, timeout)

    def get(self, url: str, *, headers: dict[str, str], timeout: tuple[float, float]) -> Answer:
        return self._request("GET", url, None, headers, timeout)

    def _request(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], timeout: tuple[float, float]
    ) -> Answer:
        import urllib3

        try:
            answer = self._pool.request(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                retries=False,
                redirect=False,
            )
        # urllib3 derives NewConnectionError (refused, unresolvable) from its connect timeout.
        except urllib3.exceptions.NewConnectionError as exc:
            raise TransportError(type(exc).__name__) from None
        except urllib3.exceptions.TimeoutError:
            raise TransportTimeout() from None
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(type(exc).__name__) from None
        return _Answer(answer.status, answer.data.decode("utf-8", errors="replace"))

    def close(self) -> None:
        self._pool.clear()


class HttpTransport:
    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: Session | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or PooledSession()

    def post(self, path: str, *, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        return self._send("POST", path, body, headers)

    def get(self, path: str, *, headers: dict[str, str]) -> HttpResponse:
        """`path` with its query string, as the venue signs it."""
        return self._send("GET", path, None, headers)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        url = self.base_url + path
        all_headers = {"User-Agent": USER_AGENT, **headers}
        try:
            if method == "GET":
                resp = self._session.get(url, headers=all_headers, timeout=self.timeout)
            else:
                resp = self._session.post(url, data=body, headers=all_headers, timeout=self.timeout)
        except TransportTimeout:
            raise TransientError(self.venue, f"timeout after {self.timeout[1]} s on {path}") from None
        except OSError as exc:
            # from None: a chained exception could carry the request and its headers. (requests'
            # errors are OSErrors too, for a requests.Session passed in.)
            cause = str(exc.args[0]) if isinstance(exc, TransportError) and exc.args else type(exc).__name__
            raise TransientError(self.venue, f"connection failed on {path}: {cause}") from None
        return HttpResponse(resp.status_code, resp.text)

    def close(self) -> None:
        self._session.close()


def raise_for_generic_status(venue: str, resp: HttpResponse, path: str) -> None:
    """Map statuses that mean the same on every venue; adapters call this after their own mapping."""
    snippet = resp.text[:200]
    if resp.status == 429:
        raise RateLimitError(venue, f"HTTP 429 on {path}: {snippet}", http_status=429)
    if resp.status == 503:
        raise UnavailableError(venue, f"HTTP 503 on {path}: {snippet}", http_status=503)
    if resp.status >= 500:
        raise TransientError(venue, f"HTTP {resp.status} on {path}: {snippet}", http_status=resp.status)


@dataclass(frozen=True)
class ClockReading:
    """A venue's clock against ours, read from one unauthenticated request."""

    skew_ms: float | None  # venue minus local, at the request's midpoint; None: the venue gave no time
    rtt_ms: float
    source: str


def read_venue_clock(source: ClockSource) -> ClockReading:
    """The venue's time from `source`: read from its JSON answer where the venue gives one, else the
    HTTP Date header (1 s resolution, so +500 ms mid-second). Raises requests' own exceptions when
    the venue cannot be reached. (For doctor: not on a hot path.)"""
    import email.utils
    import time

    import requests

    before = time.time()
    resp = requests.request(
        source.method, source.url, json=source.body, timeout=(3.05, 5.0), headers={"User-Agent": USER_AGENT}
    )
    after = time.time()
    local_ms = (before + after) / 2 * 1000
    venue_ms: float | None = None
    said = source.source
    if source.read_ms is not None:
        try:
            venue_ms = source.read_ms(resp.json())
        except (ValueError, KeyError, TypeError):
            venue_ms = None
    if venue_ms is None and resp.headers.get("Date"):
        venue_ms = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp() * 1000 + 500
        said = "HTTP Date header, 1 s resolution"
    skew = None if venue_ms is None else venue_ms - local_ms
    return ClockReading(skew, (after - before) * 1000, said)
