"""The policy check itself: a call not granted, and a write granted but never made, are both reported."""

from __future__ import annotations

from tests.policies.iam import actions_for, is_write, policies, unexercised_writes, ungranted


def test_an_action_removed_from_a_policy_is_reported_as_missing() -> None:
    by_function = policies()
    calls = {("bake_check", "cloudwatch.DescribeAlarms"), ("bake_check", "dynamodb.GetItem")}
    assert ungranted(calls, by_function) == []
    for statement in by_function["bake_check"]["Statement"]:
        if "cloudwatch:DescribeAlarms" in statement["Action"]:
            statement["Action"].remove("cloudwatch:DescribeAlarms")
    assert ungranted(calls, by_function) == ["bake_check: cloudwatch.DescribeAlarms needs cloudwatch:DescribeAlarms"]


def test_an_added_write_nobody_makes_is_reported_as_unused() -> None:
    by_function = {"bake_check": {"Statement": [{"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"]}]}}
    calls = {("bake_check", "cloudwatch.DescribeAlarms")}
    assert unexercised_writes(calls, by_function) == []
    by_function["bake_check"]["Statement"][0]["Action"].append("ecs:UpdateService")
    assert unexercised_writes(calls, by_function) == ["bake_check: ecs:UpdateService is granted and never made"]


def test_calls_map_to_the_actions_iam_checks() -> None:
    assert actions_for("s3.ListObjectsV2") == {"s3:ListBucket"}
    assert actions_for("elastic-load-balancing-v2.DescribeListeners") == {"elasticloadbalancing:DescribeListeners"}
    assert actions_for("ecs.RunTask") == {"ecs:RunTask", "ecs:TagResource", "iam:PassRole"}
    assert is_write("sns:Publish")
    assert not is_write("dynamodb:Query")
