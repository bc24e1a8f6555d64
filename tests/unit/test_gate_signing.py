"""Gate APIv4 signing vectors (Gate's published ones and computed ones), the exact requests the
client sends, error mapping, the timers' read-back and the secret's entry. Pure: no network (a
recording session stands in for the venue)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman.core.errors import CredentialsError
from deadman.core.venue import TimerKind
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import errors as E
from deadman.venues import gate
from deadman.venues.http import HttpResponse

# -- vectors ----------------------------------------------------------------------------------------
# Gate's own (key "key", secret "secret", Timestamp 1541993715), from its APIv4 page
# (#api-signature-string-generation): reproduced byte for byte.


def test_published_get_vector() -> None:
    query = "contract=BTC_USD&status=finished&limit=50"
    assert gate.sign("GET", "/api/v4/futures/orders", query, b"", "1541993715", "secret") == (
        "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6"
        "fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
    )


def test_published_post_vector() -> None:
    body = b'{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}'
    assert gate.sign("POST", "/api/v4/futures/orders", "", body, "1541993715", "secret") == (
        "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f"
        "c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
    )


def test_the_empty_body_hash_is_gates() -> None:
    assert gate.EMPTY_BODY_SHA512 == (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    )


# Computed (secret "secret", Timestamp 1767225600), each equal to ccxt 4.5.90's gate.sign() with
# nonce() fixed at 1767225600000: same SIGN, same body bytes, same URL (checked in the bench's own
# virtual environment; ccxt is never shipped).
CCXT_VECTORS = [
    (
        "POST",
        "/api/v4/futures/usdt/countdown_cancel_all",
        "",
        b'{"timeout":30}',
        "29e4a92e9fc685539aa5d745648c6bf8b575e364a468c2738ac041d4416760b8"
        "b6f3d61fa9834646f74b807adf1e39a3fc98cfd3c2b65c812c3a313bd0ec8caa",
    ),
    (
        "POST",
        "/api/v4/futures/usdt/countdown_cancel_all",
        "",
        b'{"timeout":30,"contract":"BTC_USDT"}',
        "98701b4b8dfd0f00af148029cf5a1e46113065ececee0c47df690c5952ca744a"
        "8806c0d1713237a571e0a48d80fe2d605dcaf96807d7bab8b93b25042bb7639c",
    ),
    (
        "POST",
        "/api/v4/spot/countdown_cancel_all",
        "",
        b'{"timeout":30}',
        "a6185c0044cf5e09414f731fab9f245b3d862231572a2ce5ea9b8432332735b4"
        "cbf9d63c674114af9b92ff4f79090ae937e960df235f42edbd5ee8762c2b7b1e",
    ),
    (
        "POST",
        "/api/v4/spot/countdown_cancel_all",
        "",
        b'{"timeout":0}',
        "287ebde05e6f42d25f41fc1f505d2124169f9625f4e245430d0d276556c6f9e5"
        "ab4b2942b64f333751f705a6ba1166f8051faedfac6b0d04b0e639625a1f9883",
    ),
]


@pytest.mark.parametrize(("method", "path", "query", "body", "expected"), CCXT_VECTORS)
def test_computed_vectors_equal_ccxt(method: str, path: str, query: str, body: bytes, expected: str) -> None:
    assert gate.sign(method, path, query, body, "1767225600", "secret") == expected


@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=st.sampled_from(["/api/v4/spot/orders", "/api/v4/futures/usdt/orders"]),
    query=st.text(max_size=30),
    body=st.binary(max_size=64),
    timestamp=st.integers(min_value=0, max_value=2**40).map(str),
)
def test_the_signature_is_the_hmac_of_the_five_lines(
    method: str, path: str, query: str, body: bytes, timestamp: str
) -> None:
    import hmac

    lines = f"{method}\n{path}\n{query}\n{hashlib.sha512(body).hexdigest()}\n{timestamp}"
    expected = hmac.new(b"secret", lines.encode(), hashlib.sha512).hexdigest()
    assert gate.sign(method.lower(), path, query, body, timestamp, "secret") == expected


@given(st.lists(st.tuples(st.sampled_from(["contract", "status", "x"]), st.text(max_size=12)), max_size=4))
def test_the_query_is_signed_decoded_and_sent_encoded(params: list[tuple[str, str]]) -> None:
    from urllib.parse import parse_qsl, unquote_plus

    sent, signed = gate.encode_query(params)
    assert signed == unquote_plus(sent)
    assert parse_qsl(sent, keep_blank_values=True) == params


# -- the requests the client sends ------------------------------------------------------------------


class Recorder:
    """A session answering from a script, recording every request."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, bytes | None, dict[str, str]]] = []

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def request(
        self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], timeout: Any
    ) -> Any:
        self.sent.append((method, url, data, headers))
        status, payload = self.answers.pop(0)

        class A:
            status_code = status
            text = payload if isinstance(payload, str) else json.dumps(payload)

        return A()

    def close(self) -> None:
        pass


