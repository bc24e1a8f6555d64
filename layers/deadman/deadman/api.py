"""The control API's edge: request models, the caller's identity, and the Powertools REST routes.

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
route; 409 refused by the switches' state (disarm of a killed switch), nothing changed; 500 a bug
or an AWS failure: the outcome is unknown, read GET /status.
"""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from deadman.control import KILL_BUDGET_MS, Caller, ConflictError, Control, RequestError
from deadman.control_results import ArmResult, DisarmResult, KillResult, StatusResult
from deadman.venues import VENUES

MAX_BODY_BYTES = 16 * 1024
MAX_DISARM_SCHEMA_S = 86_400  # the schema's bound; the stack's MaxDisarmSeconds is enforced too
# Time kept back from the Lambda's remaining time for writing the answer.
REPLY_MARGIN_MS = 3_000
UNKNOWN_CALLER = "unknown"
_MAX_ERRORS_SHOWN = 5

KILL_ROUTES = ("kill",)
DISARM_ROUTES = ("disarm", "arm")
STATUS_ROUTES = ("status",)

M = TypeVar("M", bound=BaseModel)
VenueName = Literal["gemini", "kraken", "hyperliquid"]
if set(get_args(VenueName)) != set(VENUES):
    raise ImportError("deadman.api's VenueName is out of step with deadman.venues.VENUES")


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("items must be distinct")
    return values


# Characters that rearrange or hide what a terminal shows: a reason is printed to other operators
# (`deadman status`) and into logs, so it must be plain text. Bidi overrides and isolates reorder
# the rest of the line; U+2028/9 break it like a newline.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\u2028\u2029")
REPLACEMENT_CHARACTER = "\ufffd"


def _plain_text(value: str) -> str:
    for position, char in enumerate(value):
        # Lone surrogates never get here: pydantic refuses them as string_unicode (see _explain).
        if char == REPLACEMENT_CHARACTER:
            # API Gateway (and the sandbox) pass a body that is not UTF-8 on as text, U+FFFD in place of the
            # bad bytes: the only trace of invalid UTF-8 that reaches the function.
            raise ValueError(
                f"contains U+FFFD at position {position}, the mark of bytes that were not valid UTF-8: "
                "send the text UTF-8 encoded"
            )
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS or char in _LINE_BREAKS:
            raise ValueError(
                f"contains a control character (U+{ord(char):04X}) at position {position}: write it as "
                "one line of plain text"
            )
    return value


def _has_visible(value: str) -> str:
    # Format characters (zero-width space, joiners) print as nothing, like whitespace.
    if all(char.isspace() or unicodedata.category(char) == "Cf" for char in value):
        raise ValueError("must say why: it is empty or only whitespace")
    return value


Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(_plain_text),
    AfterValidator(_has_visible),
]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_plain_text)]
Venues = Annotated[
    list[VenueName], Field(min_length=1, json_schema_extra={"uniqueItems": True}), AfterValidator(_distinct)
]
Accounts = Annotated[
    list[AccountId], Field(min_length=1, json_schema_extra={"uniqueItems": True}), AfterValidator(_distinct)
]


class _Request(BaseModel):
    # strict: "1800" is not 1800 and true is not 1; extra="forbid": a misspelt field is an error,
    # never silently ignored (a kill with "venue": [...] must not kill every venue).
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason = Field(
        description=(
            "Why: lands in the audit log of every targeted switch. One line of plain text with at least "
            "one visible character: control characters (C0, DEL, C1), bidirectional overrides, line "
            "separators, lone surrogates and U+FFFD (left by invalid UTF-8) are refused."
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
            "How long; at most the stack parameter MaxDisarmSeconds (the schema allows up to 86400)."
        )
    )
    starts_at_ms: Annotated[int, Field(ge=0)] | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "A planned window (announced venue maintenance): epoch ms when the disarm starts, at most 7 "
            "days ahead. Absent or past: now. The switches stay armed until then."
        ),
    )


