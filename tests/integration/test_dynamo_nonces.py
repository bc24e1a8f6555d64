"""DynamoNonceSource: strictly increasing per key across threads and processes' instances."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from deadman.core.venue import NonceSource
from deadman.stores.nonces import DynamoNonceSource, NonceExhaustedError

pytestmark = pytest.mark.integration

TABLE = "ControlTable"
FLOOR = 1_700_000_000_000


@pytest.fixture
def table(stack_tables: dict[str, str]) -> str:
    assert stack_tables["ControlTable"] == TABLE
    return TABLE


def stored_last(key_id: str) -> int:
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"NONCE#{key_id}"}, "sk": {"S": "#"}}, ConsistentRead=True
    )["Item"]
    return int(item["last"]["N"])


def test_is_a_nonce_source(table: str) -> None:
    source: NonceSource = DynamoNonceSource(table)
    assert source.next("k", 5) == 5


def test_uncontended_value_is_the_floor_and_stored(table: str) -> None:
    source = DynamoNonceSource(table)
    assert source.next("kraken:AAA", FLOOR) == FLOOR
    assert stored_last("kraken:AAA") == FLOOR
    assert source.next("kraken:AAA", FLOOR + 50) == FLOOR + 50
    assert stored_last("kraken:AAA") == FLOOR + 50


def test_same_floor_twice_still_increases(table: str) -> None:
    source = DynamoNonceSource(table)
    assert [source.next("k", FLOOR) for _ in range(3)] == [FLOOR, FLOOR + 1, FLOOR + 2]


def test_floor_going_backwards_never_goes_backwards(table: str) -> None:
    source = DynamoNonceSource(table)
    assert source.next("k", FLOOR) == FLOOR
    assert source.next("k", FLOOR - 10_000) == FLOOR + 1


def test_keys_are_independent(table: str) -> None:
    source = DynamoNonceSource(table)
    assert source.next("a", 100) == 100
    assert source.next("b", 7) == 7
    assert source.next("a", 5) == 101


def test_second_instance_continues_after_the_first(table: str) -> None:
    """Two processes (a refresher and the kill path) sharing one key never reuse a nonce."""
    first, second = DynamoNonceSource(table), DynamoNonceSource(table)
    assert first.next("k", FLOOR) == FLOOR
    # The second knows nothing locally; the row tells it where the key stands.
    assert second.next("k", FLOOR) == FLOOR + 1
    assert first.next("k", FLOOR) == FLOOR + 2


def test_stale_local_hint_is_corrected_by_the_row(table: str) -> None:
    first, second = DynamoNonceSource(table), DynamoNonceSource(table)
    first.next("k", FLOOR)
    for _ in range(5):
        second.next("k", FLOOR)
    assert first.next("k", FLOOR) == FLOOR + 6


def test_concurrent_callers_get_distinct_increasing_nonces(table: str) -> None:
    sources = [DynamoNonceSource(table), DynamoNonceSource(table)]
    per_thread: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(index: int) -> None:
        source = sources[index % 2]
        try:
            start.wait()
            for _ in range(50):
                per_thread[index].append(source.next("shared", FLOOR))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    everything = [n for seq in per_thread for n in seq]
    assert len(everything) == 200
    assert len(set(everything)) == 200
    assert all(n >= FLOOR for n in everything)
    for seq in per_thread:
        assert seq == sorted(seq) and len(set(seq)) == len(seq)
    # Close to the floor: nothing is skipped beyond what contention needs.
    assert max(everything) == FLOOR + 199
    assert stored_last("shared") == FLOOR + 199


def test_row_is_the_documented_shape(table: str) -> None:
    DynamoNonceSource(table).next("gemini:account-xyz", 1_700_000_000)
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": "NONCE#gemini:account-xyz"}, "sk": {"S": "#"}}, ConsistentRead=True
    )["Item"]
    assert item == {
        "pk": {"S": "NONCE#gemini:account-xyz"},
        "sk": {"S": "#"},
        "last": {"N": "1700000000"},
    }


def test_other_errors_propagate(aws: Any) -> None:
    with pytest.raises(Exception, match=r"ResourceNotFound|non-existent|not found"):
        DynamoNonceSource("NoSuchTable").next("k", 1)


def test_bad_arguments(table: str) -> None:
    source = DynamoNonceSource(table)
    with pytest.raises(ValueError):
        source.next("", 1)
    with pytest.raises(TypeError):
        source.next("k", True)
    with pytest.raises(TypeError):
        source.next("k", 1.5)  # type: ignore[arg-type]


class VanishingRow:
    """A client whose row is always ahead on the conditional write, then gone for the ADD."""

    def __init__(self) -> None:
        self.calls = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if "ConditionExpression" in kwargs:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem"
            )
        assert kwargs["ReturnValues"] == "ALL_NEW"  # the row comes back whole: its key is checked
        return {"Attributes": {**kwargs["Key"], "last": {"N": "1"}}}


def test_gives_up_with_a_clear_error_after_the_bound() -> None:
    client = VanishingRow()
    with pytest.raises(NonceExhaustedError, match="'k' after 20 attempts"):
        DynamoNonceSource("T", client=client).next("k", FLOOR)
    assert client.calls == 40
