"""BitMEX signing vectors (BitMEX's published ones and computed ones), the exact bytes and headers the
client sends, the expiry it sets, error mapping and account configuration. Pure: no network (a
recording session stands in for requests).

How the vectors were cross-checked: ccxt 4.5.90 has no BitMEX module, so the reference is BitMEX's
own algorithm, hex(HMAC_SHA256(secret, verb + path + expires + data)), from its API-key usage page
(https://www.bitmex.com/app/apiKeysUsage) and its official connector's `generate_signature`
(github.com/BitMEX/api-connectors, official-http/python-swaggerpy/BitMEXAPIKeyAuthenticator.py).
The three published vectors are that page's worked examples (key LAqUlngMIQkIUjXMUreyu3qn), the
same values the connectors' and other clients' test suites cite. The computed cancelAllAfter vectors
(key test-api-key, secret test-api-secret, 2026-01-01T00:00:00Z + 5 s) were made with the standard
library's hmac over the documented message, independently of `bitmex.sign`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from deadman.core.errors import CredentialsError
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import bitmex
from deadman.venues import errors as E
from deadman.venues.errors import StaleDecisionError
from deadman.venues.http import HttpResponse

DOC_SECRET = "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO"
CLOCK_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


# -- vectors ----------------------------------------------------------------------------------------


def test_published_get_vector():
    assert (
        bitmex.sign(DOC_SECRET, "GET", "/api/v1/instrument", 1518064236, b"")
        == "c7682d435d0cfe87c16098df34ef2eb5a549d4c5a3c2b1f0f77b8af73423bf00"
    )


def test_published_get_with_query_vector():
    path = "/api/v1/instrument?filter=%7B%22symbol%22%3A+%22XBTM15%22%7D"
    assert (
        bitmex.sign(DOC_SECRET, "GET", path, 1518064237, b"")
        == "e2f422547eecb5b3cb29ade2127e21b858b235b386bfa45e1c1756eb3383919f"
    )


def test_published_post_vector():
    body = b'{"symbol":"XBTM15","price":219.0,"clOrdID":"mm_bitmex_1a/oemUeQ4CAJZgP3fjHsA","orderQty":98}'
    assert (
        bitmex.sign(DOC_SECRET, "POST", "/api/v1/order", 1518064238, body)
        == "1749cd2ccae4aa49048ae09f0b95110cee706e0944e6a14ad0b3a8cb45bd336b"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"timeout":60000}', "1c9964b89c2bd4ca733af37c954124d63f14668280ce8d2a1d003d18ab547ecb"),
        (b'{"timeout":0}', "48faf6c0933a43cab1b2a74aef744268c54906a4733fd7f1d040a24964b8ebae"),
    ],
)
def test_computed_cancel_all_after_vectors(body: bytes, expected: str):
    assert (
        bitmex.sign("test-api-secret", "POST", "/api/v1/order/cancelAllAfter", 1767225605, body) == expected
    )


@given(
    verb=st.sampled_from(["GET", "POST", "DELETE"]),
    path=st.text(alphabet="abc/?=&%", max_size=30),
    expires=st.integers(min_value=0, max_value=2**40),
    data=st.binary(max_size=40),
)
def test_signature_is_the_documented_hmac(verb: str, path: str, expires: int, data: bytes):
    import hashlib
    import hmac

    message = (verb + path + str(expires)).encode() + data
    expected = hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    assert bitmex.sign("s3cret", verb, path, expires, data) == expected


@given(now=st.integers(min_value=0, max_value=2**45))
def test_expiry_ends_within_the_clients_patience(now: int):
    expires = bitmex.expires_for(now)
    # Valid through its own second: refused by BitMEX from (expires + 1) s on.
    assert now + 3_000 < (expires + 1) * 1000 <= now + bitmex.EXPIRES_WITHIN_MS


# -- what the client puts on the wire --------------------------------------------------------------


class RecordingSession(requests.Session):
    def __init__(self, answers: list[tuple[int, Any]] | None = None) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []
        self.answers = answers or []

    def _answer(self, method: str, url: Any, data: Any, headers: Any) -> requests.Response:
        self.sent.append({"method": method, "url": url, "data": data, "headers": dict(headers)})
        status, payload = self.answers.pop(0) if self.answers else (200, {})
        resp = requests.Response()
        resp.status_code = status
        resp._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return resp

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        return self._answer("POST", url, data, kwargs.get("headers", {}))

    def request(self, method: Any, url: Any, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return self._answer(method, url, data, kwargs.get("headers", {}))


def account(**fields: Any) -> bitmex.Account:
    entry = {"account_id": "main", "api_key": "test-api-key", "api_secret": "test-api-secret", **fields}
    return bitmex.Account.from_mapping(entry, secret_name="s")


def client(session: requests.Session, now: list[int]) -> bitmex.Client:
    return bitmex.Client(account(), nonces=MemoryNonceSource(), clock=lambda: now[0], session=session)


def test_extend_sends_the_computed_vector():
    session = RecordingSession([(200, {"now": "x", "cancelTime": "y"})])
    c = client(session, [CLOCK_MS])
    result = c.extend(CLOCK_MS + 60_000)
    sent = session.sent[0]
    assert sent["url"] == "https://www.bitmex.com/api/v1/order/cancelAllAfter"
    assert sent["data"] == b'{"timeout":60000}'
    assert sent["headers"]["api-expires"] == "1767225604"
    assert sent["headers"]["api-key"] == "test-api-key"
    expected = bitmex.sign(
        "test-api-secret", "POST", "/api/v1/order/cancelAllAfter", 1767225604, sent["data"]
    )
    assert sent["headers"]["api-signature"] == expected
    assert result.venue_deadline_ms == CLOCK_MS + 60_000 and result.requested_deadline_ms == CLOCK_MS + 60_000


def test_disarm_sends_zero_and_sweep_deletes_all():
    session = RecordingSession([(200, {}), (200, [])])
    c = client(session, [CLOCK_MS])
    c.disarm()
    assert session.sent[0]["data"] == b'{"timeout":0}'
    assert c.sweep().cancelled_count == 0  # nothing open: an empty array
    delete = session.sent[1]
    assert delete["method"] == "DELETE" and delete["url"].endswith("/api/v1/order/all") and not delete["data"]
    assert delete["headers"]["api-signature"] == bitmex.sign(
        "test-api-secret", "DELETE", "/api/v1/order/all", 1767225604, b""
    )


def test_open_orders_signs_the_query_as_sent():
    session = RecordingSession([(200, [{"orderID": "o1", "symbol": "XBTUSD", "side": "Buy", "price": 1}])])
    orders = client(session, [CLOCK_MS]).open_orders()
    assert [o.order_id for o in orders] == ["o1"]
    url = session.sent[0]["url"]
    path = url.removeprefix("https://www.bitmex.com")
    assert path == "/api/v1/order?filter=%7B%22open%22%3Atrue%7D&count=500&start=0"
    assert session.sent[0]["headers"]["api-signature"] == bitmex.sign(
        "test-api-secret", "GET", path, 1767225604, b""
    )


def test_a_slow_answer_bounds_the_timer_late_and_the_next_aims_earlier():
    now = [CLOCK_MS]

    class Slow(RecordingSession):
        def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
            now[0] += 2_500  # the answer comes 2.5 s after the request left
            return super().post(url, data, **kwargs)

    session = Slow()
    c = client(session, now)
    first = c.extend(CLOCK_MS + 60_000)
    # Processed somewhere within the round trip: it fires by the answer + the timeout at the latest.
    assert first.venue_deadline_ms == CLOCK_MS + 62_500
    second = c.extend(now[0] + 60_000)
    assert json.loads(session.sent[1]["data"]) == {"timeout": 57_500}
    assert second.venue_deadline_ms == now[0] + 57_500


def test_a_deadline_too_close_is_not_sent():
    session = RecordingSession()
    with pytest.raises(StaleDecisionError):
        client(session, [CLOCK_MS]).extend(CLOCK_MS + 999)
    assert session.sent == []  # never a timeout that could read as 0 (off)


def test_send_by_passed_is_not_sent():
    session = RecordingSession()
    with pytest.raises(StaleDecisionError):
        client(session, [CLOCK_MS]).extend(CLOCK_MS + 60_000, send_by_ms=CLOCK_MS - 1)
    assert session.sent == []


@pytest.mark.parametrize("body", [b"", b"<html>", b"[]", b'{"error":{"message":"x"}}', b'{"tim'])
def test_an_unreadable_timer_answer_is_an_unknown_outcome(body: bytes):
    session = RecordingSession([(200, body)])
    with pytest.raises(E.TransientError):
        client(session, [CLOCK_MS]).extend(CLOCK_MS + 60_000)


def test_a_timer_answer_without_times_is_enough():
    session = RecordingSession([(200, {})])
    result = client(session, [CLOCK_MS]).extend(CLOCK_MS + 60_000)
    assert result.venue_deadline_ms == CLOCK_MS + 60_000  # our own bound, not the venue's word


@pytest.mark.parametrize("body", [b"{}", b'[{"ordStatus":"Canceled"}]', b"[1]", b"<html>"])
def test_an_unreadable_sweep_answer_is_an_unknown_outcome(body: bytes):
    with pytest.raises(E.TransientError):
        client(RecordingSession([(200, body)]), [CLOCK_MS]).sweep()


def test_an_order_not_cancelled_is_a_failure():
    rows = [
        {"orderID": "a", "ordStatus": "Canceled"},
        {"orderID": "b", "ordStatus": "Filled", "error": "filled"},
    ]
    result = client(RecordingSession([(200, rows)]), [CLOCK_MS]).sweep()
    assert result.cancelled_ids == ("a",) and not result.complete and result.failed[0].reason == "filled"


# -- error mapping ----------------------------------------------------------------------------------


def err(status: int, message: str, name: str = "HTTPError") -> E.VenueError | None:
    text = json.dumps({"error": {"message": message, "name": name}})
    return bitmex.error_for(HttpResponse(status, text), "/api/v1/order/cancelAllAfter")


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "Signature not valid.", E.AuthError),
        (401, "Invalid API Key.", E.AuthError),
        (403, "Access Denied", E.MissingPermissionError),
        (403, "This key is disabled.", E.AuthError),
        (429, "Rate limit exceeded, retry in 1 seconds.", E.RateLimitError),
        (503, "The system is currently overloaded. Please try again later.", E.UnavailableError),
        (502, "Bad Gateway", E.TransientError),
        (400, "timeout: Invalid value", E.RejectedError),
        (404, "Not Found", E.RejectedError),
        (400, "This request has expired - `expires` is in the past. Current time: 1767225610", E.NonceError),
        (401, "This request has expired - `expires` is in the past.", E.NonceError),
    ],
)
def test_error_mapping(status: int, message: str, kind: type[E.VenueError]):
    found = err(status, message)
    assert type(found) is kind
    assert found is not None and found.http_status == status and message[:20] in found.message


def test_a_success_is_no_error():
    assert bitmex.error_for(HttpResponse(200, "{}"), "/x") is None


def test_an_html_error_page_still_maps_by_status():
    assert isinstance(bitmex.error_for(HttpResponse(429, "<html>"), "/x"), E.RateLimitError)
    assert isinstance(bitmex.error_for(HttpResponse(503, "<html>"), "/x"), E.UnavailableError)


# -- account configuration --------------------------------------------------------------------------


def test_account_fields_and_kill_key():
    a = account(environment="testnet", kill={"api_key": "k2", "api_secret": "s2"})
    assert a.base_url == "https://testnet.bitmex.com" and a.has_kill_key
    kill = a.for_kill()
    assert kill.api_key == "k2" and kill.api_secret.reveal() == "s2" and not kill.has_kill_key
    assert a.for_retiring() is None and "s2" not in repr(a) and "test-api-secret" not in repr(a)
    assert account().for_kill() == account()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"api_key": None}, "api_key"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "ab cd"}, "api_key"),
        ({"api_key": "abc\n"}, "api_key"),
        ({"api_secret": "sec\x00ret"}, "api_secret"),
        ({"api_secret": " secret"}, "api_secret"),
        ({"api_secret": 12}, "api_secret"),
        ({"account_id": "a\x07"}, "account_id"),
        ({"environment": "mainnet"}, "environment"),
        ({"base_url": "https://evil.example"}, "base_url"),
        ({"kill": {"api_key": "k"}}, "kill.api_secret"),
        ({"kill": {"api_key": "k", "api_secret": "s", "extra": 1}}, "kill.extra"),
        ({"kill": "k"}, "kill"),
        ({"retiring": {}}, "retiring"),
    ],
)
def test_bad_fields_are_named_never_shown(fields: dict[str, Any], field: str):
    entry = {"account_id": "main", "api_key": "test-api-key", "api_secret": "test-api-secret", **fields}
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(CredentialsError) as info:
        bitmex.Account.from_mapping(entry, secret_name="s")
    assert info.value.field == field
    assert "test-api-secret" not in str(info.value) and "sec\x00ret" not in str(info.value)


def test_the_spec_is_true_to_the_venue():
    caps = bitmex.SPEC.capabilities
    assert caps.timer_kind is TimerKind.RELATIVE_MS and caps.can_disarm and caps.late_call_rearms
    assert caps.max_timeout_ms is None and caps.fixed_timeout_ms is None and caps.daily_trigger_budget is None
    plan = bitmex.DRIVER.doctor_plan(account(kill={"api_key": "k2", "api_secret": "s2"}))
    assert plan.clock.url == "https://www.bitmex.com/api/v1"
    assert [k.label for k in plan.keys] == ["refresher key", "kill key"] and not any(
        k.extends for k in plan.keys
    )
