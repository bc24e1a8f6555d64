"""The Deribit client: the sweep (`private/cancel_all`, then the book read back to confirm it is
empty), the open orders, and the authenticated JSON-RPC calls under them. No timer: `extend` and
`disarm` refuse.

Authentication is OAuth's client credentials: `public/auth` gives a bearer token and its lifetime.
The token is kept for the container's life (`TokenCache`, one per client id, base URL and secret),
used only while more than the refresh margin of its lifetime is left, got anew after that, and
dropped and got once more when Deribit refuses it (13009): the call it refused is sent once again.
The token and the secret are never logged or put in an error.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass

from deadman.core.secret import Secret
from deadman.core.venue import ExtendResult, OpenOrder, OrderFailure, SweepResult
from deadman.venues.client import ClientBase
from deadman.venues.deribit.account import Account
from deadman.venues.deribit.wire import (
    AUTH,
    CANCEL_ALL,
    CAPABILITIES,
    OPEN_ORDER_TYPES,
    OPEN_ORDERS,
    TOKEN_REFUSED,
    VENUE,
    auth_body,
    bearer,
    decode,
    path,
    query_path,
    read_count,
    read_orders,
    read_token,
    usable_until_ms,
)
from deadman.venues.errors import AuthError, NotSupportedError, VenueError

_REQUEST_IDS = itertools.count(1)


@dataclass(frozen=True)
class Token:
    value: Secret
    usable_until_ms: int


class TokenCache:
    """Tokens by (base URL, client id, the secret's digest): a rotated secret never finds its
    predecessor's token. Shared by every client of the container (a Lambda's, a CLI run's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], Token] = {}

    def get(self, key: tuple[str, str, str], now_ms: int) -> Token | None:
        with self._lock:
            token = self._tokens.get(key)
            return token if token is not None and now_ms < token.usable_until_ms else None

    def put(self, key: tuple[str, str, str], token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def drop(self, key: tuple[str, str, str], token: Token) -> None:
        """Forget `token` (refused by the venue), unless another call has replaced it meanwhile."""
        with self._lock:
            if self._tokens.get(key) is token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


class Client(ClientBase[Account]):
    caps = CAPABILITIES
    tokens: TokenCache = TOKENS

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"{VENUE}:{self._account.api_key}"  # no nonces at Deribit: an identity only

    # -- no timer ------------------------------------------------------------------------------------

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        raise NotSupportedError(
            VENUE, "no timer a stateless caller can hold (cancel-on-disconnect needs a WebSocket)"
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        raise NotSupportedError(VENUE, "no timer to switch off")

    # -- the sweep and the book ----------------------------------------------------------------------

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        """`private/cancel_all`: every order and trigger order of the (sub)account, in every currency
        and kind, in one call; its answer is the count cancelled. The book is then read back: an order
        still open (placed after the cancel, or one the venue kept) is a failure, and so is a book that
        could not be read (the sweep is not known complete)."""
        count = read_count(self._private(CANCEL_ALL, None, send_by_ms=send_by_ms))
        try:
            left = self.open_orders()
        except VenueError as exc:
            return SweepResult(
                cancelled_count=count,
                failed=(OrderFailure("", f"book not confirmed empty: {exc}"),),
                detail=f"cancel_all cancelled={count}; book not read back",
            )
        return SweepResult(
            cancelled_count=count,
            failed=tuple(OrderFailure(o.order_id, "still open after cancel_all") for o in left),
            detail=f"cancel_all cancelled={count}; {len(left)} open after",
        )

    def open_orders(self) -> list[OpenOrder]:
        """Every open order of every currency and kind, trigger orders included (each type asked for:
        whether `all` lists untriggered trigger orders is unverified)."""
        seen: dict[str, OpenOrder] = {}
        for kind in OPEN_ORDER_TYPES:
            for order in read_orders(self._private(OPEN_ORDERS, {"type": kind})):
                seen.setdefault(order.order_id, order)
        return list(seen.values())

    # -- wire ----------------------------------------------------------------------------------------

    @property
    def _cache_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(self._account.api_secret.reveal().encode()).hexdigest()
        return (self._account.base_url, self._account.api_key, digest)

    def _private(
        self, method: str, params: dict[str, str] | None, *, send_by_ms: int | None = None
    ) -> object:
        """One authenticated call's result. A cached token Deribit refuses is dropped and the call sent
        once more on a new one; a new token refused is the key's failure (`AuthError`)."""
        token, fresh = self._token()
        try:
            return self._get(method, params, token, send_by_ms)
        except AuthError as exc:
            if fresh or exc.code not in {str(code) for code in TOKEN_REFUSED}:
                raise
            self.tokens.drop(self._cache_key, token)
        token, _fresh = self._token()
        return self._get(method, params, token, send_by_ms)

    def _get(
        self, method: str, params: dict[str, str] | None, token: Token, send_by_ms: int | None
    ) -> object:
        headers = bearer(token.value.reveal())
        self._check_send_by(send_by_ms)
        resp = self._http.request("GET", query_path(method, params), body=None, headers=headers)
        return decode(resp, method)

    def _token(self) -> tuple[Token, bool]:
        """A usable token, and whether it was got just now."""
        key = self._cache_key
        cached = self.tokens.get(key, self._clock())
        if cached is not None:
            return cached, False
        body = auth_body(self._account.api_key, self._account.api_secret.reveal(), next(_REQUEST_IDS))
        sent = self._clock()
        resp = self._http.post(path(AUTH), body=body, headers={"Content-Type": "application/json"})
        value, expires_in = read_token(decode(resp, AUTH))
        token = Token(Secret(value), usable_until_ms(sent, expires_in))
        self.tokens.put(key, token)
        return token, True
