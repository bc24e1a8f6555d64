"""OKX signing vectors, the exact request the client sends, the timer's timeout rule and error mapping.
Pure: no network (a recording session stands in).

OKX publishes the formula but no vector. The vectors below were computed with the documented algorithm
(key `test-api-key`, secret `test-api-secret`, passphrase `test-passphrase`, 2026-01-01T00:00:00.000Z)
and cross-checked against ccxt 4.5.90's `okx.sign()` (the bench's own virtualenv, never shipped) with
its nonce pinned to 1767225600000: every one matched, the GET query and the batch-cancel array
included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import errors as E
from deadman.venues import okx
from deadman.venues.http import HttpResponse
from deadman.venues.okx.wire import decode, error_for, read_stamp

SECRET = "test-api-secret"
STAMP = "2026-01-01T00:00:00.000Z"
T0 = 1_767_225_600_000
CAA = "/api/v5/trade/cancel-all-after"


def test_timestamp_is_iso_with_milliseconds() -> None:
    assert okx.timestamp(T0) == STAMP
    assert okx.timestamp(T0 + 715) == "2026-01-01T00:00:00.715Z"


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        ('{"timeOut":"60"}', "Mr5xNUxJVLcvK0FJFghjeTNCScAHNvGIp/bPIm+QrmU="),
        ('{"timeOut":"0"}', "aygW+sS/Uqv4cqq1l1k1TkXxAHnxXFxU/ak/e5Mg1HQ="),
        ('{"timeOut":"60","tag":"stratA"}', "Eg3UkO+Xf6AZw2P8Oihzfy58gzQsjSOTDHz0r8F6uK4="),
        ('{"timeOut":60}', "tlnI7vf0USx2Qp0UG5fRlJCoOZ20JRiE1v99NolJR0M="),  # a number, as ccxt sends it
    ],
)
def test_cancel_all_after_vectors(body: str, signature: str) -> None:
    assert okx.sign(STAMP, "POST", CAA, body, SECRET) == signature


def test_get_and_batch_vectors() -> None:
    # GET: the query is part of the requestPath and the body is empty (ccxt agrees).
    assert (
        okx.sign(STAMP, "GET", "/api/v5/trade/orders-pending?limit=100", "", SECRET)
        == "bCcRtn4gfilqdnUpSIypQeHkHngaY95Ze8rT6vM0qdo="
    )
    assert (
        okx.sign(
            STAMP, "GET", "/api/v5/trade/orders-algo-pending?ordType=conditional%2Coco&limit=100", "", SECRET
        )
        == "tOv5PS7lwGJZax5GS/yiI4XqnbMHHgQP1mgI0xInn2w="
    )
    body = '[{"instId":"BTC-USDT","ordId":"1"},{"instId":"BTC-USDT","ordId":"2"}]'
    assert (
        okx.sign(STAMP, "POST", "/api/v5/trade/cancel-batch-orders", body, SECRET)
        == "nnQ3CR1pcUHX6i0rzn38l/YCF6OgwllNzhJnSDS2y34="
    )


def test_signature_depends_on_every_input() -> None:
    base = okx.sign(STAMP, "POST", CAA, "{}", SECRET)
    assert okx.sign("2026-01-01T00:00:00.001Z", "POST", CAA, "{}", SECRET) != base
    assert okx.sign(STAMP, "GET", CAA, "{}", SECRET) != base
    assert okx.sign(STAMP, "POST", CAA + "?x=1", "{}", SECRET) != base
    assert okx.sign(STAMP, "POST", CAA, "{ }", SECRET) != base
    assert okx.sign(STAMP, "POST", CAA, "{}", SECRET + "x") != base


# -- what the client puts on the wire --------------------------------------------------------------


class Recording:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.calls: list[tuple[str, str, bytes | None, dict[str, str]]] = []
        self.answer = answer

    def post(self, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any) -> HttpResponse:
        self.calls.append(("POST", url, data, headers))
        return _Ans(200, json.dumps(self.answer))

    def request(
        self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any
    ) -> HttpResponse:
        self.calls.append((method, url, data, headers))
        return _Ans(200, json.dumps(self.answer))

    def close(self) -> None:
        pass


class _Ans(HttpResponse):
    @property
    def status_code(self) -> int:
        return self.status


def test_the_client_sends_the_signed_bytes_it_signed() -> None:
    answer = {"code": "0", "msg": "", "data": [{"triggerTime": str(T0 + 44_000), "tag": "", "ts": str(T0)}]}
    session = Recording(answer)
    entry = {
        "account_id": "a",
        "api_key": "test-api-key",
        "api_secret": SECRET,
        "passphrase": "test-passphrase",
    }
    account = okx.Account.from_mapping({**entry, "demo": True}, secret_name="t")
    client = okx.Client(account, nonces=MemoryNonceSource(), clock=lambda: T0, session=session)
    client.extend(T0 + 45_000)
    method, url, body, headers = session.calls[0]
    assert (method, url, body) == ("POST", "https://www.okx.com" + CAA, b'{"timeOut":"44"}')
    assert headers["OK-ACCESS-TIMESTAMP"] == STAMP and headers["OK-ACCESS-PASSPHRASE"] == "test-passphrase"
    assert headers["OK-ACCESS-SIGN"] == okx.sign(STAMP, "POST", CAA, '{"timeOut":"44"}', SECRET)
    assert headers["x-simulated-trading"] == "1" and headers["Content-Type"] == "application/json"


# -- the timeout rule (pure) ------------------------------------------------------------------------


@given(
    lead_ms=st.integers(min_value=0, max_value=10_000_000), transit=st.integers(min_value=0, max_value=5_000)
)
def test_a_timeout_never_reaches_past_the_deadline_nor_outside_the_range(lead_ms: int, transit: int) -> None:
    entry = {"account_id": "a", "api_key": "k", "api_secret": "s", "passphrase": "p"}
    client = okx.Client(
        okx.Account.from_mapping(entry, secret_name="t"), nonces=MemoryNonceSource(), clock=lambda: T0
    )
    client._transits = (transit,)
    try:
        timeout_s = client._timeout_for(T0 + lead_ms)
    except E.StaleDecisionError:
        assert lead_ms - 1_000 - transit < 10_000
        return
    assert 10 <= timeout_s <= 120
    # Arriving after `transit`, the timer fires by the deadline: early, never late.
    assert T0 + transit + timeout_s * 1000 <= T0 + lead_ms


@given(st.integers(min_value=1_000_000_000, max_value=9_999_999_999_999))
def test_a_venue_time_is_read_by_its_magnitude(value: int) -> None:
    stamp = read_stamp(str(value))
    assert stamp is not None
    if value >= 10**12:
        assert stamp.ms == value and stamp.latest_ms == value
    else:
        assert stamp.ms == value * 1000 and stamp.latest_ms == value * 1000 + 999


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("50111", E.AuthError),
        ("50113", E.AuthError),
        ("50105", E.AuthError),
        ("50101", E.AuthError),
        ("50110", E.AuthError),
        ("50030", E.MissingPermissionError),
        ("50011", E.RateLimitError),
        ("50013", E.RateLimitError),
        ("50001", E.UnavailableError),
        ("50004", E.TransientError),
        ("50026", E.TransientError),
        ("50102", E.NonceError),
        ("50112", E.NonceError),
        ("51000", E.RejectedError),
        ("51071", E.RejectedError),
    ],
)
def test_error_mapping(code: str, error: type) -> None:
    exc = error_for(code, "m", path="/p")
    assert type(exc) is error and exc.code == code


@pytest.mark.parametrize(
    "text",
    ["", "<html>", "{}", "[]", '{"code":"0"}', '{"code":"0","data":{}}', '{"code":0,"data":[]}'],
)
def test_an_unreadable_200_is_an_unknown_outcome(text: str) -> None:
    with pytest.raises(E.TransientError):
        decode(HttpResponse(200, text), "/p")


def test_the_code_wins_over_the_status() -> None:
    with pytest.raises(E.AuthError):
        decode(HttpResponse(200, '{"code":"50113","msg":"Invalid Sign","data":[]}'), "/p")
    with pytest.raises(E.RateLimitError):
        decode(HttpResponse(429, "too many"), "/p")
