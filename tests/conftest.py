from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.aws import MotoServer, patched_env


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer) -> Iterator[MotoServer]:
    """A clean moto account for one test, with boto3 pointed at it through the environment."""
    moto_server.reset()
    with patched_env(moto_server.env()):
        yield moto_server


@pytest.fixture
def stack_tables(aws: MotoServer) -> dict[str, str]:
    """The template's LivenessTable and ControlTable, created in moto from template.yaml itself."""
    import boto3

    from sandbox.tables import create_tables

    names = {"LivenessTable": "LivenessTable", "ControlTable": "ControlTable"}
    create_tables(boto3.client("dynamodb"), names)
    return names
