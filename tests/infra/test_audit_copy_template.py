"""The audit log's write-once copy in template.yaml: an Object Lock bucket no function can delete
from or unlock, written once by the archiver alone from the ControlTable stream, read back by the
verify policy; and the dashboard showing a trading system's death and the stores' retries."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.test_template import VENUES, as_list, functions, refs, resources, statements

pytestmark = pytest.mark.infra

# Deleting, unlocking or loosening the copy: no function may hold any of these.
DESTRUCTIVE = {
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucket",
}


def bucket(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]["AuditCopyBucket"]
    return found


def policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    props = template["Resources"]["AuditCopyBucketPolicy"]["Properties"]
    assert props["Bucket"] == {"Ref": "AuditCopyBucket"}
    found: list[dict[str, Any]] = props["PolicyDocument"]["Statement"]
    return found


def test_the_copy_is_locked_versioned_encrypted_private_and_retained(template: dict[str, Any]) -> None:
    res = bucket(template)
    assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain"
    props = res["Properties"]
    assert props["ObjectLockEnabled"] is True
    lock = props["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert retention == {"Mode": {"Ref": "AuditCopyRetentionMode"}, "Days": {"Ref": "AuditCopyRetentionDays"}}
    params = template["Parameters"]
    assert params["AuditCopyRetentionMode"]["Default"] == "COMPLIANCE"
    assert set(params["AuditCopyRetentionMode"]["AllowedValues"]) == {"COMPLIANCE", "GOVERNANCE"}
    # At least the table's TTL: nothing leaves the copy before it leaves the table.
    from deadman.stores.audit import AUDIT_RETENTION_S

    days = params["AuditCopyRetentionDays"]
    assert days["MinValue"] * 86_400 >= AUDIT_RETENTION_S and days["Default"] >= days["MinValue"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (expiry,) = props["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == {"Ref": "AuditCopyRetentionDays"}


def test_the_bucket_policy_is_tls_only_and_write_once(template: dict[str, Any]) -> None:
    by_sid = {s["Sid"]: s for s in policy(template)}
    tls = by_sid["TlsOnly"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {json.dumps(r, sort_keys=True) for r in tls["Resource"]} == {
        json.dumps({"Fn::GetAtt": ["AuditCopyBucket", "Arn"]}),
        json.dumps({"Fn::Sub": "${AuditCopyBucket.Arn}/*"}),
    }
    once = by_sid["WriteOnceOnly"]
    assert (once["Effect"], once["Principal"], once["Action"]) == ("Deny", "*", "s3:PutObject")
    assert once["Condition"] == {"Null": {"s3:if-none-match": "true"}}


def test_no_function_role_may_delete_or_unlock_the_copy(template: dict[str, Any]) -> None:
    """Both ways: no function's own policy grants a destructive action (or a wildcard) on anything,
    and the bucket policy denies them to every function role, whatever a future policy grants."""
    for name, fn in functions(template).items():
        for stmt in statements(fn):
            actions = set(as_list(stmt["Action"]))
            assert not actions & DESTRUCTIVE, f"{name} may {actions & DESTRUCTIVE}"
            assert not any(a in ("*", "s3:*") or a.startswith("s3:Delete") for a in actions), name
    (deny,) = [s for s in policy(template) if s["Sid"] == "NoFunctionDeletesOrUnlocks"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert set(deny["Action"]) == DESTRUCTIVE
    roles = deny["Condition"]["ArnLike"]["aws:PrincipalArn"]
    named = {ref for role in roles for ref in refs(role)}
    assert named == {f"{name}Role" for name in functions(template)}, "every function's role, and only those"
    for role in roles:  # a refresher's role exists only with its venue
        if "Fn::If" in role:
            condition, arn, absent = role["Fn::If"]
            fn = arn["Fn::GetAtt"][0].removesuffix("Role")
            assert template["Resources"][fn]["Condition"] == condition and absent == {"Ref": "AWS::NoValue"}


def test_only_the_archiver_writes_the_copy_and_only_new_objects(template: dict[str, Any]) -> None:
    writers = {
        name
        for name, fn in functions(template).items()
        for stmt in statements(fn)
        if "AuditCopyBucket" in refs(stmt["Resource"])
    }
    assert writers == {"AuditArchiverFunction"}
    fn = functions(template)["AuditArchiverFunction"]
    (stmt,) = statements(fn)
    assert stmt["Effect"] == "Allow" and stmt["Action"] == "s3:PutObject"
    assert stmt["Resource"] == [
        {"Fn::Sub": "${AuditCopyBucket.Arn}/audit/*"},
        {"Fn::Sub": "${AuditCopyBucket.Arn}/altered/*"},
    ]
    props = fn["Properties"]
    assert props["Environment"]["Variables"] == {"AUDIT_BUCKET": {"Ref": "AuditCopyBucket"}}
    (event,) = props["Events"].values()
    assert event["Type"] == "DynamoDB"
    stream = event["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["ControlTable", "StreamArn"]}
    # From the oldest record the stream holds, never giving up on one while the stream keeps it.
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["MaximumRetryAttempts"] == -1 and stream["MaximumRecordAgeInSeconds"] == -1
    assert stream["BisectBatchOnFunctionError"] is True
    [flt] = stream["FilterCriteria"]["Filters"]
    # Every event of an audit item: inserts are copied, rewrites recorded.
    assert json.loads(flt["Pattern"]) == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "AUDIT#"}]}}}}
    alarm = template["Resources"]["AuditArchiverErrorsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "AuditArchiverFunction"}}]


def test_the_verify_policy_only_reads(template: dict[str, Any]) -> None:
    doc = template["Resources"]["AuditVerifyPolicy"]["Properties"]["PolicyDocument"]
    actions = {a for s in doc["Statement"] for a in as_list(s["Action"])}
    # What `deadman audit verify` calls: Query, ListObjectVersions, GetObject with a VersionId.
    assert actions == {"dynamodb:Query", "s3:ListBucketVersions", "s3:GetObjectVersion"}
    (query,) = [s for s in doc["Statement"] if s["Action"] == "dynamodb:Query"]
    assert query["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["AUDIT#*"]}}
    outputs = template["Outputs"]
    assert outputs["AuditCopyBucketName"]["Value"] == {"Ref": "AuditCopyBucket"}
    assert outputs["AuditVerifyPolicyArn"]["Value"] == {"Ref": "AuditVerifyPolicy"}


def test_the_dashboard_shows_a_trading_systems_death_and_the_store_retries(template: dict[str, Any]) -> None:
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
    text = {w["properties"]["title"]: json.dumps(w["properties"]["metrics"]) for w in body["widgets"]}
    dead = [t for t, m in text.items() if "SystemDead" in m]
    assert dead, "no widget for a trading system's death"
    # One line per trading system, whatever venues it gates: the alarm's dimension set.
    assert "{Deadman,service,system}" in text[dead[0]]
    retries = [t for t, m in text.items() if '"StoreRetries"' in m]
    assert retries, "no widget for the stores' retries"
    for venue in VENUES:
        assert f'"{venue}"' in text[retries[0]]
    assert "AuditAppendFailures" in text[retries[0]]
    # The widgets tile the grid without overlapping.
    cells = set()
    for w in body["widgets"]:
        mine = {
            (x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])
        }
        assert not cells & mine, w["properties"]["title"]
        cells |= mine