class ArmRequest(_Request):
    """Back to armed (from disarmed or killed); the next tick extends only if the trader is alive."""

    model_config = ConfigDict(title="ArmRequest")


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
        parsed = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_request", f"the body is not valid JSON ({_short(exc)})") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", _explain(exc)) from None


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


# -- the routes ---------------------------------------------------------------------------------------


def build_app(control: Control, routes: Iterable[str], *, logger: Any = None) -> Any:
    """A Powertools REST resolver serving `routes` (names from KILL/DISARM/STATUS_ROUTES)."""
    wanted = set(routes)
    unknown = wanted - {*KILL_ROUTES, *DISARM_ROUTES, *STATUS_ROUTES}
    if unknown:
        raise ValueError(f"unknown routes {sorted(unknown)}")
    return _Routes(control, logger).register(wanted)


class _Routes:
    def __init__(self, control: Control, logger: Any) -> None:
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver

        self.control = control
        self.logger = logger
        self.app = APIGatewayRestResolver()

    def register(self, wanted: set[str]) -> Any:
        app = self.app
        if "kill" in wanted:
            app.post("/kill")(self.kill)
        if "disarm" in wanted:
            app.post("/disarm")(self.disarm)
        if "arm" in wanted:
            app.post("/arm")(self.arm)
        if "status" in wanted:
            app.get("/status")(self.status)
        app.exception_handler(ApiError)(lambda e: self.error(e.status, e.error, e.message, e.switches))
        app.exception_handler(RequestError)(lambda e: self.error(400, "invalid_request", str(e)))
        app.exception_handler(ConflictError)(lambda e: self.error(409, "conflict", str(e), e.switches))
        app.not_found(lambda e: self.error(404, "not_found", f"no route {_action(self.event)}"))
        app.exception_handler(Exception)(self.on_bug)
        return app

    # -- routes -----------------------------------------------------------------------------------
    def kill(self) -> Any:
        request = parse_body(self.event, KillRequest)
        caller = caller_of(self.event)
        result: KillResult = self.control.kill(
            reason=request.reason,
            venues=request.venues,
            accounts=request.accounts,
            caller=caller,
            budget_ms=self.budget_ms(),
        )
        status = 200 if result.ok else 207
        self.record("kill", caller, status, result.message, reason=request.reason, failed=result.failed)
        return self.reply(status, result)

    def disarm(self) -> Any:
        request = parse_body(self.event, DisarmRequest)
        caller = caller_of(self.event)
        result: DisarmResult = self.control.disarm(
            reason=request.reason,
            for_seconds=request.for_seconds,
            venues=request.venues,
            accounts=request.accounts,
            caller=caller,
            starts_at_ms=request.starts_at_ms,
        )
        status = 200 if result.ok else 207
        self.record("disarm", caller, status, result.message, reason=request.reason)
        return self.reply(status, result)

    def arm(self) -> Any:
        request = parse_body(self.event, ArmRequest)
        caller = caller_of(self.event)
        result: ArmResult = self.control.arm(
            reason=request.reason, venues=request.venues, accounts=request.accounts, caller=caller
        )
        status = 200 if result.ok else 207
        self.record("arm", caller, status, result.message, reason=request.reason)
        return self.reply(status, result)

    def status(self) -> Any:
        # A read: logged with who and from where, not written to the switches' audit trail.
        result: StatusResult = self.control.status()
        self.record("status", caller_of(self.event), 200, "read")
        return self.reply(200, result)

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def event(self) -> dict[str, Any]:
        raw: dict[str, Any] = self.app.current_event.raw_event
        return raw

    def budget_ms(self) -> int:
        remaining = getattr(getattr(self.app, "lambda_context", None), "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return KILL_BUDGET_MS
        return max(1_000, min(KILL_BUDGET_MS, int(remaining()) - REPLY_MARGIN_MS))

    def reply(self, status: int, body: BaseModel) -> Any:
        from aws_lambda_powertools.event_handler import Response, content_types

        return Response(
            status_code=status,
            content_type=content_types.APPLICATION_JSON,
            body=body.model_dump(mode="json"),
            headers={"Cache-Control": "no-store"},
        )

    def record(self, action: str, caller: Caller, status: int, message: str, **fields: Any) -> None:
        # Every call leaves a log line with who and from where, refusals included (a refusal changes
        # no switch, so it writes no switch audit entry).
        if self.logger is not None:
            self.logger.info(
                f"{action} -> {status}",
                extra={
                    "action": action,
                    "actor": caller.identity,
                    "source_ip": caller.source_ip,
                    "request_id": caller.request_id,
                    "status": status,
                    "result": message[:1000],
                    **fields,
                },
            )

    def error(self, status: int, kind: str, message: str, switches: list[str] | None = None) -> Any:
        caller = caller_of(self.event)
        self.record(_action(self.event), caller, status, message)
        body = ErrorResponse.model_validate(
            {"error": kind, "message": message, "request_id": caller.request_id, "switches": switches}
        )
        return self.reply(status, body)

    def on_bug(self, exc: Exception) -> Any:
        if self.logger is not None:
            self.logger.exception("control call failed")
        message = f"{type(exc).__name__}: the outcome is unknown; read GET /status before trying again"
        return self.error(500, "internal_error", message)


def _action(event: dict[str, Any]) -> str:
    return f"{event.get('httpMethod', '?')} {str(event.get('path', '?'))[:100]}"


# -- OpenAPI ------------------------------------------------------------------------------------------

_ERRORS = {
    "400": "Invalid request (the message says what); nothing was changed.",
    "403": "API Gateway: the caller's IAM identity may not call this route (or the request is unsigned).",
    "404": "No such route.",
    "409": "Refused by the switches' state (a killed switch is never disarmed: arm first); nothing changed.",
    "500": "A bug or an AWS failure: the outcome is unknown; read GET /status before trying again.",
}
_EXAMPLES: dict[str, dict[str, Any]] = {
    "KillRequest": {"reason": "trader runaway on all venues - cancel everything"},
    "DisarmRequest": {"reason": "planned restart of the trading host", "for_seconds": 1800},
    "ArmRequest": {"reason": "restart done, trader beating again", "venues": ["kraken"]},
}
_ROUTES: tuple[tuple[str, str, str, type[BaseModel] | None, type[BaseModel], tuple[str, ...], str], ...] = (
    (
        "/kill",
        "post",
        "Empty every book now, and keep it empty",
        KillRequest,
        KillResult,
        ("400", "403", "404", "500"),
        "Latch every targeted switch to killed, then cancel every resting order on every targeted venue "
        "account in parallel (with the account's kill credentials where the secret has them). Refresher "
        "extensions already in flight are waited out before the answer, so no venue timer is pushed after "
        "it. While killed, refreshers sweep every tick and never extend. Idempotent. 200: every switch "
        "latched and swept; 207: some were not (see `failed` and each switch's `error`).",
    ),
    (
        "/disarm",
        "post",
        "Switch the protection off for a bounded time (it comes back by itself)",
        DisarmRequest,
        DisarmResult,
        ("400", "403", "404", "409", "500"),
        "Switch the targeted switches off for `for_seconds` (at most the stack parameter "
        "MaxDisarmSeconds): venue timers off where the venue allows (Kraken timeout 0, Hyperliquid "
        "schedule cleared). Gemini cannot be disarmed at "
        "the venue: the fleet keeps heartbeating its keys until the disarm ends. The switches re-arm by "
        "themselves at the end. A killed switch is refused (409): arm it first. 207: some venue timer "
        "could not be switched off (the refresher retries every tick).",
    ),
    (
        "/arm",
        "post",
        "Restore normal operation",
        ArmRequest,
        ArmResult,
        ("400", "403", "404", "500"),
        "Back to armed from disarmed or killed. The next tick extends only if the trader is alive; a "
        "trader still dead is detected afresh and swept.",
    ),
    (
        "/status",
        "get",
        "The truth: every switch, the trader's liveness, the reaction bounds",
        None,
        StatusResult,
        ("403", "404", "500"),
        "Per switch: mode (and until when), deadline and seconds left, native timer availability, "
        "Hyperliquid triggers used today, last error, last sweep, last audit entries; the trader's "
        "liveness; the configured timing and reaction bound per venue. Reads DynamoDB only: no venue is "
        "called (an authenticated call on a Gemini trading key would reset its heartbeat timer).",
    ),
)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 description of the API, built from the models above (docs/openapi.yaml)."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = _oas30(sub)
        name = str(schema.get("title") or model.__name__)
        body = _oas30(schema)
        if name in _EXAMPLES:
            body["example"] = _EXAMPLES[name]
        schemas[name] = body
        return {"$ref": f"#/components/schemas/{name}"}

    error_ref = ref(ErrorResponse, "serialization")
    paths: dict[str, Any] = {}
    for path, method, summary, request, result, errors, description in _ROUTES:
        result_ref = {"content": {"application/json": {"schema": ref(result, "serialization")}}}
        responses: dict[str, Any] = {"200": {"description": "Done.", **result_ref}}
        if request is not None:
            responses["207"] = {
                "description": "Partly done: the body says, per switch, what failed.",
                **result_ref,
            }
        for code in errors:
            responses[code] = {
                "description": _ERRORS[code],
                "content": {"application/json": {"schema": error_ref}},
            }
        operation: dict[str, Any] = {
            "operationId": path.strip("/"),
            "summary": summary,
            "description": description,
            "security": [{"sigv4": []}],
            "responses": responses,
        }
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(request, "validation")}},
            }
        paths[path] = {method: operation}
    return {
        "openapi": "3.0.1",
        "info": {
            "title": "deadman control API",
            "version": "1.0.0",
            "description": (
                "Kill, disarm, arm and status for the deadman fleet. Every route is IAM-authenticated: "
                "sign requests with SigV4 (service execute-api) using the caller's normal AWS credentials "
                "(the `deadman` CLI does). Every call is audited with the caller's IAM identity, source "
                f"IP, reason and result. Bodies are at most {MAX_BODY_BYTES} bytes; unknown fields, "
                "wrong types, unknown venues or accounts are 400s and change nothing."
            ),
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                "variables": {
                    "restApiId": {"default": "abcdef1234", "description": "stack output ApiUrl"},
                    "region": {"default": "us-east-1"},
                    "stage": {"default": "v1"},
                },
            }
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
    }


