"""Binance signing vectors (Binance's published vector and computed ones), the exact bytes the
client sends, error mapping and the secret's account entry. Pure: no network (a recording session
stands in for the venue).

Cross-checks: the published vector is the HMAC SHA256 example of Binance's USD-M "General Info" page
(https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info). The computed
vectors (key `test-api-key`, secret `test-api-secret`, clock 1767225600000) were checked against
ccxt 4.5.90's `binanceusdm.sign()` and `binancecoinm.sign()` in the bench's own environment (never
shipped): ccxt puts `timestamp` first, so its order has a vector of its own, and for our order its
signature over our exact bytes is the one below (both orders are valid: Binance reads parameters in
any order and the signature covers the bytes sent)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman.core.errors import CredentialsError
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import binance
from deadman.venues import errors as E
from deadman.venues.binance import wire
from deadman.venues.binance.client import PROBE_EVERY_MS
from deadman.venues.http import HttpResponse
from tests.integration.in_order import InOrder

SECRET = "test-api-secret"
T0 = 1_767_225_600_000


# -- vectors ----------------------------------------------------------------------------------------


def test_binance_published_vector():
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert binance.sign(total, secret) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (
            "symbol=BTCUSDT&countdownTime=120000&recvWindow=5000&timestamp=1767225600000",
            "23989b7d4e7823fa04d70ab713013b46c7dd60032aa74c9c56e32fc11d93f7ef",
        ),
        (
            "symbol=BTCUSDT&countdownTime=0&recvWindow=5000&timestamp=1767225600000",
            "11f440298abbd09b15bf38c3eba032b60699c3df8adeb7a89edb12c6a6e85ef2",
        ),
        (
            "symbol=BTCUSD_PERP&countdownTime=120000&recvWindow=5000&timestamp=1767225600000",
            "895a689bbdbe874080c2dd3fb8aed65bce54e850cc2979f049eb7df3a8220846",
        ),
        (  # ccxt's order: timestamp first
            "timestamp=1767225600000&symbol=BTCUSDT&countdownTime=120000&recvWindow=5000",
            "2362d01c1b2b04a8d30fb790eb9fa3d1b8f088e03bac6ff5b8585517741474b5",
        ),
    ],
)
def test_computed_vectors(total: str, expected: str):
    assert binance.sign(total, SECRET) == expected


def test_signed_params_are_the_parameters_then_the_window_the_timestamp_and_the_signature_last():
    sent = binance.signed_params([("symbol", "BTCUSDT"), ("countdownTime", 120000)], T0, SECRET)
    assert sent == (
        "symbol=BTCUSDT&countdownTime=120000&recvWindow=5000&timestamp=1767225600000"
        "&signature=23989b7d4e7823fa04d70ab713013b46c7dd60032aa74c9c56e32fc11d93f7ef"
    )


# -- the bytes the client sends ---------------------------------------------------------------------


class Recorder:
    """A session that records each request and answers from a script."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, bytes | None, dict[str, str]]] = []

    def post(self, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any) -> Any:
        return self.request("POST", url, data=data, headers=headers, timeout=timeout)

    def request(
        self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any
    ) -> Any:
        self.sent.append((method, url, data, headers))
        status, text = self.answers.pop(0)
        return _Answer(status, text)

    def close(self) -> None:
        pass


class _Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text


def account(**over: Any) -> binance.Account:
    entry = {
        "account_id": "perps",
        "market": "usdm",
        "api_key": "test-api-key",
        "api_secret": SECRET,
        "symbols": ["BTCUSDT"],
        **over,
    }
    return binance.Account.from_mapping(entry, secret_name="deadman/binance")


def client(session: Recorder, clock: Any = lambda: T0, **over: Any) -> binance.Client:
    return binance.Client(account(**over), nonces=MemoryNonceSource(), clock=clock, session=session)


def test_extend_posts_the_countdown_aimed_a_recv_window_early_with_the_key_in_its_header():
    deadline = T0 + 125_100
    session = Recorder((200, '{"symbol":"BTCUSDT","countdownTime":"120000"}'))
    result = client(session).extend(deadline)
    method, url, body, headers = session.sent[0]
    assert method == "POST" and url == "https://fapi.binance.com/fapi/v1/countdownCancelAll"
    assert (
        body == binance.signed_params([("symbol", "BTCUSDT"), ("countdownTime", 120000)], T0, SECRET).encode()
    )
    assert headers["X-MBX-APIKEY"] == "test-api-key"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    # Answered at T0 (the recorder's clock stands still): started by then, fires by T0 + 120000.
    assert result.requested_deadline_ms == deadline and result.venue_deadline_ms == T0 + 120_000


def test_coinm_sends_to_dapi_and_reads_through_a_query_string():
    session = Recorder((200, "[]"))
    assert client(session, market="coinm", symbols=["BTCUSD_PERP"]).open_orders() == []
    method, url, body, _ = session.sent[0]
    assert method == "GET" and body is None
    assert url.startswith("https://dapi.binance.com/dapi/v1/openOrders?recvWindow=5000&timestamp=")


