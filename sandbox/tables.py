"""Create the stack's DynamoDB tables in moto from template.yaml itself: one source of truth for
key schemas, billing and TTL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


_CfnLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        return data


def table_definitions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every AWS::DynamoDB::Table in the template."""
    resources = load_template(path)["Resources"]
    return {
        name: res["Properties"]
        for name, res in resources.items()
        if res.get("Type") == "AWS::DynamoDB::Table"
    }


def create_tables(client: Any, names: dict[str, str], path: Path = TEMPLATE) -> None:
    """Create each template table under the physical name given for its logical id."""
    for logical, props in table_definitions(path).items():
        if logical not in names:
            continue
        stream = props.get("StreamSpecification")
        client.create_table(
            TableName=names[logical],
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            **(
                {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}}
                if stream
                else {}
            ),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=names[logical],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
