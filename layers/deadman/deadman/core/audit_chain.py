"""The audit log's hash chain: what an entry's hash covers, where an entry sits, and how a switch's
history is checked, in the table alone or against its write-once copy.

Each switch's audit entries form one chain. Entry n (1, 2, ...) sits at sort key `C#<n, 12 digits>`
and is written only where that key is still free, so two writers can never both become entry n
(`deadman.stores.audit` serializes appends that way). It carries `prev`, the hash of entry n - 1
(`GENESIS` for entry 1), and `hash`, SHA-256 over the canonical JSON of its own fields and `prev`.
Rewriting an entry breaks its own hash; removing or inserting one breaks the next entry's link.

What the chain cannot show on its own: entries removed from its newest end, and whether entries
missing from its oldest end expired (the table's TTL) or were deleted. The copy answers both
(every entry is also written once to S3 under Object Lock, where no function can delete it), and
`verify` compares the two when it is given the copy.

Pure: records in, findings out; no AWS, no clock of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

GENESIS = "0" * 64
VERSION = 1
SK_PREFIX = "C#"
# Text and numbers an entry's hash covers, with `prev` and `seq`; `hash` itself is not hashed.
TEXT_FIELDS = ("pk", "action", "actor", "reason", "result", "details", "prev")
NUMBER_FIELDS = ("seq", "at_ms", "expires_at")
# An entry outside the chain is "before the chain" if written no later than this after the chain's
# first entry: a refresher loop keeps its old code for up to RUN_SECONDS (240 s) after a deploy.
UPGRADE_GRACE_MS = 10 * 60_000
# TTL deletes an expired item within a few days, never before it expires.
EXPIRY_SLACK_S = 2 * 86_400
# How long the stream may take to deliver an entry to its copy before its absence is a finding.
COPY_LAG_MS = 15 * 60_000


def sort_key(seq: int) -> str:
    return f"{SK_PREFIX}{seq:012d}"


def seq_of(sk: str) -> int | None:
    """The chain position a sort key names, or None for a key outside the chain."""
    digits = sk.removeprefix(SK_PREFIX)
    if sk.startswith(SK_PREFIX) and len(digits) == 12 and digits.isdigit():
        return int(digits)
    return None


def canonical(data: Mapping[str, Any]) -> bytes:
    """One byte string per value: keys sorted, no spaces, UTF-8, no NaN."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def copy_prefix(venue: str, account: str) -> str:
    """Where a switch's copy lives in the bucket (the account quoted whole: it may hold `/`)."""
    return f"audit/{venue}/{quote(account, safe='')}/"


def copy_key(venue: str, account: str, seq: int) -> str:
    return f"{copy_prefix(venue, account)}{seq:012d}.json"


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{name} is not a number")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError(f"{name} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class Entry:
    """One link of a switch's chain, as stored (numbers whole, `details` the stored JSON text)."""

    pk: str
    seq: int
    prev: str
    at_ms: int
    action: str
    actor: str
    reason: str
    result: str
    details: str
    expires_at: int
    hash: str

    @classmethod
    def link(cls, *, pk: str, seq: int, prev: str, **fields: Any) -> Entry:
        """The entry at `seq` after the one whose hash is `prev`, its own hash computed."""
        unsigned = cls(pk=pk, seq=seq, prev=prev, hash="", **fields)
        return cls(pk=pk, seq=seq, prev=prev, hash=unsigned.computed_hash(), **fields)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Entry:
        """From a stored item or a copy (plain values); ValueError names what is missing or wrong."""
        values: dict[str, Any] = {}
        for name in (*TEXT_FIELDS, "hash"):
            value = record.get(name)
            if not isinstance(value, str):
                raise ValueError(f"{name} is missing or not text")
            values[name] = value
        for name in NUMBER_FIELDS:
            values[name] = _whole(record.get(name), name)
        version = record.get("chain_v", record.get("v"))
        if version is None or _whole(version, "chain_v") != VERSION:
            raise ValueError(f"chain version {version!r} is not {VERSION}")
        return cls(**values)

    def hashed(self) -> dict[str, Any]:
        """What the hash covers."""
        data: dict[str, Any] = {name: getattr(self, name) for name in (*TEXT_FIELDS, *NUMBER_FIELDS)}
        data["v"] = VERSION
        return data

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical(self.hashed())).hexdigest()

    def record(self) -> dict[str, Any]:
        """The entry as the copy keeps it: what is hashed, and the hash."""
        return {**self.hashed(), "hash": self.hash}

    @property
    def switch(self) -> str:
        _, venue, account = [*self.pk.split("#", 2), "", ""][:3]
        return f"{venue}/{account}"


