"""The control API's requests: their models, the caller's identity, and how a body is parsed.

Shared by the three API functions; each serves only its own routes (`build_app(control, routes)`):
kill -> POST /kill; disarm -> POST /disarm and POST /arm; status -> GET /status.

API Gateway already validates bodies against the template's models (KillRequest, DisarmRequest,
ArmRequest); the function validates again with the same rules (strictly: no type coercion), so that
the sandbox's local API and a direct invoke behave the same, so that the deployment-specific bound
(the stack parameter MaxDisarmSeconds) is enforced, and so that a reason is plain text (no control
characters, not only whitespace: checks JSON Schema cannot express for API Gateway).
docs/openapi.yaml is `openapi_document()` written out; a test keeps the two and the template's
models in step.

Status codes: 200 done; 207 done in the ControlTable but some venue action failed (the body says
which, per switch); 400 invalid request, nothing changed; 403 (API Gateway) not allowed; 404 no such
route; 409 refused by the switches' state (disarm of a killed switch): nothing changed, the refusal
audited on each switch it names; 500 a bug or an AWS failure: the outcome is unknown, read GET /status.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from deadman.app.control import Caller
from deadman.core.plans import MAX_PLANS
from deadman.core.starts import implausible_start_problem
from deadman.core.text import has_visible, printable, text_problem
from deadman.venues import VENUES

MAX_BODY_BYTES = 16 * 1024
# The schema's bound: the longest off period the template allows. The stack's own MaxDisarmSeconds
# (a disarm) and MaxOffSeconds (an off period) are enforced by the function.
MAX_DISARM_SCHEMA_S = 7 * 86_400
# Time kept back from the Lambda's remaining time for writing the answer.
REPLY_MARGIN_MS = 3_000
UNKNOWN_CALLER = "unknown"
_MAX_ERRORS_SHOWN = 5


M = TypeVar("M", bound=BaseModel)


def _known_venue(value: str) -> str:
    if value not in VENUES:
        raise ValueError(f"unknown venue {value!r}; known: {', '.join(VENUES)}")
    return value


# Every registered venue (deadman.venues.REGISTRY), in the schema as an enum.
VenueName = Annotated[str, Field(json_schema_extra={"enum": list(VENUES)}), AfterValidator(_known_venue)]


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("items must be distinct")
    return values


REPLACEMENT_CHARACTER = "\ufffd"


def _plain_text(value: str) -> str:
    # Lone surrogates never get here: pydantic refuses them as string_unicode (see _explain).
    position = value.find(REPLACEMENT_CHARACTER)
    if position >= 0:
        # API Gateway (and the sandbox) pass a body that is not UTF-8 on as text, U+FFFD in place of the
        # bad bytes: the only trace of invalid UTF-8 that reaches the function.
        raise ValueError(
            f"contains U+FFFD at position {position}, the mark of bytes that were not valid UTF-8: "
            "send the text UTF-8 encoded"
        )
    # A reason is printed to other operators (`deadman status`), into alerts and logs: control,
    # bidi and format characters would rearrange or hide what they read (deadman.core.text).
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _has_visible(value: str) -> str:
    if not has_visible(value):
        raise ValueError("must say why: it is empty, or only whitespace and characters that print as nothing")
    return value


def _plausible_start(value: int) -> int:
    # The model has no clock: the use case refuses any start in the past; this catches, with a
    # clearer message, what needs none (seconds sent for milliseconds, 0).
    problem = implausible_start_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(_plain_text),
    AfterValidator(_has_visible),
]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_plain_text)]


_UNIQUE = {"uniqueItems": True}
Venues = Annotated[list[VenueName], Field(min_length=1, json_schema_extra=_UNIQUE), AfterValidator(_distinct)]
StartsAtMs = Annotated[int, Field(ge=0), AfterValidator(_plausible_start)]
PlanId = Annotated[str, StringConstraints(pattern=r"^p-[0-9a-f]{8}$")]
PlanRef = Annotated[str, StringConstraints(pattern=r"^(p-[0-9a-f]{8}|all)$")]
PlanIds = Annotated[
    list[PlanRef],
    Field(min_length=1, max_length=MAX_PLANS, json_schema_extra=_UNIQUE),
    AfterValidator(_distinct),
]
Accounts = Annotated[
    list[AccountId], Field(min_length=1, json_schema_extra=_UNIQUE), AfterValidator(_distinct)
]


class _Request(BaseModel):
    # strict: "1800" is not 1800 and true is not 1; extra="forbid": a misspelt field is an error,
    # never silently ignored (a kill with "venue": [...] must not kill every venue).
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason = Field(
        description=(
            "Why: lands in the audit log of every targeted switch. One line of plain text with at least "
            "one visible character (whitespace, combining marks, blank letters such as U+3164 or U+2800 "
            "and private-use characters do not count): control characters (C0, DEL, C1), bidirectional "
            "overrides and marks, format characters other than the zero-width joiners (U+200C, U+200D), "
            "line separators, lone surrogates and U+FFFD (left by invalid UTF-8) are refused."
        )
    )
    venues: Venues | SkipJsonSchema[None] = Field(
        default=None, description="Venues to act on; absent = every venue enabled in this deployment."
    )
    accounts: Accounts | SkipJsonSchema[None] = Field(
        default=None,
        description="Account ids (as in the venue secrets), matched on every targeted venue; absent = all.",
    )

    @field_validator("venues", "accounts", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        # Absent means "all"; an explicit null is refused, as API Gateway's schema refuses it.
        if value is None:
            raise ValueError("must be a non-empty list; omit the field to mean all")
        return value


class KillRequest(_Request):
    """Latch the targeted switches to killed and cancel every resting order now."""

    model_config = ConfigDict(title="KillRequest")


class DisarmRequest(_Request):
    """Switch the targeted switches off for a bounded time; they re-arm by themselves."""

    model_config = ConfigDict(title="DisarmRequest")

    for_seconds: Annotated[int, Field(ge=1, le=MAX_DISARM_SCHEMA_S)] = Field(
        description=(
            "How long; at most the stack parameter MaxDisarmSeconds, or MaxOffSeconds for an off period "
            "(the schema allows up to 604800)."
        )
    )
    off: StrictBool = Field(
        default=False,
        description=(
            "An off period: the trading system is away on purpose (a weekend, a night). It may outlast "
            "MaxDisarmSeconds, up to MaxOffSeconds, and the trader's death is not alarmed while every "
            "switch it gates is off. Audited as action 'off'."
        ),
    )
    timer_off: StrictBool = Field(
        default=False,
        description=(
            "Switch the venue timers off instead of deferring them to fire S + T + G after the end "
            "(the default, which protects the book should the fleet be gone when the disarm ends). For "
            "Kraken's announced maintenance, when an armed timer cancels every order as the engine "
            "returns. After the end only the watchdog protects the book until the next tick extends."
        ),
    )
    starts_at_ms: StartsAtMs | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "A planned window (announced venue maintenance): epoch milliseconds when the disarm starts, "
            "at most 7 days ahead. Absent, or up to 60 s in the past (transit): now. Further in the past: "
            "refused (400). The switches stay armed until then. A switch keeps several plans; one that "
            "would overlap another is refused (409) unless it names the plan it `replaces`."
        ),
    )
    replaces: PlanId | SkipJsonSchema[None] = Field(
        default=None,
        description="With starts_at_ms: the planned window (its id in GET /status) this plan takes the "
        "place of on every targeted switch; audited and notified.",
    )


class ArmRequest(_Request):
    """Back to armed (from disarmed or killed); the next tick extends only if the trader is alive."""

    model_config = ConfigDict(title="ArmRequest")

    cancel_plans: PlanIds | SkipJsonSchema[None] = Field(
        default=None,
        description='Planned windows to cancel, by id (GET /status lists them) or ["all"]; audited and '
        "notified. Absent: plans ahead are kept (one already due ends). An unknown id: 207, armed anyway.",
    )


class ErrorResponse(BaseModel):
    """Same shape as API Gateway's own 400/403 answers (template GatewayResponses)."""

    model_config = ConfigDict(extra="forbid", title="ErrorResponse")

    error: Literal["invalid_request", "access_denied", "conflict", "not_found", "internal_error"]
    message: str
    request_id: str | None = None
    switches: list[str] | None = None


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, switches: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.switches = switches


