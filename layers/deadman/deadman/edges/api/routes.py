"""The control API's routes on Powertools' REST resolver: each API function serves only its own
(`build_app(control, routes)`): kill -> POST /kill; disarm -> POST /disarm and POST /arm;
status -> GET /status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import (
    BaseModel,
)

from deadman.app.control import Caller, ConflictError, Control, RequestError
from deadman.app.control.kill import KILL_BUDGET_MS
from deadman.app.control.results import ArmResult, DisarmResult, KillResult, StatusResult
from deadman.edges.api.doctor import DoctorResult, FindingOut, doctor_query
from deadman.edges.api.models import (
    REPLY_MARGIN_MS,
    ApiError,
    ArmRequest,
    DisarmRequest,
    ErrorResponse,
    KillRequest,
    caller_of,
    parse_body,
)

KILL_ROUTES = ("kill",)
# GET /doctor makes read-only venue calls with the venue keys: it lives with the disarm function,
# which holds those keys and the shared nonces already.
DISARM_ROUTES = ("disarm", "arm", "doctor")
STATUS_ROUTES = ("status",)


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
        if "doctor" in wanted:
            app.get("/doctor")(self.doctor)
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
            off=request.off,
            timer_off=request.timer_off,
            replaces=request.replaces,
        )
        status = 200 if result.ok else 207
        self.record("off" if request.off else "disarm", caller, status, result.message, reason=request.reason)
        return self.reply(status, result)

    def arm(self) -> Any:
        request = parse_body(self.event, ArmRequest)
        caller = caller_of(self.event)
        result: ArmResult = self.control.arm(
            reason=request.reason,
            venues=request.venues,
            accounts=request.accounts,
            caller=caller,
            cancel_plans=request.cancel_plans,
        )
        status = 200 if result.ok else 207
        self.record("arm", caller, status, result.message, reason=request.reason)
        return self.reply(status, result)

    def status(self) -> Any:
        # A read: logged with who and from where, not written to the switches' audit trail.
        result: StatusResult = self.control.status()
        self.record("status", caller_of(self.event), 200, "read")
        return self.reply(200, result)

    def doctor(self) -> Any:
        from deadman.app.checkup import Checkup

        venues, accounts, allow_gemini_call = doctor_query(self.app.current_event.query_string_parameters)
        control = self.control
        enabled = sorted(control.config.enabled_venues)
        unknown = sorted(set(venues or []) - set(enabled))
        if unknown:
            raise ApiError(400, "invalid_request", f"not enabled in this deployment: {', '.join(unknown)}")
        if control.credentials is None:
            raise ApiError(500, "internal_error", "this function has no venue secrets to check")
        checkup = Checkup(
            credentials=control.credentials,
            nonces=control.nonces,
            switches=control.switches,
            clock=control.clock,
            # The refresher's judge: a Gemini trading key is called only for an armed switch whose
            # trading systems are alive now (a call resets Gemini's 30 s rule).
            liveness=control.liveness,
            system=control.config.system,
            timing=control.config.timing,
        )
        findings = checkup.run(
            venues or enabled,
            allow_timer_key_calls=allow_gemini_call,
            budget_ms=self.budget_ms() - 2_000,
            accounts=accounts,
        )
        failed = sum(f.level == "FAIL" for f in findings)
        result = DoctorResult(
            at_ms=control.clock(),
            ok=not failed,
            failed=failed,
            warnings=sum(f.level == "WARN" for f in findings),
            findings=[FindingOut(level=f.level, subject=f.subject, detail=f.detail) for f in findings],  # type: ignore[arg-type]
        )
        message = f"{len(findings)} checks, {failed} failed"
        self.record("doctor", caller_of(self.event), 200, message, allow_gemini_call=allow_gemini_call)
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
        # Every call leaves a log line with who and from where, refusals included. A request refused
        # as invalid (400) reaches no switch: this line is its record. A refusal by a switch's state
        # (409: disarm of a killed switch; the two-person rule) is also audited on that switch as
        # "refused: ..." by the use case, and so alerted: an auditor wants refusals on the record.
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
