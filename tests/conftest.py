"""Shared fixtures: fake credentials, moto-backed clients and stores, the embedded local stack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.models import Launch, LaunchRequest, LaunchStatus
from chalicelib.profiles import EnvironmentProfile, load_profile

REGION = "us-east-1"
TABLE = "launch-controller-test"


@pytest.fixture(autouse=True)
def fake_aws_for_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests talk to moto in-process: fake credentials, no endpoint override."""
    if "integration" in Path(str(request.node.fspath)).parts:
        return
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "LAUNCH_TABLE": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE", "LAUNCH_STATE_MACHINE_ARN"):
        monkeypatch.delenv(name, raising=False)
    from chalicelib import aws
    from chalicelib.settings import settings

    aws.reset_clients()
    settings.cache_clear()


@pytest.fixture
def aws() -> Iterator[Any]:
    """Inside moto: yields a factory of clients (`aws("s3")`)."""
    import boto3
    from moto import mock_aws

    from launchctl import moto_fixes

    with mock_aws():
        moto_fixes.apply()
        session = boto3.session.Session(region_name=REGION)
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = session.client(service)
            return clients[service]

        yield client


@pytest.fixture
def store(aws: Any) -> Any:
    from chalicelib.store import LaunchStore, table_definition

    aws("dynamodb").create_table(**table_definition(TABLE))
    return LaunchStore(aws("dynamodb"), TABLE)


@pytest.fixture
def profile() -> EnvironmentProfile:
    return load_profile("local")


def make_request(**overrides: Any) -> LaunchRequest:
    fields: dict[str, Any] = {
        "environment": "local",
        "version": "1.1.0",
        "git_sha": "abcdef1234",
        "frontend_artifact": "s3://acme-artifacts-local/releases/1.1.0/",
        "backend_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.1.0",
        "requested_by": "riley@acme.example",
    }
    return LaunchRequest.model_validate(fields | overrides)


@pytest.fixture
def launch(store: Any) -> Launch:
    """A launch record as the API writes it, in REQUESTED."""
    moment = datetime.now(UTC)
    record = Launch(
        launch_id="local-20261128-000000-abcdef",
        request=make_request(),
        status=LaunchStatus.REQUESTED,
        created_at=moment,
        updated_at=moment,
    )
    store.create_launch(record)
    return record


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """The embedded local AWS with the real ASL and Lambda code, once per test session."""
    from launchctl.stack import LocalStack

    local = LocalStack().start()
    yield local
    local.stop()


@pytest.fixture
def client(store: Any, aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Chalice app under its test client, with moto behind it and a state machine to start."""
    import json

    from chalice.test import Client

    from chalicelib.settings import settings

    machine = aws("stepfunctions").create_state_machine(
        name="launch",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    monkeypatch.setenv("LAUNCH_STATE_MACHINE_ARN", machine)
    settings.cache_clear()
    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def api(stack: Any) -> Iterator[Any]:
    """The controller's API on the local stack; faults and bad images planted by a test go with it."""
    from launchctl.client import ControllerApi

    yield ControllerApi(stack.api_url)
    stack.site.unhealthy_images.clear()
    stack.scheduler.failing_images.clear()
    stack.scheduler.failing_tasks.clear()
    stack.faults.clear()


@pytest.fixture
def environment(aws: Any, profile: EnvironmentProfile) -> Any:
    """The local profile's infrastructure inside moto, running version 1.0.0; yields the client factory."""
    from launchctl.infrastructure import create_environment, publish_release

    create_environment(aws, profile)
    publish_release(aws, "1.1.0")
    return aws
