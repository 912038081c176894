"""Both templates' roles and policies within IAM's quotas at the longest names their parameters admit, and the
environment's role as IAM takes it: at most ten managed policies, each function's needs a session limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from launchctl.build import iam_quotas
from launchctl.build.iam_quotas import quota_problems, worst_case

ROOT = Path(__file__).resolve().parents[3]


def _target() -> dict[str, Any]:
    from launchctl.build.target_role import target_template

    return target_template()


def test_the_environment_role_is_within_iams_quotas_at_the_longest_names() -> None:
    from launchctl.build.target_role import longest_lists

    assert quota_problems(_target(), longest_lists()) == []


def test_the_controllers_roles_are_within_iams_quotas_at_the_longest_names() -> None:
    from launchctl.build.template import sam_template

    assert quota_problems(sam_template()) == []


def test_the_quota_check_finds_a_policy_past_iams_size_and_a_role_with_eleven_policies() -> None:
    """The check above can fail: a statement naming a parameter of 6,000 characters, attached eleven times."""
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${Long}"}}],
    }
    template = {
        "Parameters": {"Long": {"Type": "String", "MaxLength": 6000}},
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
            **{
                f"Policy{n}": {
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {"PolicyDocument": big, "Roles": [{"Ref": "Role"}]},
                }
                for n in range(11)
            },
        },
    }
    problems = quota_problems(template)
    assert not any(problem.startswith("Policy0: ") for problem in problems)  # 6,000 and the statement: within
    assert "Role: 11 managed policies attached, past IAM's 10" in problems
    template["Parameters"]["Long"]["MaxLength"] = 6100
    assert any(problem.startswith("Policy0: ") and "past IAM's 6144" in problem for problem in quota_problems(template))


def test_each_functions_needs_are_a_session_limit_attached_to_nothing_and_the_role_holds_them_all() -> None:
    """The role's managed policies (at most ten) hold every function's statements; each function's own policy
    is attached to no role, user or group: AssumeRole's PolicyArns need not be attached."""
    from launchctl.build.target_role import longest_lists
    from launchctl.build.template import acting_in_environments

    template = _target()
    parameters = template["Parameters"]
    policies = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    attached = {k: p for k, p in policies.items() if "Roles" in p}
    limits = {k: p for k, p in policies.items() if "Roles" not in p}
    assert 1 <= len(attached) <= iam_quotas.ATTACHED_POLICIES_PER_ROLE
    assert all(p["Roles"] == [{"Ref": "EnvironmentRole"}] for p in attached.values())
    assert not any({"Users", "Groups"} & set(p) for p in policies.values())
    assert len(limits) == len(acting_in_environments())
    lists = longest_lists()

    def granted(documents: list[dict[str, Any]]) -> set[tuple[str, str]]:
        pairs = set()
        for document in documents:
            for statement in worst_case(document["PolicyDocument"], parameters, lists)["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                pairs |= {(action, resource) for action in actions for resource in resources}
        return pairs

    held = granted(list(attached.values()))
    for name, policy in limits.items():
        missing = granted([policy]) - held
        assert not missing, f"{name}: the role does not hold {sorted(missing)[:3]}"
    # and nothing more than the functions' needs together
    assert held == granted(list(limits.values()))


def test_the_environment_role_lets_a_session_last_an_hour_as_role_chaining_allows() -> None:
    from launchctl.build.target_role import SESSION_SECONDS

    role = _target()["Resources"]["EnvironmentRole"]["Properties"]
    assert role["MaxSessionDuration"] == SESSION_SECONDS == 3600


def test_the_committed_target_template_can_be_sent_in_the_request() -> None:
    """`aws cloudformation deploy --template-file deploy/target-account-role.json` sends the file as
    TemplateBody: at most 51,200 bytes."""
    from localaws.aws_limits import TEMPLATE_BODY_BYTES

    assert len((ROOT / "deploy" / "target-account-role.json").read_bytes()) <= TEMPLATE_BODY_BYTES


@pytest.mark.parametrize("parameter", ["FrontendSiteBucket", "BackendCluster", "DatabaseInstanceId"])
def test_each_profile_parameter_of_the_target_template_is_bounded(parameter: str) -> None:
    spec = _target()["Parameters"][parameter]
    assert spec["MaxLength"] >= 1
    assert spec["AllowedPattern"].startswith("^")


def test_a_profile_names_what_the_target_template_admits() -> None:
    """Every example profile's role parameters pass the template's AllowedPattern and MaxLength."""
    import re

    from launchctl.build.target_role import role_parameters
    from launchctl.examples import example_profiles

    parameters = _target()["Parameters"]
    for profile in example_profiles():
        for name, value in role_parameters(profile).items():
            spec = parameters[name]
            items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
            for item in items:
                assert re.fullmatch(spec["AllowedPattern"], item) or (item == "" and "Default" in spec), (
                    profile.name,
                    name,
                    item,
                )
                assert len(item) <= spec.get("MaxLength", 10**6), (profile.name, name)
