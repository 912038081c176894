"""The local stack is the packaged template deployed: its resources, each function's environment and role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from localaws.deployment import LOCALLY_MADE, MADE_AFTER, translate
from localaws.infrastructure import ENVIRONMENT_ACCOUNT_ID, REGION
from localaws.stack import API_FUNCTION

pytestmark = pytest.mark.integration

# What Lambda's runtime puts in a function's environment, and what the local stack adds for every function
# (where AWS is, the profiles as packaged): the rest is the template's alone.
RUNTIME_VARIABLES = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
}


def test_every_resource_of_the_translated_template_exists_in_the_emulated_account(stack: Any) -> None:
    translated = translate(stack.template, REGION)
    assert stack.deployment is not None
    # The local stack gives no alert email and no API domain: those conditional resources are left out, as on
    # AWS; it names its environment's account, so that account's events are admitted.
    conditional = {key for key, r in translated["Resources"].items() if "Condition" in r}
    # One account may invoke the traffic hook: the first of the ten permissions for EnvironmentAccounts.
    hook = {f"JudgeTrafficStepFromEnvironment{index}" for index in range(10)}
    assert conditional == {"AlertEmailSubscription", "ApiDomain", "ApiDomainMapping", "EnvironmentEvents", *hook}
    left_out = conditional - {"EnvironmentEvents", "JudgeTrafficStepFromEnvironment0"}
    assert set(translated["Resources"]) - left_out == set(stack.deployment.resources)
    # The environments' events go to the controller's own bus, which admits only their forwarding roles and
    # only AWS's events about launches; nothing is admitted to the account's default bus.
    assert "Policy" not in stack.client("events").describe_event_bus(Name="default")
    policy = json.loads(stack.client("events").describe_event_bus(Name="launch-controller-environments")["Policy"])
    [statement] = policy["Statement"]
    assert (statement["Principal"], statement["Action"]) == ({"AWS": [ENVIRONMENT_ACCOUNT_ID]}, "events:PutEvents")
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/launch-controller/forwarding/*"},
        "StringEquals": {"events:source": ["aws.cloudwatch", "aws.ecs", "aws.rds", "aws.synthetics"]},
    }
    made_here = {r["Type"] for r in translated["Resources"].values()} & (set(LOCALLY_MADE) | set(MADE_AFTER))
    assert made_here == {
        "AWS::SecretsManager::Secret",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::Lambda::Permission",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::EventBusPolicy",
        "AWS::CloudWatch::Alarm",
    }, "a new resource type made outside CloudFormation must be named in docs/local-stack.md"


def test_each_function_has_only_its_templates_environment(stack: Any) -> None:
    translated = translate(stack.template, REGION)
    assert stack.deployment is not None
    for deployed in stack.deployment.functions.values():
        declared = translated["Resources"][deployed.logical_id]["Properties"]["Environment"]["Variables"]
        environ = stack.containers[deployed.name].environ
        assert set(environ) - RUNTIME_VARIABLES - set(stack.stand_ins()) == set(declared), deployed.name
    # Only the API verifies callers; only the API and the approvals stage build links to the API.
    assert "OIDC_ISSUER" in stack.containers[API_FUNCTION].environ
    assert "OIDC_ISSUER" not in stack.containers["begin_launch"].environ
    assert "PUBLIC_API_URL" in stack.containers["request_approvals"].environ
    assert "PUBLIC_API_URL" not in stack.containers["begin_bake"].environ


def test_each_function_calls_aws_as_a_session_of_its_own_role(stack: Any) -> None:
    from chalicelib.platform import aws
    from chalicelib.platform.runtime import running

    assert stack.deployment is not None
    for deployed in stack.deployment.functions.values():
        with running(stack.containers[deployed.name]):
            arn = aws.client("sts").get_caller_identity()["Arn"]
        role_name = deployed.role_arn.rsplit("/", 1)[1]
        assert arn == f"arn:aws:sts::123456789012:assumed-role/{role_name}/{deployed.function_name}"


def test_the_state_machine_is_the_templates_with_its_functions_logging_and_tracing(stack: Any) -> None:
    assert stack.deployment is not None
    machine = stack.client("stepfunctions").describe_state_machine(stateMachineArn=stack.state_machine_arn)
    assert machine["roleArn"].rsplit("/", 1)[1] == stack.deployment.resources["LaunchStateMachineRole"]
    assert machine["loggingConfiguration"]["level"] == "ERROR"
    assert machine["tracingConfiguration"] == {"enabled": True}
    tasks = {
        state["Resource"]
        for state in json.loads(machine["definition"])["States"].values()
        if state["Type"] == "Task" and state["Resource"].startswith("arn:aws:lambda")
    }
    deployed = {f.arn for f in stack.deployment.functions.values()}
    assert tasks
    assert tasks <= deployed
    assert "$$.Task.Token" in machine["definition"]


def test_a_call_the_functions_role_does_not_allow_is_refused_as_on_aws(stack: Any) -> None:
    """moto judges every request by its caller's policies: begin_launch may touch the table and publish to
    the team's channel, so listing the topics' subscriptions is AccessDenied, while the API's own table read
    passes."""
    from botocore.exceptions import ClientError

    from chalicelib.platform import aws
    from chalicelib.platform.runtime import running

    with running(stack.containers["begin_launch"]), pytest.raises(ClientError) as refused:
        aws.client("sns").list_subscriptions()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert ":assumed-role/launch-controller-BeginLaunchRole-" in refused.value.response["Error"]["Message"]
    # CloudWatch (signed as `monitoring`, spoken in CBOR) is judged by its IAM name, `cloudwatch:`.
    with running(stack.containers["begin_launch"]), pytest.raises(ClientError) as not_cloudwatch:
        aws.client("cloudwatch").describe_alarms()
    assert not_cloudwatch.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudwatch:DescribeAlarms" in not_cloudwatch.value.response["Error"]["Message"]
    with running(stack.containers[API_FUNCTION]):
        table = stack.containers[API_FUNCTION].environ["LAUNCH_TABLE"]
        aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "LOCK#local"}, "sk": {"S": "LOCK"}})


def test_a_function_acts_in_the_environment_only_as_its_role_and_writes_only_what_it_names(stack: Any) -> None:
    """deploy_frontend holds no right in the environment's account itself; as the environment's role, in a
    session limited to its own needs there, it may write the site's objects, nothing else: not the artifact
    bucket it reads, not the backup bucket, not what other functions may do as the role; and it may read
    releases only from the environment's artifact bucket. A function with nothing to do in environments
    cannot take the role at all."""
    from botocore.exceptions import ClientError

    from chalicelib.platform import aws
    from chalicelib.platform.runtime import running

    frontend = stack.profile.frontend
    deploy = stack.containers["deploy_frontend"]
    with running(deploy):
        with pytest.raises(ClientError) as not_its_own:
            aws.client("s3").put_object(Bucket=frontend.site_bucket, Key="iam-test.txt", Body=b"not as itself")
        assert not_its_own.value.response["Error"]["Code"] == "AccessDenied"
        limit = stack.profile.target.policy_arn("deploy_frontend")
        environment = aws.environment_clients(
            stack.environment_role, "iam-test", {"launch-id": "iam-test"}, limit=limit
        )
        s3 = environment("s3")
        # The role may read the database (for the preflight and the rollback), its deploy_frontend session not.
        with pytest.raises(ClientError) as not_its_need:
            environment("rds").describe_db_instances()
        assert not_its_need.value.response["Error"]["Code"] == "AccessDenied"
        s3.put_object(Bucket=frontend.site_bucket, Key="iam-test.txt", Body=b"allowed")
        s3.delete_objects(Bucket=frontend.site_bucket, Delete={"Objects": [{"Key": "iam-test.txt"}]})
        for bucket in (frontend.artifact_bucket, frontend.backup_bucket):
            with pytest.raises(ClientError) as refused:
                s3.put_object(Bucket=bucket, Key="iam-test.txt", Body=b"not mine to write")
            assert refused.value.response["Error"]["Code"] == "AccessDenied"
        stack.environment_client("s3").create_bucket(Bucket="acme-private-data")
        with pytest.raises(ClientError) as unread:
            s3.list_objects_v2(Bucket="acme-private-data")
        assert unread.value.response["Error"]["Code"] == "AccessDenied"
        # DeleteObjects is judged on each key (moto judged the bucket): a key elsewhere is refused.
        answer = s3.delete_objects(Bucket=frontend.artifact_bucket, Delete={"Objects": [{"Key": "releases/x"}]})
    assert [(error["Key"], error["Code"]) for error in answer["Errors"]] == [("releases/x", "AccessDenied")]
    with running(stack.containers["begin_launch"]), pytest.raises(ClientError) as no_role:
        aws.environment_clients(stack.environment_role, "iam-test", {})("sts").get_caller_identity()
    assert no_role.value.response["Error"]["Code"] == "AccessDenied"


def test_a_transaction_needs_each_of_its_items_actions(stack: Any) -> None:
    """IAM has no TransactWriteItems action: each item's own action must be allowed. begin_launch may put
    and update items but not delete them."""
    from botocore.exceptions import ClientError

    from chalicelib.platform import aws
    from chalicelib.platform.runtime import running

    begin = stack.containers["begin_launch"]
    table = begin.environ["LAUNCH_TABLE"]
    item = {"pk": {"S": "IAM-TEST"}, "sk": {"S": "ITEM"}}
    with running(begin):
        aws.client("dynamodb").transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}])
        with pytest.raises(ClientError) as refused:
            aws.client("dynamodb").transact_write_items(TransactItems=[{"Delete": {"TableName": table, "Key": item}}])
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:DeleteItem" in refused.value.response["Error"]["Message"]
    stack.client("dynamodb").delete_item(TableName=table, Key=item)


def test_the_launch_record_cannot_be_deleted_with_its_table(stack: Any) -> None:
    """Launches, timelines and who approved what are the audit record: the template keeps the table
    (DeletionPolicy Retain) and protects it from a delete, which the emulated account honours too."""
    from botocore.exceptions import ClientError

    table = stack.containers[API_FUNCTION].environ["LAUNCH_TABLE"]
    dynamodb = stack.client("dynamodb")
    assert dynamodb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True
    with pytest.raises(ClientError) as refused:
        dynamodb.delete_table(TableName=table)
    assert refused.value.response["Error"]["Code"] in {"ValidationException", "ResourceInUseException"}
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at_epoch"}


def test_the_deployed_policies_name_this_stacks_own_table_and_topics(stack: Any) -> None:
    assert stack.deployment is not None
    iam = stack.client("iam")
    role = stack.deployment.resources["FinishLaunchRole"]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/launch-controller-launches" in document
    assert stack.topics["notifications"] in document
    assert stack.topics["approvals"] not in document
    assert "${" not in document


def test_the_controllers_alarms_page_through_its_paging_topic_on_its_own_key(stack: Any) -> None:
    """A launch needing a person, the API's 5xx, approval emails failing, a launch stuck, and each function's faults:
    each alarm pages (and says when it clears) through the paging topic, which CloudWatch can publish to
    because its key is the controller's own, not the AWS managed one."""
    from launchctl.build.template import function_ids

    cloudwatch = stack.client("cloudwatch")
    alarms = {
        a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="launch-controller-")["MetricAlarms"]
    }
    expected = {"launch-needs-a-person", "api-5xx", "approval-emails-failed", "launch-stuck"}
    expected |= {f"{name.replace('_', '-')}-faults" for name in function_ids()}
    assert set(alarms) == {f"launch-controller-{name}" for name in expected}
    paging = stack.topics["paging"]
    for alarm in alarms.values():
        assert (alarm["AlarmActions"], alarm["OKActions"]) == ([paging], [paging]), alarm["AlarmName"]
        [total] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert total["Expression"]
    # The resolved dimensions are this stack's: its state machine, its functions, its topic.
    executions = alarms["launch-controller-launch-needs-a-person"]["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]
    assert executions == [{"Name": "StateMachineArn", "Value": stack.state_machine_arn}]
    stage = alarms["launch-controller-deploy-backend-faults"]["Metrics"]
    assert (
        stage[1]["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == stack.deployment.functions["deploy_backend"].arn
    )
    key_id = stack.client("sns").get_topic_attributes(TopicArn=paging)["Attributes"]["KmsMasterKeyId"]
    key = stack.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER"
    policy = json.loads(stack.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in policy["Statement"])


def test_the_dashboard_shows_the_launches_the_functions_and_every_alarm(stack: Any) -> None:
    cloudwatch = stack.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName="launch-controller")["DashboardBody"])
    [alarm_widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    names = {a["AlarmArn"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="launch-controller-")["MetricAlarms"]}
    assert set(alarm_widget["properties"]["alarms"]) == names
    text = json.dumps(body)
    assert "${" not in text
    assert stack.state_machine_arn in text
    assert all(function.function_name in text for function in stack.deployment.functions.values())
    assert "LaunchesRolledBack" in text
    assert "StageDuration" in text


def test_the_watch_runs_on_its_schedule_and_reports_to_the_stuck_alarm(stack: Any) -> None:
    watch = stack.deployment.functions["watch_launches"]
    [rule] = [r for r in stack.client("events").list_rules()["Rules"] if r.get("ScheduleExpression")]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    before = len(stack.metrics)
    assert stack.events.fire_schedules() == [watch.arn]
    reported = [line for line in stack.metrics[before:] if "LaunchesStuck" in line]
    assert [line["LaunchesStuck"] for line in reported] == [[0.0]]
