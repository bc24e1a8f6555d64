"""One error taxonomy for every venue.

Adapters map each venue's own answers (HTTP status, error arrays, reason strings) into these
classes, so the policy and the operator see the same words whatever the venue. Messages carry the
venue's reason text, never credentials.
"""

from __future__ import annotations

from enum import StrEnum

from deadman.core.errors import DeadmanError


class ErrorKind(StrEnum):
    AUTH = "auth"
    NONCE = "nonce"
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    TRANSIENT = "transient"
    NOT_SUPPORTED = "not_supported"


class VenueError(DeadmanError):
    kind: ErrorKind = ErrorKind.TRANSIENT

    def __init__(
        self, venue: str, message: str, *, code: str | None = None, http_status: int | None = None
    ) -> None:
        self.venue = venue
        self.message = message
        self.code = code
        self.http_status = http_status
        detail = f" [{code}]" if code else ""
        super().__init__(f"{venue}: {self.kind.value}{detail}: {message}")


class AuthError(VenueError):
    """Bad key, bad signature, missing permission, IP not allowed."""

    kind = ErrorKind.AUTH


class MissingPermissionError(AuthError):
    """The key authenticated but lacks a permission the call needs (a cancel-only key asked to list
    orders, say): proof that the key works, for doctor."""


class NonceError(VenueError):
    """The venue refused the nonce (not increasing, out of its time window)."""

    kind = ErrorKind.NONCE


class RateLimitError(VenueError):
    kind = ErrorKind.RATE_LIMIT


class UnavailableError(VenueError):
    """Venue down for maintenance or otherwise refusing service as a whole."""

    kind = ErrorKind.UNAVAILABLE


class RejectedError(VenueError):
    """The venue understood the request and said no, with its reason."""

    kind = ErrorKind.REJECTED


class VolumeGateError(RejectedError):
    """Hyperliquid refuses scheduleCancel below its cumulative traded volume threshold."""

    def __init__(
        self, venue: str, message: str, *, required_usd: float | None, traded_usd: float | None
    ) -> None:
        self.required_usd = required_usd
        self.traded_usd = traded_usd
        super().__init__(venue, message, code="volume_gate")


class TransientError(VenueError):
    """Timeouts, connection failures, 5xx: the outcome is unknown, trying again may work."""

    kind = ErrorKind.TRANSIENT


class StaleDecisionError(TransientError):
    """Not sent: the decision behind the request aged past the time it may wait before leaving.
    Nothing reached the venue; the loop decides again on a fresh read."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(venue, message, code="stale_decision")


class NotSupportedError(VenueError):
    """The venue has no such operation (Gemini cannot switch its heartbeat timer off)."""

    kind = ErrorKind.NOT_SUPPORTED
