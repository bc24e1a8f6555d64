"""Strictly increasing nonces per API key.

Every venue client asks a `NonceSource` for its next nonce, passing the smallest value the venue
would accept right now (`floor`, e.g. the current epoch ms). The source returns a value that is at
least `floor` and strictly greater than any value it issued before for that key. The in-memory
source serves one process; the DynamoDB source (`DynamoNonceSource`) is shared by every function
that signs with the key, so a refresher and the kill path never race each other into
`EAPI:Invalid nonce` lockouts.
"""

from __future__ import annotations

import threading
from typing import Protocol


class NonceSource(Protocol):
    def next(self, key_id: str, floor: int) -> int:
        """Return n >= floor, n > every nonce issued before for key_id."""
        ...


class MemoryNonceSource:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, key_id: str, floor: int) -> int:
        with self._lock:
            value = max(floor, self._last.get(key_id, floor - 1) + 1)
            self._last[key_id] = value
            return value
