"""`make deploy`: the code and template uploaded to a private deploy bucket, and a change set with the
template's capabilities and parameters (moto: its CloudFormation makes the change set, it cannot run
the SAM transform, so the change sets here are not executed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launchctl.build.deploy import CAPABILITIES, deploy, deploy_bucket, next_steps

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from launchctl.build.template import sam_template

    folder = tmp_path_factory.mktemp("package")
    (folder / "sam.json").write_text(json.dumps(sam_template()))
    (folder / "deployment.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return folder


@pytest.fixture(autouse=True)
def api_gateway_logs_role(aws: Any) -> str:
    """The account's API Gateway CloudWatch role, set as its operator sets it once per region."""
    role = aws("iam").create_role(
        RoleName="apigateway-cloudwatch",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    aws("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    return str(role)


def _session(aws: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A session into moto that keeps each CreateChangeSet request."""
    import boto3

    asked: list[dict[str, Any]] = []
    session = boto3.session.Session(region_name="us-east-1")
    session.events.register(
        "provide-client-params.cloudformation.CreateChangeSet", lambda params, **_: asked.append(dict(params))
    )
    return session, asked


def test_a_first_deploy_uploads_to_a_private_bucket_and_asks_for_the_templates_capabilities(
    aws: Any, package_dir: Path
) -> None:
    session, asked = _session(aws)
    said: list[str] = []
    deploy(session, package_dir, "lc", {"AlertEmail": "oncall@acme.example"}, execute=False, say=said.append)
    bucket = deploy_bucket("lc", ACCOUNT, "us-east-1")
    s3 = aws("s3")
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    [request] = asked
    assert request["ChangeSetType"] == "CREATE"
    assert request["Capabilities"] == CAPABILITIES
    assert request["Parameters"] == [{"ParameterKey": "AlertEmail", "ParameterValue": "oncall@acme.example"}]
    template_key = request["TemplateURL"].split(".amazonaws.com/", 1)[1]
    uploaded = json.loads(s3.get_object(Bucket=bucket, Key=template_key)["Body"].read())
    code = {
        json.dumps(resource["Properties"]["CodeUri"], sort_keys=True)
        for resource in uploaded["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    [location] = [json.loads(where) for where in code]
    assert location["Bucket"] == bucket
    assert (
        s3.get_object(Bucket=bucket, Key=location["Key"])["Body"].read()
        == (package_dir / "deployment.zip").read_bytes()
    )
    assert any("uploaded" in line for line in said)
    assert any(line.startswith("  Add") and "LaunchTable" in line for line in said)


def test_a_deploy_again_uploads_nothing_again_and_an_update_keeps_earlier_parameters(
    aws: Any, package_dir: Path
) -> None:
    session, asked = _session(aws)
    deploy(session, package_dir, "lc", {}, execute=False, say=lambda _: None)
    said: list[str] = []
    deploy(session, package_dir, "lc", {}, execute=False, say=said.append)
    assert any("already there" in line for line in said)
    assert asked[-1]["ChangeSetType"] == "CREATE"  # the first change set was never executed
    earlier = {"Parameters": {"AlertEmail": {"Type": "String"}}, "Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    aws("cloudformation").create_stack(
        StackName="live",
        TemplateBody=json.dumps(earlier),
        Parameters=[{"ParameterKey": "AlertEmail", "ParameterValue": "oncall@acme.example"}],
    )
    deploy(session, package_dir, "live", {"NamePrefix": "live"}, execute=False, say=lambda _: None)
    update = asked[-1]
    assert update["ChangeSetType"] == "UPDATE"
    assert {"ParameterKey": "NamePrefix", "ParameterValue": "live"} in update["Parameters"]
    assert {"ParameterKey": "AlertEmail", "UsePreviousValue": True} in update["Parameters"]
    # A parameter the stack did not have yet takes the template's default.
    assert all(item["ParameterKey"] != "ApiRateLimit" for item in update["Parameters"])


def test_a_parameter_the_template_lacks_is_refused_before_any_change_set(aws: Any, package_dir: Path) -> None:
    session, asked = _session(aws)
    with pytest.raises(SystemExit, match="no parameter AlertEmails"):
        deploy(session, package_dir, "lc", {"AlertEmails": "x"}, execute=False, say=lambda _: None)
    assert asked == []


def test_an_account_without_api_gateways_logs_role_is_refused_before_anything_is_made(
    aws: Any, package_dir: Path
) -> None:
    """API Gateway refuses to make a stage that writes an access log until the account's CloudWatch role is set:
    the stack would roll back half made. make deploy says so first, with the commands, and makes nothing."""
    aws("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    session, asked = _session(aws)
    with pytest.raises(SystemExit) as refused:
        deploy(session, package_dir, "lc", {}, execute=False, say=lambda _: None)
    assert "API Gateway has no CloudWatch role in this account and region" in str(refused.value)
    assert "aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn" in str(refused.value)
    assert asked == []
    assert aws("s3").list_buckets()["Buckets"] == []


def test_an_api_reservation_that_would_leave_fewer_than_100_unreserved_is_refused_first(
    aws: Any, package_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account whose Lambda limit is 120 cannot reserve the default 50 (Lambda keeps 100 unreserved): make
    deploy says what to pass instead; with ApiReservedConcurrency=0 it goes on."""
    from localaws import aws_limits

    monkeypatch.setitem(aws_limits.account_concurrency, ACCOUNT, 120)
    session, asked = _session(aws)
    with pytest.raises(SystemExit, match=r"Reserving 50 executions for the API would leave 70 of this account's 120"):
        deploy(session, package_dir, "lc", {}, execute=False, say=lambda _: None)
    assert asked == []
    deploy(session, package_dir, "lc", {"ApiReservedConcurrency": "0"}, execute=False, say=lambda _: None)
    assert len(asked) == 1


def test_whats_left_by_hand_names_this_stacks_topic_and_the_roles_each_environment_trusts() -> None:
    found = {"EndpointURL": "https://x.execute-api/api/", "ApprovalsTopicArn": "arn:topic"}
    steps = "\n".join(next_steps(found | {"EnvironmentRoleTrust": "arn:a,arn:b"}))
    assert "launchctl profile push --env <environment> --topic arn:topic PROFILE" in steps
    assert "--template-file deploy/target-account-role.json" in steps
    assert "ControllerRoleArns=arn:a,arn:b" in steps
    assert "$(launchctl profile role-parameters PROFILE)" in steps
    assert "https://x.execute-api/api " in steps
    assert "Point the API's domain" not in steps
    with_domain = "\n".join(next_steps({"ApiDomainTarget": "d-1.execute-api.aws", "ApiDomainZone": "Z2"}))
    assert "Point the API's domain at d-1.execute-api.aws: a CNAME, or a Route 53 alias in the zone Z2" in with_domain


def test_make_deploy_refuses_without_a_named_aws_profile() -> None:
    """Only a person naming the account deploys: without AWS_PROFILE nothing is packaged or sent."""
    import os
    import subprocess

    root = Path(__file__).parents[3]
    env = {key: value for key, value in os.environ.items() if key != "AWS_PROFILE"}
    result = subprocess.run(["make", "-s", "deploy"], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "AWS_PROFILE" in result.stdout + result.stderr
    assert "chalice package" not in result.stdout


def _old_launch_table() -> dict[str, Any]:
    """The launch table as stacks deployed before the list's indexes have it: one index, `recent`."""
    from chalicelib.store import table_definition

    table = table_definition("launches")
    recent = [index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == "recent"]
    used = ["pk", "sk", "gsi1pk", "gsi1sk"]
    return table | {
        "GlobalSecondaryIndexes": recent,
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in used],
    }


def test_an_update_adding_several_indexes_adds_them_one_per_update_before_the_templates_own() -> None:
    from chalicelib.store import table_definition
    from launchctl.build.deploy import index_steps

    wanted = table_definition("launches")
    steps = index_steps(_old_launch_table(), wanted)
    # DynamoDB creates one index per table update: three steps, and the template's update adds the fourth.
    assert [[index["IndexName"] for index in step["GlobalSecondaryIndexes"]] for step in steps] == [
        ["recent", "list-by-time"],
        ["recent", "list-by-time", "list-by-environment"],
        ["recent", "list-by-time", "list-by-environment", "list-by-status"],
    ]
    # Each step declares exactly the attributes its keys use (DynamoDB refuses others).
    assert [sorted(item["AttributeName"] for item in step["AttributeDefinitions"]) for step in steps] == [
        ["gsi1pk", "gsi1sk", "pk", "sk"],
        ["environment", "gsi1pk", "gsi1sk", "pk", "sk"],
        ["environment", "gsi1pk", "gsi1sk", "pk", "sk", "status"],
    ]
    assert all(step["KeySchema"] == wanted["KeySchema"] for step in steps)
    # One index more or less is one update: no steps.
    assert index_steps(steps[-1], wanted) == []
    assert index_steps(wanted, wanted) == []


def test_an_update_of_a_stack_with_the_old_table_announces_its_index_steps(aws: Any, package_dir: Path) -> None:
    session, asked = _session(aws)
    earlier = {
        "Parameters": {"AlertEmail": {"Type": "String"}},
        "Resources": {"LaunchTable": {"Type": "AWS::DynamoDB::Table", "Properties": _old_launch_table()}},
    }
    aws("cloudformation").create_stack(
        StackName="upgrade",
        TemplateBody=json.dumps(earlier),
        Parameters=[{"ParameterKey": "AlertEmail", "ParameterValue": "oncall@acme.example"}],
    )
    said: list[str] = []
    deploy(session, package_dir, "upgrade", {}, execute=False, say=said.append)
    assert [line for line in said if "index update" in line] == [
        f"LaunchTable: index update {n} of 4 (DynamoDB changes one index per update)" for n in (1, 2, 3)
    ]
    assert asked[-1]["ChangeSetType"] == "UPDATE"


def test_every_deploy_command_the_docs_give_sends_a_large_template_through_s3(package_dir: Path) -> None:
    """`aws cloudformation deploy` sends the template in the request unless --s3-bucket is given, and
    CloudFormation refuses one past 51,200 bytes that way: the by-hand deploy (docs/deploying.md) of the packaged
    template failed."""
    import re

    from localaws.aws_limits import TEMPLATE_BODY_BYTES

    root = Path(__file__).resolve().parents[3]
    sizes = {
        "out/package/sam.json": len((package_dir / "sam.json").read_bytes()),
        "out/packaged.json": len((package_dir / "sam.json").read_bytes()),  # the same, its code's URI rewritten
        "deploy/target-account-role.json": len((root / "deploy" / "target-account-role.json").read_bytes()),
    }
    texts = [path.read_text() for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]]
    texts.append("\n".join(next_steps({})))
    commands = [
        m.group(0) for text in texts for m in re.finditer(r"aws cloudformation deploy[^`\n]*(?:\\\n[^`\n]*)*", text)
    ]
    assert commands
    for command in commands:
        template = re.search(r"--template-file (\S+)", command)
        assert template is not None, command
        if sizes[template.group(1)] > TEMPLATE_BODY_BYTES:
            assert "--s3-bucket" in command, command