@dataclass(frozen=True)
class Finding:
    seq: int | None  # the chain position it concerns; None: an entry outside the chain
    text: str


@dataclass(frozen=True)
class Copy:
    """The write-once copy of one switch's chain, as read back: each position's versions, oldest first
    (None where a version could not be parsed), and the alterations the archiver recorded."""

    versions: Mapping[int, Sequence[Mapping[str, Any] | None]]
    alterations: Sequence[str] = ()


@dataclass(frozen=True)
class Report:
    pk: str
    first: int | None = None  # the oldest chain position the table still holds
    last: int | None = None  # the newest
    entries: int = 0  # chain entries in the table
    before_chain: int = 0  # entries written before the chain existed (not verifiable)
    copied: int | None = None  # positions held by the copy (None: the copy was not read)
    problems: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def whole(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> Finding | None:
        return self.problems[0] if self.problems else None


@dataclass
class _Check:
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def bad(self, seq: int | None, text: str) -> None:
        self.problems.append(Finding(seq, text))


def verify(pk: str, records: Iterable[Mapping[str, Any]], *, now_ms: int, copy: Copy | None = None) -> Report:
    """Check one switch's history: every entry's hash, every link, the anchor, and (given the copy)
    every entry against its copy and the copy's own chain. Problems come in chain order, so the first
    is the first broken link."""
    check = _Check()
    chain: dict[int, Entry] = {}
    outside: list[Mapping[str, Any]] = []
    for record in records:
        seq = seq_of(str(record.get("sk", "")))
        if seq is None:
            outside.append(record)
            continue
        try:
            entry = Entry.from_record(record)
        except ValueError as exc:
            check.bad(seq, f"#{seq} cannot be read as a chain entry ({exc})")
            continue
        if entry.pk != pk or entry.seq != seq:
            check.bad(seq, f"#{seq} was moved: it says it is #{entry.seq} of {entry.pk}")
            continue
        chain[seq] = entry
    _links(check, chain, now_ms, where="")
    first = min(chain) if chain else None
    before = _outside(check, outside, chain)
    copied: int | None = None
    if copy is not None:
        copied = _against_copy(check, pk, chain, copy, now_ms)
    elif first is not None and first > 1:
        check.notes.append(
            f"anchored on #{first}, the oldest entry the table still holds: the entries before it "
            "expired (400-day TTL) or were removed, which the table alone cannot tell apart (the S3 "
            "copy keeps them)"
        )
    if copy is None and chain:
        check.notes.append("entries removed from the newest end cannot be seen in the table alone")
    return Report(
        pk=pk,
        first=first,
        last=max(chain) if chain else None,
        entries=len(chain),
        before_chain=before,
        copied=copied,
        problems=tuple(sorted(check.problems, key=lambda f: (f.seq is None, f.seq or 0))),
        notes=tuple(check.notes),
    )


def _links(check: _Check, chain: Mapping[int, Entry], now_ms: int, *, where: str) -> None:
    """Hashes and links of one chain (the table's, or with `where` the copy's)."""
    if not chain:
        return
    first = min(chain)
    for seq in sorted(chain):
        entry = chain[seq]
        if entry.computed_hash() != entry.hash:
            check.bad(seq, f"#{seq}{where} was altered: its content does not match its hash")
        if seq == 1 and entry.prev != GENESIS:
            check.bad(seq, f"#{seq}{where} does not start the chain (its prev is not the genesis hash)")
        before = chain.get(seq - 1)
        if before is not None:
            if entry.prev != before.hash:
                check.bad(seq, f"#{seq}{where} does not link to #{seq - 1}: rewritten or replaced")
            continue
        if seq == first:
            continue  # the anchor
        lost = max(n for n in chain if n < seq) + 1  # the first position missing before this one
        gap = _span(lost, seq - 1)
        if entry.expires_at - EXPIRY_SLACK_S <= now_ms // 1000:
            check.notes.append(f"{gap}{where}: gone, around their expiry")
        else:
            check.bad(lost, f"{gap}{where} missing: deleted from the chain's middle")


def _span(first: int, last: int) -> str:
    return f"#{first}" if first == last else f"#{first}..#{last}"


def _outside(check: _Check, outside: Sequence[Mapping[str, Any]], chain: Mapping[int, Entry]) -> int:
    """Entries without a chain position: from before the chain existed, or slipped in beside it."""
    if not outside:
        return 0
    if not chain:
        check.notes.append(f"{len(outside)} entries were written before the chain existed: not verifiable")
        return len(outside)
    began = chain[min(chain)].at_ms
    before = 0
    for record in outside:
        try:
            at_ms = _whole(record.get("at_ms"), "at_ms")
        except ValueError:
            at_ms = began + UPGRADE_GRACE_MS + 1
        if at_ms <= began + UPGRADE_GRACE_MS:
            before += 1
        else:
            check.bad(None, f"entry {record.get('sk')!r} ({record.get('action')}) is outside the chain, "
                      "written after it began: added by something that bypassed it")  # fmt: skip
    if before:
        check.notes.append(f"{before} entries were written before the chain existed: not verifiable")
    return before


def _against_copy(check: _Check, pk: str, chain: Mapping[int, Entry], copy: Copy, now_ms: int) -> int:
    copied: dict[int, Entry] = {}
    for seq, versions in sorted(copy.versions.items()):
        if not versions:
            continue
        if len(versions) > 1:
            check.bad(seq, f"the copy of #{seq} was written {len(versions)} times; the first is compared")
        original = versions[0]
        try:
            if original is None:
                raise ValueError("not JSON")
            entry = Entry.from_record(original)
        except ValueError as exc:
            check.bad(seq, f"the copy of #{seq} cannot be read ({exc})")
            continue
        if entry.pk != pk or entry.seq != seq:
            check.bad(seq, f"the copy of #{seq} says it is #{entry.seq} of {entry.pk}")
            continue
        copied[seq] = entry
    _links(check, copied, now_ms, where=" (copy)")
    for text in copy.alterations:
        check.bad(None, f"the archiver saw an entry altered in the table: {text}")
    now_s = now_ms // 1000
    for seq, entry in sorted(chain.items()):
        kept = copied.get(seq)
        if kept is None:
            if entry.at_ms >= now_ms - COPY_LAG_MS:
                check.notes.append(f"#{seq} is not in the copy yet (written in the last 15 minutes)")
            else:
                check.bad(seq, f"#{seq} has no copy (was the archiver failing?)")
        elif kept != entry:
            check.bad(seq, f"#{seq} differs from its copy: the table's entry was rewritten")
    head = max(chain) if chain else 0
    anchor = min(chain) if chain else None
    for seq, entry in sorted(copied.items()):
        if seq in chain:
            continue
        if entry.expires_at <= now_s:
            continue  # expired from the table, kept by the copy: history stays whole
        if seq > head:
            check.bad(seq, f"#{seq} is in the copy but no longer in the table: removed from its newest end")
        elif anchor is not None and seq < anchor:
            check.bad(seq, f"#{seq} is in the copy but was removed from the table before its expiry")
    known = set(chain) | set(copied)
    if known and min(known) > 1:
        start = min(known)
        check.bad(1, f"{_span(1, start - 1)}: in neither the table nor the copy, not provable")
    return len(copied)
