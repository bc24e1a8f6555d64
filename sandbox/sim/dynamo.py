"""An in-memory stand-in for `boto3.client("dynamodb")`, for the deterministic simulation.

Why this file is long: DynamoDB's expression grammar, its conditional writes, streams of errors
and the fault injector share one item model; a stand-in that differs from DynamoDB anywhere the
stores lean on would make the campaign's verdicts worthless, so it is kept whole and read whole.

The real stores (`deadman.stores`: switches, lease, nonces, liveness) run
unchanged against it, so it must refuse what DynamoDB refuses and answer what DynamoDB answers,
including the conditional writes the lease and the kill latch rely on. It implements only the calls
and the expression syntax the codebase uses; anything else is refused with a ValidationException
whose message starts with "FakeDynamo does not support", never silently accepted.

Supported calls (boto3 names and parameters, wire-format attribute values):

    get_item     TableName, Key, ConsistentRead
    put_item     TableName, Item, ConditionExpression, ExpressionAttributeNames/Values,
                 ReturnValues (NONE | ALL_OLD)
    update_item  TableName, Key, UpdateExpression, ConditionExpression,
                 ExpressionAttributeNames/Values, ReturnValues (NONE | ALL_OLD | UPDATED_OLD |
                 ALL_NEW | UPDATED_NEW)
    delete_item  TableName, Key, ConditionExpression, ExpressionAttributeNames/Values,
                 ReturnValues (NONE | ALL_OLD)
    query        TableName, KeyConditionExpression, ExpressionAttributeNames/Values,
                 ScanIndexForward, Limit, ExclusiveStartKey, ConsistentRead
    scan         TableName, Limit, ExclusiveStartKey, ConsistentRead

Conditions: AND, OR, NOT, parentheses, = <> < <= > >=, BETWEEN, attribute_exists,
attribute_not_exists, begins_with, over top-level attributes (bare, or `#name`) and `:value`
placeholders. Updates: SET a = operand [+|- operand] (operand: attribute, :value or
if_not_exists(attribute, operand)), REMOVE a, b, ADD n :number. Key conditions: the hash key
`= :v`, optionally AND one range-key comparison, BETWEEN or begins_with.

Every call is one step of the simulation: `fault(operation, table)` may add latency or an error,
and `sleep_ms` is called before the operation applies and after it (always, even with 0 ms), so the
scheduler can run other tasks or crash this one at either point.

Where moto 5.2 and DynamoDB disagree, this follows DynamoDB (tests/simulation/test_fake_dynamo.py
lists the cases): a Query or Scan stopped by Limit always returns LastEvaluatedKey, even at the
exact end; requests are validated (placeholders defined and used, operand types, BETWEEN bounds,
overlapping update paths) before any item is read; values of different types never compare.

Not modelled: item and page size limits, eventually consistent reads, capacity, botocore's retries
(an injected fault reaches the caller as is), and ResponseMetadata in answers.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any, Final, TypeAlias

from botocore.exceptions import ClientError, ParamValidationError, ReadTimeoutError

AttributeValue: TypeAlias = dict[str, Any]
Item: TypeAlias = dict[str, AttributeValue]

ENDPOINT_URL: Final = "https://dynamodb.sim"
FAULT_ERRORS: Final = frozenset({"throttle", "internal", "timeout", "lost_answer"})
ANSWER_FAULTS: Final = frozenset({"empty", "truncated", "no_crc", "bad_crc", "html", "foreign"})

# TTL ignores items whose expiry is more than five years in the past (AWS developer guide, "Using
# DynamoDB Time to Live"): a milliseconds-for-seconds mix-up in the other direction is never deleted.
TTL_MAX_AGE_S: Final = 5 * 365 * 86_400

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html
_RESERVED_WORDS: Final = (
    "ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY ARCHIVE ARE "
    "ARRAY AS ASC ASCII ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH ATTRIBUTE AUTH AUTHORIZATION "
    "AUTHORIZE AUTO AVG BACK BACKUP BASE BATCH BEFORE BEGIN BETWEEN BIGINT BINARY BIT BLOB BLOCK "
    "BOOLEAN BOTH BREADTH BUCKET BULK BY BYTE CALL CALLED CALLING CAPACITY CASCADE CASCADED CASE CAST "
    "CATALOG CHAR CHARACTER CHECK CLASS CLOB CLOSE CLUSTER CLUSTERED CLUSTERING CLUSTERS COALESCE "
    "COLLATE COLLATION COLLECTION COLUMN COLUMNS COMBINE COMMENT COMMIT COMPACT COMPILE COMPRESS "
    "CONDITION CONFLICT CONNECT CONNECTION CONSISTENCY CONSISTENT CONSTRAINT CONSTRAINTS CONSTRUCTOR "
    "CONSUMED CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER CREATE CROSS CUBE CURRENT CURSOR "
    "CYCLE DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED "
    "DEFINE DEFINED DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE DESCRIPTOR DETACH "
    "DETERMINISTIC DIAGNOSTICS DIRECTORIES DISABLE DISCONNECT DISTINCT DISTRIBUTE DO DOMAIN DOUBLE "
    "DROP DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF EMPTY ENABLE END EQUAL EQUALS ERROR ESCAPE "
    "ESCAPED EVAL EVALUATE EXCEEDED EXCEPT EXCEPTION EXCEPTIONS EXCLUSIVE EXEC EXECUTE EXISTS EXIT "
    "EXPLAIN EXPLODE EXPORT EXPRESSION EXTENDED EXTERNAL EXTRACT FAIL FALSE FAMILY FETCH FIELDS FILE "
    "FILTER FILTERING FINAL FINISH FIRST FIXED FLATTERN FLOAT FOR FORCE FOREIGN FORMAT FORWARD FOUND "
    "FREE FROM FULL FUNCTION FUNCTIONS GENERAL GENERATE GET GLOB GLOBAL GO GOTO GRANT GREATER GROUP "
    "GROUPING HANDLER HASH HAVE HAVING HEAP HIDDEN HOLD HOUR IDENTIFIED IDENTITY IF IGNORE IMMEDIATE "
    "IMPORT IN INCLUDING INCLUSIVE INCREMENT INCREMENTAL INDEX INDEXED INDEXES INDICATOR INFINITE "
    "INITIALLY INLINE INNER INNTER INOUT INPUT INSENSITIVE INSERT INSTEAD INT INTEGER INTERSECT "
    "INTERVAL INTO INVALIDATE IS ISOLATION ITEM ITEMS ITERATE JOIN KEY KEYS LAG LANGUAGE LARGE LAST "
    "LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE LIMIT LIMITED LINES LIST LOAD LOCAL "
    "LOCALTIME LOCALTIMESTAMP LOCATION LOCATOR LOCK LOCKS LOG LOGED LONG LOOP LOWER MAP MATCH "
    "MATERIALIZED MAX MAXLEN MEMBER MERGE METHOD METRICS MIN MINUS MINUTE MISSING MOD MODE MODIFIES "
    "MODIFY MODULE MONTH MULTI MULTISET NAME NAMES NATIONAL NATURAL NCHAR NCLOB NEW NEXT NO NONE NOT "
    "NULL NULLIF NUMBER NUMERIC OBJECT OF OFFLINE OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR "
    "OPTION OR ORDER ORDINALITY OTHER OTHERS OUT OUTER OUTPUT OVER OVERLAPS OVERRIDE OWNER PAD "
    "PARALLEL PARAMETER PARAMETERS PARTIAL PARTITION PARTITIONED PARTITIONS PATH PERCENT PERCENTILE "
    "PERMISSION PERMISSIONS PIPE PIPELINED PLAN POOL POSITION PRECISION PREPARE PRESERVE PRIMARY "
    "PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT PROJECTION PROPERTY PROVISIONING PUBLIC PUT "
    "QUERY QUIT QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL REBUILD RECORD RECURSIVE REDUCE "
    "REF REFERENCE REFERENCES REFERENCING REGEXP REGION REINDEX RELATIVE RELEASE REMAINDER RENAME "
    "REPEAT REPLACE REQUEST RESET RESIGNAL RESOURCE RESPONSE RESTORE RESTRICT RESULT RETURN RETURNING "
    "RETURNS REVERSE REVOKE RIGHT ROLE ROLES ROLLBACK ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE "
    "SATISFIES SAVE SAVEPOINT SCAN SCHEMA SCOPE SCROLL SEARCH SECOND SECTION SEGMENT SEGMENTS SELECT "
    "SELF SEMI SENSITIVE SEPARATE SEQUENCE SERIALIZABLE SESSION SET SETS SHARD SHARE SHARED SHORT "
    "SHOW SIGNAL SIMILAR SIZE SKEWED SMALLINT SNAPSHOT SOME SOURCE SPACE SPACES SPARSE SPECIFIC "
    "SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR SQLEXCEPTION SQLSTATE SQLWARNING START STATE STATIC "
    "STATUS STORAGE STORE STORED STREAM STRING STRUCT STYLE SUB SUBMULTISET SUBPARTITION SUBSTRING "
    "SUBTYPE SUM SUPER SYMMETRIC SYNONYM SYSTEM TABLE TABLESAMPLE TEMP TEMPORARY TERMINATED TEXT THAN "
    "THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO TOKEN TOTAL TOUCH TRAILING TRANSACTION "
    "TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER TRIM TRUE TRUNCATE TTL TUPLE TYPE UNDER UNDO UNION "
    "UNIQUE UNIT UNKNOWN UNLOGGED UNNEST UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL USAGE USE USER "
    "USERS USING UUID VACUUM VALUE VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS "
    "VIRTUAL VOID WAIT WHEN WHENEVER WHERE WHILE WINDOW WITH WITHIN WITHOUT WORK WRAPPED WRITE YEAR "
    "ZONE"
)
_RESERVED: Final = frozenset(_RESERVED_WORDS.split())


@dataclass(frozen=True)
class CallFault:
    """What the network and the service do to one call: latency, and at most one error or one
    damaged answer.

    error: None, "throttle" (ThrottlingException, not applied), "internal" (InternalServerError,
    not applied), "timeout" (ReadTimeoutError, not applied) or "lost_answer" (applied, then
    ReadTimeoutError: the write happened and the caller never learns it). A faulted call raises
    after the first half of its latency.

    answer: None, or how the answer is damaged on its way back. The call is applied (a write
    happened, as with "lost_answer") and its answer, written as DynamoDB writes it on the wire (JSON
    and `x-amz-crc32`), is damaged, then read by the lean client's own `read_answer`, so the
    campaign exercises the real verification: "empty" (a 200 with no body, its CRC "0" matching),
    "truncated" (the body cut in half under the whole body's CRC, no Content-Length), "no_crc" (the
    header stripped), "bad_crc" (the header off by one), "html" (a proxy's 200 page), or "foreign"
    (a whole, verified answer about another item of the same table where one exists: a GetItem's or
    UpdateItem's item, or the item a refused write carries; else the answer as it was). All but
    "foreign" raise botocore's transient HTTPClientError (an error answer stripped of its CRC is
    still read as that error); "foreign" is for the stores' key checks to catch. The answer comes
    back after the whole latency.
    """

    latency_ms: int = 0
    error: str | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.error is not None and self.error not in FAULT_ERRORS:
            raise ValueError(f"error must be None or one of {sorted(FAULT_ERRORS)}, not {self.error!r}")
        if self.answer is not None and self.answer not in ANSWER_FAULTS:
            raise ValueError(f"answer must be None or one of {sorted(ANSWER_FAULTS)}, not {self.answer!r}")
        if self.error is not None and self.answer is not None:
            raise ValueError("a call fails with an error or answers damaged, not both")


class _Reject(Exception):
    """A refusal by the service, turned into the botocore exception when the answer goes back."""

    def __init__(self, code: str, message: str, status: int = 400, item: Item | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.item = item  # ReturnValuesOnConditionCheckFailure=ALL_OLD: the item as it stood


def _invalid(message: str) -> _Reject:
    return _Reject("ValidationException", message)


def _unsupported(what: str) -> _Reject:
    return _Reject("ValidationException", f"FakeDynamo does not support {what}")


@functools.cache
def _service() -> tuple[Any, Any]:
    """botocore's own DynamoDB model and modeled exceptions: the same classes a real client raises."""
    import botocore.session
    from botocore.errorfactory import ClientExceptionsFactory

    model = botocore.session.get_session().get_service_model("dynamodb")
    return model, ClientExceptionsFactory().create_client_exceptions(model)


# -- attribute values ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Wide enough that adding any two storable numbers is exact; the result is range-checked after.
_EXACT = Context(prec=400)
_SET_NAMES: Final = {"SS": "string", "NS": "number", "BS": "binary"}


def _format_number(number: Decimal) -> str:
    # DynamoDB stores numbers normalized: "1.50" reads back as "1.5", "-0" as "0".
    if number.is_zero():
        return "0"
    number = number.normalize(_EXACT)
    if len(number.as_tuple().digits) > 38:
        raise _invalid("Attempting to store more than 38 significant digits in a Number")
    if number.adjusted() > 125:
        raise _invalid(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if number.adjusted() < -130:
        raise _invalid(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    return format(number, "f")


def _number(text: object) -> str:
    if not isinstance(text, str) or not _NUMBER.fullmatch(text):
        raise _invalid(f"A value provided cannot be converted into a number: {text!r}")
    return _format_number(Decimal(text))


def _blob(payload: object) -> bytes:
    # boto3 accepts str for blobs and sends its UTF-8 bytes; they come back as bytes.
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    raise _invalid("Invalid binary value")


def _value(raw: object) -> AttributeValue:
    """A validated, normalized deep copy of one wire-format attribute value."""
    if not isinstance(raw, Mapping) or not raw:
        raise _invalid(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    if len(raw) != 1:
        raise _invalid(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
            "supported datatypes"
        )
    ((kind, payload),) = raw.items()
    if kind == "S" and isinstance(payload, str):
        return {"S": payload}
    if kind == "N":
        return {"N": _number(payload)}
    if kind == "B":
        return {"B": _blob(payload)}
    if kind == "BOOL" and isinstance(payload, bool):
        return {"BOOL": payload}
    if kind == "NULL":
        if payload is not True:
            raise _invalid(
                "One or more parameter values were invalid: Null attribute value types must have the value "
                "of true"
            )
        return {"NULL": True}
    if kind == "L" and isinstance(payload, list):
        return {"L": [_value(v) for v in payload]}
    if kind == "M" and isinstance(payload, Mapping):
        return {"M": {str(k): _value(v) for k, v in payload.items()}}
    if kind in _SET_NAMES and isinstance(payload, list):
        if not payload:
            raise _invalid(
                f"One or more parameter values were invalid: An {_SET_NAMES[kind]} set  may not be empty"
            )
        members: list[Any]
        if kind == "SS":
            if not all(isinstance(m, str) for m in payload):
                raise _invalid("A string set may only hold strings")
            members = list(payload)
        elif kind == "NS":
            members = [_number(m) for m in payload]
        else:
            members = [_blob(m) for m in payload]
        unique = {Decimal(m) for m in members} if kind == "NS" else set(members)
        if len(unique) != len(members):
            raise _invalid(f"Input collection {payload!r} contains duplicates.")
        return {kind: members}
    raise _invalid(f"Supplied AttributeValue has an invalid type or payload: {kind}")


def _item(raw: Mapping[str, Any]) -> Item:
    return {str(name): _value(v) for name, v in raw.items()}


def _type(value: AttributeValue) -> str:
    return next(iter(value))


def _ordered(value: AttributeValue) -> Decimal | str | bytes | None:
    """The comparable payload of an S, N or B value; None for types that have no order."""
    kind, payload = next(iter(value.items()))
    if kind == "N":
        return Decimal(payload)
    if kind in ("S", "B"):
        return payload  # type: ignore[no-any-return]
    return None


def _equal(a: AttributeValue, b: AttributeValue) -> bool:
    (ka, pa), (kb, pb) = next(iter(a.items())), next(iter(b.items()))
    if ka != kb:
        return False
    if ka == "N":
        return Decimal(pa) == Decimal(pb)
    if ka == "NS":
        return {Decimal(x) for x in pa} == {Decimal(x) for x in pb}
    if ka in ("SS", "BS"):
        return set(pa) == set(pb)
    if ka == "L":
        return len(pa) == len(pb) and all(_equal(x, y) for x, y in zip(pa, pb, strict=True))
    if ka == "M":
        return pa.keys() == pb.keys() and all(_equal(pa[k], pb[k]) for k in pa)
    return bool(pa == pb)


def _compare(op: str, a: AttributeValue | None, b: AttributeValue | None) -> bool:
    if op in ("=", "<>"):
        # A missing operand equals only another missing one (as dynalite and moto, both checked
        # against DynamoDB, have it): `status <> :s` matches items without status.
        same = (a is None and b is None) or (a is not None and b is not None and _equal(a, b))
        return same == (op == "=")
    if a is None or b is None or _type(a) != _type(b):
        return False  # different types never order: the comparison is false, not an error
    x, y = _ordered(a), _ordered(b)
    if x is None or y is None:
        return False
    if op == "<":
        return x < y  # type: ignore[operator]
    if op == "<=":
        return x <= y  # type: ignore[operator]
    if op == ">":
        return x > y  # type: ignore[operator]
    return x >= y  # type: ignore[operator]


# -- expressions: tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<ref>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<op><>|<=|>=|[=<>(),+\-.\[\]])|(?P<int>[0-9]+))"
)
_COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
_ORDERED_TYPES: Final = frozenset({"S", "N", "B"})
_TYPE_NAMES: Final = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "L": "LIST",
    "M": "MAP",
    "SS": "SET",
    "NS": "SET",
    "BS": "SET",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # name, ref, value, op, int, end
    text: str
    pos: int


def _tokenize(text: str, label: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(_Token("end", "<EOF>", pos))
            return tokens
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise _invalid(
                f'Invalid {label}: Syntax error; token: "{text[pos]}", near: "{text[pos : pos + 10]}"'
            )
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        pos = match.end()


class _Placeholders:
    """The request's #names and :values, and which of them the expressions used."""

    def __init__(self, names: Mapping[str, str] | None, values: Mapping[str, AttributeValue] | None) -> None:
        self.names = dict(names or {})
        self.values = dict(values or {})
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def name(self, ref: str, label: str) -> str:
        if ref not in self.names:
            raise _invalid(
                f"Invalid {label}: An expression attribute name used in the document path is not defined; "
                f"attribute name: {ref}"
            )
        self.used_names.add(ref)
        return self.names[ref]

    def value(self, ref: str, label: str) -> AttributeValue:
        if ref not in self.values:
            raise _invalid(
                f"Invalid {label}: An expression attribute value used in expression is not defined; "
                f"attribute value: {ref}"
            )
        self.used_values.add(ref)
        return self.values[ref]

    def check_all_used(self) -> None:
        # DynamoDB refuses placeholders no expression uses (deadman.stores.lease filters its values for it).
        unused_names = sorted(set(self.names) - self.used_names)
        if unused_names:
            raise _invalid(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: "
                f"{{{', '.join(unused_names)}}}"
            )
        unused_values = sorted(set(self.values) - self.used_values)
        if unused_values:
            raise _invalid(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: "
                f"{{{', '.join(unused_values)}}}"
            )


# -- expressions: syntax trees ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Path:
    name: str


@dataclass(frozen=True)
class _Const:
    ref: str
    value: AttributeValue


@dataclass(frozen=True)
class _IfNotExists:
    path: _Path
    default: _Operand


@dataclass(frozen=True)
class _Arith:
    op: str
    left: _Operand
    right: _Operand


_Operand: TypeAlias = _Path | _Const | _IfNotExists | _Arith


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Operand
    right: _Operand


@dataclass(frozen=True)
class _Between:
    subject: _Operand
    low: _Operand
    high: _Operand


@dataclass(frozen=True)
class _Exists:
    path: _Path
    wanted: bool


@dataclass(frozen=True)
class _BeginsWith:
    subject: _Operand
    prefix: _Operand


@dataclass(frozen=True)
class _And:
    left: _Condition
    right: _Condition


@dataclass(frozen=True)
class _Or:
    left: _Condition
    right: _Condition


@dataclass(frozen=True)
class _Not:
    inner: _Condition


@dataclass(frozen=True)
class _Group:
    inner: _Condition


_Condition: TypeAlias = _Compare | _Between | _Exists | _BeginsWith | _And | _Or | _Not | _Group


@dataclass(frozen=True)
class _Update:
    sets: tuple[tuple[_Path, _Operand], ...]
    removes: tuple[_Path, ...]
    adds: tuple[tuple[_Path, _Const], ...]

    def targets(self) -> list[str]:
        return (
            [p.name for p, _ in self.sets] + [p.name for p in self.removes] + [p.name for p, _ in self.adds]
        )


# -- expressions: parser ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over one expression. Precedence (DynamoDB's): comparisons, BETWEEN and
    functions bind tightest, then NOT, then AND, then OR."""

    def __init__(self, text: object, label: str, placeholders: _Placeholders) -> None:
        if not isinstance(text, str) or not text.strip():
            raise _invalid(f"Invalid {label}: The expression can not be empty;")
        self.label = label
        self.ph = placeholders
        self.tokens = _tokenize(text, label)
        self.at = 0

    # -- token helpers --
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "name" and token.text.upper() == word

    def syntax_error(self, token: _Token) -> _Reject:
        near = " ".join(t.text for t in self.tokens[max(0, self.at - 1) : self.at + 2] if t.kind != "end")
        return _invalid(f'Invalid {self.label}: Syntax error; token: "{token.text}", near: "{near}"')

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind == "end":
            raise self.syntax_error(token)

    def expect_keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            raise self.syntax_error(self.peek())
        self.take()

    def finish(self) -> None:
        if self.peek().kind != "end":
            raise self.syntax_error(self.peek())

    # -- operands --
    def path(self) -> _Path:
        token = self.take()
        if token.kind == "ref":
            name = self.ph.name(token.text, self.label)
        elif token.kind == "name":
            if token.text.upper() in _RESERVED:
                raise _invalid(
                    f"Invalid {self.label}: Attribute name is a reserved keyword; reserved keyword: "
                    f"{token.text}"
                )
            name = token.text
        else:
            raise self.syntax_error(token)
        if self.peek().text in (".", "[") and self.peek().kind == "op":
            raise _unsupported("nested document paths (a.b, a[0])")
        return _Path(name)

    def const(self) -> _Const:
        token = self.take()
        if token.kind != "value":
            raise self.syntax_error(token)
        return _Const(token.text, self.ph.value(token.text, self.label))

    def operand(self) -> _Operand:
        token = self.peek()
        if token.kind == "value":
            return self.const()
        if token.kind == "name" and self.peek(1).text == "(":
            if token.text == "if_not_exists" and self.label == "UpdateExpression":
                return self.if_not_exists()
            if token.text in ("size", "list_append"):
                raise _unsupported(f"the {token.text} function")
            if token.text == "if_not_exists":
                raise _invalid(
                    f"Invalid {self.label}: The function is not allowed to be used this way in an "
                    f"expression; function: {token.text}"
                )
            raise _invalid(f"Invalid {self.label}: Invalid function name; function: {token.text}")
        return self.path()

    def if_not_exists(self) -> _IfNotExists:
        self.take()
        self.expect("(")
        path = self.operand()
        if not isinstance(path, _Path):
            raise _invalid(
                f"Invalid {self.label}: Operator or function requires a document path; operator or "
                "function: if_not_exists"
            )
        self.expect(",")
        default = self.operand()
        self.expect(")")
        return _IfNotExists(path, default)

    def ordered_operand_check(self, op: str, *operands: _Operand) -> None:
        for operand in operands:
            if isinstance(operand, _Const) and _type(operand.value) not in _ORDERED_TYPES:
                raise _invalid(
                    f"Invalid {self.label}: Incorrect operand type for operator or function; operator or "
                    f"function: {op}, operand type: {_TYPE_NAMES[_type(operand.value)]}"
                )

    # -- conditions --
    def condition(self) -> _Condition:
        node = self.disjunction()
        self.finish()
        return node

    def disjunction(self) -> _Condition:
        node = self.conjunction()
        while self.is_keyword("OR"):
            self.take()
            node = _Or(node, self.conjunction())
        return node

    def conjunction(self) -> _Condition:
        node = self.negation()
        while self.is_keyword("AND"):
            self.take()
            node = _And(node, self.negation())
        return node

    def negation(self) -> _Condition:
        if self.is_keyword("NOT"):
            self.take()
            return _Not(self.negation())
        return self.primary()

    def primary(self) -> _Condition:
        token = self.peek()
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            if isinstance(inner, _Group):
                raise _invalid(f"Invalid {self.label}: The expression has redundant parentheses;")
            return _Group(inner)
        if token.kind == "name" and self.peek(1).text == "(":
            return self.function()
        left = self.operand()
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARATORS:
            self.take()
            right = self.operand()
            if token.text not in ("=", "<>"):
                self.ordered_operand_check(token.text, left, right)
            return _Compare(token.text, left, right)
        if self.is_keyword("BETWEEN"):
            self.take()
            low = self.operand()
            self.expect_keyword("AND")
            high = self.operand()
            self.ordered_operand_check("BETWEEN", left, low, high)
            if isinstance(low, _Const) and isinstance(high, _Const):
                if _type(low.value) != _type(high.value):
                    raise _invalid(
                        f"Invalid {self.label}: The BETWEEN operator requires same data type for lower and "
                        f"upper bounds; lower bound operand: {low.value}, upper bound operand: {high.value}"
                    )
                if _compare(">", low.value, high.value):
                    raise _invalid(
                        f"Invalid {self.label}: The BETWEEN operator requires upper bound to be greater than "
                        f"or equal to lower bound; lower bound operand: {low.value}, upper bound operand: "
                        f"{high.value}"
                    )
            return _Between(left, low, high)
        if self.is_keyword("IN"):
            raise _unsupported("the IN operator")
        raise self.syntax_error(token)

    def function(self) -> _Condition:
        name = self.take().text
        self.expect("(")
        if name in ("attribute_exists", "attribute_not_exists"):
            path = self.operand()
            if not isinstance(path, _Path):
                raise _invalid(
                    f"Invalid {self.label}: Operator or function requires a document path; operator or "
                    f"function: {name}"
                )
            self.expect(")")
            return _Exists(path, name == "attribute_exists")
        if name == "begins_with":
            subject = self.operand()
            self.expect(",")
            prefix = self.operand()
            self.expect(")")
            for operand in (subject, prefix):
                if isinstance(operand, _Const) and _type(operand.value) not in ("S", "B"):
                    raise _invalid(
                        f"Invalid {self.label}: Incorrect operand type for operator or function; operator or "
                        f"function: begins_with, operand type: {_TYPE_NAMES[_type(operand.value)]}"
                    )
            return _BeginsWith(subject, prefix)
        if name in ("contains", "attribute_type", "size"):
            raise _unsupported(f"the {name} function")
        raise _invalid(f"Invalid {self.label}: Invalid function name; function: {name}")

    # -- updates --
    def update(self) -> _Update:
        sets: list[tuple[_Path, _Operand]] = []
        removes: list[_Path] = []
        adds: list[tuple[_Path, _Const]] = []
        seen: set[str] = set()
        while self.peek().kind != "end":
            token = self.take()
            clause = token.text.upper() if token.kind == "name" else ""
            if clause not in ("SET", "REMOVE", "ADD", "DELETE"):
                raise self.syntax_error(token)
            if clause in seen:
                raise _invalid(
                    f'Invalid UpdateExpression: The "{clause}" section can only be used once in an update '
                    "expression;"
                )
            seen.add(clause)
            if clause == "DELETE":
                raise _unsupported("DELETE clauses in update expressions")
            while True:
                if clause == "SET":
                    target = self.path()
                    self.expect("=")
                    sets.append((target, self.set_value()))
                elif clause == "REMOVE":
                    removes.append(self.path())
                else:
                    target = self.path()
                    value = self.const()
                    kind = _type(value.value)
                    if kind in _SET_NAMES:
                        raise _unsupported("ADD on sets")
                    if kind != "N":
                        raise _invalid(
                            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
                            f"operator: ADD, operand type: {_TYPE_NAMES[kind]}"
                        )
                    adds.append((target, value))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    continue
                break
        update = _Update(tuple(sets), tuple(removes), tuple(adds))
        targets = update.targets()
        for i, name in enumerate(targets):
            if name in targets[:i]:
                raise _invalid(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
                    f"rewrite one of these paths; path one: [{name}], path two: [{name}]"
                )
        return update

    def set_value(self) -> _Operand:
        left = self.operand()
        token = self.peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self.take()
            return _Arith(token.text, left, self.operand())
        return left


# -- expressions: evaluation --------------------------------------------------------------------------


def _resolve(operand: _Operand, item: Item) -> AttributeValue | None:
    if isinstance(operand, _Path):
        return item.get(operand.name)
    if isinstance(operand, _Const):
        return operand.value
    raise _invalid("Invalid ConditionExpression: update functions cannot be used in conditions")


def _holds(node: _Condition, item: Item) -> bool:
    if isinstance(node, _Compare):
        return _compare(node.op, _resolve(node.left, item), _resolve(node.right, item))
    if isinstance(node, _Between):
        subject = _resolve(node.subject, item)
        return _compare(">=", subject, _resolve(node.low, item)) and _compare(
            "<=", subject, _resolve(node.high, item)
        )
    if isinstance(node, _Exists):
        return (node.path.name in item) == node.wanted
    if isinstance(node, _BeginsWith):
        subject, prefix = _resolve(node.subject, item), _resolve(node.prefix, item)
        if subject is None or prefix is None or _type(subject) != _type(prefix):
            return False
        if _type(subject) == "S":
            return str(subject["S"]).startswith(prefix["S"])
        if _type(subject) == "B":
            return bytes(subject["B"]).startswith(prefix["B"])
        return False
    if isinstance(node, _And):
        return _holds(node.left, item) and _holds(node.right, item)
    if isinstance(node, _Or):
        return _holds(node.left, item) or _holds(node.right, item)
    if isinstance(node, _Not):
        return not _holds(node.inner, item)
    return _holds(node.inner, item)


def _set_value(operand: _Operand, old: Item) -> AttributeValue:
    """A SET right-hand side, always read from the item as it was before this update."""
    if isinstance(operand, _Const):
        return copy.deepcopy(operand.value)
    if isinstance(operand, _Path):
        if operand.name not in old:
            raise _invalid("The provided expression refers to an attribute that does not exist in the item")
        return copy.deepcopy(old[operand.name])
    if isinstance(operand, _IfNotExists):
        if operand.path.name in old:
            return copy.deepcopy(old[operand.path.name])
        return _set_value(operand.default, old)
    left, right = _set_value(operand.left, old), _set_value(operand.right, old)
    if _type(left) != "N" or _type(right) != "N":
        raise _invalid("An operand in the update expression has an incorrect data type")
    a, b = Decimal(left["N"]), Decimal(right["N"])
    return {"N": _format_number(_EXACT.add(a, b) if operand.op == "+" else _EXACT.subtract(a, b))}


def _add_value(current: AttributeValue | None, delta: AttributeValue) -> AttributeValue:
    if current is None:
        return copy.deepcopy(delta)  # ADD on a missing attribute starts from zero
    if _type(current) != "N":
        raise _invalid("An operand in the update expression has an incorrect data type")
    return {"N": _format_number(_EXACT.add(Decimal(current["N"]), Decimal(delta["N"])))}


# -- tables -------------------------------------------------------------------------------------------

_KeyTuple: TypeAlias = tuple[Any, ...]


@dataclass
class _Table:
    name: str
    hash_key: str
    hash_type: str
    range_key: str | None
    range_type: str | None
    ttl_attribute: str | None
    rows: dict[_KeyTuple, Item]

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def schema(self) -> list[tuple[str, str]]:
        out = [(self.hash_key, self.hash_type)]
        if self.range_key is not None and self.range_type is not None:
            out.append((self.range_key, self.range_type))
        return out

    def key_of_key(self, raw: object) -> tuple[_KeyTuple, Item]:
        """A `Key` parameter: exactly the key attributes, of the schema's types."""
        if not isinstance(raw, Mapping):
            raise _invalid("The provided key element does not match the schema")
        key = _item(raw)
        if set(key) != set(self.key_names):
            raise _invalid("The provided key element does not match the schema")
        for name, kind in self.schema():
            if _type(key[name]) != kind:
                raise _invalid("The provided key element does not match the schema")
        return self._tuple(key), key

    def key_of_item(self, item: Item) -> tuple[_KeyTuple, Item]:
        for name, kind in self.schema():
            if name not in item:
                raise _invalid(
                    f"One or more parameter values were invalid: Missing the key {name} in the item"
                )
            if _type(item[name]) != kind:
                raise _invalid(
                    "One or more parameter values were invalid: Type mismatch for key "
                    f"{name} expected: {kind} actual: {_type(item[name])}"
                )
        key = {name: item[name] for name in self.key_names}
        return self._tuple(key), key

    def _tuple(self, key: Item) -> _KeyTuple:
        for name in self.key_names:
            payload = next(iter(key[name].values()))
            if payload in ("", b""):
                raise _invalid(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute "
                    f"cannot contain an empty string value. Key: {name}"
                )
        return tuple(_ordered(key[name]) for name in self.key_names)

    def key_item(self, item: Item) -> Item:
        return {name: copy.deepcopy(item[name]) for name in self.key_names}


def _another_item(table: _Table, params: Mapping[str, Any]) -> Item | None:
    """The first item of `table`, in key order, that is not the one the request names (a "foreign"
    answer): deterministic, so a seed reproduces it."""
    try:
        asked, _ = (
            table.key_of_key(params["Key"]) if "Key" in params else table.key_of_item(_item(params["Item"]))
        )
    except (_Reject, KeyError):
        return None
    for key in sorted(table.rows):
        if key != asked:
            return copy.deepcopy(table.rows[key])
    return None


def _on_the_wire(answer: dict[str, Any], refused: _Reject | None) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of an answer or a refusal, as DynamoDB's JSON protocol has them."""
    if refused is None:
        return 200, copy.deepcopy(answer)
    wire: dict[str, Any] = {
        "__type": f"com.amazonaws.dynamodb.v20120810#{refused.code}",
        "message": refused.message,
    }
    if refused.item is not None:
        wire["Item"] = copy.deepcopy(refused.item)
    return refused.status, wire


def _wire_blob(value: Any) -> str:
    # Binary attribute values travel as base64 text, as the service sends them.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_RETURN_VALUES: Final = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")


def _return_values(params: Mapping[str, Any], allowed: tuple[str, ...], operation: str) -> str:
    value = params.get("ReturnValues", "NONE")
    if value not in _RETURN_VALUES:
        raise _invalid(
            f"1 validation error detected: Value '{value}' at 'returnValues' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(_RETURN_VALUES)}]"
        )
    if value not in allowed:
        raise _invalid(f"ReturnValues can only be {' or '.join(allowed[1:])} or NONE for {operation}")
    return str(value)


_SUPPORTED: Final = {
    "GetItem": {"TableName", "Key", "ConsistentRead"},
    "PutItem": {
        "TableName",
        "Item",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValues",
        "ReturnValuesOnConditionCheckFailure",
    },
    "UpdateItem": {
        "TableName",
        "Key",
        "UpdateExpression",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValues",
        "ReturnValuesOnConditionCheckFailure",
    },
    "DeleteItem": {
        "TableName",
        "Key",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValues",
    },
    "Query": {
        "TableName",
        "KeyConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ScanIndexForward",
        "Limit",
        "ExclusiveStartKey",
        "ConsistentRead",
    },
    "Scan": {"TableName", "Limit", "ExclusiveStartKey", "ConsistentRead"},
}
_EXPRESSIONS: Final = ("ConditionExpression", "UpdateExpression", "KeyConditionExpression")


# -- the client ---------------------------------------------------------------------------------------


class FakeDynamo:
    """A drop-in for the low-level DynamoDB client, holding wire-format items in memory.

    Strongly consistent for every read (ConsistentRead is accepted and changes nothing). Errors are
    the exceptions a boto3 client raises: `ClientError` subclasses from `self.exceptions` (e.g.
    `ConditionalCheckFailedException`), `ParamValidationError` for requests boto3 would not send,
    `ReadTimeoutError` for injected timeouts. There is no botocore retry layer: an injected fault
    reaches the caller as it is.
    """

    def __init__(
        self,
        *,
        sleep_ms: Callable[[int], None] | None = None,
        fault: Callable[[str, str], CallFault | None] | None = None,
    ) -> None:
        self._sleep_ms = sleep_ms
        self._fault = fault
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self.exceptions: Any = _service()[1]
        self.calls: Counter[tuple[str, str]] = Counter()
        # Every ValidationException answered, even those the caller swallowed: a checker can insist
        # that the code under test never sent DynamoDB a request it refuses.
        self.validation_errors: list[tuple[str, str]] = []

    # -- tables (plain methods, not boto3's) ----------------------------------------------------------
    def create_table(
        self,
        name: str,
        hash_key: str,
        range_key: str | None = None,
        ttl_attribute: str | None = None,
        *,
        hash_type: str = "S",
        range_type: str = "S",
    ) -> None:
        for kind in (hash_type, range_type):
            if kind not in _ORDERED_TYPES:
                raise ValueError(f"key attribute types are S, N or B, not {kind!r}")
        with self._lock:
            if name in self._tables:
                raise ValueError(f"table {name!r} already exists")
            self._tables[name] = _Table(
                name=name,
                hash_key=hash_key,
                hash_type=hash_type,
                range_key=range_key,
                range_type=range_type if range_key is not None else None,
                ttl_attribute=ttl_attribute,
                rows={},
            )

    def create_tables_from_template(
        self, names: Mapping[str, str], definitions: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Tables from template properties (`sandbox.tables.table_definitions()`): logical id -> name."""
        for logical, props in definitions.items():
            if logical not in names:
                continue
            types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
            keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
            ttl = props.get("TimeToLiveSpecification") or {}
            range_key = keys.get("RANGE")
            self.create_table(
                names[logical],
                keys["HASH"],
                range_key,
                ttl["AttributeName"] if ttl.get("Enabled") else None,
                hash_type=types[keys["HASH"]],
                range_type=types[range_key] if range_key else "S",
            )

    def expire(self, now_s: int) -> int:
        """Delete what TTL would have deleted by `now_s` (epoch seconds); how many items went."""
        removed = 0
        with self._lock:
            for table in self._tables.values():
                if table.ttl_attribute is None:
                    continue
                for key, item in list(table.rows.items()):
                    value = item.get(table.ttl_attribute)
                    if value is None or _type(value) != "N":
                        continue  # TTL ignores items without a numeric TTL attribute
                    expires = Decimal(value["N"])
                    if now_s - TTL_MAX_AGE_S <= expires < now_s:
                        del table.rows[key]
                        removed += 1
        return removed

    # -- for the checker: no yield, no fault, not counted -------------------------------------------
    def items(self, table: str) -> list[Item]:
        with self._lock:
            found = self._table_or_key_error(table)
            return [copy.deepcopy(found.rows[k]) for k in sorted(found.rows)]

    def get_raw(self, table: str, key: Mapping[str, Any]) -> Item | None:
        with self._lock:
            found = self._table_or_key_error(table)
            try:
                key_tuple, _ = found.key_of_key(key)
            except _Reject as reject:
                raise ValueError(reject.message) from None
            item = found.rows.get(key_tuple)
            return copy.deepcopy(item) if item is not None else None

    def _table_or_key_error(self, name: str) -> _Table:
        if name not in self._tables:
            raise KeyError(f"no table {name!r}")
        return self._tables[name]

    # -- the boto3 surface ----------------------------------------------------------------------------
    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", params, self._get_item)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._call("PutItem", params, self._put_item)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", params, self._update_item)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteItem", params, self._delete_item)

    def query(self, **params: Any) -> dict[str, Any]:
        return self._call("Query", params, self._query)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self._call("Scan", params, self._scan)

    # -- one call: validation, fault, latency, application --------------------------------------------
    def _call(
        self,
        operation: str,
        params: dict[str, Any],
        apply: Callable[[_Table, dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        from botocore.validate import ParamValidator

        model, _ = _service()
        # What boto3 refuses client-side never reaches the service: no latency, no fault, no count.
        report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        # The request is serialized when it is sent: later changes by the caller do not reach it.
        params = copy.deepcopy(params)
        table_name = str(params["TableName"])
        with self._lock:
            self.calls[(operation, table_name)] += 1
        fault = self._fault(operation, table_name) if self._fault is not None else None
        latency = fault.latency_ms if fault is not None else 0
        error = fault.error if fault is not None else None
        damage = fault.answer if fault is not None else None
        self._sleep(latency // 2)
        if error == "throttle":
            raise self._client_error(
                operation,
                _Reject("ThrottlingException", "Rate of requests exceeds the allowed throughput.", 400),
            )
        if error == "internal":
            raise self._client_error(operation, _Reject("InternalServerError", "Internal server error", 500))
        if error == "timeout":
            raise ReadTimeoutError(endpoint_url=ENDPOINT_URL)
        answer: dict[str, Any] = {}
        failure: ClientError | None = None
        refused: _Reject | None = None
        other: Item | None = None
        with self._lock:
            try:
                table = self._tables.get(table_name)
                if table is None:
                    raise _Reject("ResourceNotFoundException", "Requested resource not found")
                unsupported = sorted(set(params) - _SUPPORTED[operation])
                if unsupported:
                    raise _unsupported(f"the parameter(s) {', '.join(unsupported)} of {operation}")
                answer = apply(table, params)
            except _Reject as reject:
                if reject.code == "ValidationException":
                    self.validation_errors.append((operation, reject.message))
                failure = self._client_error(operation, reject)
                refused = reject
            if damage == "foreign" and table is not None:
                other = _another_item(table, params)
        if error == "lost_answer":
            raise ReadTimeoutError(endpoint_url=ENDPOINT_URL)
        self._sleep(latency - latency // 2)
        if damage is not None:
            return self._damaged(operation, damage, answer, refused, other)
        if failure is not None:
            raise failure
        return answer

    def _damaged(
        self, operation: str, damage: str, answer: dict[str, Any], refused: _Reject | None, other: Item | None
    ) -> dict[str, Any]:
        """The answer as DynamoDB would send it, damaged as told, read by the lean client's reader."""
        from deadman.stores.answers import read_answer

        status, wire = _on_the_wire(answer, refused)
        if other is not None:
            member = "Item" if operation == "GetItem" or refused is not None else "Attributes"
            if member in wire or operation == "GetItem":
                wire[member] = other
        body = json.dumps(wire, separators=(",", ":"), default=_wire_blob).encode()
        crc = zlib.crc32(body)
        headers = {"content-type": "application/x-amz-json-1.0", "x-amz-crc32": str(crc)}
        if damage == "empty":
            status, body, headers = 200, b"", {"x-amz-crc32": "0"}
        elif damage == "truncated":
            body = body[: len(body) // 2]
        elif damage == "no_crc":
            del headers["x-amz-crc32"]
        elif damage == "bad_crc":
            headers["x-amz-crc32"] = str((crc + 1) % 2**32)
        elif damage == "html":
            status, body, headers = 200, b"<html><body>502 Bad Gateway</body></html>", {}
        if damage != "truncated":
            headers["content-length"] = str(len(body))
        return read_answer("dynamodb", operation, status, headers, body, exceptions=self.exceptions)

    def _sleep(self, ms: int) -> None:
        if self._sleep_ms is not None:
            self._sleep_ms(ms)

    def _client_error(self, operation: str, reject: _Reject) -> ClientError:
        response: dict[str, Any] = {
            "Error": {"Code": reject.code, "Message": reject.message},
            "ResponseMetadata": {"HTTPStatusCode": reject.status},
        }
        if reject.item is not None:
            response["Item"] = copy.deepcopy(reject.item)
        error_class = self.exceptions.from_code(reject.code)
        error: ClientError = error_class(response, operation)
        return error

    # -- the operations (called under the lock) -------------------------------------------------------
    @staticmethod
    def _placeholders(params: Mapping[str, Any]) -> _Placeholders:
        names = params.get("ExpressionAttributeNames")
        values = params.get("ExpressionAttributeValues")
        has_expression = any(name in params for name in _EXPRESSIONS)
        if names is not None:
            if not has_expression:
                raise _invalid("ExpressionAttributeNames can only be specified when using expressions")
            if not names:
                raise _invalid("ExpressionAttributeNames must not be empty")
        if values is not None:
            if not has_expression:
                raise _invalid("ExpressionAttributeValues can only be specified when using expressions")
            if not values:
                raise _invalid("ExpressionAttributeValues must not be empty")
        return _Placeholders(names, {ref: _value(v) for ref, v in (values or {}).items()})

    @staticmethod
    def _condition(params: Mapping[str, Any], ph: _Placeholders) -> _Condition | None:
        if "ConditionExpression" not in params:
            return None
        return _Parser(params["ConditionExpression"], "ConditionExpression", ph).condition()

    @staticmethod
    def _check(condition: _Condition | None, old: Item | None, params: Mapping[str, Any]) -> None:
        if condition is not None and not _holds(condition, old or {}):
            wanted = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
            if wanted not in ("NONE", "ALL_OLD"):
                raise _invalid("ReturnValuesOnConditionCheckFailure must be NONE or ALL_OLD")
            item = old if wanted == "ALL_OLD" else None
            raise _Reject("ConditionalCheckFailedException", "The conditional request failed", item=item)

    def _get_item(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = table.key_of_key(params["Key"])
        item = table.rows.get(key)
        return {"Item": copy.deepcopy(item)} if item is not None else {}

    def _put_item(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        returns = _return_values(params, ("NONE", "ALL_OLD"), "PutItem")
        item = _item(params["Item"])
        key, _ = table.key_of_item(item)
        ph = self._placeholders(params)
        condition = self._condition(params, ph)
        ph.check_all_used()
        old = table.rows.get(key)
        self._check(condition, old, params)
        table.rows[key] = item
        if returns == "ALL_OLD" and old is not None:
            return {"Attributes": copy.deepcopy(old)}
        return {}

    def _delete_item(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        returns = _return_values(params, ("NONE", "ALL_OLD"), "DeleteItem")
        key, _ = table.key_of_key(params["Key"])
        ph = self._placeholders(params)
        condition = self._condition(params, ph)
        ph.check_all_used()
        old = table.rows.get(key)
        self._check(condition, old, params)
        table.rows.pop(key, None)
        if returns == "ALL_OLD" and old is not None:
            return {"Attributes": copy.deepcopy(old)}
        return {}

    def _update_item(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        returns = _return_values(params, _RETURN_VALUES, "UpdateItem")
        key_tuple, key = table.key_of_key(params["Key"])
        ph = self._placeholders(params)
        update = (
            _Parser(params["UpdateExpression"], "UpdateExpression", ph).update()
            if "UpdateExpression" in params
            else _Update((), (), ())
        )
        condition = self._condition(params, ph)
        ph.check_all_used()
        for name in update.targets():
            if name in table.key_names:
                raise _invalid(
                    "One or more parameter values were invalid: Cannot update attribute "
                    f"{name}. This attribute is part of the key"
                )
        old = table.rows.get(key_tuple)
        self._check(condition, old, params)
        before = old or {}
        # Every right-hand side reads the item as it was: `SET holder = next_holder REMOVE next_holder`
        # moves the value, whatever the order of the clauses.
        sets = [(path.name, _set_value(value, before)) for path, value in update.sets]
        adds = [(path.name, _add_value(before.get(path.name), const.value)) for path, const in update.adds]
        new = copy.deepcopy(old) if old is not None else copy.deepcopy(key)
        for name, value in sets:
            new[name] = value
        for path in update.removes:
            new.pop(path.name, None)
        for name, value in adds:
            new[name] = value
        table.rows[key_tuple] = new
        # UPDATED_* name every attribute the expression touches, changed in value or not (as
        # dynalite, recorded against DynamoDB, does; moto leaves out unchanged values).
        touched = update.targets()
        attributes: Item | None = None
        if returns == "ALL_OLD":
            attributes = old
        elif returns == "ALL_NEW":
            attributes = new
        elif returns == "UPDATED_OLD" and old is not None:
            attributes = {n: old[n] for n in touched if n in old}
        elif returns == "UPDATED_NEW":
            attributes = {n: new[n] for n in touched if n in new}
        return {"Attributes": copy.deepcopy(attributes)} if attributes is not None else {}

    def _query(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        if "KeyConditionExpression" not in params:
            raise _invalid(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the "
                "request."
            )
        ph = self._placeholders(params)
        node = _Parser(params["KeyConditionExpression"], "KeyConditionExpression", ph).condition()
        ph.check_all_used()
        hash_value, range_condition = self._key_condition(table, node)
        limit = params.get("Limit")
        forward = bool(params.get("ScanIndexForward", True))
        hash_order = _ordered(hash_value)
        rows = sorted(
            (
                (k, item)
                for k, item in table.rows.items()
                if k[0] == hash_order and (range_condition is None or _holds(range_condition, item))
            ),
            key=lambda row: row[0],
        )
        if not forward:
            rows.reverse()
        if "ExclusiveStartKey" in params:
            start, start_item = self._start_key(table, params["ExclusiveStartKey"])
            if start[0] != hash_order:
                raise _invalid(
                    "The provided starting key is invalid: the partition key does not match the query"
                )
            if range_condition is not None and not _holds(range_condition, start_item):
                raise _invalid("The provided starting key does not match the range key predicate")
            rows = [(k, item) for k, item in rows if (k > start if forward else k < start)]
        return self._page(table, rows, limit)

    def _scan(self, table: _Table, params: dict[str, Any]) -> dict[str, Any]:
        # Real scans go in hash order of the partitions; sorted keys are as good and reproducible.
        rows = sorted(table.rows.items(), key=lambda row: row[0])
        if "ExclusiveStartKey" in params:
            start, _ = self._start_key(table, params["ExclusiveStartKey"])
            rows = [(k, item) for k, item in rows if k > start]
        return self._page(table, rows, params.get("Limit"))

    @staticmethod
    def _start_key(table: _Table, raw: object) -> tuple[_KeyTuple, Item]:
        try:
            return table.key_of_key(raw)
        except _Reject:
            raise _invalid(
                "The provided starting key is invalid: The provided key element does not match the schema"
            ) from None

    @staticmethod
    def _page(table: _Table, rows: list[tuple[_KeyTuple, Item]], limit: int | None) -> dict[str, Any]:
        page = rows if limit is None else rows[:limit]
        answer: dict[str, Any] = {
            "Items": [copy.deepcopy(item) for _, item in page],
            "Count": len(page),
            "ScannedCount": len(page),
        }
        # DynamoDB does not look ahead: stopping at Limit always gives a cursor, even when nothing is
        # left (the next page then comes back empty, without one).
        if limit is not None and page and len(page) == limit:
            answer["LastEvaluatedKey"] = table.key_item(page[-1][1])
        return answer

    @staticmethod
    def _key_condition(table: _Table, node: _Condition) -> tuple[AttributeValue, _Condition | None]:
        label = "KeyConditionExpression"
        leaves: list[_Condition] = []

        def flatten(n: _Condition) -> None:
            if isinstance(n, _Group):
                flatten(n.inner)
            elif isinstance(n, _And):
                flatten(n.left)
                flatten(n.right)
            elif isinstance(n, _Or | _Not):
                raise _invalid(f"Invalid operator used in {label}: {'OR' if isinstance(n, _Or) else 'NOT'}")
            else:
                leaves.append(n)

        flatten(node)
        if len(leaves) > 2:
            raise _invalid("Conditions can be of length 1 or 2 only")
        hash_value: AttributeValue | None = None
        range_condition: _Condition | None = None
        for leaf in leaves:
            if isinstance(leaf, _Exists):
                name = "attribute_exists" if leaf.wanted else "attribute_not_exists"
                raise _invalid(f"Invalid operator used in {label}: {name}")
            subject = leaf.left if isinstance(leaf, _Compare) else leaf.subject  # type: ignore[union-attr]
            if not isinstance(subject, _Path):
                raise _invalid(f"Invalid {label}: the key attribute must be on the left")
            consts = (
                [leaf.right]
                if isinstance(leaf, _Compare)
                else [leaf.low, leaf.high]
                if isinstance(leaf, _Between)
                else [leaf.prefix]  # type: ignore[union-attr]
            )
            if not all(isinstance(c, _Const) for c in consts):
                raise _invalid(f"Invalid {label}: key conditions compare a key attribute with values")
            if subject.name == table.hash_key and hash_value is None:
                if not (isinstance(leaf, _Compare) and leaf.op == "="):
                    raise _invalid("Query key condition not supported")
                hash_value = consts[0].value  # type: ignore[union-attr]
                if _type(hash_value) != table.hash_type:
                    raise _invalid(
                        "One or more parameter values were invalid: Condition parameter type does not match "
                        "schema type"
                    )
            elif subject.name == table.range_key and range_condition is None:
                if isinstance(leaf, _Compare) and leaf.op == "<>":
                    raise _invalid(f"Unsupported operator on {label}: operator: <>")
                if any(_type(c.value) != table.range_type for c in consts):  # type: ignore[union-attr]
                    raise _invalid(
                        "One or more parameter values were invalid: Condition parameter type does not match "
                        "schema type"
                    )
                range_condition = leaf
            else:
                raise _invalid("Query key condition not supported")
        if hash_value is None:
            raise _invalid(f"Query condition missed key schema element: {table.hash_key}")
        return hash_value, range_condition
