"""The target-account template: the role a launch acts as in its environment's account, built from the same
per-function needs as the controller's own policies (`.chalice/policies/environment/*.json`).

One stack per environment, in the environment's account: a role trusting only the controller's functions'
roles. Each function's needs there are a managed policy of their own that is attached to nothing: a stage's
session is limited to it (AssumeRole's `PolicyArns`, which need not be attached to the role). The role itself
holds the union of those needs, merged and packed into as few managed policies as IAM's quotas allow (at most
10 attached to a role, 6,144 characters each), sized for the longest names the parameters admit
(`worst_case`). A policy's `{profile.field}` becomes a parameter (`{frontend.site_bucket}`:
`FrontendSiteBucket`), whose value `launchctl profile role-parameters FILE` reads from the profile."""

from __future__ import annotations

import argparse
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.profiles import KEY_VALUE_STORE_ARN, TASK_ROLE_ARN, TASK_ROLES_MAX, EnvironmentProfile
from launchctl.build.iam_quotas import ATTACHED_POLICIES_PER_ROLE, MANAGED_POLICY_CHARACTERS, characters

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / ".chalice" / "policies" / "environment"
SHIPPED = ROOT / "deploy" / "target-account-role.json"
# A profile field in a policy's resource, `{frontend.site_bucket}` (a `${...}` is CloudFormation's).
FIELD = re.compile(r"(?<!\$)\{([a-z_]+(?:\.[a-z_]+)*)\}")
# The role's name and path, as the controller's policy allows it to be assumed: role/<prefix>/<prefix>-<env>.
ROLE_NAME = "${ControllerNamePrefix}-${EnvironmentName}"
ROLE_PATH = "/${ControllerNamePrefix}/"
FORWARDING_PATH = "/${ControllerNamePrefix}/forwarding/"
# A stage's session lasts at most an hour whatever the role allows: it is assumed from the function's own
# role session (role chaining).
SESSION_SECONDS = 3600

# What each profile field may be, as AWS names such a resource: the parameter's AllowedPattern and the longest
# value it admits (a list: the longest item, and how many items the profile allows).
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_ECS_NAME = r"^[A-Za-z0-9_-]{1,255}$"
TASK_ROLE_ARN_MAX = len("arn:aws-us-gov:iam::123456789012:role/") + 160
FIELD_RULES: dict[str, dict[str, Any]] = {
    "frontend.site_bucket": {"AllowedPattern": _BUCKET, "MaxLength": 63},
    "frontend.backup_bucket": {"AllowedPattern": _BUCKET, "MaxLength": 63},
    "frontend.artifact_bucket": {"AllowedPattern": _BUCKET, "MaxLength": 63},
    "frontend.distribution_id": {"AllowedPattern": r"^[A-Z0-9]{1,32}$", "MaxLength": 32},
    "frontend.key_value_store_arn": {
        "AllowedPattern": "^$|" + KEY_VALUE_STORE_ARN,
        "MaxLength": len("arn:aws-us-gov:cloudfront::123456789012:key-value-store/") + 64,
    },
    "backend.traffic.hook_role_arn": {"AllowedPattern": "^$|" + TASK_ROLE_ARN, "MaxLength": TASK_ROLE_ARN_MAX},
    "backend.cluster": {"AllowedPattern": _ECS_NAME, "MaxLength": 255},
    "backend.service": {"AllowedPattern": _ECS_NAME, "MaxLength": 255},
    "backend.migration.family": {"AllowedPattern": r"^$|^[A-Za-z0-9_-]{1,255}$", "MaxLength": 255},
    "database.instance_id": {"AllowedPattern": r"^[A-Za-z][A-Za-z0-9-]{0,62}$", "MaxLength": 63},
    "backend.task_roles": {
        "AllowedPattern": "^$|" + TASK_ROLE_ARN,
        "item_length": TASK_ROLE_ARN_MAX,
        "items": TASK_ROLES_MAX,
    },
}


def parameter_of(field: str) -> str:
    """`frontend.site_bucket` -> `FrontendSiteBucket`; the profile's `name` is the EnvironmentName."""
    if field == "name":
        return "EnvironmentName"
    return "".join(part.capitalize() for part in re.split(r"[._]", field))


def _annotation(field: str) -> tuple[bool, bool]:
    """(optional, a list) for a profile field path; a property (e.g. a migration's `family`) counts as
    the value of the field it is read from."""
    model: Any = EnvironmentProfile
    optional = False
    for part in field.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return optional, False
        info = model.model_fields[part]
        optional = optional or not info.is_required()
        annotation = info.annotation
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in {typing.Union, types.UnionType} and arguments:
            annotation = arguments[0]
        if typing.get_origin(annotation) is list:
            return optional, True
        model = annotation
    return optional, False


