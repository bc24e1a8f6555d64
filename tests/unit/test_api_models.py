"""The API edge without AWS: request models, body parsing, the caller's identity, and the routes of
each function (with the events/*.json samples) in front of a recording stand-in for the use cases."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from deadman.app.control import Caller, ConflictError, RequestError
from deadman.app.control.results import ArmResult, KillResult
from deadman.edges.api.models import (
    MAX_BODY_BYTES,
    ApiError,
    ArmRequest,
    DisarmRequest,
    KillRequest,
    caller_of,
    parse_body,
)
from deadman.edges.api.routes import DISARM_ROUTES, KILL_ROUTES, STATUS_ROUTES, build_app
from deadman.venues import VENUES

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALICE = "arn:aws:sts::123456789012:assumed-role/deadman-oncall/alice"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def with_body(body: Any, name: str = "kill.json") -> dict[str, Any]:
    event = sample(name)
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    return event


# -- models ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "r"},
        {"reason": "r", "venues": ["kraken"]},
        {"reason": "r", "venues": ["gemini", "kraken", "hyperliquid"], "accounts": ["main", "mm-2"]},
        {"reason": "x" * 500, "accounts": ["a" * 128]},
        {"reason": " incident 42: trader runaway ☃ é 日本 "},
        {"reason": "emoji with joiners 👩\u200d💻"},
    ],
)
def test_valid_kill_and_arm_bodies(body: dict[str, Any]) -> None:
    for model in (KillRequest, ArmRequest):
        parsed = model.model_validate(body)
        assert parsed.reason == body["reason"]
        assert parsed.venues == body.get("venues")
        assert parsed.accounts == body.get("accounts")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({}, "missing"),
        ({"reason": ""}, "string_too_short"),
        ({"reason": "x" * 501}, "string_too_long"),
        ({"reason": 1}, "string_type"),
        ({"reason": "r", "venues": "kraken"}, "list_type"),
        ({"reason": "r", "venues": ["bitstamp"]}, "value_error"),
        ({"reason": "r", "venues": ["Kraken"]}, "value_error"),
        ({"reason": "r", "venues": []}, "too_short"),
        ({"reason": "r", "venues": None}, "value_error"),
        ({"reason": "r", "venues": ["kraken", "kraken"]}, "value_error"),
        ({"reason": "r", "accounts": [""]}, "string_too_short"),
        ({"reason": "r", "accounts": ["a" * 129]}, "string_too_long"),
        ({"reason": "r", "accounts": ["a", "a"]}, "value_error"),
        ({"reason": "r", "accounts": [1]}, "string_type"),
        ({"reason": "r", "venue": ["kraken"]}, "extra_forbidden"),
        ({"reason": "r", "for_seconds": 60}, "extra_forbidden"),  # not a kill field
        # A reason is one line of plain text saying something (it is printed to other operators).
        ({"reason": " "}, "value_error"),
        ({"reason": " \u00a0\u3000 "}, "value_error"),  # Unicode spaces
        ({"reason": "\u200b"}, "value_error"),  # zero-width space: prints as nothing
        ({"reason": "ok \x1b[2J"}, "value_error"),  # ESC: terminal escape sequences
        ({"reason": "ok\x00"}, "value_error"),  # NUL
        ({"reason": "ok\x07"}, "value_error"),  # BEL
        ({"reason": "ok\x7f"}, "value_error"),  # DEL
        ({"reason": "ok\x9b31m"}, "value_error"),  # C1 CSI
        ({"reason": "line\nbreak"}, "value_error"),
        ({"reason": "tab\there"}, "value_error"),
        ({"reason": "ok \u202eevil"}, "value_error"),  # bidi override
        ({"reason": "ok\u2028next"}, "value_error"),  # line separator
        ({"reason": "bad \ufffd bytes"}, "value_error"),  # what invalid UTF-8 becomes
        ({"reason": "half \ud800 pair"}, "string_unicode"),  # a lone surrogate
        ({"reason": "r", "accounts": ["main\x1b"]}, "value_error"),
    ],
)
def test_invalid_kill_bodies(body: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError) as info:
        KillRequest.model_validate(body)
    assert why in {e["type"] for e in info.value.errors()}


@pytest.mark.parametrize(
    ("for_seconds", "ok"),
    [
        (1, True),
        (86_400, True),
        (604_800, True),  # the schema's bound: the longest off period the template allows
        (0, False),
        (-5, False),
        (604_801, False),
        ("60", False),
        (60.0, False),
        (True, False),
    ],
)
def test_disarm_for_seconds_is_a_strict_bounded_integer(for_seconds: Any, ok: bool) -> None:
    body = {"reason": "r", "for_seconds": for_seconds}
    if ok:
        assert DisarmRequest.model_validate(body).for_seconds == for_seconds
    else:
        with pytest.raises(ValidationError):
            DisarmRequest.model_validate(body)
    with pytest.raises(ValidationError):
        DisarmRequest.model_validate({"reason": "r"})


# -- parsing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "a JSON object body is required"),
        ("", "a JSON object body is required"),
        ("{", "not valid JSON"),
        ('{"reason": NaN}', "not valid JSON"),
        ('{"reason": Infinity}', "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ('{"reason": "r", "venue": ["kraken"]}', "unknown field 'venue'"),
        ('{"venues": ["kraken"]}', "missing required field 'reason'"),
        (
            '{"reason": "r", "venues": ["bitstamp"]}',
            f"venues[0]: unknown venue 'bitstamp'; known: {', '.join(VENUES)}",
        ),
        (json.dumps({"reason": "r" * (MAX_BODY_BYTES + 1)}), f"at most {MAX_BODY_BYTES} are accepted"),
    ],
)
def test_parse_body_refuses_with_a_clear_message(body: str | None, message: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_body(with_body(body), KillRequest)
    assert info.value.status == 400
    assert message in info.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"reason": "   "}', "reason: must say why: it is empty, or only whitespace"),
        ('{"reason": "\u3164\u2800 \u0301"}', "reason: must say why: it is empty, or only whitespace"),
        ('{"reason": "\ue000\ufe0f"}', "reason: must say why"),
        ('{"reason": "x\u200e"}', "reason: contains an invisible format character (U+200E) at position 1"),
        ('{"reason": "ok \\udb40\\udc41"}', "reason: contains an invisible format character (U+E0041) at"),
        ('{"reason": "\\t\\n"}', "reason: contains a control character (U+0009) at position 0"),
        ('{"reason": "ok \\u001b[2J"}', "reason: contains a control character (U+001B) at position 3"),
        ('{"reason": "ok\\u0000"}', "reason: contains a control character (U+0000) at position 2"),
        ('{"reason": "x\\u202e"}', "reason: contains a control character (U+202E) at position 1"),
        (
            '{"reason": "bad \ufffd"}',
            "reason: contains U+FFFD at position 4, the mark of bytes that were not",
        ),
        ('{"reason": "half \\ud800 pair"}', "reason: not valid Unicode text (a lone surrogate)"),
    ],
)
def test_bad_reasons_are_refused_with_a_clear_message(body: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_body(with_body(body), KillRequest)
    assert info.value.status == 400
    assert message in info.value.message, info.value.message
    assert "Value error" not in info.value.message  # pydantic's prefix is noise to an operator


@pytest.mark.parametrize(
    "body",
    [
        '{"reason": "r", "venues": ["kraken"], "venues": ["gemini"]}',
        '{"reason": "a", "reason": "b"}',
        '{"reason": "r", "x": {"k": 1, "k": 2}}',
    ],
)
def test_a_key_given_twice_is_refused_not_the_last_one_kept(body: str) -> None:
    """{"venues":["kraken"],"venues":["gemini"]} used to kill Gemini."""
    for model in (KillRequest, ArmRequest, DisarmRequest):
        with pytest.raises(ApiError) as info:
            parse_body(with_body(body), model)
        assert info.value.status == 400
        assert "more than once" in info.value.message, info.value.message


def test_a_duplicate_key_is_a_400_from_the_kill_route_and_never_reaches_the_use_case() -> None:
    control = RecordingControl()
    event = with_body('{"reason": "r", "venues": ["kraken"], "venues": ["gemini"]}')
    status, body = resolve(KILL_ROUTES, event, control)
    assert status == 400 and "'venues' more than once" in body["message"]
    assert control.calls == []


@pytest.mark.parametrize(
    ("data", "where"),
    [(b'{"reason": "bad \xff\xfe bytes"}', 16), (b'{"reason": "cut \xe2\x82"}', 16)],
)
def test_a_body_that_is_not_utf8_is_refused_saying_so(data: bytes, where: int) -> None:
    event = with_body(base64.b64encode(data).decode())
    event["isBase64Encoded"] = True
    with pytest.raises(ApiError) as info:
        parse_body(event, KillRequest)
    assert info.value.status == 400
    assert info.value.message == f"the body is not valid UTF-8 (byte {where}): send JSON encoded as UTF-8"


def test_a_text_body_with_a_raw_lone_surrogate_is_refused_as_not_utf8() -> None:
    # What a client's invalid UTF-8 looks like once decoded with surrogateescape.
    with pytest.raises(ApiError) as info:
        parse_body(with_body('{"reason": "bad \udcff byte"}'), KillRequest)
    assert info.value.status == 400 and "not valid UTF-8" in info.value.message


def test_parse_body_caps_the_number_of_reported_problems() -> None:
    body = {"reason": "r", "venues": [f"v{i}" for i in range(40)]}
    with pytest.raises(ApiError) as info:
        parse_body(with_body(body), KillRequest)
    assert info.value.message.endswith("and 35 more")


def test_parse_body_reads_base64_bodies() -> None:
    event = with_body(base64.b64encode(b'{"reason": "r"}').decode())
    event["isBase64Encoded"] = True
    assert parse_body(event, KillRequest).reason == "r"
    event["body"] = "***"
    with pytest.raises(ApiError):
        parse_body(event, KillRequest)


def test_caller_is_the_iam_identity_with_fallbacks() -> None:
    event = sample("kill.json")
    caller = caller_of(event)
    assert caller == Caller(
        identity=ALICE,
        source_ip="203.0.113.10",
        user_agent="deadman-cli/0.1.0",
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbe00",
    )
    event["requestContext"]["identity"]["userArn"] = None
    assert caller_of(event).identity == "AROAEXAMPLEROLEID01:alice"  # caller
    event["requestContext"]["identity"]["caller"] = None
    event["requestContext"]["identity"]["user"] = "AIDAUSER"
    assert caller_of(event).identity == "AIDAUSER"
    assert caller_of({}).identity == "unknown"


# -- routes -------------------------------------------------------------------------------------------------


class Context:
    function_name = "deadman-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:deadman-test"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class RecordingControl:
    """Stands in for deadman.app.control.Control: records what the routes asked for."""

    def __init__(self, *, kill_ok: bool = True) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.kill_ok = kill_ok

    def kill(self, **kwargs: Any) -> KillResult:
        self.calls.append(("kill", kwargs))
        return KillResult(
            ok=self.kill_ok,
            at_ms=1,
            elapsed_ms=2,
            actor=kwargs["caller"].identity,
            reason=kwargs["reason"],
            switches=[],
            venue_problems=[],
            failed=[] if self.kill_ok else ["kraken/main"],
            message="m",
        )

    def disarm(self, **kwargs: Any) -> Any:
        self.calls.append(("disarm", kwargs))
        if kwargs["for_seconds"] > 3600:
            raise RequestError("for_seconds must be between 1 and 3600")
        raise ConflictError("kraken/main is killed", ["kraken/main"])

    def arm(self, **kwargs: Any) -> ArmResult:
        self.calls.append(("arm", kwargs))
        return ArmResult(ok=True, at_ms=1, actor="a", reason="r", switches=[], venue_problems=[], message="m")

    def status(self) -> Any:
        self.calls.append(("status", {}))
        raise RuntimeError("DynamoDB is down")


def resolve(
    routes: tuple[str, ...], event: dict[str, Any], control: Any, remaining_ms: int = 30_000
) -> tuple[int, Any]:
    app = build_app(control, routes)
    result = app.resolve(event, Context(remaining_ms))
    assert result["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert result["multiValueHeaders"]["Cache-Control"] == ["no-store"]
    return result["statusCode"], json.loads(result["body"])


def test_kill_route_passes_body_caller_and_budget() -> None:
    control = RecordingControl()
    status, body = resolve(KILL_ROUTES, sample("kill-one-venue.json"), control, remaining_ms=20_000)
    assert status == 200 and body["actor"] == ALICE
    [(name, kwargs)] = control.calls
    assert name == "kill"
    assert kwargs["reason"] == "kraken position limit breached"
    assert kwargs["venues"] == ["kraken"] and kwargs["accounts"] is None
    assert kwargs["caller"].source_ip == "203.0.113.10"
    assert kwargs["budget_ms"] == 17_000  # the Lambda's remaining time minus the reply margin


def test_kill_partial_failure_is_207() -> None:
    status, body = resolve(KILL_ROUTES, sample("kill.json"), RecordingControl(kill_ok=False))
    assert status == 207 and body["failed"] == ["kraken/main"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("kill-unknown-venue.json", "venues[0]"),
        ("kill-unknown-field.json", "unknown field 'venue'"),
    ],
)
def test_invalid_kill_samples_never_reach_the_use_case(name: str, message: str) -> None:
    control = RecordingControl()
    status, body = resolve(KILL_ROUTES, sample(name), control)
    assert status == 400 and body["error"] == "invalid_request" and message in body["message"]
    assert body["request_id"].startswith("c6af9ac6-")
    assert control.calls == []


def test_disarm_routes_map_refusals_to_400_and_409() -> None:
    control = RecordingControl()
    status, body = resolve(DISARM_ROUTES, sample("disarm-missing-for.json"), control)
    assert status == 400 and "for_seconds" in body["message"] and control.calls == []

    status, body = resolve(DISARM_ROUTES, sample("disarm.json"), control)
    assert status == 409 and body == {
        "error": "conflict",
        "message": "kraken/main is killed",
        "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbe02",
        "switches": ["kraken/main"],
    }
    status, body = resolve(
        DISARM_ROUTES, with_body({"reason": "r", "for_seconds": 7200}, "disarm.json"), control
    )
    assert status == 400 and "between 1 and 3600" in body["message"]

    status, body = resolve(
        DISARM_ROUTES, with_body({"reason": " ", "for_seconds": 60}, "disarm.json"), control
    )
    assert status == 400 and body["error"] == "invalid_request" and "only whitespace" in body["message"]
    assert len(control.calls) == 2  # the refusal never reached the use case

    status, body = resolve(DISARM_ROUTES, sample("arm.json"), control)
    assert status == 200 and body["action"] == "arm"
    assert control.calls[-1][1]["reason"] == "restart done, trader beating again"


def test_status_route_failure_is_500_saying_the_outcome_is_unknown() -> None:
    status, body = resolve(STATUS_ROUTES, sample("status.json"), RecordingControl())
    assert status == 500 and body["error"] == "internal_error"
    assert "RuntimeError" in body["message"] and "GET /status" in body["message"]
    assert "DynamoDB is down" not in body["message"]  # no internals leak


def test_each_function_serves_only_its_routes() -> None:
    control = RecordingControl()
    assert resolve(KILL_ROUTES, sample("status.json"), control)[0] == 404
    assert resolve(STATUS_ROUTES, sample("kill.json"), control)[0] == 404
    assert resolve(DISARM_ROUTES, sample("kill.json"), control)[0] == 404
    wrong_method = sample("kill.json")
    wrong_method["httpMethod"] = "GET"
    assert resolve(KILL_ROUTES, wrong_method, control)[0] == 404
    assert control.calls == []
    with pytest.raises(ValueError):
        build_app(control, ("kill", "reboot"))  # type: ignore[arg-type]
