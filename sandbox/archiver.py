"""The audit copy in the sandbox: what the stack's archiver does, played here since moto delivers no
stream events to Lambda. An Object Lock bucket in moto's S3, and a thread that reads the ControlTable's
stream every second and hands each batch to the archiver's own code (`archive_batch`), so that
`deadman audit verify` checks the sandbox's history against a copy as it would a deployment's."""

from __future__ import annotations

import threading
from typing import Any

from deadman.edges.stream import archive_batch
from deadman.edges.wiring import archive_from_env

BUCKET = "deadman-sandbox-audit-copy"
POLL_S = 1.0


class _Quiet:
    def info(self, *args: Any, **kwargs: Any) -> None:
        pass


class AuditCopier:
    def __init__(self, table: str, *, bucket: str = BUCKET, poll_s: float = POLL_S) -> None:
        self.table = table
        self.bucket = bucket
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str] = {}

    def start(self) -> AuditCopier:
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=self.bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        self._archive = archive_from_env(s3, log=lambda *a, **k: None, environ={"AUDIT_BUCKET": self.bucket})
        self._streams = boto3.client("dynamodbstreams")
        self._arn = boto3.client("dynamodb").describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self._thread = threading.Thread(target=self._run, name="sandbox-audit-copier", daemon=True)
        self._thread.start()
        return self

    def copy_now(self) -> int:
        """Every record the stream holds that was not copied yet; how many there were."""
        records: list[dict[str, Any]] = []
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            page = self._streams.get_records(ShardIterator=iterator)
            records += page["Records"]
            if page.get("NextShardIterator"):
                self._iterators[shard_id] = page["NextShardIterator"]
        if records:
            archive_batch({"Records": records}, archive=self._archive, log=_Quiet())
        return len(records)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.copy_now()
            except Exception:  # noqa: S112 - the stream is retried, as Lambda's event source mapping does
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