def environment_policies(policies: Path = POLICIES) -> dict[str, dict[str, Any]]:
    """What each function does in an environment's account, by Chalice's function name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(policies.glob("*.json"))}


def fields_named(policies: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({field for document in policies.values() for field in FIELD.findall(json.dumps(document))})


def _resources(resource: str, lists: set[str]) -> Any:
    """A resource as CloudFormation reads it: a whole list field is its parameter (a list); a field inside
    an ARN is substituted."""
    whole = FIELD.fullmatch(resource)
    if whole and whole.group(1) in lists:
        return {"Ref": parameter_of(whole.group(1))}
    named = FIELD.sub(lambda match: "${" + parameter_of(match.group(1)) + "}", resource)
    return {"Fn::Sub": named} if "${" in named else named


def _statement(statement: dict[str, Any], lists: set[str], optional: set[str]) -> Any:
    listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    resources = [_resources(resource, lists) for resource in listed]
    built = statement | {"Resource": resources[0] if len(resources) == 1 else resources}
    # A statement about a part the environment may not have (a migration task) is there only when it has it.
    absent = sorted({field for field in FIELD.findall(json.dumps(statement)) if field in optional})
    if not absent:
        return built
    return {"Fn::If": [_has(absent[0]), built, {"Ref": "AWS::NoValue"}]}


def _joined(field: str, lists: set[str]) -> Any:
    reference = {"Ref": parameter_of(field)}
    return {"Fn::Join": ["", reference]} if field in lists else reference


def _has(field: str) -> str:
    return f"Has{parameter_of(field)}"


def target_template(policies: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from chalice.utils import to_cfn_resource_name

    policies = environment_policies() if policies is None else policies
    fields = fields_named(policies)
    shapes = {field: _annotation(field) for field in fields}
    lists = {field for field, (_, is_list) in shapes.items() if is_list}
    optional = {field for field, (is_optional, _) in shapes.items() if is_optional}
    parameters: dict[str, Any] = {
        "ControllerRoleArns": {
            "Type": "CommaDelimitedList",
            "AllowedPattern": CONTROLLER_ROLE_ARN,
            "Description": "The controller's functions' roles that act in this environment: the controller "
            "stack's output EnvironmentRoleTrust.",
        },
        "ControllerNamePrefix": {
            "Type": "String",
            "Default": "launch-controller",
            "AllowedPattern": "^[a-z][a-z0-9-]{0,29}$",
            "Description": "The controller stack's NamePrefix: the role's path and the start of its name.",
        },
        "EnvironmentName": {
            "Type": "String",
            "AllowedPattern": "^[a-z][a-z0-9-]{0,30}$",
            "Description": "The profile's name.",
        },
        "ControllerEventBus": {
            "Type": "String",
            "AllowedPattern": r"^arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.-]+$",
            "MaxLength": 320,
            "Description": "The controller stack's output EventBusArn: the controller's own bus, where this "
            "account's events about launches go (its policy admits this account's forwarding role, through the "
            "controller's EnvironmentAccounts).",
        },
    }
    for field in fields:
        if field == "name":
            continue
        spec: dict[str, Any] = {
            "Type": "CommaDelimitedList" if field in lists else "String",
            "Description": f"The profile's {field}" + (" (empty: it has none)" if field in optional else ""),
        }
        rules = FIELD_RULES.get(field)
        if rules is None:
            raise ValueError(f"{field} has no rule in FIELD_RULES: how long may its value be?")
        spec["AllowedPattern"] = rules["AllowedPattern"]
        if field not in lists:
            spec["MaxLength"] = rules["MaxLength"]
        if field in optional:
            spec["Default"] = ""
        elif field not in lists:
            spec["MinLength"] = 1
        parameters[parameter_of(field)] = spec
    conditions = {_has(field): {"Fn::Not": [{"Fn::Equals": [_joined(field, lists), ""]}]} for field in sorted(optional)}
    documents = {
        function: [_statement(statement, lists, optional) for statement in document["Statement"]]
        for function, document in sorted(policies.items())
    }
    packs = packed(union(documents), parameters)
    resources: dict[str, Any] = {
        "EnvironmentRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": {"Fn::Sub": ROLE_NAME},
                "Path": {"Fn::Sub": ROLE_PATH},
                "Description": {"Fn::Sub": "What the launch controller may do in ${EnvironmentName}, and only that"},
                "MaxSessionDuration": SESSION_SECONDS,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            # Only the controller's functions; each session is named after its launch and
                            # tagged with it, so CloudTrail names the launch behind every call.
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Ref": "ControllerRoleArns"}},
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                        }
                    ],
                },
                "Tags": [{"Key": "launch-controller:environment", "Value": {"Ref": "EnvironmentName"}}],
            },
        }
    }
    parameters["ControllerTrafficHook"] = {
        "Type": "String",
        "Default": "",
        "MaxLength": len("arn:aws-us-gov:lambda:ap-southeast-3:123456789012:function:") + 64,
        "AllowedPattern": r"^$|^arn:aws[\w-]*:lambda:[a-z0-9-]+:\d{12}:function:[\w-]{1,64}$",
        "Description": "The controller stack's output TrafficHookArn: the lifecycle hook ECS invokes at each step "
        "of a canary or linear rollout (empty: the environment's rollouts are all at once).",
    }
    conditions["HasControllerTrafficHook"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "ControllerTrafficHook"}, ""]}]}
    resources["TrafficHookRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "HasControllerTrafficHook",
        "Properties": {
            # Role names are the account's, whatever their path: this one's holds the environment's name.
            "RoleName": {"Fn::Sub": "ecs-hooks-${EnvironmentName}"},
            "Path": {"Fn::Sub": "/${ControllerNamePrefix}/hooks/"},
            "Description": "What ECS takes to ask the launch controller about each traffic step",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "Policies": [
                {
                    "PolicyName": "invoke-the-traffic-hook",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": {"Ref": "ControllerTrafficHook"},
                            }
                        ],
                    },
                }
            ],
        },
    }
    resources |= event_forwarding()
    for number, statements in enumerate(packs, 1):
        resources[f"EnvironmentRolePolicy{number}"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": {"Fn::Sub": f"{ROLE_NAME}-role-{number}"},
                "Description": f"Part {number} of {len(packs)} of what every function of the controller does here",
                "Roles": [{"Ref": "EnvironmentRole"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        }
    for function, statements in documents.items():
        # Attached to nothing: the limit of the function's sessions (AssumeRole's PolicyArns).
        resources[f"{to_cfn_resource_name(function)}Policy"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": {"Fn::Sub": f"{ROLE_NAME}-{function}"},
                "Description": f"What the controller's {function} does in the environment: its sessions' limit",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        }

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The role the launch controller acts as in one environment's account (one stack per "
        "environment). Generated from .chalice/policies/environment/ by `make target-role`; do not edit.",
        "Parameters": parameters,
        "Conditions": conditions,
        "Resources": resources,
        "Outputs": {
            "RoleArn": {
                "Description": "The profile's target.role_arn",
                "Value": {"Fn::GetAtt": ["EnvironmentRole", "Arn"]},
            },
            "TrafficHookRoleArn": {
                "Condition": "HasControllerTrafficHook",
                "Description": "The profile's backend.traffic.hook_role_arn",
                "Value": {"Fn::GetAtt": ["TrafficHookRole", "Arn"]},
            },
        },
    }


# -- the union, within IAM's quotas ----------------------------------------------------------------------


def union(documents: dict[str, list[Any]]) -> list[Any]:
    """Every function's statements as one set: statements about the same resources (under the same condition,
    in the same optional part) become one, with their actions merged; no Sid (each said what one function
    does, and the union is no one function's)."""
    merged: dict[str, dict[str, Any]] = {}
    for statements in documents.values():
        for statement in statements:
            condition, body = _unwrapped(statement)
            rest = {name: value for name, value in body.items() if name not in {"Sid", "Action"}}
            key = json.dumps([condition, rest], sort_keys=True)
            actions = body["Action"] if isinstance(body["Action"], list) else [body["Action"]]
            kept = merged.setdefault(key, {"condition": condition, "rest": rest, "actions": set()})
            kept["actions"] |= set(actions)
    found: list[Any] = []
    for key in sorted(merged):
        kept = merged[key]
        rest = dict(kept["rest"])
        body = {"Effect": rest.pop("Effect"), "Action": sorted(kept["actions"]), **rest}
        condition = kept["condition"]
        found.append(body if condition is None else {"Fn::If": [condition, body, {"Ref": "AWS::NoValue"}]})
    return found


def _unwrapped(statement: Any) -> tuple[str | None, dict[str, Any]]:
    if "Fn::If" in statement:
        condition, body, _ = statement["Fn::If"]
        return str(condition), dict(body)
    return None, dict(statement)


def packed(statements: list[Any], parameters: dict[str, Any]) -> list[list[Any]]:
    """The statements in as few managed policies as fit IAM's size quota, each sized for the longest values
    the parameters admit; refused when the role would need more than IAM attaches to one role."""
    packs: list[list[Any]] = []
    for statement in statements:
        if packs and policy_characters([*packs[-1], statement], parameters) <= MANAGED_POLICY_CHARACTERS:
            packs[-1].append(statement)
            continue
        if policy_characters([statement], parameters) > MANAGED_POLICY_CHARACTERS:
            raise ValueError(f"one statement is past IAM's {MANAGED_POLICY_CHARACTERS} characters: {statement}")
        packs.append([statement])
    if len(packs) > ATTACHED_POLICIES_PER_ROLE:
        raise ValueError(f"the role needs {len(packs)} managed policies; IAM attaches {ATTACHED_POLICIES_PER_ROLE}")
    return packs


def policy_characters(statements: list[Any], parameters: dict[str, Any]) -> int:
    """A policy of `statements` as IAM counts it (no white space) at the longest values the parameters admit."""
    return characters({"Version": "2012-10-17", "Statement": statements}, parameters, longest_lists())


# A role ARN of the controller's: CloudFormation names its roles (at most 64 characters), at the path /.
CONTROLLER_ROLE_ARN = r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@-]{1,64}$"
CONTROLLER_ROLE_ARN_MAX = len("arn:aws-us-gov:iam::123456789012:role/") + 64


