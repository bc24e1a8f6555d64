"""docs/openapi.yaml, the pydantic models and template.yaml's API (models, routes, error shapes) agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from deadman.edges.api.models import ArmRequest, DisarmRequest, ErrorResponse, KillRequest
from deadman.edges.api.openapi import openapi_document
from deadman.edges.api.routes import DISARM_ROUTES, KILL_ROUTES, STATUS_ROUTES
from deadman.venues import VENUES
from sandbox.tables import load_template

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.yaml"
REQUESTS: dict[str, type[BaseModel]] = {
    "KillRequest": KillRequest,
    "DisarmRequest": DisarmRequest,
    "ArmRequest": ArmRequest,
}
ROUTES_OF = {
    "functions/kill": KILL_ROUTES,
    "functions/disarm": DISARM_ROUTES,
    "functions/status": STATUS_ROUTES,
}
METHOD_OF = {"kill": "post", "disarm": "post", "arm": "post", "status": "get", "doctor": "get"}
_KEPT = {
    "type",
    "additionalProperties",
    "enum",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "uniqueItems",
}


def normalize(schema: dict[str, Any]) -> dict[str, Any]:
    """The validation content of a request schema; descriptions, titles and examples dropped."""
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
    if "required" in schema:
        out["required"] = sorted(schema["required"])
    if "properties" in schema:
        out["properties"] = {name: normalize(prop) for name, prop in schema["properties"].items()}
    if "items" in schema:
        out["items"] = normalize(schema["items"])
    return out


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return data


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_file_is_what_the_code_generates(document: dict[str, Any]) -> None:
    # Regenerate with: .venv/bin/python -m deadman.edges.api.openapi > docs/openapi.yaml
    assert document == json.loads(json.dumps(openapi_document()))


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    assert document["openapi"].startswith("3.0")


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_schemas_match_pydantic_and_the_template(
    name: str, document: dict[str, Any], template: dict[str, Any]
) -> None:
    in_openapi = normalize(document["components"]["schemas"][name])
    in_pydantic = normalize(REQUESTS[name].model_json_schema())
    in_template = normalize(template["Resources"]["ControlApi"]["Properties"]["Models"][name])
    assert in_openapi == in_pydantic == in_template
    # The fields that matter, spelled out so that a change to all three at once is still noticed.
    assert in_template["additionalProperties"] is False
    assert in_template["properties"]["venues"]["items"]["enum"] == list(VENUES)
    assert "reason" in in_template["required"]


def test_paths_match_the_handlers_and_the_template_events(
    document: dict[str, Any], template: dict[str, Any]
) -> None:
    from_template: dict[str, set[tuple[str, str]]] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "Api":
                from_template.setdefault(props["CodeUri"], set()).add(
                    (event["Properties"]["Path"], event["Properties"]["Method"].lower())
                )
    from_handlers = {
        code_uri: {(f"/{route}", METHOD_OF[route]) for route in routes}
        for code_uri, routes in ROUTES_OF.items()
    }
    assert from_template == from_handlers
    from_document = {(path, method) for path, item in document["paths"].items() for method in item}
    assert from_document == set().union(*from_handlers.values())
    # Bodies are required exactly where the template validates one.
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].lower()
            operation = document["paths"][path][method]
            model = event["Properties"].get("RequestModel", {}).get("Model")
            if model is None:
                assert "requestBody" not in operation
            else:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{model}"}


def test_every_response_schema_exists_and_errors_share_api_gateways_shape(
    document: dict[str, Any], template: dict[str, Any]
) -> None:
    schemas = document["components"]["schemas"]
    refs = re.findall(r"#/components/schemas/(\w+)", json.dumps(document))
    assert refs and set(refs) <= set(schemas)
    error_fields = set(ErrorResponse.model_fields)
    gateway = template["Resources"]["ControlApi"]["Properties"]["GatewayResponses"]
    for kind, response in gateway.items():
        body = response["ResponseTemplates"]["application/json"]
        keys = set(re.findall(r'"(\w+)":', body))
        assert keys <= error_fields, kind
        code = re.search(r'"error":"(\w+)"', body)
        assert code is not None
        assert code.group(1) in schemas["ErrorResponse"]["properties"]["error"]["enum"]
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation["security"] == [{"sigv4": []}], path
            assert {"200", "403", "500"} <= set(operation["responses"]), path
