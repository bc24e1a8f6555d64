"""The audit log's write-once copy in S3: each entry as the stream delivers it, and read back for
`deadman audit verify`.

The bucket has Object Lock (default retention on every version), versioning, and a policy that
refuses any write not made with `If-None-Match: *`; no function role may delete an object or change
its retention (template.yaml). So an entry, once copied, stays as it was written: rewriting the table
cannot rewrite the copy, and `deadman.core.audit_chain.verify` compares the two.

Objects, per switch (`copy_prefix`):
    audit/<venue>/<account>/<position, 12 digits>.json   a chain entry, its canonical JSON and hash
    audit/<venue>/<account>/unchained/<sort key>.json     an entry outside the chain, as stored
    altered/<venue>/<account>/<sort key>/<event id>.json  the stream saw an entry modified or removed
                                                          (not by TTL): evidence, kept as well
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from deadman.core.audit_chain import Copy, Entry, canonical, copy_key, copy_prefix, seq_of

# Parallel GETs when reading a long history back (each entry is one small object).
READERS = 8


def _switch_of(pk: str) -> tuple[str, str]:
    _, venue, account = [*pk.split("#", 2), "", ""][:3]
    return venue, account


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if hasattr(value, "isoformat"):  # a stream record read with boto3 carries datetimes
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, default=_json_default).encode()


class AuditArchive:
    def __init__(self, bucket: str, *, s3: Any, log: Callable[..., None] | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3
        self._log = log or (lambda *a, **k: None)

    # -- writing (the archiver function) ---------------------------------------------------------
    def put_entry(self, item: Mapping[str, Any]) -> str:
        """Copy one inserted audit item (plain values). Returns its key, or "" if it was copied before
        (a stream batch delivered again): the first copy stands."""
        pk = str(item.get("pk", ""))
        sk = str(item.get("sk", ""))
        venue, account = _switch_of(pk)
        seq = seq_of(sk)
        try:
            entry = Entry.from_record(item) if seq is not None else None
        except ValueError as exc:
            self._log("audit entry at a chain position is not a chain entry", pk=pk, sk=sk, error=str(exc))
            entry = None
        if entry is not None and entry.seq == seq:
            return self._write(copy_key(venue, account, entry.seq), canonical(entry.record()))
        # Outside the chain (written before it existed, or forged): kept as stored, for the record.
        key = f"{copy_prefix(venue, account)}unchained/{quote(sk, safe='')}.json"
        return self._write(key, _dump(item))

    def put_alteration(self, event: Mapping[str, Any], keys: Mapping[str, Any], image: Any) -> str:
        """Record that the stream saw an audit item modified or removed (not by TTL)."""
        pk, sk = str(keys.get("pk", "")), str(keys.get("sk", ""))
        venue, account = _switch_of(pk)
        event_id = quote(str(event.get("eventID", "unknown")), safe="")
        key = f"altered/{venue}/{quote(account, safe='')}/{quote(sk, safe='')}/{event_id}.json"
        body = {
            "event": event.get("eventName"),
            "pk": pk,
            "sk": sk,
            "approximate_time_s": event.get("dynamodb", {}).get("ApproximateCreationDateTime"),
            "new_image": image,
        }
        self._log("audit entry altered in the table", pk=pk, sk=sk, event=event.get("eventName"))
        return self._write(key, _dump(body))

    def _write(self, key: str, body: bytes) -> str:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                # Write once: refused if the key exists (the bucket policy refuses writes without it).
                IfNoneMatch="*",
                # Object Lock wants an integrity checksum on every upload.
                ChecksumAlgorithm="SHA256",
            )
        except Exception as exc:
            if _code(exc) == "PreconditionFailed":
                return ""
            raise
        return key

    # -- reading (deadman audit verify) ----------------------------------------------------------
    def read(self, venue: str, account: str) -> Copy:
        """Every version of every copied chain entry of the switch (oldest first), and the
        alterations recorded for it."""
        prefix = copy_prefix(venue, account)
        # S3 lists a key's versions newest first: reversed, the first is the original.
        versions: dict[int, list[tuple[str, str]]] = {}
        for version in self._versions(prefix):
            key = str(version["Key"])
            name = key.removeprefix(prefix).removesuffix(".json")
            if "/" in name or not name.isdigit():
                continue  # unchained entries: not part of the chain's proof
            versions.setdefault(int(name), []).insert(0, (key, str(version["VersionId"])))
        jobs = [(seq, key, vid) for seq, found in sorted(versions.items()) for key, vid in found]
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            bodies = list(pool.map(lambda job: self._get(job[1], job[2]), jobs))
        parsed: dict[int, list[Mapping[str, Any] | None]] = {}
        for (seq, _, _), body in zip(jobs, bodies, strict=True):
            parsed.setdefault(seq, []).append(body)
        alterations = []
        for version in self._versions(f"altered/{venue}/{quote(account, safe='')}/"):
            record = self._get(str(version["Key"]), str(version["VersionId"])) or {}
            alterations.append(
                f"{record.get('event', '?')} of {record.get('sk', '?')} "
                f"(stream time {record.get('approximate_time_s', '?')})"
            )
        return Copy(parsed, alterations)

    def _versions(self, prefix: str) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._s3.list_object_versions(**kwargs)
            found.extend(page.get("Versions", []))
            if not page.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def _get(self, key: str, version_id: str) -> Mapping[str, Any] | None:
        body = self._s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"].read()
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