def longest_lists() -> dict[str, list[str]]:
    """The longest value of each list parameter: the profile's task roles, and the controller's roles (one per
    function that acts in environments)."""
    rules = FIELD_RULES["backend.task_roles"]
    return {
        parameter_of("backend.task_roles"): ["a" * rules["item_length"]] * rules["items"],
        "ControllerRoleArns": ["a" * CONTROLLER_ROLE_ARN_MAX] * len(environment_policies()),
    }


# The events a waiting launch needs from this account, each as narrow as its pattern can say: only a
# launch's own migration task (started by launch/<id>) and snapshot (pre-launch-<id>), only alarms going to
# ALARM. Each is within the controller's own rule (chalicelib.domain.service_events.WATCHED_EVENTS).
FORWARDED_EVENTS: dict[str, dict[str, Any]] = {
    "Deployments": {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"]},
    "MigrationTasks": {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"lastStatus": ["STOPPED"], "startedBy": [{"prefix": "launch/"}]},
    },
    "Snapshots": {
        "source": ["aws.rds"],
        "detail-type": ["RDS DB Snapshot Event"],
        "detail": {"SourceType": ["SNAPSHOT"], "SourceIdentifier": [{"prefix": "pre-launch-"}]},
    },
    "Alarms": {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["ALARM"]}},
    },
    "CanaryRuns": {
        "source": ["aws.synthetics"],
        "detail-type": ["Synthetics Canary TestRun Successful", "Synthetics Canary TestRun Failure"],
    },
}


