"""Deribit's requests byte for byte, the token's lifetime, error mapping and account configuration.
Pure: no network (a recording session stands in for requests).

How it was cross-checked: Deribit publishes no vectors for client-credentials auth (there is nothing
to sign: the token is a bearer). ccxt 4.5.90's `deribit.sign()` (run in the bench's own environment,
never shipped; key test-client-id, secret test-client-secret, its clock frozen at
2026-01-01T00:00:00Z) builds the URLs below for `private/cancel_all`, `private/get_open_orders` with
`type=all` and `type=trigger_all`, and `public/auth` with the same grant, id, secret and scope: the
client's paths and query strings are ccxt's exactly, and its `public/auth` parameters are the ones
ccxt puts in that query, moved into a JSON-RPC body (so that the secret is in no URL). ccxt signs
each private call with `deri-hmac-sha256` rather than a token; the client sends the bearer token
Deribit's docs name for HTTP ("Header Authorization: Bearer <Token>", docs.deribit.com
/articles/authentication).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from deadman.core.errors import CredentialsError
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import deribit
from deadman.venues import errors as E
from deadman.venues.http import HttpResponse

CLOCK_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CCXT_URLS = {
    ("private/cancel_all", ()): "https://www.deribit.com/api/v2/private/cancel_all",
    ("private/get_open_orders", (("type", "all"),)): (
        "https://www.deribit.com/api/v2/private/get_open_orders?type=all"
    ),
    ("private/get_open_orders", (("type", "trigger_all"),)): (
        "https://www.deribit.com/api/v2/private/get_open_orders?type=trigger_all"
    ),
}
CCXT_AUTH_URL = (
    "https://www.deribit.com/api/v2/public/auth?grant_type=client_credentials&client_id=test-client-id"
    "&client_secret=test-client-secret&scope=session%3Adeadman"
)
TOKEN = "1767225600000.1MbQ-J_4.tok"


@pytest.fixture(autouse=True)
def cold_cache() -> None:
    deribit.TOKENS.clear()


# -- what ccxt builds --------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "url"), list(CCXT_URLS.items()))
def test_paths_and_queries_are_ccxts(call: tuple[str, tuple[tuple[str, str], ...]], url: str):
    method, params = call
    assert "https://www.deribit.com" + deribit.query_path(method, dict(params) or None) == url


def test_the_auth_request_carries_ccxts_parameters_in_a_json_rpc_body():
    body = json.loads(deribit.auth_body("test-client-id", "test-client-secret", 7))
    assert body == {"jsonrpc": "2.0", "id": 7, "method": "public/auth", "params": body["params"]}
    assert body["params"] == dict(parse_qsl(urlsplit(CCXT_AUTH_URL).query))
    assert deribit.auth_body("test-client-id", "test-client-secret", 7) == (
        b'{"jsonrpc":"2.0","id":7,"method":"public/auth","params":{"grant_type":"client_credentials",'
        b'"client_id":"test-client-id","client_secret":"test-client-secret","scope":"session:deadman"}}'
    )


# -- the token's lifetime ------------------------------------------------------------------------------


@given(sent=st.integers(min_value=0, max_value=2**45), expires_in=st.integers(min_value=1, max_value=10**8))
def test_a_token_is_used_only_well_inside_its_lifetime(sent: int, expires_in: int):
    until = deribit.usable_until_ms(sent, expires_in)
    lifetime = expires_in * 1000
    assert sent + lifetime // 2 <= until <= sent + lifetime - min(deribit.REFRESH_MARGIN_MS, lifetime // 2)
    assert until < sent + lifetime  # always before Deribit's own end (counted from later still)


def test_the_published_lifetime_is_renewed_a_minute_early():
    assert deribit.usable_until_ms(CLOCK_MS, 900) == CLOCK_MS + 840_000
    assert deribit.usable_until_ms(CLOCK_MS, 31_536_000) == CLOCK_MS + 31_536_000_000 - 60_000


@pytest.mark.parametrize(
    "result",
    [
        {"access_token": "", "expires_in": 900, "token_type": "bearer"},
        {"access_token": "a b", "expires_in": 900},
        {"access_token": "tok", "expires_in": 0},
        {"access_token": "tok", "expires_in": "900"},
        {"access_token": "tok", "expires_in": True},
        {"access_token": "tok", "expires_in": 900, "token_type": "mac"},
        None,
        [],
    ],
)
def test_an_unusable_auth_answer_is_unknown_and_never_quoted(result: Any):
    with pytest.raises(E.TransientError) as info:
        deribit.read_token(result)
    assert "tok" not in str(info.value).replace("token", "")


# -- what the client puts on the wire -----------------------------------------------------------------


class RecordingSession(requests.Session):
    def __init__(self, answers: list[tuple[int, Any]] | None = None) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []
        self.answers = answers or []

    def _answer(self, method: str, url: Any, data: Any, headers: Any) -> requests.Response:
        self.sent.append({"method": method, "url": url, "data": data, "headers": dict(headers)})
        status, payload = self.answers.pop(0) if self.answers else (200, {"jsonrpc": "2.0", "result": []})
        resp = requests.Response()
        resp.status_code = status
        resp._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return resp

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        return self._answer("POST", url, data, kwargs.get("headers", {}))

    def request(self, method: Any, url: Any, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return self._answer(method, url, data, kwargs.get("headers", {}))


def ok(result: Any) -> tuple[int, Any]:
    return 200, {"jsonrpc": "2.0", "id": None, "result": result, "testnet": False}


def refused(code: int, message: str, status: int = 400) -> tuple[int, Any]:
    return status, {"jsonrpc": "2.0", "error": {"code": code, "message": message}}


AUTHED = ok({"access_token": TOKEN, "expires_in": 900, "token_type": "bearer", "scope": "session:deadman"})


def account(**fields: Any) -> deribit.Account:
    entry = {"account_id": "main", "api_key": "test-client-id", "api_secret": "test-client-secret", **fields}
    return deribit.Account.from_mapping(entry, secret_name="s")


def client(session: requests.Session, now: list[int] | None = None) -> deribit.Client:
    clock = now or [CLOCK_MS]
    return deribit.Client(account(), nonces=MemoryNonceSource(), clock=lambda: clock[0], session=session)


def test_sweep_authenticates_cancels_and_reads_the_book_back():
    session = RecordingSession([AUTHED, ok(3), ok([]), ok([])])
    result = client(session).sweep()
    assert result.cancelled_count == 3 and result.complete
    auth, cancel, plain, trigger = session.sent
    assert auth["method"] == "POST" and auth["url"] == "https://www.deribit.com/api/v2/public/auth"
    assert auth["data"] == deribit.auth_body(
        "test-client-id", "test-client-secret", json.loads(auth["data"])["id"]
    )
    assert auth["headers"]["Content-Type"] == "application/json" and "Authorization" not in auth["headers"]
    expected = [CCXT_URLS[(m, p)] for m, p in CCXT_URLS]
    assert [s["url"] for s in (cancel, plain, trigger)] == expected
    for call in (cancel, plain, trigger):
        assert call["method"] == "GET" and call["data"] is None
        assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert "test-client-secret" not in call["url"]


def test_the_token_is_kept_and_renewed_by_its_margin():
    session = RecordingSession([AUTHED, ok([]), ok([]), ok([]), ok([]), AUTHED, ok([]), ok([])])
    now = [CLOCK_MS]
    c = client(session, now)
    c.open_orders()
    now[0] += 839_999
    c.open_orders()
    assert [s["method"] for s in session.sent] == ["POST", "GET", "GET", "GET", "GET"]
    now[0] += 1
    c.open_orders()
    assert session.sent[5]["method"] == "POST"  # renewed a minute before its 900 s ran out


def test_a_refused_cached_token_is_replaced_once():
    session = RecordingSession(
        [AUTHED, ok([]), ok([]), refused(13009, "unauthorized"), AUTHED, ok(1), ok([]), ok([])]
    )
    c = client(session)
    c.open_orders()
    assert c.sweep().cancelled_count == 1
    assert [s["method"] for s in session.sent] == ["POST", "GET", "GET", "GET", "POST", "GET", "GET", "GET"]


def test_a_fresh_token_refused_is_raised_not_retried():
    session = RecordingSession([AUTHED, refused(13009, "unauthorized")])
    with pytest.raises(E.AuthError):
        client(session).sweep()
    assert len(session.sent) == 2


def test_a_bad_secret_never_shows_in_the_error():
    session = RecordingSession(
        [
            (
                400,
                {
                    "jsonrpc": "2.0",
                    "error": {
                        "code": 13004,
                        "message": "invalid_credentials",
                        "data": {"reason": "test-client-secret"},
                    },
                },
            )
        ]
    )
    with pytest.raises(E.AuthError) as info:
        client(session).open_orders()
    assert "test-client-secret" not in str(info.value) and info.value.code == "13004"


def test_a_book_not_read_back_leaves_the_sweep_incomplete_not_failed():
    session = RecordingSession([AUTHED, ok(2), refused(10028, "too_many_requests", 429)])
    result = client(session).sweep()
    assert result.cancelled_count == 2 and not result.complete
    assert "not confirmed empty" in result.failed[0].reason


def test_orders_in_both_lists_are_counted_once():
    row = {
        "order_id": "ETH-1",
        "instrument_name": "ETH-PERPETUAL",
        "direction": "sell",
        "price": 2000.0,
        "amount": 1.0,
    }
    trig = {
        "order_id": "BTC-2",
        "instrument_name": "BTC-PERPETUAL",
        "direction": "buy",
        "price": "market_price",
        "trigger_price": 90000.0,
        "amount": 10.0,
    }
    session = RecordingSession([AUTHED, ok([row]), ok([row, trig])])
    orders = client(session).open_orders()
    assert [(o.order_id, o.side, o.price) for o in orders] == [
        ("ETH-1", "sell", "2000.0"),
        ("BTC-2", "buy", "90000.0"),
    ]


def test_extend_and_disarm_refuse_without_a_request():
    session = RecordingSession()
    c = client(session)
    with pytest.raises(E.NotSupportedError):
        c.extend(CLOCK_MS + 60_000)
    with pytest.raises(E.NotSupportedError):
        c.disarm()
    assert session.sent == []


def test_a_stale_decision_sends_no_cancel():
    session = RecordingSession([AUTHED])
    with pytest.raises(E.StaleDecisionError):
        client(session).sweep(send_by_ms=CLOCK_MS - 1)
    assert [s["method"] for s in session.sent] == ["POST"]  # authenticated, nothing cancelled


@pytest.mark.parametrize(
    "body", [b"", b"<html>", b"[]", b'{"result":"3"}', b'{"result":-1}', b'{"jsonrpc":"2.0"}']
)
def test_an_unreadable_cancel_answer_is_an_unknown_outcome(body: bytes):
    session = RecordingSession([AUTHED, (200, body)])
    with pytest.raises(E.TransientError):
        client(session).sweep()


# -- error mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (13004, E.AuthError),
        (13009, E.AuthError),
        (10000, E.AuthError),
        (13021, E.MissingPermissionError),
        (13403, E.MissingPermissionError),
        (10028, E.RateLimitError),
        (10047, E.RateLimitError),
        (11051, E.UnavailableError),
        (13028, E.UnavailableError),
        (10041, E.UnavailableError),
        (10040, E.TransientError),
        (13888, E.TransientError),
        (11029, E.RejectedError),
        (-32602, E.RejectedError),
        (-32601, E.RejectedError),
    ],
)
def test_error_mapping(code: int, kind: type[E.VenueError]):
    resp = HttpResponse(400, json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": "m"}}))
    with pytest.raises(kind) as info:
        deribit.decode(resp, deribit.CANCEL_ALL)
    assert type(info.value) is kind and info.value.code == str(code)


def test_the_code_in_the_body_wins_over_the_status_and_statuses_map_without_one():
    limited = HttpResponse(429, json.dumps({"jsonrpc": "2.0", "error": {"code": 13009, "message": "x"}}))
    with pytest.raises(E.AuthError):
        deribit.decode(limited, deribit.CANCEL_ALL)
    for status, kind in (
        (429, E.RateLimitError),
        (503, E.UnavailableError),
        (502, E.TransientError),
        (404, E.RejectedError),
    ):
        with pytest.raises(kind):
            deribit.decode(HttpResponse(status, "<html>"), deribit.CANCEL_ALL)


# -- account configuration --------------------------------------------------------------------------


def test_account_fields_and_kill_key():
    a = account(environment="testnet", kill={"api_key": "k2", "api_secret": "s2"})
    assert a.base_url == "https://test.deribit.com" and a.has_kill_key
    kill = a.for_kill()
    assert kill.api_key == "k2" and kill.api_secret.reveal() == "s2" and not kill.has_kill_key
    assert a.for_retiring() is None and "s2" not in repr(a) and "test-client-secret" not in repr(a)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"api_key": None}, "api_key"),
        ({"api_key": "ab cd"}, "api_key"),
        ({"api_secret": "sec\nret"}, "api_secret"),
        ({"api_secret": 12}, "api_secret"),
        ({"account_id": "a\x07"}, "account_id"),
        ({"environment": "mainnet"}, "environment"),
        ({"base_url": "https://evil.example"}, "base_url"),
        ({"kill": {"api_key": "k"}}, "kill.api_secret"),
        ({"client_id": "x"}, "client_id"),
    ],
)
def test_bad_fields_are_named_never_shown(fields: dict[str, Any], field: str):
    entry = {"account_id": "main", "api_key": "test-client-id", "api_secret": "test-client-secret", **fields}
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(CredentialsError) as info:
        deribit.Account.from_mapping(entry, secret_name="s")
    assert info.value.field == field and "sec\nret" not in str(info.value)


def test_the_spec_is_true_to_the_venue():
    caps = deribit.SPEC.capabilities
    assert caps.timer_kind is TimerKind.NONE and not caps.can_disarm and not caps.draws_nonces
    assert caps.min_lead_ms == 0 and caps.max_timeout_ms is None and caps.fixed_timeout_ms is None
    assert caps.daily_trigger_budget is None
    plan = deribit.DRIVER.doctor_plan(account(kill={"api_key": "k2", "api_secret": "s2"}))
    assert plan.clock.url == "https://www.deribit.com/api/v2/public/get_time"
    assert plan.clock.read_ms is not None and plan.clock.read_ms({"result": CLOCK_MS}) == CLOCK_MS
    assert [k.label for k in plan.keys] == ["refresher key", "kill key"] and not any(
        k.extends for k in plan.keys
    )


def test_a_new_secret_never_finds_the_old_ones_token():
    session = RecordingSession([AUTHED, ok([]), ok([]), AUTHED, ok([]), ok([])])
    client(session).open_orders()
    entry = {"account_id": "main", "api_key": "test-client-id", "api_secret": "rotated-secret"}
    rotated = deribit.Account.from_mapping(entry, secret_name="s")
    deribit.Client(rotated, nonces=MemoryNonceSource(), clock=lambda: CLOCK_MS, session=session).open_orders()
    assert [s["method"] for s in session.sent] == ["POST", "GET", "GET", "POST", "GET", "GET"]
    assert b"rotated-secret" in session.sent[3]["data"]
