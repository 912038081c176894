"""The fault injector answers as AWS would in each protocol, so botocore handles its faults as real ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from launchctl.local.faults import FaultInjector, LambdaTimedOut

# One read-only call per wire protocol the stages use (moto also answers the request in-process).
CALLS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "json": ("ecs", "ecs.ListClusters", lambda client: client.list_clusters()),
    "query": ("rds", "rds.DescribeDBInstances", lambda client: client.describe_db_instances()),
    "rest-xml (S3)": ("s3", "s3.ListBuckets", lambda client: client.list_buckets()),
    "rest-xml": ("cloudfront", "cloudfront.ListDistributions", lambda client: client.list_distributions()),
    "rpc-v2-cbor": ("cloudwatch", "cloudwatch.DescribeAlarms", lambda client: client.describe_alarms()),
}


@pytest.fixture
def injected(aws: Any) -> tuple[FaultInjector, Any]:
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    injector = FaultInjector()
    injector.install(session)
    return injector, session


@pytest.mark.parametrize("protocol", CALLS)
def test_a_throttle_is_absorbed_by_botocores_retries(injected: tuple[FaultInjector, Any], protocol: str) -> None:
    injector, session = injected
    service, operation, call = CALLS[protocol]
    fault = injector.add("deploy", operation, "throttle", times=1)
    with injector.running("deploy"):
        response = call(session.client(service))
    assert fault.fired == 1
    assert response["ResponseMetadata"]["RetryAttempts"] == 1


@pytest.mark.parametrize("protocol", CALLS)
def test_a_hard_error_reaches_the_caller_as_access_denied(injected: tuple[FaultInjector, Any], protocol: str) -> None:
    injector, session = injected
    service, operation, call = CALLS[protocol]
    injector.add("deploy", operation, "error", times=10)
    with injector.running("deploy"), pytest.raises(ClientError) as raised:
        call(session.client(service))
    assert raised.value.response["Error"]["Code"].startswith("AccessDenied")
    assert raised.value.response["ResponseMetadata"].get("RetryAttempts", 0) == 0


def test_a_timeout_lets_the_call_happen_then_kills_the_function(injected: tuple[FaultInjector, Any]) -> None:
    injector, session = injected
    injector.add("deploy", "ecs.CreateCluster", "timeout", after=1)
    ecs = session.client("ecs")
    with injector.running("deploy"):
        ecs.create_cluster(clusterName="first")
        with pytest.raises(LambdaTimedOut):
            ecs.create_cluster(clusterName="second")
    assert {arn.rsplit("/", 1)[-1] for arn in ecs.list_clusters()["clusterArns"]} == {"first", "second"}
    assert injector.calls[("deploy", "ecs.CreateCluster")] == 2


def test_calls_outside_the_named_function_are_left_alone(injected: tuple[FaultInjector, Any]) -> None:
    injector, session = injected
    fault = injector.add("deploy", "ecs.ListClusters", "error", times=10)
    session.client("ecs").list_clusters()
    with injector.running("smoke"):
        session.client("ecs").list_clusters()
    assert fault.fired == 0