def _oas30(node: Any) -> Any:
    """pydantic's JSON Schema (2020-12) as an OpenAPI 3.0 schema object."""
    if isinstance(node, list):
        return [_oas30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None and "anyOf" not in node):
            continue  # OpenAPI 3.0: a null default needs `nullable`; absent already means "all"
        if key == "properties":
            out[key] = {name: _oas30(prop) for name, prop in value.items()}
        elif key == "const":
            out["enum"] = [value]
        elif key == "anyOf" and {"type": "null"} in value:
            others = [_oas30(v) for v in value if v != {"type": "null"}]
            merged = dict(others[0]) if len(others) == 1 and "$ref" not in others[0] else {"anyOf": others}
            if "$ref" in others[0] and len(others) == 1:
                merged = {"allOf": others}
            merged["nullable"] = True
            out.update(merged)
        else:
            out[key] = _oas30(value)
    return out


def main() -> None:
    """`python -m deadman.api` prints docs/openapi.yaml."""
    import yaml

    print("# Generated from layers/deadman/deadman/api.py by `python -m deadman.api > docs/openapi.yaml`.")
    print("# tests/unit/test_openapi.py keeps it in step with the code and with template.yaml's models.")

    class NoAliases(yaml.SafeDumper):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    print(yaml.dump(openapi_document(), Dumper=NoAliases, sort_keys=False, width=110), end="")


if __name__ == "__main__":
    main()
