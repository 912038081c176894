"""The fault injector answers as AWS would in each protocol, so botocore handles its faults as real ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws.faults import FaultInjector, LambdaTimedOut

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


def test_calls_under_way_together_are_counted_in_flight_and_each_try_ends_its_count(
    injected: tuple[FaultInjector, Any],
) -> None:
    injector, session = injected
    together = threading.Barrier(4, timeout=10)

    def all_four_sending(**_: Any) -> None:
        together.wait()  # four under way at once, whatever the machine's speed

    # After the injector's own (botocore calls a more specific event name's handlers first).
    session.events.register_first("before-send", all_four_sending)
    clients = [session.client("s3") for _ in range(4)]  # each copies the session's handlers as it is made
    session.events.unregister("before-send", all_four_sending)

    def list_buckets(s3: Any) -> None:
        with injector.running("deploy"):
            s3.list_buckets()

    threads = [threading.Thread(target=list_buckets, args=(s3,)) for s3 in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    s3 = session.client("s3")
    s3.list_buckets()  # the test's own call: no function's
    assert injector.take_most_in_flight("s3") == 4
    injector.add("deploy", "s3.ListBuckets", "throttle", times=1)
    with injector.running("deploy"):
        s3.list_buckets()  # a throttled try, then the answered one: each ends its count
    assert (injector.in_flight["s3"], injector.take_most_in_flight("s3")) == (0, 1)
