"""A launch acts in its environment's account as the environment's role: a session named after the launch,
tagged with it, kept while its credentials last and renewed before they expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.platform import aws as controller_aws

ENVIRONMENT_ACCOUNT = "210987654321"
ROLE = f"arn:aws:iam::{ENVIRONMENT_ACCOUNT}:role/launch-controller/launch-controller-local"


@pytest.fixture
def assumed(aws: Any) -> list[dict[str, Any]]:
    """Every AssumeRole the function's own STS client sends, with its parameters."""
    from chalicelib.platform import aws as clients

    asked: list[dict[str, Any]] = []
    clients.client("sts").meta.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: asked.append(dict(params))
    )
    return asked


def test_a_launchs_clients_act_in_the_environments_account_as_its_role(aws: Any, assumed: list[Any]) -> None:
    environment = aws_environment("local-20261129-000000-abcdef")
    identity = environment("sts").get_caller_identity()
    assert identity["Account"] == ENVIRONMENT_ACCOUNT
    assert identity["Arn"].endswith(":assumed-role/launch-controller-local/local-20261129-000000-abcdef")
    environment("s3").create_bucket(Bucket="acme-site-elsewhere")
    # The controller's own account does not have what the environment's has.
    assert "acme-site-elsewhere" not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
    assert assumed == [
        {
            "RoleArn": ROLE,
            "RoleSessionName": "local-20261129-000000-abcdef",
            "DurationSeconds": 3600,
            "Tags": [
                {"Key": "environment", "Value": "local"},
                {"Key": "launch-id", "Value": "local-20261129-000000-abcdef"},
            ],
        }
    ]


def test_the_role_is_assumed_once_per_launch_while_its_credentials_last(aws: Any, assumed: list[Any]) -> None:
    for _ in range(3):
        aws_environment("local-1")("sts").get_caller_identity()
    aws_environment("local-2")("sts").get_caller_identity()
    assert [asked["RoleSessionName"] for asked in assumed] == ["local-1", "local-2"]


def test_credentials_near_their_expiry_are_renewed_before_a_call(
    aws: Any, assumed: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bake an hour long outlives one set of credentials: the next call renews them first."""
    import botocore.credentials

    environment = aws_environment("local-1")
    environment("sts").get_caller_identity()
    credentials = controller_aws._environment_session(
        (ROLE, "local-1", _tags("local-1"), 3600, None)
    )._session._credentials
    later = credentials._expiry_time - timedelta(minutes=5)  # within botocore's refresh window
    credentials._time_fetcher = lambda: later
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)
    environment("sts").get_caller_identity()
    assert len(assumed) == 2


def test_the_controllers_own_services_stay_in_its_account(aws: Any) -> None:
    environment = controller_aws.environment_clients(ROLE, "local-1", {}, own=("sns",))
    topic = environment("sns").create_topic(Name="notifications")["TopicArn"]
    assert topic.split(":")[4] == "123456789012"


@pytest.mark.parametrize("trusted", ["arn:aws:iam::123456789012:role/someone-else", None])
def test_a_role_that_does_not_trust_the_controller_or_does_not_exist_is_a_clear_access_denied(
    aws: Any, trusted: str | None
) -> None:
    import json

    from botocore.exceptions import ClientError
    from localaws import moto_fixes
    from moto.iam.models import iam_backends

    if trusted:
        trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": ["sts:AssumeRole"]}]}
        iam_backends[ENVIRONMENT_ACCOUNT]["aws"].create_role(
            "launch-controller-local", json.dumps(trust), "/launch-controller/", None, "", [], None
        )
    moto_fixes.judge_role_trust(True)
    try:
        with pytest.raises(ClientError, match="AssumeRole") as refused:
            aws_environment("local-1")("sts").get_caller_identity()
    finally:
        moto_fixes.judge_role_trust(False)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert ROLE in refused.value.response["Error"]["Message"]


def _tags(launch_id: str) -> tuple[tuple[str, str], ...]:
    return (("environment", "local"), ("launch-id", launch_id))


def aws_environment(launch_id: str) -> Any:
    return controller_aws.environment_clients(ROLE, launch_id, dict(_tags(launch_id)))


def test_a_role_trusting_the_controllers_account_for_assume_and_tag_is_taken(aws: Any) -> None:
    import json

    from localaws import moto_fixes
    from moto.iam.models import iam_backends

    principal = {"AWS": "arn:aws:iam::123456789012:root"}
    trust = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    iam_backends[ENVIRONMENT_ACCOUNT]["aws"].create_role(
        "launch-controller-local", json.dumps(trust), "/launch-controller/", None, "", [], None
    )
    moto_fixes.judge_role_trust(True)
    try:
        identity = aws_environment("local-1")("sts").get_caller_identity()
    finally:
        moto_fixes.judge_role_trust(False)
    assert identity["Account"] == ENVIRONMENT_ACCOUNT