@pytest.mark.parametrize(
    "answer",
    [
        '{"symbol":"ETHUSDT","countdownTime":"120000"}',
        '{"symbol":"BTCUSDT","countdownTime":"1"}',
        "{}",
        "[]",
        "<html>",
    ],
)
def test_an_echo_that_is_not_this_countdown_is_an_unknown_outcome(answer: str):
    with pytest.raises(E.TransientError):
        client(Recorder((200, answer))).extend(T0 + 125_100)


def test_a_deadline_too_near_to_aim_at_is_not_sent():
    session = Recorder()
    with pytest.raises(E.StaleDecisionError):
        client(session).extend(T0 + wire.RECV_WINDOW_MS + wire.SCAN_SLACK_MS + 999)
    assert session.sent == []


def test_one_symbols_refusal_is_the_accounts_and_the_others_are_still_pushed():
    session = Recorder(
        (400, '{"code":-1121,"msg":"Invalid symbol."}'),
        (200, '{"symbol":"ETHUSDT","countdownTime":"120000"}'),
    )
    with pytest.raises(E.RejectedError):
        client(session, symbols=["BTCUSDT", "ETHUSDT"]).extend(T0 + 125_100)
    assert len(session.sent) == 2


def test_after_a_429_one_probe_a_tick_until_the_limit_passes():
    """Binance bans an IP that does not back off after 429s, and the ban would refuse the kill too.
    After one, until the weight's minute turns, the client sends one request about a tick apart (a
    probe) and holds back the rest (the batch here runs in order, so the second symbol's countdown is
    the first one held); the first probe answered ends the hold."""
    now = [T0 + 12_000]
    session = Recorder(
        (429, '{"code":-1003,"msg":"Too many requests"}'),
        (429, '{"code":-1003,"msg":"Too many requests"}'),
        (200, '{"symbol":"BTCUSDT","countdownTime":"120000"}'),
        (200, '{"symbol":"ETHUSDT","countdownTime":"120000"}'),
    )
    c = binance.Client(
        account(symbols=["BTCUSDT", "ETHUSDT"]),
        nonces=MemoryNonceSource(),
        clock=lambda: now[0],
        session=session,
        parallel=InOrder(),
    )
    with pytest.raises(E.RateLimitError):
        c.extend(T0 + 125_100)
    assert len(session.sent) == 1  # the second symbol held back
    now[0] += 2_000  # the tick's own retry: held back
    with pytest.raises(E.RateLimitError, match="held back"):
        c.extend(now[0] + 125_100)
    assert len(session.sent) == 1
    now[0] += PROBE_EVERY_MS  # the next tick: one probe, refused again
    with pytest.raises(E.RateLimitError):
        c.extend(now[0] + 125_100)
    assert len(session.sent) == 2
    now[0] += PROBE_EVERY_MS  # the limit has passed: the probe answers, the hold ends at once
    c.extend(now[0] + 125_100)
    assert len(session.sent) == 4


def test_an_ip_ban_is_kept_and_nothing_is_sent_until_it_ends():
    now = [T0]
    until = T0 + 120_000
    session = Recorder(
        (418, f'{{"code":-1003,"msg":"Way too much request weight used; IP banned until {until}."}}'),
        (200, '{"symbol":"BTCUSDT","countdownTime":"120000"}'),
    )
    c = client(session, clock=lambda: now[0])
    with pytest.raises(E.RateLimitError) as first:
        c.extend(T0 + 125_100)
    assert first.value.code == "ip_ban"
    now[0] = until - 1
    with pytest.raises(E.RateLimitError):
        c.extend(until + 125_100)
    assert len(session.sent) == 1
    now[0] = until
    c.extend(until + 125_100)
    assert len(session.sent) == 2


# -- error mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            400,
            '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}',
            E.NonceError,
            "-1021",
        ),
        (400, '{"code":-1022,"msg":"Signature for this request is not valid."}', E.AuthError, "-1022"),
        (401, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}', E.AuthError, "-2015"),
        (400, '{"code":-2014,"msg":"API-key format invalid."}', E.AuthError, "-2014"),
        (429, '{"code":-1003,"msg":"Too many requests."}', E.RateLimitError, "-1003"),
        (418, '{"code":-1003,"msg":"IP banned until 1767225720000."}', E.RateLimitError, "ip_ban"),
        (403, "<html>WAF</html>", E.RateLimitError, "waf"),
        (
            503,
            '{"code":-1000,"msg":"Unknown error, please check your request or try again later."}',
            E.TransientError,
            "-1000",
        ),
        (503, '{"code":-1016,"msg":"Service Unavailable."}', E.UnavailableError, "-1016"),
        (502, "<html>bad gateway</html>", E.TransientError, None),
        (
            408,
            '{"code":-1007,"msg":"Timeout waiting for response from backend server."}',
            E.TransientError,
            "-1007",
        ),
        (400, '{"code":-1121,"msg":"Invalid symbol."}', E.RejectedError, "-1121"),
        (400, '{"code":-1102,"msg":"Mandatory parameter was not sent."}', E.RejectedError, "-1102"),
        (400, '{"code":-2011,"msg":"Unknown order sent."}', E.RejectedError, "-2011"),
        (200, '{"code":-1130,"msg":"Invalid data sent for a parameter."}', E.RejectedError, "-1130"),
    ],
)
def test_error_mapping(status: int, body: str, kind: type[E.VenueError], code: str | None):
    with pytest.raises(kind) as raised:
        binance.parse_response(HttpResponse(status, body), "/fapi/v1/countdownCancelAll")
    assert type(raised.value) is kind and raised.value.code == code


