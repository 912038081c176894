"""Each row of the limits table (emulator/localaws/aws_limits.py): just within it passes, just past it meets
AWS's error, on moto as the local stack runs it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws import aws_limits, model_constraints

from tests.conftest import REGION, UNIT_ACCOUNT, put_alarms

ROOT = Path(__file__).resolve().parents[3]
TESTED: set[str] = set()


def row(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks the test of one row of the table."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        TESTED.add(key)
        return test

    return mark


def refused(call: Callable[[], Any], code: str, message: str = "") -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    assert message in error["Message"], error
    return caught.value


def _policy(characters: int) -> str:
    """A valid policy document of exactly `characters` characters without white space."""
    empty = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    padding = characters - aws_limits.policy_size(empty)
    document = json.loads(json.dumps(empty))
    document["Statement"][0]["Sid"] = "S" * padding
    text = json.dumps(document, indent=2)
    assert aws_limits.policy_size(text) == characters
    return text


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _role(iam: Any, name: str = "r", trust: Any = None, seconds: int = 3600) -> str:
    return str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or TRUST), MaxSessionDuration=seconds)[
            "Role"
        ]["Arn"]
    )


@row("iam.role.attached_policies")
def test_a_role_takes_ten_managed_policies_and_refuses_an_eleventh(aws: Any) -> None:
    iam = aws("iam")
    _role(iam)
    arns = [iam.create_policy(PolicyName=f"p{n}", PolicyDocument=_policy(200))["Policy"]["Arn"] for n in range(11)]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    refused(
        lambda: iam.attach_role_policy(RoleName="r", PolicyArn=arns[10]),
        "LimitExceeded",
        "Cannot exceed quota for PoliciesPerRole: 10",
    )
    iam.attach_role_policy(RoleName="r", PolicyArn=arns[0])  # attached already: not one more


@row("iam.policy.size")
def test_a_managed_policy_of_6144_characters_is_made_and_one_more_is_refused(aws: Any) -> None:
    iam = aws("iam")
    arn = iam.create_policy(PolicyName="fits", PolicyDocument=_policy(6144))["Policy"]["Arn"]
    refused(
        lambda: iam.create_policy(PolicyName="past", PolicyDocument=_policy(6145)),
        "LimitExceeded",
        "Cannot exceed quota for PolicySize: 6144",
    )
    refused(
        lambda: iam.create_policy_version(PolicyArn=arn, PolicyDocument=_policy(6145)),
        "LimitExceeded",
        "PolicySize: 6144",
    )


@row("iam.role.inline_policies_size")
def test_a_roles_inline_policies_are_refused_past_10240_characters_in_all(aws: Any) -> None:
    iam = aws("iam")
    _role(iam)
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=_policy(6000))
    iam.put_role_policy(RoleName="r", PolicyName="b", PolicyDocument=_policy(4240))
    iam.put_role_policy(RoleName="r", PolicyName="b", PolicyDocument=_policy(4240))  # replacing is not adding
    refused(
        lambda: iam.put_role_policy(RoleName="r", PolicyName="c", PolicyDocument=_policy(200)),
        "LimitExceeded",
        "Maximum policy size of 10240 bytes exceeded for role r",
    )


@row("iam.role.trust_policy_size")
def test_a_trust_policy_past_2048_characters_is_refused(aws: Any) -> None:
    iam = aws("iam")
    principals = [f"arn:aws:iam::{UNIT_ACCOUNT}:role/{'x' * 50}{n:02d}" for n in range(40)]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}],
    }
    assert aws_limits.policy_size(trust) > 2048
    refused(lambda: _role(iam, "big", trust), "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")
    _role(iam, "small")
    refused(
        lambda: iam.update_assume_role_policy(RoleName="small", PolicyDocument=json.dumps(trust)),
        "LimitExceeded",
        "ACLSizePerRole: 2048",
    )


def _session_of(aws: Any, role_arn: str, seconds: int = 3600) -> Any:
    from localaws.sessions import shared_session

    credentials = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName="first", DurationSeconds=seconds)[
        "Credentials"
    ]
    return shared_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client("sts")


@row("sts.role_chaining")
def test_a_role_assumed_from_a_roles_session_lasts_at_most_an_hour(aws: Any) -> None:
    iam = aws("iam")
    first = _role(iam, "first", seconds=43200)
    second = _role(iam, "second", seconds=43200)
    chained = _session_of(aws, first)
    chained.assume_role(RoleArn=second, RoleSessionName="chained", DurationSeconds=3600)
    refused(
        lambda: chained.assume_role(RoleArn=second, RoleSessionName="chained", DurationSeconds=3601),
        "ValidationError",
        "exceeds the 1 hour session limit for roles assumed by role chaining",
    )
    # Not a chain: a user's own keys may hold the role as long as the role allows.
    aws("sts").assume_role(RoleArn=second, RoleSessionName="direct", DurationSeconds=43200)


@row("sts.max_session_duration")
def test_a_session_longer_than_its_roles_maximum_is_refused(aws: Any) -> None:
    arn = _role(aws("iam"), "short", seconds=3600)
    refused(
        lambda: aws("sts").assume_role(RoleArn=arn, RoleSessionName="long", DurationSeconds=7200),
        "ValidationError",
        "exceeds the MaxSessionDuration set for this role",
    )


def _web_acl(waf: Any, scope: str) -> dict[str, Any]:
    summary: dict[str, Any] = waf.create_web_acl(
        Name="edge",
        Scope=scope,
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "edge"},
    )["Summary"]
    return summary


@row("wafv2.cloudfront_scope")
def test_a_cloudfront_web_acl_is_reached_in_us_east_1_only(aws: Any) -> None:
    from localaws.sessions import shared_session

    acl = _web_acl(aws("wafv2"), "CLOUDFRONT")
    aws("wafv2").get_web_acl(Name="edge", Scope="CLOUDFRONT", Id=acl["Id"])
    elsewhere = shared_session(region_name="eu-west-1").client("wafv2")
    refused(
        lambda: elsewhere.get_web_acl(Name="edge", Scope="CLOUDFRONT", Id=acl["Id"]),
        "WAFInvalidParameterException",
        "Error reason: The scope is not valid., field: SCOPE_VALUE, parameter: CLOUDFRONT",
    )
    _web_acl(elsewhere, "REGIONAL")  # the regional scope is any region's


@row("cloudwatch.datapoints")
def test_metric_statistics_answer_1440_points_and_refuse_more(aws: Any) -> None:
    cloudwatch = aws("cloudwatch")
    end = datetime.now(UTC).replace(second=0, microsecond=0)

    def ask(minutes: int) -> Any:
        return cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName="RequestCount",
            StartTime=end - timedelta(minutes=minutes),
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )

    ask(1440)
    refused(lambda: ask(1441), "InvalidParameterCombination", "You have requested up to 1,441 datapoints")


@row("cloudwatch.describe_alarms")
def test_alarms_are_described_by_type_and_page_by_page(aws: Any) -> None:
    cloudwatch = aws("cloudwatch")
    names = [f"metric-{n:03d}" for n in range(60)]
    put_alarms(cloudwatch, names)
    cloudwatch.put_composite_alarm(AlarmName="composite", AlarmRule=f"ALARM({names[0]})")
    asked = [names[0], "composite"]
    plain = cloudwatch.describe_alarms(AlarmNames=asked)
    assert [a["AlarmName"] for a in plain["MetricAlarms"]] == [names[0]]
    assert plain["CompositeAlarms"] == []
    both = cloudwatch.describe_alarms(AlarmNames=asked, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == ["composite"]
    first = cloudwatch.describe_alarms()
    assert len(first["MetricAlarms"]) == 50
    assert "NextToken" in first
    pages = cloudwatch.get_paginator("describe_alarms").paginate()
    assert sorted(a["AlarmName"] for page in pages for a in page["MetricAlarms"]) == names


@row("ssm.parameter_size")
def test_a_parameter_holds_4096_characters_standard_and_8192_advanced(aws: Any) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name="/t/standard", Value="x" * 4096, Type="String", Tier="Standard")
    refused(
        lambda: ssm.put_parameter(Name="/t/big", Value="x" * 4097, Type="String", Tier="Standard"),
        "ValidationException",
        "Standard tier parameters support a maximum parameter value of 4096 characters",
    )
    answer = ssm.put_parameter(Name="/t/smart", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")
    assert answer["Tier"] == "Advanced"
    assert (
        ssm.put_parameter(Name="/t/small", Value="x", Type="String", Tier="Intelligent-Tiering")["Tier"] == "Standard"
    )
    refused(
        lambda: ssm.put_parameter(Name="/t/huge", Value="x" * 8193, Type="String", Tier="Advanced"),
        "ValidationException",
        "8192",
    )


@row("ssm.tier_downgrade")
def test_an_advanced_parameter_never_goes_back_to_standard(aws: Any) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name="/t/p", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")
    # Intelligent-Tiering keeps it advanced, however small it becomes.
    kept = ssm.put_parameter(Name="/t/p", Value="x", Type="String", Tier="Intelligent-Tiering", Overwrite=True)
    assert kept["Tier"] == "Advanced"
    refused(
        lambda: ssm.put_parameter(Name="/t/p", Value="x", Type="String", Tier="Standard", Overwrite=True),
        "ValidationException",
        "You can't downgrade a parameter from the advanced-parameter tier",
    )


@row("apigateway.logging_role")
def test_a_logging_stage_needs_the_accounts_cloudwatch_role_first(aws: Any) -> None:
    from moto.apigateway.exceptions import BadRequestException

    logging_stage = {"AccessLogSetting": {"DestinationArn": "arn:aws:logs:us-east-1:1:log-group:x"}}
    with pytest.raises(BadRequestException, match="CloudWatch Logs role ARN must be set in account settings"):
        aws_limits.refuse_logging_without_account_role(UNIT_ACCOUNT, REGION, logging_stage)
    aws_limits.refuse_logging_without_account_role(UNIT_ACCOUNT, REGION, {"MethodSettings": [{"MetricsEnabled": True}]})
    role = _role(aws("iam"), "apigateway-logs")
    aws("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    aws_limits.refuse_logging_without_account_role(UNIT_ACCOUNT, REGION, logging_stage)


@row("apigateway.integration_timeout")
def test_the_local_api_answers_504_when_the_function_outlasts_api_gateways_wait(monkeypatch: Any) -> None:
    import threading
    import urllib.error
    import urllib.request

    from chalice import Chalice
    from chalice.config import Config
    from chalice.local import LocalDevServer
    from localaws.servers import LoopbackServer
    from localaws.stack import staged_handler

    app = Chalice("slow")
    release = threading.Event()
    finished = threading.Event()

    @app.route("/slow")
    def slow() -> dict[str, str]:
        release.wait(60)
        finished.set()
        return {"done": "yes"}

    @app.route("/fast")
    def fast() -> dict[str, str]:
        return {"done": "yes"}

    server = LocalDevServer(app, Config(), "127.0.0.1", 0, handler_cls=staged_handler("api"), server_cls=LoopbackServer)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server.server_address[1]}/api"
    try:
        assert json.loads(urllib.request.urlopen(f"{base}/fast", timeout=30).read()) == {"done": "yes"}
        # The slow route waits until released: it outlasts any wait, so a short one is not a race.
        monkeypatch.setattr(aws_limits, "INTEGRATION_TIMEOUT_SECONDS", 0.5)
        with pytest.raises(urllib.error.HTTPError) as timed_out:
            urllib.request.urlopen(f"{base}/slow", timeout=30)
        assert timed_out.value.code == 504
        assert json.loads(timed_out.value.read()) == {"message": "Endpoint request timed out"}
        assert not finished.is_set()  # the function runs on, as Lambda's does
        release.set()
        assert finished.wait(30)
    finally:
        release.set()
        server.shutdown()
        server.server.server_close()


@row("lambda.unreserved_concurrency")
def test_reserved_concurrency_leaves_100_unreserved_and_the_account_says_its_limit(aws: Any, monkeypatch: Any) -> None:
    import io
    import zipfile

    monkeypatch.setitem(aws_limits.account_concurrency, UNIT_ACCOUNT, 160)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handle(event, context):\n    return event\n")
    role = _role(aws("iam"), "function")
    lambda_ = aws("lambda")

    def function(name: str) -> None:
        lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": archive.getvalue()},
        )

    function("api")
    lambda_.put_function_concurrency(FunctionName="api", ReservedConcurrentExecutions=60)
    settings = lambda_.get_account_settings()["AccountLimit"]
    assert (settings["ConcurrentExecutions"], settings["UnreservedConcurrentExecutions"]) == (160, 100)
    function("other")
    refused(
        lambda: lambda_.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=1),
        "InvalidParameterValueException",
        "below its minimum value of [100]",
    )


@row("cloudformation.template_size")
def test_a_template_body_past_51200_bytes_is_refused(aws: Any) -> None:
    def template(padding: int) -> str:
        return json.dumps(
            {
                "Description": "x" * padding,
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            }
        )

    small = template(100)
    big = template(100 + aws_limits.TEMPLATE_BODY_BYTES - len(small) + 1)
    assert len(big) == aws_limits.TEMPLATE_BODY_BYTES + 1
    refused(
        lambda: aws("cloudformation").create_stack(StackName="big", TemplateBody=big),
        "ValidationError",
        "Member must have length less than or equal to 51200",
    )
    aws("s3").create_bucket(Bucket="templates")
    aws("s3").put_object(Bucket="templates", Key="big.json", Body=big.encode())
    aws("cloudformation").create_stack(
        StackName="big", TemplateURL="https://templates.s3.us-east-1.amazonaws.com/big.json"
    )


@row("events.rule_name")
def test_a_templates_rule_name_past_64_characters_fails_its_stack(aws: Any) -> None:
    def stack(name: str, rule: str) -> None:
        aws("cloudformation").create_stack(
            StackName=name,
            TemplateBody=json.dumps(
                {
                    "Resources": {
                        "Rule": {
                            "Type": "AWS::Events::Rule",
                            "Properties": {"Name": rule, "EventPattern": {"source": ["aws.ecs"]}},
                        }
                    }
                }
            ),
        )

    stack("fits", "r" * 64)
    with pytest.raises(ClientError, match="Member must have length less than or equal to 64"):
        stack("past", "r" * 65)


@row("s3.bucket_name")
def test_a_bucket_name_past_63_characters_is_refused(aws: Any) -> None:
    aws("s3").create_bucket(Bucket="b" * 63)
    refused(lambda: aws("s3").create_bucket(Bucket="b" * 64), "InvalidBucketName")


@row("states.executions_failed")
def test_an_execution_that_ends_in_a_fail_state_counts_as_failed(aws: Any) -> None:
    from localaws.emitters import _count_execution

    machine = f"arn:aws:states:{REGION}:{UNIT_ACCOUNT}:stateMachine:m"
    for status in ("FAILED", "SUCCEEDED", "FAILED", "ABORTED"):
        _count_execution(UNIT_ACCOUNT, REGION, machine, status)
    now = datetime.now(UTC).replace(tzinfo=None)

    def counted(name: str) -> float:
        points = aws("cloudwatch").get_metric_statistics(
            Namespace="AWS/States",
            MetricName=name,
            Dimensions=[{"Name": "StateMachineArn", "Value": machine}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
            Period=360,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(point["Sum"] for point in points)

    assert (counted("ExecutionsFailed"), counted("ExecutionsSucceeded"), counted("ExecutionsAborted")) == (2, 1, 1)


@row("states.payload_size")
def test_a_state_output_past_256_kib_fails_the_state_and_the_test(aws: Any) -> None:
    import boto3
    from localaws.bridge import LambdaBridge, LocalFunction

    def large(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"size": "x" * event["size"]}

    bridge = LambdaBridge([LocalFunction("large", large, "app-local-large")])
    bridge.install()
    try:
        client = boto3.client("lambda", region_name=REGION, endpoint_url="http://127.0.0.1:9")
        fits = client.invoke(FunctionName="app-local-large", Payload=json.dumps({"size": 262_000}).encode())
        assert "FunctionError" not in fits
        past = client.invoke(FunctionName="app-local-large", Payload=json.dumps({"size": 262_144}).encode())
        assert past["FunctionError"] == "Unhandled"
        assert json.loads(past["Payload"].read())["errorType"] == "States.DataLimitExceeded"
    finally:
        bridge.uninstall()
    found = model_constraints.taken()
    assert [(v.service, v.member) for v in found] == [("states", "app-local-large.output")]


@row("rds.cluster_member_snapshot")
def test_an_aurora_members_instance_snapshot_is_refused(aws: Any) -> None:
    rds = aws("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="aurora", Engine="aurora-postgresql", MasterUsername="acme", MasterUserPassword="x" * 12
    )
    rds.create_db_instance(
        DBInstanceIdentifier="member",
        DBClusterIdentifier="aurora",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )
    refused(
        lambda: rds.create_db_snapshot(DBInstanceIdentifier="member", DBSnapshotIdentifier="pre-launch-x"),
        "InvalidParameterValue",
        "The specified instance is a member of a cluster and a snapshot cannot be created directly",
    )


@row("dynamodb.item_size")
def test_an_item_past_400_kb_is_refused(aws: Any) -> None:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"S": "x" * 390_000}})
    refused(
        lambda: dynamodb.put_item(TableName="t", Item={"pk": {"S": "b"}, "v": {"S": "x" * 410_000}}),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )


@row("dynamodb.transaction_items")
def test_a_transaction_of_101_items_is_refused(aws: Any) -> None:
    items = [{"Put": {"TableName": "t", "Item": {"pk": {"S": str(n)}}}} for n in range(101)]
    refused(
        lambda: aws("dynamodb").transact_write_items(TransactItems=items),
        "ValidationException",
        "at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100",
    )
    assert [v.member for v in model_constraints.taken()] == ["transactItems"]


@row("sns.message_size")
def test_a_message_past_256_kib_is_refused(aws: Any) -> None:
    sns = aws("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.publish(TopicArn=topic, Message="x" * 262_144)
    refused(lambda: sns.publish(TopicArn=topic, Message="x" * 262_145), "InvalidParameter", "Message too long")


@row("model.constraints")
def test_a_call_that_breaks_its_model_is_refused_as_aws_refuses_it(aws: Any) -> None:
    error = refused(
        lambda: aws("sts").assume_role(RoleArn=f"arn:aws:iam::{UNIT_ACCOUNT}:role/r", RoleSessionName="a b"),
        "ValidationError",
        "Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression "
        "pattern: [\\w+=,.@-]*",
    )
    assert error.response["Error"]["Message"].startswith("1 validation error detected: ")
    found = model_constraints.taken()
    assert [(v.service, v.operation, v.member) for v in found] == [("sts", "AssumeRole", "roleSessionName")]
    assert found[0].caller.startswith("tests/unit/localaws/test_aws_limits.py:")


EVIDENCE_KEY = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}


@row("kms.asymmetric_key_rotation")
def test_an_asymmetric_key_refuses_rotation_by_the_api_and_by_a_template(aws: Any) -> None:
    kms = aws("kms")
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=symmetric)
    signing = kms.create_key(**EVIDENCE_KEY)["KeyMetadata"]["KeyId"]
    refused(
        lambda: kms.enable_key_rotation(KeyId=signing),
        "UnsupportedOperationException",
        "key spec ECC_NIST_P256 is not supported for this operation",
    )
    # The template's key is the key it describes: a signing key, which may not say EnableKeyRotation.
    key = {
        "Type": "AWS::KMS::Key",
        "Properties": {**EVIDENCE_KEY, "KeyPolicy": {"Version": "2012-10-17", "Statement": []}},
    }
    template = {"Resources": {"Key": key}, "Outputs": {"Key": {"Value": {"Ref": "Key"}}}}
    cloudformation = aws("cloudformation")
    cloudformation.create_stack(StackName="signing", TemplateBody=json.dumps(template))
    made = cloudformation.describe_stacks(StackName="signing")["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert kms.describe_key(KeyId=made)["KeyMetadata"]["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    key["Properties"]["EnableKeyRotation"] = True
    with pytest.raises(ClientError, match="not supported for this operation"):
        cloudformation.create_stack(StackName="rotating", TemplateBody=json.dumps(template))


def _sessions(aws: Any, role_arn: str) -> Any:
    from localaws.sessions import shared_session

    credentials = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName="function")["Credentials"]
    return shared_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client("kms")


@row("kms.key_policy_sign")
def test_only_a_role_the_key_policy_names_may_sign_whatever_its_own_policies_allow(aws: Any) -> None:
    from localaws import moto_fixes

    iam = aws("iam")
    signs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Sign", "Resource": "*"}]}
    roles = {}
    for name in ("finish", "other"):
        roles[name] = _role(iam, name)
        iam.put_role_policy(RoleName=name, PolicyName="signs", PolicyDocument=json.dumps(signs))
    root = f"arn:aws:iam::{UNIT_ACCOUNT}:root"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": root}, "Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": [roles["finish"]]}, "Action": "kms:Sign", "Resource": "*"},
        ],
    }
    key = aws("kms").create_key(**EVIDENCE_KEY, Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    finish, other = _sessions(aws, roles["finish"]), _sessions(aws, roles["other"])
    signing = {"KeyId": key, "Message": b"head", "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"}
    moto_fixes.enforce_iam()
    try:
        assert finish.sign(**signing)["KeyId"] == key
        refused(
            lambda: other.sign(**signing),
            "AccessDeniedException",
            "because no resource-based policy allows the kms:Sign action",
        )
    finally:
        moto_fixes.stop_enforcing_iam()


def test_every_row_of_the_table_has_its_test() -> None:
    assert {limit.key for limit in aws_limits.LIMITS} == TESTED


def test_the_docs_table_is_the_limits_table() -> None:
    assert (ROOT / "docs" / "limits.md").read_text() == aws_limits.markdown(), (
        "docs/limits.md is stale: python -m localaws.aws_limits docs/limits.md"
    )