ENTRY = {
    "account_id": "main",
    "api_key": "k" * 32,
    "api_secret": "s" * 64,
    "markets": ["spot", "futures:usdt"],
}
NOW = 1_767_225_600_000


def client(
    answers: list[tuple[int, Any]], entry: dict[str, Any] | None = None
) -> tuple[gate.Client, Recorder]:
    session = Recorder(answers)
    account = gate.Account.from_mapping(entry or ENTRY, secret_name="t")
    return gate.Client(account, nonces=MemoryNonceSource(), clock=lambda: NOW, session=session), session


def test_extend_sets_every_market_and_signs_what_it_sends() -> None:
    c, s = client([(200, {"triggerTime": str(NOW + 30_000)}), (200, {"triggerTime": NOW + 30_000})])
    out = c.extend(NOW + 31_500)  # aimed a second early, whole seconds down
    assert out.venue_deadline_ms == NOW + 30_000 and out.requested_deadline_ms == NOW + 31_500
    assert [(m, u) for m, u, _, _ in s.sent] == [
        ("POST", "https://api.gateio.ws/api/v4/spot/countdown_cancel_all"),
        ("POST", "https://api.gateio.ws/api/v4/futures/usdt/countdown_cancel_all"),
    ]
    for _, url, body, headers in s.sent:
        assert body == b'{"timeout":30}' and headers["Timestamp"] == "1767225600"
        path = url.removeprefix("https://api.gateio.ws")
        assert headers["SIGN"] == gate.sign("POST", path, "", body, "1767225600", "s" * 64)
        assert headers["KEY"] == "k" * 32


def test_one_market_failing_is_the_account_not_extended() -> None:
    c, _ = client(
        [(200, {"triggerTime": str(NOW + 30_000)}), (429, {"label": "TOO_MANY_REQUESTS", "message": ""})]
    )
    with pytest.raises(E.RateLimitError):
        c.extend(NOW + 30_000)


@pytest.mark.parametrize(
    "answer", [{}, {"triggerTime": None}, {"triggerTime": "soon"}, [], {"triggerTime": True}]
)
def test_an_unreadable_trigger_is_no_extension(answer: Any) -> None:
    c, _ = client([(200, answer)], {**ENTRY, "markets": ["spot"]})
    with pytest.raises(E.TransientError):
        c.extend(NOW + 30_000)


@pytest.mark.parametrize("trigger", [NOW + 30_000 - 62_000, NOW + 30_000 + 62_000, 0])
def test_a_trigger_that_is_not_this_requests_is_not_counted(trigger: int) -> None:
    c, _ = client([(200, {"triggerTime": trigger})], {**ENTRY, "markets": ["spot"]})
    with pytest.raises(E.TransientError, match="does not fit"):
        c.extend(NOW + 30_000)


def test_a_deadline_under_five_seconds_is_not_sent() -> None:
    c, s = client([], {**ENTRY, "markets": ["spot"]})
    with pytest.raises(E.StaleDecisionError):
        c.extend(NOW + 5_999)
    assert s.sent == []


def test_the_transit_seen_aims_the_next_timeout_earlier() -> None:
    answers: list[tuple[int, Any]] = [
        (200, {"triggerTime": NOW + 2_000 + 30_000}),
        (200, {"triggerTime": NOW + 29_000}),
    ]
    c, s = client(answers, {**ENTRY, "markets": ["spot"]})
    c.extend(NOW + 31_000)  # arrived 2 s after it left (aimed a second early)
    c.extend(NOW + 31_000)
    assert json.loads(s.sent[1][2] or b"")["timeout"] == 28


def test_disarm_sends_zero_to_every_timer_named() -> None:
    entry = {**ENTRY, "pairs": {"futures:usdt": ["BTC_USDT", "ETH_USDT"]}}
    c, s = client([(200, {"triggerTime": "0"})] * 3, entry)
    c.disarm()
    assert [d for _, _, d, _ in s.sent] == [
        b'{"timeout":0}',
        b'{"timeout":0,"contract":"BTC_USDT"}',
        b'{"timeout":0,"contract":"ETH_USDT"}',
    ]


def test_the_sweep_lists_futures_and_cancels_per_contract_and_spot_whole() -> None:
    listed = [{"id": 1, "contract": "BTC_USDT", "size": 1}, {"id": 2, "contract": "SOL_USDT", "size": -2}]
    c, s = client(
        [
            (200, [{"id": "7", "succeeded": True}, {"id": "8", "succeeded": False, "label": "ORDER_CLOSED"}]),
            (200, []),
            (200, listed),
            (200, [{"id": 1}]),
            (200, [{"id": 2}]),
            (200, []),
        ]
    )
    out = c.sweep()
    assert out.cancelled_ids == ("7", "1", "2") and out.complete
    assert [(m, u.removeprefix("https://api.gateio.ws/api/v4")) for m, u, _, _ in s.sent] == [
        ("DELETE", "/spot/orders"),
        ("DELETE", "/spot/price_orders"),
        ("GET", "/futures/usdt/orders?status=open&limit=100&offset=0"),
        ("DELETE", "/futures/usdt/orders?contract=BTC_USDT"),
        ("DELETE", "/futures/usdt/orders?contract=SOL_USDT"),
        ("DELETE", "/futures/usdt/price_orders"),
    ]