def event_forwarding() -> dict[str, Any]:
    """The rules that send this account's events about launches to the controller's bus, and the role
    EventBridge sends them as (it may put events on that bus and nowhere else)."""
    resources: dict[str, Any] = {
        "EventForwardingRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                # The controller's bus admits only roles at this path (its EnvironmentEvents policy).
                "Path": {"Fn::Sub": FORWARDING_PATH},
                "Description": {"Fn::Sub": "EventBridge forwarding ${EnvironmentName}'s events to the controller"},
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "put-on-the-controllers-bus",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "events:PutEvents",
                                    "Resource": {"Ref": "ControllerEventBus"},
                                }
                            ],
                        },
                    }
                ],
            },
        }
    }
    for name, pattern in FORWARDED_EVENTS.items():
        resources[f"Forward{name}"] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                # CloudFormation names it within EventBridge's 64 characters (a name of ours reached 77).
                "Description": {
                    "Fn::Sub": f"Send the controller what a launch into ${{EnvironmentName}} waits for: {name}"
                },
                "EventPattern": pattern,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "controller",
                        "Arn": {"Ref": "ControllerEventBus"},
                        "RoleArn": {"Fn::GetAtt": ["EventForwardingRole", "Arn"]},
                    }
                ],
            },
        }
    return resources


def role_parameters(profile: EnvironmentProfile, policies: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """The target template's parameters from a profile (all but the controller's: ControllerRoleArns,
    ControllerEventBus and the prefix)."""
    policies = environment_policies() if policies is None else policies
    values: dict[str, str] = {}
    for field in fields_named(policies):
        value: Any = profile
        for part in field.split("."):
            value = getattr(value, part, None)
            if value is None:
                break
        if isinstance(value, list):
            value = ",".join(value)
        values[parameter_of(field)] = "" if value is None else str(value)
    return values


def rendered() -> str:
    """The template as committed: one item a line, unindented (indenting cost a quarter of it), so that
    `aws cloudformation deploy` may send it in the request (at most 51,200 bytes; a test keeps it there)."""
    return json.dumps(target_template(), indent=0) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path, nargs="?", default=SHIPPED)
    args = parser.parse_args()
    args.output.write_text(rendered())


if __name__ == "__main__":
    main()
