"""Bounded-time HTTP for venue adapters: every call has a timeout, network failures become
`TransientError`, and no header (which may carry keys or signatures) reaches an error message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

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


class HttpTransport:
    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()

    def post(self, path: str, *, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        url = self.base_url + path
        all_headers = {"User-Agent": USER_AGENT, **headers}
        try:
            resp = self._session.post(url, data=body, headers=all_headers, timeout=self.timeout)
        except requests.Timeout:
            raise TransientError(self.venue, f"timeout after {self.timeout[1]} s on {path}") from None
        except requests.RequestException as exc:
            # from None: the chained exception would carry the prepared request and its headers.
            raise TransientError(self.venue, f"connection failed on {path}: {type(exc).__name__}") from None
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


def read_venue_clock(venue: str, method: str, url: str, body: Any = None) -> ClockReading:
    """Kraken's /0/public/Time, else the HTTP Date header (1 s resolution, so +500 ms mid-second).
    Raises requests' own exceptions when the venue cannot be reached."""
    import email.utils
    import time

    before = time.time()
    resp = requests.request(method, url, json=body, timeout=(3.05, 5.0), headers={"User-Agent": USER_AGENT})
    after = time.time()
    local_ms = (before + after) / 2 * 1000
    venue_ms: float | None = None
    source = "HTTP Date header, 1 s resolution"
    if venue == "kraken":
        try:
            venue_ms = float(resp.json()["result"]["unixtime"]) * 1000 + 500
            source = "/0/public/Time, 1 s resolution"
        except (ValueError, KeyError, TypeError):
            venue_ms = None
    if venue_ms is None and resp.headers.get("Date"):
        venue_ms = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp() * 1000 + 500
    skew = None if venue_ms is None else venue_ms - local_ms
    return ClockReading(skew, (after - before) * 1000, source)