def test_a_partial_sweep_failure_sweeps_the_rest_then_raises() -> None:
    c, s = client(
        [
            (502, "<html>bad gateway</html>"),
            (200, []),
            (200, [{"id": 1, "contract": "BTC_USDT", "size": 1}]),
            (200, [{"id": 1}]),
            (200, []),
        ]
    )
    with pytest.raises(E.TransientError):
        c.sweep()
    assert len(s.sent) == 5  # the futures market was swept all the same


def test_a_refused_spot_cancel_is_a_failed_order() -> None:
    c, _ = client(
        [
            (200, [{"id": "9", "succeeded": False, "label": "INVALID_PARAM_VALUE", "message": "no"}]),
            (200, []),
        ],
        {**ENTRY, "markets": ["spot"]},
    )
    out = c.sweep()
    assert [f.order_id for f in out.failed] == ["9"] and not out.complete


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "label", "kind"),
    [
        (401, "INVALID_SIGNATURE", E.AuthError),
        (401, "INVALID_KEY", E.AuthError),
        (401, "IP_FORBIDDEN", E.AuthError),
        (403, "READ_ONLY", E.MissingPermissionError),
        (403, "FORBIDDEN", E.MissingPermissionError),
        (429, "TOO_MANY_REQUESTS", E.RateLimitError),
        (503, "SERVER_ERROR", E.UnavailableError),
        (500, "INTERNAL", E.TransientError),
        (400, "REQUEST_EXPIRED", E.NonceError),
        (400, "INVALID_PARAM_VALUE", E.RejectedError),
        (400, "CONTRACT_NOT_FOUND", E.RejectedError),
        (400, "USER_NOT_FOUND", E.RejectedError),
    ],
)
def test_labels_map_to_the_taxonomy(status: int, label: str, kind: type[E.VenueError]) -> None:
    resp = HttpResponse(status, json.dumps({"label": label, "message": "m"}))
    with pytest.raises(kind) as got:
        gate.parse_response(resp, "/p")
    assert type(got.value) is kind and got.value.code == label


@pytest.mark.parametrize("text", ["", "<html>", "{", "null"])
def test_an_unreadable_200_is_an_unknown_outcome(text: str) -> None:
    with pytest.raises(E.TransientError):
        gate.parse_response(HttpResponse(200, text), "/p")


# -- the secret's entry -----------------------------------------------------------------------------


def test_the_spec() -> None:
    caps = gate.SPEC.capabilities
    assert caps.timer_kind is TimerKind.RELATIVE_SECONDS and caps.can_disarm and caps.min_lead_ms == 5_000
    assert caps.max_timeout_ms is None and caps.fixed_timeout_ms is None and caps.sweep_lists_first


def test_an_account_names_its_timers() -> None:
    a = gate.Account.from_mapping({**ENTRY, "pairs": {"spot": ["BTC_USDT"]}}, secret_name="t")
    assert a.timer_scopes == (("spot", "BTC_USDT"), ("futures:usdt", None))
    kill = gate.Account.from_mapping({**ENTRY, "kill": {"api_key": "q", "api_secret": "w"}}, secret_name="t")
    assert kill.has_kill_key and kill.for_kill().api_key == "q" and kill.for_kill().kill is None
    assert kill.for_retiring() is None and "s" * 64 not in repr(kill)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"api_key": None}, "api_key"),
        ({"api_secret": "abc\n"}, "api_secret"),
        ({"api_secret": "a\x00b"}, "api_secret"),
        ({"api_key": "a b"}, "api_key"),
        ({"account_id": "x\x07"}, "account_id"),
        ({"markets": None}, "markets"),
        ({"markets": []}, "markets"),
        ({"markets": ["futures:eth"]}, "markets"),
        ({"markets": ["spot", "spot"]}, "markets"),
        ({"pairs": {"futures:btc": ["BTC_USD"]}}, "pairs.futures:btc"),
        ({"pairs": {"spot": ["btc-usdt"]}}, "pairs.spot"),
        ({"pairs": {"spot": []}}, "pairs.spot"),
        ({"unified": "yes"}, "unified"),
        ({"kill": {"api_key": "q"}}, "kill.api_secret"),
        ({"kill": {"api_key": "q", "api_secret": "w", "x": 1}}, "kill.x"),
        ({"base_url": "https://evil.example"}, "base_url"),
        ({"base_url": "https://fx-api.gateio.ws"}, "base_url"),
        ({"killl": {}}, "killl"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(CredentialsError) as got:
        gate.Account.from_mapping({**ENTRY, **change}, secret_name="t")
    assert field in str(got.value)
    assert "s" * 64 not in str(got.value)
