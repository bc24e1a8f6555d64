"""Kraken signing vectors (Kraken's documented vector and computed ones), the exact bytes the client
sends, error mapping and account configuration. Pure: no network (a recording session stands in for
requests)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import errors as E
from deadman.venues import kraken
from deadman.venues.errors import StaleDecisionError
from deadman.venues.http import DEFAULT_TIMEOUT, HttpResponse

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
OTHER_SECRET = base64.b64encode(b"k" * 64).decode()


# -- vectors ----------------------------------------------------------------------------------------


def test_official_add_order_vector():
    body = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert (
        kraken.sign("/0/private/AddOrder", 1616492376594, body, SECRET)
        == "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_json_cancel_all_orders_after_vector():
    body = b'{"nonce":1616492376594,"timeout":60}'
    assert (
        kraken.sign("/0/private/CancelAllOrdersAfter", 1616492376594, body, SECRET)
        == "NJDD2t4PRTRf9x5a2TM0S3CbSObh7hBIiMWtOMpEbgzocumKkPnV1I8pXOsvxkDggwAAhXIM1t3O7cP21HWfpw=="
    )


def test_form_cancel_all_orders_after_vector():
    body = b"nonce=1700000000000&timeout=60"
    assert (
        kraken.sign("/0/private/CancelAllOrdersAfter", 1700000000000, body, SECRET)
        == "DRKAgR7PO+gMoEOX7zq4pJTrUDTdPuV6bTaSemauy9fS35c+u4smXSM4pIIptvMUqIB6c3j70dzhLKLN4JQyGA=="
    )


def test_signature_depends_on_every_input():
    base = kraken.sign("/0/private/CancelAll", 1, b"nonce=1", SECRET)
    assert kraken.sign("/0/private/OpenOrders", 1, b"nonce=1", SECRET) != base
    assert kraken.sign("/0/private/CancelAll", 2, b"nonce=1", SECRET) != base
    assert kraken.sign("/0/private/CancelAll", 1, b"nonce=2", SECRET) != base
    assert kraken.sign("/0/private/CancelAll", 1, b"nonce=1", OTHER_SECRET) != base


# -- what the client puts on the wire --------------------------------------------------------------


class RecordingSession(requests.Session):
    def __init__(self, status: int = 200, body: str = "") -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self.status = status
        self.body = body

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        self.calls.append({"url": url, "data": data, **kwargs})
        resp = requests.Response()
        resp.status_code = self.status
        resp._content = self.body.encode()
        return resp


def make_client(session: requests.Session, now: int = 1_700_000_000_000, **account: Any) -> kraken.Client:
    acct = kraken.Account(
        account_id="main",
        api_key=account.get("api_key", "KEY"),
        api_secret=Secret(account.get("api_secret", SECRET)),
        base_url="https://kraken.invalid",
    )
    return kraken.Client(acct, nonces=MemoryNonceSource(), clock=lambda: now, session=session)


CAA_OK = json.dumps(
    {"error": [], "result": {"currentTime": "2023-11-14T22:13:20Z", "triggerTime": "2023-11-14T22:14:20Z"}}
)


def test_client_sends_the_form_vector_bytes_exactly():
    session = RecordingSession(body=CAA_OK)
    client = make_client(session)
    # Aimed a second early (and rounded down): a deadline 61 s out sends the vector's timeout=60.
    result = client.extend(1_700_000_000_000 + 61_000)
    [call] = session.calls
    assert call["url"] == "https://kraken.invalid/0/private/CancelAllOrdersAfter"
    assert call["data"] == b"nonce=1700000000000&timeout=60"
    headers = call["headers"]
    assert headers["API-Key"] == "KEY"
    assert headers["API-Sign"] == (
        "DRKAgR7PO+gMoEOX7zq4pJTrUDTdPuV6bTaSemauy9fS35c+u4smXSM4pIIptvMUqIB6c3j70dzhLKLN4JQyGA=="
    )
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert call["timeout"] == DEFAULT_TIMEOUT
    assert result.detail == "CancelAllOrdersAfter timeout=60"
    assert result.requested_deadline_ms == 1_700_000_061_000
    # triggerTime is whole seconds, cut down: the timer fires within the second after it.
    assert result.venue_deadline_ms == 1_700_000_060_999


@pytest.mark.parametrize(
    ("lead_ms", "timeout"),
    [(2000, 1), (2001, 1), (2999, 1), (61_000, 60), (86_400_000, 86_399), (86_401_000, 86_399)],
)
def test_extend_rounds_down_and_clamps(lead_ms, timeout):
    """Down: Kraken counts from the request's arrival, so up would end past the deadline."""
    # An answer without a trigger time: the read-back has its own tests.
    session = RecordingSession(
        body=json.dumps({"error": [], "result": {"currentTime": "x", "triggerTime": "0"}})
    )
    make_client(session).extend(1_700_000_000_000 + lead_ms)
    assert session.calls[0]["data"] == f"nonce=1700000000000&timeout={timeout}".encode()


