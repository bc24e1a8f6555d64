"""Gemini: signature vectors (computed from Gemini's documented algorithm), the exact request the
client sends, configuration validation, nonce floors, and the error taxonomy. No network."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
import requests

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import gemini
from deadman.venues.errors import (
    AuthError,
    NonceError,
    NotSupportedError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
)
from deadman.venues.http import HttpResponse

HEARTBEAT_B64 = "eyJyZXF1ZXN0IjoiL3YxL2hlYXJ0YmVhdCIsIm5vbmNlIjoxNzAwMDAwMDAwMDAwfQ=="
SECRET = "s3cr3t-do-not-leak-0123456789"


# -- vectors --------------------------------------------------------------------------------------


def test_vector_numeric_nonce_section_1_4_and_6() -> None:
    b64 = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": 1700000000000})
    assert b64 == HEARTBEAT_B64
    assert gemini.sign(b64, "secret123") == (
        "972269ddcc9562dcd06b80acd622fb29cdb7be587a1250ced096601f0a9ece94e990f1c3b8342bb1a594dee787786465"
    )


def test_vector_gemini_api_secret_example_section_1_4() -> None:
    b64 = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": 1700000000000})
    assert gemini.sign(b64, "GEMINI_API_SECRET") == (
        "4e0c37bfaed8cc455fa9ba2fb5b33ad1337642306bdce66172c00109d9c49010db7c409e455850c39b64a87c58017e84"
    )


def test_vector_string_nonce_section_6() -> None:
    b64 = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": "1700000000000"})
    assert base64.b64decode(b64) == b'{"request":"/v1/heartbeat","nonce":"1700000000000"}'
    assert gemini.sign(b64, "secret123") == (
        "99b1fade8384d02311eb97b3a0fea47d9d7ba345024ec068cdd3ed4460accc1c0230a6274675e57c4c96447ba1270033"
    )


def test_payload_is_compact_json_in_given_key_order() -> None:
    b64 = gemini.encode_payload({"request": "/v1/orders", "nonce": 5, "account": "primary"})
    assert base64.b64decode(b64) == b'{"request":"/v1/orders","nonce":5,"account":"primary"}'


def test_capabilities() -> None:
    caps = gemini.CAPABILITIES
    assert caps.venue == "gemini"
    assert caps.timer_kind is TimerKind.HEARTBEAT
    assert caps.can_disarm is False
    assert caps.min_lead_ms == 0
    assert caps.max_timeout_ms is None
    assert caps.fixed_timeout_ms == 30_000
    assert caps.daily_trigger_budget is None


# -- the exact request ------------------------------------------------------------------------------


class _FakeResponse:
    def __init__(self, status: int, text: str) -> None:
        self.status_code = status
        self.text = text


class RecordingSession(requests.Session):
    """Captures what the client would send; answers with a canned body."""

    def __init__(self, status: int = 200, text: str = '{"result":"ok"}') -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self._answer = (status, text)

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        self.calls.append({"url": url, "data": data, **kwargs})
        return _FakeResponse(*self._answer)


class RecordingNonces:
    def __init__(self, value: int | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self._value = value
        self._memory = MemoryNonceSource()

    def next(self, key_id: str, floor: int) -> int:
        self.calls.append((key_id, floor))
        return self._value if self._value is not None else self._memory.next(key_id, floor)


def make_account(sandbox: bool = True, **overrides: Any) -> gemini.Account:
    data: dict[str, Any] = {
        "account_id": "main",
        "api_key": "account-abc123",
        "api_secret": SECRET,
        "nonce_mode": "increasing",
    }
    data.update(overrides)
    return gemini.Account.from_mapping(data, secret_name="deadman/gemini", sandbox=sandbox)


NOW_MS = 1_700_000_000_123


def make_client(
    account: gemini.Account, session: RecordingSession, nonces: Any = None
) -> tuple[gemini.Client, Any]:
    nonces = nonces or RecordingNonces()
    return gemini.Client(account, nonces=nonces, clock=lambda: NOW_MS, session=session), nonces


def test_heartbeat_request_is_exactly_gemini_shape() -> None:
    session = RecordingSession()
    client, nonces = make_client(make_account(), session)
    result = client.extend(NOW_MS + 45_000)
    assert len(session.calls) == 1
    call = session.calls[0]
    assert call["url"] == "https://api.gemini.com/v1/heartbeat"
    assert not call["data"]  # empty body: the payload travels in a header
    headers = call["headers"]
    b64 = headers["X-GEMINI-PAYLOAD"]
    assert json.loads(base64.b64decode(b64)) == {"request": "/v1/heartbeat", "nonce": NOW_MS}
    assert headers["X-GEMINI-SIGNATURE"] == gemini.sign(b64, SECRET)
    assert headers["X-GEMINI-APIKEY"] == "account-abc123"
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == "0"
    assert headers["Cache-Control"] == "no-cache"
    assert nonces.calls == [("gemini:account-abc123", NOW_MS)]
    assert result.requested_deadline_ms is None
    assert result.venue_deadline_ms == NOW_MS + 30_000


def test_time_mode_floor_is_seconds() -> None:
    session = RecordingSession()
    client, nonces = make_client(make_account(nonce_mode="time"), session)
    client.extend(0)
    assert nonces.calls == [("gemini:account-abc123", NOW_MS // 1000)]
    payload = json.loads(base64.b64decode(session.calls[0]["headers"]["X-GEMINI-PAYLOAD"]))
    assert payload["nonce"] == NOW_MS // 1000


def test_time_mode_refuses_a_nonce_more_than_25_s_ahead_without_sending() -> None:
    session = RecordingSession()
    ahead = NOW_MS // 1000 + 26
    client, _ = make_client(make_account(nonce_mode="time"), session, RecordingNonces(ahead))
    with pytest.raises(NonceError) as info:
        client.extend(0)
    assert info.value.code == "nonce_ahead"
    assert session.calls == []


def test_time_mode_accepts_a_nonce_25_s_ahead() -> None:
    session = RecordingSession()
    client, _ = make_client(make_account(nonce_mode="time"), session, RecordingNonces(NOW_MS // 1000 + 25))
    client.extend(0)
    assert len(session.calls) == 1


def test_nonce_below_floor_is_refused_without_sending() -> None:
    session = RecordingSession()
    client, _ = make_client(make_account(), session, RecordingNonces(NOW_MS - 1))
    with pytest.raises(NonceError):
        client.extend(0)
    assert session.calls == []


def test_master_key_sends_account_and_claims_no_venue_deadline() -> None:
    session = RecordingSession()
    client, _ = make_client(make_account(api_key="master-xyz", account="desk1"), session)
    result = client.extend(0)
    payload = json.loads(base64.b64decode(session.calls[0]["headers"]["X-GEMINI-PAYLOAD"]))
    assert payload == {"request": "/v1/heartbeat", "nonce": NOW_MS, "account": "desk1"}
    assert result.venue_deadline_ms is None


def test_sandbox_environment_and_base_url_override() -> None:
    session = RecordingSession()
    client, _ = make_client(make_account(environment="sandbox"), session)
    client.extend(0)
    assert session.calls[0]["url"] == "https://api.sandbox.gemini.com/v1/heartbeat"
    session = RecordingSession()
    client, _ = make_client(make_account(environment="sandbox", base_url="http://127.0.0.1:9/"), session)
    client.extend(0)
    assert session.calls[0]["url"] == "http://127.0.0.1:9/v1/heartbeat"


def test_sweep_path_follows_scope() -> None:
    body = '{"result":"ok","details":{"cancelRejects":[],"cancelledOrders":[1]}}'
    for scope, path in (("session", "/v1/order/cancel/session"), ("all", "/v1/order/cancel/all")):
        session = RecordingSession(text=body)
        client, _ = make_client(make_account(sweep_scope=scope), session)
        assert client.sweep().extra == {"scope": scope}
        assert session.calls[0]["url"].endswith(path)
        payload = json.loads(base64.b64decode(session.calls[0]["headers"]["X-GEMINI-PAYLOAD"]))
        assert payload["request"] == path


def test_disarm_is_not_supported_and_sends_nothing() -> None:
    session = RecordingSession()
    client, _ = make_client(make_account(), session)
    with pytest.raises(NotSupportedError, match="provisioned"):
        client.disarm()
    assert session.calls == []


# -- parsing ----------------------------------------------------------------------------------------


def test_parse_cancel_doc_example() -> None:
    result = gemini.parse_cancel(
        {
            "result": "ok",
            "details": {"cancelRejects": [330429345], "cancelledOrders": [330429106, 330429079]},
        },
        gemini.PATH_CANCEL_SESSION,
    )
    assert result.cancelled_ids == ("330429106", "330429079")
    assert result.cancelled_count == 2
    assert [(f.order_id, f.reason) for f in result.failed] == [("330429345", "rejected by venue")]
    assert not result.complete


@pytest.mark.parametrize(
    "answer",
    [
        {"result": "ok"},
        {"result": "ok", "details": {"cancelledOrders": "1,2"}},
        {"result": "ok", "details": {"cancelledOrders": [1.5]}},
        {"result": "ok", "details": {"cancelledOrders": [True]}},
        [],
    ],
)
def test_parse_cancel_unreadable_is_transient(answer: Any) -> None:
    with pytest.raises(TransientError):
        gemini.parse_cancel(answer, gemini.PATH_CANCEL_ALL)


def test_parse_orders_accepts_string_and_integer_ids() -> None:
    orders = gemini.parse_orders(
        [
            {"order_id": "106817811", "symbol": "btcusd", "side": "buy", "price": "3633.00",
             "original_amount": "5", "remaining_amount": "1.25"},
            {"order_id": 7, "symbol": "ethusd", "side": "sell", "price": "2000", "original_amount": "2"},
        ]
    )  # fmt: skip
    assert [(o.order_id, o.symbol, o.side, o.price, o.size) for o in orders] == [
        ("106817811", "btcusd", "buy", "3633.00", "1.25"),
        ("7", "ethusd", "sell", "2000", "2"),
    ]
    with pytest.raises(TransientError):
        gemini.parse_orders([{"symbol": "btcusd"}])
    with pytest.raises(TransientError):
        gemini.parse_orders({"result": "ok"})


# -- error taxonomy ---------------------------------------------------------------------------------


def _error_body(reason: str) -> str:
    return json.dumps({"result": "error", "reason": reason, "message": f"text for {reason}"})


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (400, "InvalidSignature", AuthError),
        (400, "MissingApikeyHeader", AuthError),
        (400, "MissingPayloadHeader", AuthError),
        (400, "MissingSignatureHeader", AuthError),
        (400, "InvalidApiKey", AuthError),
        (403, "MissingRole", AuthError),
        (403, "RemoteAddressForbidden", AuthError),
        (400, "AccountsOnGroupOnlyApi", AuthError),
        (400, "NotGroupApiCompatible", AuthError),
        (400, "MissingAccountName", AuthError),
        (400, "InvalidAccountName", AuthError),
        (400, "InvalidNonce", NonceError),
        (400, "MissingNonce", NonceError),
        (429, "RateLimit", RateLimitError),
        (400, "RateLimit", RateLimitError),
        (503, "Maintenance", UnavailableError),
        (500, "System", TransientError),
        (502, "System", TransientError),
        (406, "InsufficientFunds", RejectedError),
        (400, "InvalidJson", RejectedError),
        (400, "EndpointMismatch", RejectedError),
        (500, "SomethingNew", TransientError),
        (403, "SomethingNew", AuthError),
        (400, "SomethingNew", RejectedError),
    ],
)
def test_error_reasons_map_into_taxonomy(status: int, reason: str, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        gemini.parse_response(HttpResponse(status, _error_body(reason)), "/v1/heartbeat")
    assert type(info.value) is expected
    assert info.value.code == reason  # type: ignore[attr-defined]
    assert f"text for {reason}" in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, RateLimitError), (503, UnavailableError), (500, TransientError), (502, TransientError),
     (504, TransientError), (404, RejectedError), (400, RejectedError)],
)  # fmt: skip
def test_non_json_statuses(status: int, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        gemini.parse_response(HttpResponse(status, "<html><body>Bad Gateway</body></html>"), "/v1/heartbeat")


def test_unreadable_200_is_transient() -> None:
    with pytest.raises(TransientError):
        gemini.parse_response(HttpResponse(200, "<html>ok?</html>"), "/v1/heartbeat")


def test_heartbeat_answer_other_than_ok_is_transient() -> None:
    client, _ = make_client(make_account(), RecordingSession(text='{"result":"maybe"}'))
    with pytest.raises(TransientError):
        client.extend(0)


# -- configuration ----------------------------------------------------------------------------------


def test_from_mapping_full_entry() -> None:
    account = make_account(
        api_key="master-desk",
        account="primary",
        sweep_scope="all",
        environment="sandbox",
        kill={"api_key": "account-kill", "api_secret": "kill-" + SECRET, "nonce_mode": "time"},
    )
    assert account.account == "primary"
    assert account.sweep_scope == "all"
    assert account.base_url == "https://api.sandbox.gemini.com"
    assert account.is_master
    assert account.kill is not None
    assert account.kill.api_secret == Secret("kill-" + SECRET)


def test_defaults() -> None:
    account = make_account()
    assert account.sweep_scope == "session"
    assert account.base_url == "https://api.gemini.com"
    assert account.account is None
    # Without a kill key a kill sweeps on the trading key, every session of the account (cancel/all).
    assert account.for_kill() == dataclasses.replace(account, sweep_scope="all")


def test_for_kill_uses_kill_key_and_cancel_all() -> None:
    account = make_account(
        kill={"api_key": "account-kill", "api_secret": "kill-secret", "nonce_mode": "time"}
    )
    kill = account.for_kill()
    assert kill.api_key == "account-kill"
    assert kill.api_secret.reveal() == "kill-secret"
    assert kill.nonce_mode == "time"
    assert kill.sweep_scope == "all"  # cancel/session with another key would cancel none of the trader's
    assert kill.kill is None
    assert kill.account_id == account.account_id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"account_id": None}, "account_id"),
        ({"api_key": None}, "api_key"),
        ({"api_key": 42}, "api_key"),
        ({"api_key": "account-with space"}, "api_key"),
        ({"api_secret": None}, "api_secret"),
        ({"api_secret": ""}, "api_secret"),
        ({"api_secret": SECRET + "\n"}, "api_secret"),
        ({"api_secret": 12345}, "api_secret"),
        ({"nonce_mode": None}, "nonce_mode"),
        ({"nonce_mode": "ms"}, "nonce_mode"),
        ({"api_key": "master-xyz"}, "account"),
        ({"account": "primary"}, "account"),
        ({"sweep_scope": "everything"}, "sweep_scope"),
        ({"environment": "staging"}, "environment"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "https://example.com/v1"}, "base_url"),
        ({"sweepscope": "all"}, "sweepscope"),
        ({"kill": "account-kill"}, "kill"),
        ({"kill": {"api_key": "account-kill", "nonce_mode": "time"}}, "kill.api_secret"),
        ({"kill": {"api_key": "account-kill", "api_secret": SECRET}}, "kill.nonce_mode"),
        ({"kill": {"api_secret": SECRET, "nonce_mode": "time"}}, "kill.api_key"),
        ({"kill": {"api_key": "master-k", "api_secret": SECRET, "nonce_mode": "time"}}, "kill.account"),
        ({"kill": {"api_key": "account-k", "api_secret": SECRET, "nonce_mode": "time", "x": 1}}, "kill.x"),
    ],
)
def test_from_mapping_errors_name_the_field_never_the_secret(overrides: dict[str, Any], field: str) -> None:
    data: dict[str, Any] = {
        "account_id": "main",
        "api_key": "account-abc123",
        "api_secret": SECRET,
        "nonce_mode": "increasing",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    with pytest.raises(CredentialsError) as info:
        gemini.Account.from_mapping(data, secret_name="deadman/gemini")
    assert info.value.field == field
    assert f"'{field}'" in str(info.value)
    assert SECRET not in str(info.value)
    assert "deadman/gemini" in str(info.value)


def test_from_mapping_rejects_non_mapping() -> None:
    with pytest.raises(CredentialsError):
        gemini.Account.from_mapping(["account-abc", SECRET], secret_name="s")  # type: ignore[arg-type]


def test_secrets_absent_from_reprs_and_errors() -> None:
    account = make_account(
        kill={"api_key": "account-kill", "api_secret": "KILL" + SECRET, "nonce_mode": "time"}
    )
    client, _ = make_client(account, RecordingSession(status=400, text=_error_body("InvalidSignature")))
    for text in (repr(account), str(account), repr(account.for_kill()), repr(client)):
        assert SECRET not in text
    with pytest.raises(AuthError) as info:
        client.sweep()
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