def test_nothing_to_cancel_is_a_finished_sweep():
    session = Recorder(
        (200, "[]"),
        (200, "[]"),
        (400, '{"code":-2011,"msg":"Unknown order sent."}'),
        (200, '{"code":200,"msg":"done"}'),
    )
    assert client(session).sweep().cancelled_count == 0


# -- the account ------------------------------------------------------------------------------------


def test_capabilities_are_the_venues():
    caps = binance.SPEC.capabilities
    assert caps.timer_kind is TimerKind.RELATIVE_MS and caps.can_disarm and caps.sweep_lists_first
    assert (
        caps.fixed_timeout_ms is None and caps.daily_trigger_budget is None and not caps.native_may_be_refused
    )


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"market": "spot"}, "market"),
        ({"market": None}, "market"),
        ({"api_key": "key\nX-Other: 1"}, "api_key"),
        ({"api_secret": "sec\x00ret"}, "api_secret"),
        ({"api_secret": ""}, "api_secret"),
        ({"symbols": []}, "symbols"),
        ({"symbols": "XRPUSDT"}, "symbols"),
        ({"symbols": ["btcusdt"]}, "symbols[0]"),
        ({"symbols": ["BTCUSDT", "BTCUSDT"]}, "symbols[1]"),
        ({"symbols": [f"S{i:03d}USDT" for i in range(21)]}, "symbols"),
        ({"symbol": ["BTCUSDT"]}, "symbol"),
        ({"base_url": "https://evil.example.com"}, "base_url"),
        ({"base_url": "https://dapi.binance.com"}, "base_url"),
        ({"kill": {"api_key": "k"}}, "kill.api_secret"),
        ({"kill": {"api_key": "k", "api_secret": "s", "otp": "1"}}, "kill.otp"),
    ],
)
def test_a_bad_entry_names_its_field_never_its_value(over: dict[str, Any], field: str):
    with pytest.raises(CredentialsError) as raised:
        account(**over)
    assert field in str(raised.value)
    for value in over.values():
        if isinstance(value, str) and len(value) > 4:
            assert value not in str(raised.value)


def test_missing_fields_are_named():
    for name in ("account_id", "market", "api_key", "api_secret", "symbols"):
        entry = {
            "account_id": "a",
            "market": "usdm",
            "api_key": "k",
            "api_secret": "s",
            "symbols": ["BTCUSDT"],
        }
        del entry[name]
        with pytest.raises(CredentialsError, match=name):
            binance.Account.from_mapping(entry, secret_name="s")


def test_kill_key_and_testnet_and_repr():
    acct = account(
        kill={"api_key": "kill-key", "api_secret": "kill-secret"}, base_url="https://demo-fapi.binance.com"
    )
    assert acct.has_kill_key and acct.for_kill().api_key == "kill-key" and not acct.for_kill().has_kill_key
    assert acct.for_kill().symbols == acct.symbols and acct.for_retiring() is None
    assert acct.base_url == "https://demo-fapi.binance.com"
    assert SECRET not in repr(acct) and "kill-secret" not in repr(acct)


def test_the_doctor_plan_names_native_and_watchdog_only_symbols():
    plan = binance.DRIVER.doctor_plan(account(symbols=["BTCUSDT", "ETHUSDT"]))
    assert plan.clock.url == "https://fapi.binance.com/fapi/v1/time"
    assert any("BTCUSDT, ETHUSDT" in r.detail and "watchdog-only" in r.detail for r in plan.remarks)


# -- pure rules -------------------------------------------------------------------------------------


@given(
    lead=st.integers(
        min_value=wire.RECV_WINDOW_MS + wire.SCAN_SLACK_MS + wire.MIN_COUNTDOWN_MS, max_value=10**9
    ),
    landed_after=st.integers(min_value=0, max_value=wire.RECV_WINDOW_MS),
)
def test_a_countdown_that_binance_processes_fires_by_the_deadline(lead: int, landed_after: int):
    """Whenever Binance processes it (at most recvWindow after its timestamp), it fires by the deadline,
    its ~10 ms scan included."""
    c = client(Recorder())
    countdown = c._countdown(T0 + lead)(T0)
    assert countdown >= wire.MIN_COUNTDOWN_MS
    assert T0 + landed_after + countdown + 10 <= T0 + lead


@given(
    params=st.lists(
        st.tuples(st.sampled_from(["symbol", "countdownTime", "x"]), st.text(max_size=8)), max_size=4
    )
)
def test_the_signature_covers_exactly_the_bytes_before_it(params: list[tuple[str, str]]):
    sent = binance.signed_params(params, T0, SECRET)
    total, _, sig = sent.rpartition("&signature=")
    assert binance.sign(total, SECRET) == sig and "&signature=" not in total