@pytest.mark.parametrize("lead_ms", [1999, 999, 1, 0, -1, -5000])
def test_extend_refuses_deadline_not_ahead(lead_ms):
    session = RecordingSession(body=CAA_OK)
    with pytest.raises(StaleDecisionError, match="1 s"):
        make_client(session).extend(1_700_000_000_000 + lead_ms)
    assert session.calls == []  # never sends timeout=0, which would disarm


def test_disarm_sends_timeout_zero():
    session = RecordingSession(
        body=json.dumps({"error": [], "result": {"currentTime": "x", "triggerTime": "0"}})
    )
    make_client(session).disarm()
    assert session.calls[0]["data"] == b"nonce=1700000000000&timeout=0"


def test_nonces_come_from_the_source_per_key():
    session = RecordingSession(body=json.dumps({"error": [], "result": {"count": 0, "pending": False}}))
    seen: list[tuple[str, int]] = []

    class Spy(MemoryNonceSource):
        def next(self, key_id: str, floor: int) -> int:
            seen.append((key_id, floor))
            return super().next(key_id, floor)

    acct = kraken.Account("main", "PUBKEY", Secret(SECRET), base_url="https://kraken.invalid")
    client = kraken.Client(acct, nonces=Spy(), clock=lambda: 1_700_000_000_000, session=session)
    client.sweep()
    client.sweep()
    assert seen == [("kraken:PUBKEY", 1_700_000_000_000)] * 2
    assert [c["data"] for c in session.calls] == [b"nonce=1700000000000", b"nonce=1700000000001"]


def test_venue_deadline_none_when_trigger_unparseable():
    body = json.dumps({"error": [], "result": {"currentTime": "x", "triggerTime": "0"}})
    result = make_client(RecordingSession(body=body)).extend(1_700_000_060_000)
    assert result.venue_deadline_ms is None


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2023-03-24T17:42:56Z", 1679679776000),
        ("2023-03-24T17:42:56.250Z", 1679679776250),
        ("2023-03-24T19:42:56+02:00", 1679679776000),
        ("0", None),
        ("", None),
    ],
)
def test_parse_rfc3339(text, ms):
    assert kraken.parse_rfc3339_ms(text) == ms


# -- error mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "cls", "code"),
    [
        ("EAPI:Invalid key", E.AuthError, "EAPI:Invalid key"),
        ("EAPI:Invalid signature", E.AuthError, "EAPI:Invalid signature"),
        ("EGeneral:Permission denied", E.MissingPermissionError, "EGeneral:Permission denied"),
        ("EAPI:Invalid nonce", E.NonceError, "EAPI:Invalid nonce"),
        ("EGeneral:Temporary lockout", E.NonceError, "lockout"),
        ("EAPI:Rate limit exceeded", E.RateLimitError, "EAPI:Rate limit exceeded"),
        ("EOrder:Rate limit exceeded", E.RateLimitError, "EOrder:Rate limit exceeded"),
        ("EService: Throttled: 1700000000", E.RateLimitError, "EService:Throttled"),
        ("EService:Unavailable", E.UnavailableError, "EService:Unavailable"),
        ("EService:Busy", E.UnavailableError, "EService:Busy"),
        ("EGeneral:Internal error", E.TransientError, "EGeneral:Internal error"),
        ("EGeneral:Invalid arguments", E.RejectedError, "EGeneral:Invalid arguments"),
        ("EOrder:Insufficient funds", E.RejectedError, "EOrder:Insufficient funds"),
    ],
)
def test_error_array_maps_to_taxonomy(entry, cls, code):
    resp = HttpResponse(200, json.dumps({"error": [entry]}))
    with pytest.raises(cls) as info:
        kraken.parse_response(resp, "/0/private/X")
    assert type(info.value) is cls
    assert info.value.code == code
    assert entry.split(":")[1].strip() in str(info.value)  # the venue's own text is kept


def test_error_array_wins_over_http_status():
    resp = HttpResponse(500, json.dumps({"error": ["EAPI:Invalid nonce"]}))
    with pytest.raises(E.NonceError) as info:
        kraken.parse_response(resp, "/0/private/X")
    assert info.value.http_status == 500


def test_warnings_are_not_errors():
    resp = HttpResponse(200, json.dumps({"error": ["WGeneral:Something deprecated"], "result": {"count": 1}}))
    assert kraken.parse_response(resp, "/0/private/X") == {"count": 1}


def test_first_error_decides_and_all_are_reported():
    resp = HttpResponse(200, json.dumps({"error": ["WX:y", "EAPI:Invalid key", "EGeneral:Internal error"]}))
    with pytest.raises(E.AuthError) as info:
        kraken.parse_response(resp, "/0/private/X")
    assert "Internal error" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(502, E.TransientError), (500, E.TransientError), (503, E.UnavailableError), (429, E.RateLimitError)],
)
def test_non_json_statuses_use_generic_mapping(status, cls):
    resp = HttpResponse(status, "<html><body>Bad gateway</body></html>")
    with pytest.raises(cls) as info:
        kraken.parse_response(resp, "/0/private/X")
    assert type(info.value) is cls
    assert info.value.http_status == status