# -- the request ------------------------------------------------------------------------------------


def caller_of(event: dict[str, Any]) -> Caller:
    """The IAM identity API Gateway authenticated (SigV4), from the REST proxy request context."""
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    who = identity.get("userArn") or identity.get("caller") or identity.get("user") or UNKNOWN_CALLER
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    return Caller(
        identity=str(who),
        source_ip=identity.get("sourceIp"),
        user_agent=identity.get("userAgent") or headers.get("user-agent"),
        request_id=context.get("requestId"),
    )


def parse_body(event: dict[str, Any], model: type[M]) -> M:
    """The body as `model`, or ApiError(400) saying exactly what is wrong."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise ApiError(400, "invalid_request", "a JSON object body is required")
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_request", "the body must be text")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid_request", "the body is flagged base64 but is not") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(
            400, "invalid_request", f"the body is {len(data)} bytes; at most {MAX_BODY_BYTES} are accepted"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "invalid_request",
            f"the body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8",
        ) from None
    try:
        parsed = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_object_once)
    except _DuplicateKey as exc:
        raise ApiError(
            400,
            "invalid_request",
            f"the body gives {printable(exc.key)[:60]!r} more than once: each field once (which was meant?)",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_request", f"the body is not valid JSON ({_short(exc)})") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", _explain(exc)) from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys: {"venues": ["kraken"], "venues": ["gemini"]} would
    # kill Gemini while a reader of the body (a log, a reviewer) sees Kraken first. Refused, at any depth.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:200]


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        kind = error.get("type", "")
        if kind == "none_required":
            continue  # the `| None` branch of an optional list: null is refused elsewhere
        where = _loc(error.get("loc", ()))
        if kind == "missing":
            problems.append(f"missing required field '{where}'")
        elif kind == "extra_forbidden":
            problems.append(f"unknown field '{where}'")
        elif kind == "string_unicode":
            # A JSON escape of half a surrogate pair: what invalid UTF-8 turns into on some clients.
            problems.append(
                f"{where}: not valid Unicode text (a lone surrogate): send the text UTF-8 encoded"
            )
        else:
            message = str(error.get("msg", "invalid"))
            # Our own validators' messages are sentences already; pydantic prefixes them.
            message = message.removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
    shown = problems[:_MAX_ERRORS_SHOWN]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, str) and part.startswith(("function-", "list[", "literal[")):
            continue  # pydantic's names for union branches and validators, not the caller's fields
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text[:150] or "body"
