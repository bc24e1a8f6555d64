"""The one DynamoDB client every store shares."""

from __future__ import annotations

from typing import Any


def dynamodb_client(*, region: str | None = None, profile: str | None = None) -> Any:
    """A DynamoDB client with bounded time per call (region and endpoint from the environment, or
    the CLI's --region and --profile).

    botocore's defaults (60 s read timeout, several retries) could stall a 10 s tick for minutes.
    A call here gives up after about 2 x (1 s connect + 2 s read): DynamoDB answers in milliseconds
    when it is well, and the refresh loop retries at its own pace when it is not.
    """
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.Session(profile_name=profile, region_name=region).client("dynamodb", config=config)