def test_unreadable_200_is_transient():
    with pytest.raises(E.TransientError):
        kraken.parse_response(HttpResponse(200, "not json"), "/0/private/X")
    with pytest.raises(E.TransientError):
        kraken.parse_response(HttpResponse(200, json.dumps({"error": []})), "/0/private/X")


def test_other_4xx_is_rejected():
    with pytest.raises(E.RejectedError):
        kraken.parse_response(HttpResponse(404, "not found"), "/0/private/X")


def test_malformed_results_are_transient():
    client = make_client(RecordingSession(body=json.dumps({"error": [], "result": {"count": "3"}})))
    with pytest.raises(E.TransientError):
        client.sweep()
    client = make_client(RecordingSession(body=json.dumps({"error": [], "result": {"open": []}})))
    with pytest.raises(E.TransientError):
        client.open_orders()


# -- capabilities and account configuration ---------------------------------------------------------


def test_capabilities():
    caps = kraken.CAPABILITIES
    assert caps.venue == "kraken"
    assert caps.timer_kind == TimerKind.RELATIVE_SECONDS
    assert caps.can_disarm is True
    assert caps.min_lead_ms == 1000
    assert caps.max_timeout_ms == 86_399_000
    assert caps.fixed_timeout_ms is None
    assert caps.daily_trigger_budget is None


def valid_entry(**over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"account_id": "main", "api_key": "PUB", "api_secret": SECRET}
    entry.update(over)
    return entry


def test_from_mapping_full():
    acct = kraken.Account.from_mapping(
        valid_entry(
            base_url="http://127.0.0.1:9999", kill={"api_key": "KILLPUB", "api_secret": OTHER_SECRET}
        ),
        secret_name="deadman/kraken",
        sandbox=True,  # a simulator's URL: only a stack in sandbox mode may name one
    )
    assert acct.account_id == "main"
    assert acct.api_key == "PUB"
    assert acct.api_secret.reveal() == SECRET
    assert acct.base_url == "http://127.0.0.1:9999"
    killer = acct.for_kill()
    assert (killer.api_key, killer.api_secret.reveal(), killer.kill) == ("KILLPUB", OTHER_SECRET, None)
    assert (killer.account_id, killer.base_url) == ("main", "http://127.0.0.1:9999")


def test_from_mapping_defaults_and_for_kill_without_kill_key():
    acct = kraken.Account.from_mapping(valid_entry(), secret_name="s")
    assert acct.base_url == "https://api.kraken.com"
    assert acct.for_kill() is acct


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"api_key": "PUB", "api_secret": SECRET}, "account_id"),
        (valid_entry(account_id=""), "account_id"),
        (valid_entry(account_id=7), "account_id"),
        ({"account_id": "main", "api_secret": SECRET}, "api_key"),
        ({"account_id": "main", "api_key": "PUB"}, "api_secret"),
        (valid_entry(api_secret="not base64 !!"), "api_secret"),
        (valid_entry(api_secret="kQH5HW/8p1uGOVjbgWA7Fun"), "api_secret"),  # bad padding
        (valid_entry(base_url="ftp://x"), "base_url"),
        (valid_entry(base_url="https://api.kraken.com/0"), "base_url"),
        (valid_entry(kill="KEY"), "kill"),
        (valid_entry(kill={"api_secret": OTHER_SECRET}), "kill.api_key"),
        (valid_entry(kill={"api_key": "K"}), "kill.api_secret"),
        (valid_entry(kill={"api_key": "K", "api_secret": "%%%"}), "kill.api_secret"),
        (valid_entry(kill={"api_key": "K", "api_secret": OTHER_SECRET, "otp": "1"}), "kill.otp"),
        (valid_entry(kil={"api_key": "K", "api_secret": OTHER_SECRET}), "kil"),
    ],
)
def test_from_mapping_names_the_bad_field(entry, field):
    with pytest.raises(CredentialsError) as info:
        kraken.Account.from_mapping(entry, secret_name="deadman/kraken")
    assert info.value.field == field
    assert info.value.secret == "deadman/kraken"
    for secret_value in (SECRET, OTHER_SECRET, "not base64 !!", "kQH5HW/8p1uGOVjbgWA7Fun", "%%%"):
        assert secret_value not in str(info.value)


def test_secrets_not_in_reprs():
    acct = kraken.Account.from_mapping(
        valid_entry(kill={"api_key": "KILLPUB", "api_secret": OTHER_SECRET}), secret_name="s"
    )
    for text in (repr(acct), str(acct), repr(acct.for_kill()), repr(acct.kill)):
        assert SECRET not in text
        assert OTHER_SECRET not in text
    client = kraken.Client(acct, nonces=MemoryNonceSource(), clock=lambda: 0)
    assert SECRET not in repr(client)
    assert client.account_label == "main"
