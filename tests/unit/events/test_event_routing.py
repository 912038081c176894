"""The environments' events reach the controller as EventBridge routes them (emulator/localaws/eventbridge.py):
forwarded by the environment's rules, as its forwarding role, to the controller's own bus, whose policy admits
only those roles and only AWS's events about launches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from localaws.eventbridge import LocalEventBridge, service_event

ROOT = Path(__file__).resolve().parents[3]
CONTROLLER = "123456789012"
ENVIRONMENT = "210987654321"
REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{CONTROLLER}:function:launch-events"


def _client(service: str, account: str) -> Any:
    """A client of `account` in moto (moto takes the account from the keys' ids)."""
    import boto3
    from localaws import moto_fixes

    key, secret = moto_fixes.operator_keys(account)
    return boto3.client(service, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret)


@pytest.fixture
def accounts(aws: Any) -> dict[str, Any]:
    """The controller's bus (as deploy/resources.json makes it: launch_events' rule, the policy), and the
    environment's forwarding as deploy/target-account-role.json makes it."""
    from localaws.deployment import _with_parameters

    from launchctl.build.target_role import FORWARDED_EVENTS

    controller = _client("events", CONTROLLER)
    bus = controller.create_event_bus(Name="lc-environments")["EventBusArn"]
    controller.put_rule(
        Name="launch-events", EventBusName="lc-environments", EventPattern=json.dumps({"source": ["aws.ecs"]})
    )
    controller.put_targets(Rule="launch-events", EventBusName="lc-environments", Targets=[{"Id": "f", "Arn": FUNCTION}])
    resources = json.loads((ROOT / "deploy" / "resources.json").read_text())["Resources"]
    known = {"EnvironmentAccounts": ENVIRONMENT, "NamePrefix": "lc", "AWS::Partition": "aws"}
    known |= {"AWS::Region": REGION, "AWS::AccountId": CONTROLLER}
    statement = _with_parameters(resources["EnvironmentEvents"]["Properties"]["Statement"], known)
    assert statement["Resource"] == bus
    controller.put_permission(
        EventBusName="lc-environments",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "env", **statement}]}),
    )
    forwarding = _eventbridge_role(ENVIRONMENT, "fwd", "/lc/forwarding/")
    other = _eventbridge_role(ENVIRONMENT, "someone-elses", "/")
    environment = _client("events", ENVIRONMENT)
    pattern = FORWARDED_EVENTS["Deployments"]
    environment.put_rule(Name="forward", EventPattern=json.dumps(pattern))
    environment.put_targets(Rule="forward", Targets=[{"Id": "c", "Arn": bus, "RoleArn": forwarding}])
    return {"bus": bus, "other_role": other, "environment": environment, "controller": controller}


def _eventbridge_role(account: str, name: str, path: str) -> str:
    """A role EventBridge may forward events as (the target template's forwarding role is at /<prefix>/forwarding/)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = _client("iam", account).create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def _bridge() -> tuple[LocalEventBridge, list[str]]:
    invoked: list[str] = []

    def invoke(target: str, event: dict[str, Any]) -> tuple[Any, str | None]:
        invoked.append(target)
        return {}, None

    return LocalEventBridge(CONTROLLER, REGION, invoke), invoked


def _deployment(account: str, source: str = "aws.ecs") -> dict[str, Any]:
    return service_event(
        source, "ECS Deployment State Change", account, REGION, [], {"eventName": "SERVICE_DEPLOYMENT_COMPLETED"}
    )


def test_an_environments_event_forwarded_as_its_forwarding_role_reaches_the_controller(accounts: Any) -> None:
    bridge, invoked = _bridge()
    bridge._deliver(_deployment(ENVIRONMENT))
    assert invoked == [FUNCTION]
    assert bridge.deliveries[-1].forwarded


def test_a_rule_forwarding_as_another_role_of_the_environments_account_is_refused_by_the_bus(accounts: Any) -> None:
    """Anyone who may make a rule in the environment's account could forward: only roles at the controller's
    forwarding path are admitted (the bus policy's aws:PrincipalArn), not the whole account."""
    environment = accounts["environment"]
    environment.put_targets(
        Rule="forward", Targets=[{"Id": "c", "Arn": accounts["bus"], "RoleArn": accounts["other_role"]}]
    )
    bridge, invoked = _bridge()
    bridge._deliver(_deployment(ENVIRONMENT))
    assert invoked == []
    assert "does not admit arn:aws:iam::210987654321:role/someone-elses" in bridge.deliveries[-1].dropped


def test_an_event_of_a_source_the_controller_does_not_listen_for_is_refused_by_the_bus(accounts: Any) -> None:
    environment = accounts["environment"]
    environment.put_rule(Name="forward", EventPattern=json.dumps({"source": ["acme.custom"]}))
    bridge, invoked = _bridge()
    bridge._deliver(_deployment(ENVIRONMENT, source="acme.custom"))
    assert invoked == []
    assert "for acme.custom" in bridge.deliveries[-1].dropped


def test_an_environment_in_the_controllers_own_account_forwards_to_the_controllers_bus(accounts: Any) -> None:
    """Its forwarding rules are on the account's default bus and target the controller's own bus: a role of
    the bus's account puts events by its own policy."""
    from launchctl.build.target_role import FORWARDED_EVENTS

    controller = accounts["controller"]
    role = _eventbridge_role(CONTROLLER, "fwd-here", "/lc/forwarding/")
    controller.put_rule(Name="forward-here", EventPattern=json.dumps(FORWARDED_EVENTS["Deployments"]))
    controller.put_targets(Rule="forward-here", Targets=[{"Id": "c", "Arn": accounts["bus"], "RoleArn": role}])
    bridge, invoked = _bridge()
    bridge._deliver(_deployment(CONTROLLER))
    assert invoked == [FUNCTION]
