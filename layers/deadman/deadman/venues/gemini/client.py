"""The Gemini client: the heartbeat, the sweep (cancel/session or cancel/all), the open orders, and
the nonce each request draws.
"""

from __future__ import annotations

import json
from typing import Any

from deadman.core.venue import ExtendResult, OpenOrder, SweepResult
from deadman.venues.client import ClientBase
from deadman.venues.errors import NonceError, NotSupportedError, TransientError
from deadman.venues.gemini.account import Account
from deadman.venues.gemini.wire import (
    CAPABILITIES,
    HEARTBEAT_TIMEOUT_MS,
    MAX_TIME_NONCE_LEAD_S,
    PATH_CANCEL_ALL,
    PATH_CANCEL_SESSION,
    PATH_HEARTBEAT,
    PATH_ORDERS,
    VENUE,
    auth_headers,
    encode_payload,
    parse_cancel,
    parse_orders,
    parse_response,
    sign,
)


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        # Shared with the trader's own nonces on this key (README: Gemini nonce modes).
        return f"gemini:{self._account.api_key}"

    def _nonce(self) -> int:
        now_ms = self._clock()
        if self._account.nonce_mode == "time":
            floor = now_ms // 1000
            nonce = self._nonces.next(self._key_id, floor)
            if nonce > floor + MAX_TIME_NONCE_LEAD_S:
                # See MAX_TIME_NONCE_LEAD_S: refuse locally rather than send a nonce Gemini rejects
                # or one that locks the trader's own (clock-based) nonces out.
                raise NonceError(
                    VENUE,
                    f"time-based nonce {nonce} is {nonce - floor} s ahead of now ({floor}); Gemini accepts "
                    f"+/-30 s. Too many requests per second on this key, or its nonce record holds "
                    f"milliseconds (was the key's nonce_mode changed?)",
                    code="nonce_ahead",
                )
        else:
            floor = now_ms
            nonce = self._nonces.next(self._key_id, floor)
        if nonce < floor:
            raise NonceError(
                VENUE, f"nonce source returned {nonce}, below the floor {floor}", code="nonce_floor"
            )
        return nonce

    def _private(self, path: str, *, send_by_ms: int | None = None) -> Any:
        payload: dict[str, Any] = {"request": path, "nonce": self._nonce()}
        if self._account.account is not None:
            payload["account"] = self._account.account
        b64 = encode_payload(payload)
        headers = auth_headers(self._account.api_key, b64, sign(b64, self._account.api_secret.reveal()))
        # After the nonce draw (a DynamoDB call for increasing keys): the decision must hold when sent.
        self._check_send_by(send_by_ms)
        self._sent_ms = self._clock()
        # Gemini reads everything from the headers; the body stays empty.
        return parse_response(self._http.post(path, body=None, headers=headers), path)

    _sent_ms = 0  # when the last request left (our clock): Gemini's 30 s count from its arrival

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Send one heartbeat. Gemini's timer is fixed (30 s after the key's last authenticated
        request), so `deadline_ms` cannot be honoured and is not sent."""
        result = self._private(PATH_HEARTBEAT, send_by_ms=send_by_ms)
        sent_ms = self._sent_ms
        if not isinstance(result, dict) or result.get("result") != "ok":
            raise TransientError(VENUE, f"unreadable answer on {PATH_HEARTBEAT}: {json.dumps(result)[:200]}")
        if self._account.is_master:
            return ExtendResult(
                requested_deadline_ms=None,
                venue_deadline_ms=None,
                detail="heartbeat sent; master keys have no heartbeat cancel-on-disconnect (watchdog only)",
            )
        # Timed from the moment it left (after the nonce draw): Gemini's clock restarts when the
        # request arrives, which is no earlier, so the real deadline is this or later.
        return ExtendResult(
            requested_deadline_ms=None,
            venue_deadline_ms=sent_ms + HEARTBEAT_TIMEOUT_MS,
            detail="heartbeat sent; Gemini cancels this key's orders 30 s after its last authenticated call",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        raise NotSupportedError(
            VENUE,
            "the 30 s heartbeat is a property of the API key, set when it was provisioned; no API call "
            "switches it off. Disarm means the fleet keeps heartbeating until the disarm ends.",
        )

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        path = PATH_CANCEL_ALL if self._account.sweep_scope == "all" else PATH_CANCEL_SESSION
        return parse_cancel(self._private(path, send_by_ms=send_by_ms), path)

    def open_orders(self) -> list[OpenOrder]:
        """Every active order of the account, whatever session placed it (Gemini's REST order objects
        do not say which session owns them)."""
        return parse_orders(self._private(PATH_ORDERS))
