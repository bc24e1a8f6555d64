"""Bybit v5 signing (the docs' string assembly, computed vectors equal to ccxt's sign()), the exact
requests the client sends, error mapping and the secret's entry. Pure: no network (a recording
session stands in for the venue)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deadman.core.errors import CredentialsError
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import bybit
from deadman.venues import errors as E
from deadman.venues.http import HttpResponse

# -- vectors ----------------------------------------------------------------------------------------


def test_the_docs_string_to_sign() -> None:
    """Bybit's guide shows the string (not the secret): timestamp + key + recv window + query."""
    assert (
        bybit.signature_string(
            "1658384314791", "XXXXXXXXXX", "5000", "category=option&symbol=BTC-29JUL22-25000-C"
        )
        == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    )


# Computed (key "test-api-key", secret "test-secret", timestamp 1767225600000, recv window 5000),
# each equal to ccxt 4.5.90's bybit.sign() with nonce() fixed at 1767225600000: same X-BAPI-SIGN,
# same body bytes, same query (checked in the bench's own virtual environment; ccxt is never shipped).
CCXT_VECTORS = [
    (
        '{"category":"linear","settleCoin":"USDT"}',
        "31cfe5da4300dc76290d1b8da857f70b5b4a7a7940479f01baeb944ad82d26da",
    ),
    (
        '{"category":"spot","orderFilter":"StopOrder"}',
        "81c84b344fe4d84850aaa81351d616be31148ff9d06394795afa06ff66801d80",
    ),
    (
        "category=linear&settleCoin=USDT&openOnly=0&limit=50",
        "271e81bb6801f6bacf034ec9d06a19f13b9b36dbb681027aa13e2ea265b64d82",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CCXT_VECTORS)
def test_computed_vectors_equal_ccxt(payload: str, expected: str) -> None:
    assert bybit.sign("1767225600000", "test-api-key", "5000", payload, "test-secret") == expected


# -- the client's requests --------------------------------------------------------------------------


class Recorder:
    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def request(
        self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any
    ) -> Any:
        self.sent.append((method, url, headers, data))
        status, payload = self.answers.pop(0) if self.answers else (200, ok({"list": []}))
        return _Resp(status, payload)

    def post(self, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any) -> Any:
        return self.request("POST", url, data=data, headers=headers, timeout=timeout)

    def close(self) -> None:
        pass


class _Resp:
    def __init__(self, status: int, payload: Any) -> None:
        self.status_code = status
        self.text = payload if isinstance(payload, str) else json.dumps(payload)

    def json(self) -> Any:
        return json.loads(self.text)


def ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "time": 1}


ENTRY = {
    "account_id": "main",
    "api_key": "test-api-key",
    "api_secret": "test-secret",
    "categories": ["linear", "spot", "option"],
}


def client(session: Recorder, **change: Any) -> bybit.Client:
    account = bybit.DRIVER.parse_account({**ENTRY, **change}, secret_name="t")
    c = bybit.DRIVER.client(account, nonces=MemoryNonceSource(), clock=lambda: 1767225600000, session=session)
    assert isinstance(c, bybit.Client)
    return c


def test_the_sweep_cancels_every_scope_signed_over_its_exact_body() -> None:
    session = Recorder([])
    result = client(session).sweep()
    bodies = [json.loads(d or b"{}") for _m, _u, _h, d in session.sent]
    assert bodies == [
        {"category": "linear", "settleCoin": "USDT"},
        {"category": "linear", "settleCoin": "USDC"},
        *({"category": "spot", "orderFilter": f} for f in bybit.wire.SPOT_FILTERS),
        {"category": "option"},
    ]
    method, url, headers, data = session.sent[0]
    assert (method, url) == ("POST", "https://api.bybit.com/v5/order/cancel-all")
    assert data == b'{"category":"linear","settleCoin":"USDT"}'
    assert headers["X-BAPI-SIGN"] == CCXT_VECTORS[0][1] and headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert headers["X-BAPI-TIMESTAMP"] == "1767225600000" and headers["X-BAPI-API-KEY"] == "test-api-key"
    assert result.pending and result.cancelled_count == 0


