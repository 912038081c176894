"""The local stack's own glue: the Lambda bridge and the ECS scheduler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from localaws.bridge import LambdaBridge, LocalFunction
from localaws.ecs_scheduler import EcsScheduler


class Boom(Exception):
    pass


def _bridge() -> LambdaBridge:
    def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"echo": event, "function": context.function_name}

    def fails(event: dict[str, Any], context: Any) -> None:
        raise Boom("it broke")

    return LambdaBridge(
        [
            LocalFunction("ok", ok, "app-local-ok", "arn:aws:lambda:us-east-1:1:function:app-local-ok"),
            LocalFunction("fails", fails, "app-local-fails"),
        ]
    )


def test_the_bridge_answers_invoke_with_the_function_result() -> None:
    payload, error = _bridge().invoke("arn:aws:lambda:us-east-1:1:function:app-local-ok", {"a": 1})
    assert error is None
    assert payload == {"echo": {"a": 1}, "function": "app-local-ok"}


def test_an_exception_becomes_a_function_error_named_by_its_class() -> None:
    payload, error = _bridge().invoke("app-local-fails", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Boom"
    assert payload["errorMessage"] == "it broke"


def test_a_function_killed_mid_call_is_reported_as_lambda_reports_a_timeout() -> None:
    from localaws.faults import LambdaTimedOut

    def killed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise LambdaTimedOut("killed after ecs.UpdateService")

    payload, error = LambdaBridge([LocalFunction("killed", killed, "app-local-killed")]).invoke("app-local-killed", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out" in payload["errorMessage"]


def test_the_installed_bridge_answers_a_boto3_invoke() -> None:
    import boto3

    bridge = _bridge()
    bridge.install()
    try:
        client = boto3.client("lambda", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
        response = client.invoke(FunctionName="app-local-fails", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read())["errorType"] == "Boom"
    finally:
        bridge.uninstall()


@pytest.fixture
def service(aws: Any) -> dict[str, Any]:
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="c")
    for image in ("api:1", "api:2"):
        ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": image, "memory": 64}])
    return ecs.create_service(cluster="c", serviceName="s", taskDefinition="api:1", desiredCount=2)["service"]


def _deployments(aws: Any) -> list[dict[str, Any]]:
    return aws("ecs").describe_services(cluster="c", services=["s"])["services"][0]["deployments"]


def test_the_scheduler_completes_a_rollout_and_drains_the_old_deployment(aws: Any, service: Any) -> None:
    scheduler = EcsScheduler("us-east-1", settle_seconds=0)
    scheduler.settle()
    scheduler.settle_seconds = 3600
    aws("ecs").update_service(cluster="c", service="s", taskDefinition="api:2", forceNewDeployment=True)
    scheduler.settle()  # begins: new PRIMARY beside the old, now ACTIVE, not yet due
    assert [(d["status"], d["rolloutState"]) for d in _deployments(aws)] == [
        ("PRIMARY", "IN_PROGRESS"),
        ("ACTIVE", "COMPLETED"),
    ]
    scheduler.settle_seconds = 0
    scheduler.settle()  # due: completes
    [deployment] = _deployments(aws)
    assert deployment["taskDefinition"].endswith("api:2")
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["runningCount"] == 2


def test_the_scheduler_fails_a_rollout_of_a_failing_image(aws: Any, service: Any) -> None:
    scheduler = EcsScheduler("us-east-1", settle_seconds=0)
    scheduler.failing_images.add("api:2")
    scheduler.settle()
    scheduler.settle()
    aws("ecs").update_service(cluster="c", service="s", taskDefinition="api:2")
    scheduler.settle()
    scheduler.settle()
    assert _deployments(aws)[0]["rolloutState"] == "FAILED"


def test_local_refuses_to_break_a_check_that_does_not_exist(capsys: Any) -> None:
    from launchctl import cli

    assert cli.main(["local", "--break", "s3.no_such_check"]) == cli.EXIT_USAGE
    assert "no check s3.no_such_check" in capsys.readouterr().err


def test_concurrent_reads_of_an_item_another_request_is_growing_all_answer(store: Any, aws: Any) -> None:
    """moto answered a read by walking the item's attributes while another thread's update added one:
    'dictionary changed size during iteration' (a flaky approvals race). Every request is whole now."""
    import sys

    from tests.conftest import TABLE, race

    dynamodb = aws("dynamodb")
    key = {"pk": {"S": "RACE"}, "sk": {"S": "ITEM"}}
    dynamodb.put_item(TableName=TABLE, Item=key)

    def grow(worker: int) -> None:
        for i in range(150):
            dynamodb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET #a = :v",
                ExpressionAttributeNames={"#a": f"a{worker}_{i}"},
                ExpressionAttributeValues={":v": {"S": "x"}},
            )

    def read() -> None:
        for _ in range(300):
            dynamodb.get_item(TableName=TABLE, Key=key)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the race shows within the test
    try:
        outcomes = race([lambda: grow(1), lambda: grow(2), read, read])
    finally:
        sys.setswitchinterval(switching)
    assert [outcome for outcome in outcomes if outcome is not None] == []


def test_a_cancelled_transaction_puts_back_exactly_the_items_it_named(store: Any, aws: Any) -> None:
    """A cancelled transaction undoes its own writes and nothing else: moto's whole-table copy (replaced
    for speed) also wiped what was written beside it; the items it names come back as they were."""
    from tests.conftest import TABLE

    dynamodb = aws("dynamodb")
    kept = {"pk": {"S": "TX"}, "sk": {"S": "KEPT"}, "n": {"N": "1"}}
    gone = {"pk": {"S": "TX"}, "sk": {"S": "GONE"}}
    beside = {"pk": {"S": "TX"}, "sk": {"S": "BESIDE"}}
    dynamodb.put_item(TableName=TABLE, Item=kept)
    dynamodb.put_item(TableName=TABLE, Item=gone)
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "TX"}, "sk": {"S": "NEW"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": kept["pk"], "sk": kept["sk"]},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": gone}},
                {"ConditionCheck": {"TableName": TABLE, "Key": beside, "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )
    dynamodb.put_item(TableName=TABLE, Item=beside)
    items = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "TX"}}
    )["Items"]
    assert sorted(items, key=lambda item: item["sk"]["S"]) == [beside, gone, kept]
    # A transaction that succeeds still writes all of its items.
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "TX"}, "sk": {"S": "NEW"}}}},
            {"Delete": {"TableName": TABLE, "Key": gone}},
        ]
    )
    items = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "TX"}}
    )["Items"]
    assert [item["sk"]["S"] for item in items] == ["BESIDE", "KEPT", "NEW"]


def test_a_demo_scenario_that_ends_otherwise_fails_the_demo() -> None:
    from localaws.demo import Scenario, verdict

    scenarios = [Scenario("healthy", "7.1.0", "SUCCEEDED"), Scenario("unhealthy", "7.2.0", "ROLLED_BACK")]
    assert verdict([{"status": "SUCCEEDED"}, {"status": "ROLLED_BACK"}], scenarios) == (
        True,
        "demo passed: 7.1.0 SUCCEEDED, 7.2.0 ROLLED_BACK",
    )
    assert verdict([{"status": "SUCCEEDED"}, {"status": "SUCCEEDED"}], scenarios) == (
        False,
        "DEMO FAILED: 7.1.0 SUCCEEDED, 7.2.0 SUCCEEDED",
    )


def test_a_query_answers_its_partition_in_key_order_page_by_page_by_table_key_and_by_index(aws: Any) -> None:
    # moto_fixes lets a query look at its own partition only: the answers must be DynamoDB's all the same.
    dynamodb = aws("dynamodb")
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    dynamodb.create_table(
        TableName="ordered",
        KeySchema=keys,
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "kind")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for partition in ("b", "a", "c"):
        for sort in ("03", "01", "02", "05", "04"):
            item = {"pk": {"S": partition}, "sk": {"S": sort}, "kind": {"S": "odd" if int(sort) % 2 else "even"}}
            dynamodb.put_item(TableName="ordered", Item=item)

    def pages(**query: Any) -> list[list[str]]:
        answered, start = [], {}
        while True:
            page = dynamodb.query(TableName="ordered", Limit=2, **start, **query)
            answered.append([item["pk"]["S"] + item["sk"]["S"] for item in page["Items"]])
            if "LastEvaluatedKey" not in page:
                return answered
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    by_key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}
    assert pages(**by_key) == [["a01", "a02"], ["a03", "a04"], ["a05"]]
    assert pages(**by_key, ScanIndexForward=False) == [["a05", "a04"], ["a03", "a02"], ["a01"]]
    newest = dynamodb.query(TableName="ordered", ScanIndexForward=False, Limit=1, **by_key)
    assert newest["Items"][0]["sk"] == {"S": "05"}
    even = {"KeyConditionExpression": "kind = :k", "ExpressionAttributeValues": {":k": {"S": "even"}}}
    # An index orders by its own sort key; among equal ones DynamoDB promises no order.
    indexed = [key for page in pages(IndexName="by-kind", **even) for key in page]
    assert [key[1:] for key in indexed] == ["02", "02", "02", "04", "04", "04"]
    assert sorted(indexed) == ["a02", "a04", "b02", "b04", "c02", "c04"]
    assert (
        dynamodb.query(TableName="ordered", **{**by_key, "ExpressionAttributeValues": {":p": {"S": "z"}}})["Items"]
        == []
    )


def test_the_local_aws_reaches_the_controller_through_its_public_names_only() -> None:
    import ast
    from pathlib import Path

    product = ("chalicelib", "launchctl", "app")
    found = []
    for path in sorted((Path(__file__).parents[3] / "emulator" / "localaws").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in product:
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
                    modules.add(alias.asname or alias.name)
            if isinstance(node, ast.Import):
                modules |= {alias.asname or alias.name for alias in node.names if alias.name.split(".")[0] in product}
        for node in ast.walk(tree):
            private = isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
            if private and isinstance(node.value, ast.Name) and node.value.id in modules:
                found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert found == []


def _manual_snapshot(aws: Any, name: str) -> str:
    rds = aws("rds")
    rds.create_db_instance(
        DBInstanceIdentifier=f"{name}-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        MasterUserPassword="correct-horse-battery",
        AllocatedStorage=20,
    )
    made = rds.create_db_snapshot(DBInstanceIdentifier=f"{name}-db", DBSnapshotIdentifier=f"{name}-snapshot")
    return str(made["DBSnapshot"]["Status"])


def test_the_events_patches_change_nothing_once_no_stack_listens(aws: Any) -> None:
    """A stack that stopped in this process leaves moto as moto: a unit test after it sees a snapshot
    available at once, as plain moto makes it, not `creating` as the stack's RDS does."""
    from localaws import emitters

    heard: list[dict[str, Any]] = []
    emitters.listen(heard.append)
    try:
        assert _manual_snapshot(aws, "listened") == "creating"
    finally:
        emitters.forget(heard.append)
    assert _manual_snapshot(aws, "plain") == "available"


