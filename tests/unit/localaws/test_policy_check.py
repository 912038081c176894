"""The policy check itself: a call not granted on its resource, a write granted but never made, and a write
granted on `*` that acts on named resources are each reported; calls map to what IAM judges them by."""

from __future__ import annotations

from typing import Any

from localaws.iam_calls import Account, needs

from tests.policies.iam import is_write, unexercised_writes, ungranted, writes_on_everything

ACCOUNT = Account("us-east-1", "123456789012")
SITE = "arn:aws:s3:::acme-site/index.html"


def _policy(*statements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def _allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def test_a_call_is_granted_only_on_the_resources_its_policy_names() -> None:
    calls = {("deploy_frontend", "s3:PutObject", SITE)}
    assert ungranted(calls, {"deploy_frontend": _policy(_allow(["s3:PutObject"], ["arn:aws:s3:::acme-site/*"]))}) == []
    elsewhere = {"deploy_frontend": _policy(_allow(["s3:PutObject"], ["arn:aws:s3:::other-site/*"]))}
    assert ungranted(calls, elsewhere) == [f"deploy_frontend: s3:PutObject on {SITE}"]


def test_an_action_removed_from_a_policy_is_reported_as_missing() -> None:
    policies = {"bake_check": _policy(_allow(["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricStatistics"], ["*"]))}
    calls = {("bake_check", "cloudwatch:DescribeAlarms", "*")}
    assert ungranted(calls, policies) == []
    policies["bake_check"][0]["Statement"][0]["Action"].remove("cloudwatch:DescribeAlarms")
    assert ungranted(calls, policies) == ["bake_check: cloudwatch:DescribeAlarms on *"]


def test_an_action_iam_cannot_scope_is_granted_only_on_everything() -> None:
    calls = {("deploy_backend", "ecs:RegisterTaskDefinition", "*")}
    scoped = {"deploy_backend": _policy(_allow(["ecs:RegisterTaskDefinition"], ["arn:aws:ecs:*:*:task-definition/*"]))}
    assert ungranted(calls, scoped) == ["deploy_backend: ecs:RegisterTaskDefinition on *"]


def test_an_added_write_nobody_makes_is_reported_as_unused() -> None:
    policies = {"bake_check": _policy(_allow(["cloudwatch:DescribeAlarms"], ["*"]))}
    calls = {("bake_check", "cloudwatch:DescribeAlarms", "*")}
    assert unexercised_writes(calls, policies) == []
    policies["bake_check"][0]["Statement"][0]["Action"].append("ecs:UpdateService")
    assert unexercised_writes(calls, policies) == ["bake_check: ecs:UpdateService is granted and never made"]


def test_a_write_granted_on_everything_that_acts_on_named_resources_is_reported() -> None:
    calls = {("deploy_frontend", "s3:PutObject", SITE)}
    assert writes_on_everything(calls, {"deploy_frontend": _policy(_allow(["s3:PutObject"], ["*"]))}) == [
        "deploy_frontend: s3:PutObject is granted on * but acts on named resources"
    ]
    named = {"deploy_frontend": _policy(_allow(["s3:PutObject"], ["arn:aws:s3:::acme-site/*"]))}
    assert writes_on_everything(calls, named) == []


def test_calls_map_to_the_actions_and_resources_iam_judges() -> None:
    assert needs("s3.ListObjectsV2", {"Bucket": "b"}, ACCOUNT) == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert needs("s3.CopyObject", {"Bucket": "b", "Key": "k", "CopySource": {"Bucket": "a", "Key": "j"}}, ACCOUNT) == [
        ("s3:PutObject", "arn:aws:s3:::b/k"),
        ("s3:GetObject", "arn:aws:s3:::a/j"),
        # The copy keeps the source's tags (S3's default): their read and write are asked for too.
        ("s3:GetObjectTagging", "arn:aws:s3:::a/j"),
        ("s3:PutObjectTagging", "arn:aws:s3:::b/k"),
    ]
    replaced = {"Bucket": "b", "Key": "k", "CopySource": {"Bucket": "a", "Key": "j"}, "TaggingDirective": "REPLACE"}
    assert [action for action, _ in needs("s3.CopyObject", replaced, ACCOUNT)] == ["s3:PutObject", "s3:GetObject"]
    assert needs("s3.CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "a/j?versionId=3"}, ACCOUNT)[1] == (
        "s3:GetObjectVersion",
        "arn:aws:s3:::a/j",
    )
    assert needs("elastic-load-balancing-v2.DescribeListeners", {}, ACCOUNT) == [
        ("elasticloadbalancing:DescribeListeners", "*")
    ]
    registered = needs(
        "ecs.RegisterTaskDefinition",
        {"family": "api", "tags": [{"key": "k", "value": "v"}], "taskRoleArn": "arn:aws:iam::123456789012:role/t"},
        ACCOUNT,
    )
    assert registered == [
        ("ecs:RegisterTaskDefinition", "*"),
        ("ecs:TagResource", "arn:aws:ecs:us-east-1:123456789012:task-definition/api:*"),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/t"),
    ]
    assert needs("ecs.RegisterTaskDefinition", {"family": "api", "executionRoleArn": "exec"}, ACCOUNT)[-1] == (
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/exec",
    )
    assert needs(
        "dynamodb.TransactWriteItems", {"TransactItems": [{"ConditionCheck": {"TableName": "t"}}]}, ACCOUNT
    ) == [("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t")]
    assert needs("dynamodb.BatchGetItem", {"RequestItems": {"t": {"Keys": []}}}, ACCOUNT) == [
        ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t")
    ]
    assert needs("secrets-manager.GetSecretValue", {"SecretId": "acme/key"}, ACCOUNT) == [
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme/key-XXXXXX")
    ]
    assert is_write("sns:Publish")
    assert not is_write("dynamodb:Query")
