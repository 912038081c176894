"""How the CLI, the demo and the action prove who they are to the controller's API."""

from __future__ import annotations

import base64
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chalicelib.api.callers import AUDIENCE_HEADER, IAM_TOKEN_PREFIX

IAM_TOKEN_SECONDS = 60


class IamToken:
    """`Bearer aws-iam-v1.<presigned sts:GetCallerIdentity>`, signed (SigV4) with the caller's AWS
    credentials and bound to the controller's audience; renewed before it runs out."""

    def __init__(self, session: Any, audience: str, sts_endpoint: str | None = None) -> None:
        self._sts = session.client("sts", endpoint_url=sts_endpoint)
        self._audience = audience
        self._token = ""
        self._made_at = 0.0

        def bind_audience(request: Any, **_: Any) -> None:
            request.headers[AUDIENCE_HEADER] = self._audience

        self._sts.meta.events.register("before-sign.sts.GetCallerIdentity", bind_audience)

    def __call__(self) -> str:
        if time.monotonic() - self._made_at > IAM_TOKEN_SECONDS / 2:
            url = self._sts.generate_presigned_url("get_caller_identity", ExpiresIn=IAM_TOKEN_SECONDS, HttpMethod="GET")
            self._token = IAM_TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
            self._made_at = time.monotonic()
        return f"Bearer {self._token}"


class StaticToken:
    """A bearer token already in hand (e.g. a GitHub OIDC token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return f"Bearer {self._token}"


# -- the local stack's people ------------------------------------------------------------------------

RELEASE_ENGINEER = "riley.release@acme.example"


def local_people(profile: Any) -> list[str]:
    """The local release engineer and every approver the local profile names."""
    approvers = sorted({email for emails in profile.approvals.approvers.values() for email in emails})
    return [RELEASE_ENGINEER, *approvers]


def profile_keeper_policy(account_id: str, region: str, profiles_path: str, approvals_topic: str) -> dict[str, Any]:
    """What a person who pushes profiles needs: the profiles' parameters, and the approvers' subscriptions."""
    parameters = f"arn:aws:ssm:{region}:{account_id}:parameter{profiles_path}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Profiles",
                "Effect": "Allow",
                "Action": ["ssm:GetParameterHistory", "ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"],
                "Resource": f"{parameters}/*",
            },
            {
                "Sid": "ApproverSubscriptions",
                "Effect": "Allow",
                "Action": ["sns:ListSubscriptionsByTopic", "sns:Subscribe", "sns:SetSubscriptionAttributes"],
                "Resource": approvals_topic,
            },
        ],
    }


def create_people(iam: Any, people: list[str]) -> dict[str, tuple[str, str]]:
    """An IAM user per person, named by their email as Identity Center names sessions; their keys."""
    keys = {}
    for person in people:
        iam.create_user(UserName=person)
        key = iam.create_access_key(UserName=person)["AccessKey"]
        keys[person] = (key["AccessKeyId"], key["SecretAccessKey"])
    return keys


def local_credentials_file(api_port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"launchctl-local-{api_port}" / "credentials"


def write_local_credentials(people: dict[str, tuple[str, str]], path: Path) -> None:
    """An AWS shared-credentials file with one profile per local person, for `launchctl --profile`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for person, (key, secret) in people.items():
        lines += [f"[{person}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}", ""]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines))


def stack_file(api_port: int) -> Path:
    return local_credentials_file(api_port).with_name("stack.json")


def write_stack_file(api_port: int, facts: dict[str, str]) -> None:
    """Where the local stack on this API port has its STS (moto) and outbox, for `launchctl` to find."""
    path = stack_file(api_port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts))


def read_stack_file(api_port: int) -> dict[str, str] | None:
    path = stack_file(api_port)
    return json.loads(path.read_text()) if path.exists() else None


def local_session(person: str, api_port: int, region: str = "us-east-1") -> Any:
    """A boto3 session with a local person's keys, from the file the running local stack wrote."""
    import boto3

    path = local_credentials_file(api_port)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is `launchctl local` running?")
    return boto3.session.Session(profile_name=person, region_name=region, botocore_session=_with_credentials(path))


def _with_credentials(path: Path) -> Any:
    import botocore.session

    session = botocore.session.Session()
    session.set_config_variable("credentials_file", str(path))
    return session