def test_a_full_futures_answer_is_cancelled_again() -> None:
    full = ok({"list": [{"orderId": str(i), "orderLinkId": ""} for i in range(500)], "success": "1"})
    session = Recorder([(200, full), (200, ok({"list": [{"orderId": "x", "orderLinkId": ""}]}))])
    result = client(session, categories=["linear"], settle_coins=["USDT"]).sweep()
    assert result.cancelled_count == 501 and len(session.sent) == 2


def test_the_listing_is_a_signed_get_paged_by_cursor() -> None:
    page = ok({"list": [{"orderId": "1", "symbol": "BTCUSDT", "side": "Buy", "price": "1", "qty": "2"}],
               "nextPageCursor": "abc"})  # fmt: skip
    session = Recorder([(200, page), (200, ok({"list": [], "nextPageCursor": ""}))])
    orders = client(session, categories=["linear"], settle_coins=["USDT"]).open_orders()
    assert [o.order_id for o in orders] == ["1"]
    first, second = session.sent[0][1], session.sent[1][1]
    assert (
        first == "https://api.bybit.com/v5/order/realtime?category=linear&settleCoin=USDT&openOnly=0&limit=50"
    )
    assert session.sent[0][2]["X-BAPI-SIGN"] == CCXT_VECTORS[2][1]
    assert second.endswith("&cursor=abc")


def test_no_timer_extend_and_disarm_refuse() -> None:
    c = client(Recorder([]))
    assert c.capabilities.timer_kind is TimerKind.NONE and not c.capabilities.has_timer
    with pytest.raises(E.NotSupportedError):
        c.extend(1)
    with pytest.raises(E.NotSupportedError):
        c.disarm()


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (10003, E.AuthError),
        (10004, E.AuthError),
        (10005, E.MissingPermissionError),
        (10006, E.RateLimitError),
        (10002, E.NonceError),
        (10016, E.UnavailableError),
        (10001, E.RejectedError),
    ],
)
def test_ret_codes_map(code: int, kind: type[E.VenueError]) -> None:
    session = Recorder([(200, {"retCode": code, "retMsg": "m", "result": {}, "time": 1})])
    with pytest.raises(kind) as caught:
        client(session, categories=["option"]).sweep()
    assert caught.value.code == str(code)


STATUSES = [
    (401, E.AuthError),
    (403, E.RateLimitError),
    (429, E.RateLimitError),
    (503, E.UnavailableError),
    (502, E.TransientError),
    (404, E.RejectedError),
]


@pytest.mark.parametrize(("status", "kind"), STATUSES)
def test_http_statuses_map(status: int, kind: type[E.VenueError]) -> None:
    with pytest.raises(kind):
        client(Recorder([(status, "<html>no</html>")]), categories=["option"]).sweep()


def test_an_answer_without_a_result_is_transient() -> None:
    resp = HttpResponse(200, "{}")
    with pytest.raises(E.TransientError):
        bybit.wire.parse_response(resp, "/x")


# -- the secret's entry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"categories": ["futures"]}, "categories"),
        ({"categories": []}, "categories"),
        ({"categories": ["inverse"]}, "inverse_coins"),
        ({"inverse_coins": ["BTC"]}, "inverse_coins"),
        ({"settle_coins": ["usdt"]}, "settle_coins"),
        ({"base_url": "https://evil.example"}, "base_url"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_entries_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(CredentialsError, match=field):
        bybit.DRIVER.parse_account({**ENTRY, **change}, secret_name="t")


def test_an_entry_with_a_kill_key_and_inverse_coins() -> None:
    entry = {
        **ENTRY,
        "categories": ["inverse"],
        "inverse_coins": ["BTC"],
        "kill": {"api_key": "k", "api_secret": "s"},
    }
    account = bybit.DRIVER.parse_account(entry, secret_name="t")
    assert isinstance(account, bybit.Account)
    assert account.scopes == (("inverse", ("baseCoin", "BTC")),)
    assert account.has_kill_key and account.for_kill().api_key == "k" and account.for_retiring() is None
    assert "test-secret" not in repr(account)