def test_a_service_deployments_revision_names_the_digest_its_tag_had_when_it_started(
    application: Any, profile: Any
) -> None:
    """ECS's version consistency: a deployment runs the digest its tag named when it started, whatever the tag
    names later; ListServiceDeployments and DescribeServiceRevisions say which, as ECS does."""
    from localaws.infrastructure import ACCOUNT_ID, FIRST_VERSION, REGION

    from tests.unit.stages.deploying import move_tag, tag_digest

    scheduler = EcsScheduler(REGION, settle_seconds=0)
    scheduler.settle()
    scheduler.settle()
    ecs, target = application("ecs"), profile.backend
    first = tag_digest(application, FIRST_VERSION)
    moved = move_tag(application, FIRST_VERSION, "sha256:" + "e" * 64)
    ecs.update_service(cluster=target.cluster, service=target.service, forceNewDeployment=True)
    EcsScheduler(REGION, settle_seconds=3600).settle()  # the forced deployment starts, resolving the moved tag
    listed = ecs.list_service_deployments(cluster=target.cluster, service=target.service)["serviceDeployments"]
    assert [deployment["status"] for deployment in listed][:2] == ["IN_PROGRESS", "SUCCESSFUL"]
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[d["targetServiceRevisionArn"] for d in listed[:2]])
    digests = [revision["containerImages"][0]["imageDigest"] for revision in revisions["serviceRevisions"]]
    assert digests == [moved, first]
    assert listed[0]["serviceArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service/")
    done = ecs.list_service_deployments(cluster=target.cluster, service=target.service, status=["SUCCESSFUL"])
    assert moved not in json.dumps(done["serviceDeployments"], default=str)
    assert ecs.describe_service_revisions(serviceRevisionArns=["arn:aws:ecs:x"])["failures"][0]["reason"] == "MISSING"
