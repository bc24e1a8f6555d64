"""The control API as an OpenAPI 3.0 document (docs/openapi.yaml is `openapi_document()` written out;
`python -m deadman.edges.api.openapi > docs/openapi.yaml` regenerates it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
)

from deadman.app.control.results import ArmResult, DisarmResult, KillResult, StatusResult
from deadman.edges.api.doctor import DoctorResult
from deadman.edges.api.models import (
    MAX_BODY_BYTES,
    ArmRequest,
    DisarmRequest,
    ErrorResponse,
    KillRequest,
)
from deadman.venues import VENUES

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
    "ArmRequest": {"reason": "restart done, trader beating again", "venues": [VENUES[0]]},
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
    (
        "/doctor",
        "get",
        "Check that every venue account can be protected, without a venue key on the caller's machine",
        None,
        DoctorResult,
        ("400", "403", "404", "500"),
        "Read-only checks run by the disarm function, which holds the venue keys: each venue secret "
        "parses; clock skew per venue; the Kraken refresher and kill keys and the Gemini kill key "
        "authenticate with a read-only call (nonces from the fleet's shared source); Hyperliquid open "
        "orders readable and the volume gate as the refresher last saw it. Query: `venues` and "
        "`accounts` (comma-separated; absent: all) and `allow_gemini_call=true` to call the Gemini "
        "TRADING key too - only while its switch is armed and its trading systems are alive, as any call "
        "on it resets its 30 s heartbeat rule. Nothing is armed or changed.",
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
    """Print docs/openapi.yaml."""
    import yaml

    print("# Generated from deadman.edges.api by `python -m deadman.edges.api.openapi > docs/openapi.yaml`.")
    print("# tests/unit/test_openapi.py keeps it in step with the code and with template.yaml's models.")

    class NoAliases(yaml.SafeDumper):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    print(yaml.dump(openapi_document(), Dumper=NoAliases, sort_keys=False, width=110), end="")


if __name__ == "__main__":
    main()
