"""GET /doctor: its query (venues, accounts, allow_gemini_call) and its answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deadman.core.text import text_problem
from deadman.edges.api.models import ApiError
from deadman.venues import VENUES


class FindingOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["OK", "INFO", "SKIP", "WARN", "FAIL"]
    subject: str
    detail: str


class DoctorResult(BaseModel):
    """What GET /doctor found, one line per check; read-only: nothing was armed or changed."""

    model_config = ConfigDict(extra="forbid", title="DoctorResult")
    action: Literal["doctor"] = "doctor"
    at_ms: int
    ok: bool = Field(description="No check failed.")
    failed: int
    warnings: int
    findings: list[FindingOut]


def doctor_query(params: dict[str, Any] | None) -> tuple[list[str] | None, list[str] | None, bool]:
    """GET /doctor's query: `venues` and `accounts` (comma-separated, absent = all) and
    `allow_gemini_call` ("true" or "false"). Anything else is a 400."""
    params = dict(params or {})
    unknown = set(params) - {"venues", "accounts", "allow_gemini_call"}
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    venues: list[str] | None = None
    if params.get("venues") is not None:
        venues = [v.strip() for v in str(params["venues"]).split(",") if v.strip()]
        bad = [v for v in venues if v not in VENUES]
        if bad or not venues:
            raise ApiError(
                400, "invalid_request", f"venues: expected a comma-separated subset of {', '.join(VENUES)}"
            )
    accounts: list[str] | None = None
    if params.get("accounts") is not None:
        accounts = [a.strip() for a in str(params["accounts"]).split(",") if a.strip()]
        if not accounts or any(text_problem(a) or len(a) > 128 for a in accounts):
            raise ApiError(400, "invalid_request", "accounts: expected comma-separated account ids")
    allow = params.get("allow_gemini_call", "false")
    if allow not in ("true", "false"):
        raise ApiError(400, "invalid_request", "allow_gemini_call: expected true or false")
    return venues, accounts, allow == "true"
