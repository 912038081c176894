"""What the Lambdas are packaged with, and what they import cold."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[3]


def test_requirements_txt_pins_exactly_the_runtime_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(lines) == sorted(declared)


def test_importing_the_app_creates_no_client_and_skips_test_tools() -> None:
    probe = (
        "import sys, app; "
        "heavy = [m for m in ('moto', 'boto3', 'chalicelib.stages.preflight', 'launchctl') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_shipped_target_account_template_is_built_from_the_functions_environment_needs() -> None:
    """deploy/target-account-role.json is what `make target-role` builds: edit the policy files, not it."""
    from launchctl.build.target_role import SHIPPED, rendered

    assert SHIPPED.read_text() == rendered(), "run: python -m launchctl.build.target_role"


def test_the_target_role_trusts_only_the_controllers_functions_and_names_each_ones_needs() -> None:
    """A `{profile.field}` becomes a parameter; a list field is its parameter; a statement about a part an
    environment may not have (a migration) is there only when it has it; one managed policy per function, its
    sessions' limit."""
    from launchctl.build.target_role import role_parameters, target_template
    from launchctl.build.template import acting_in_environments
    from launchctl.examples import example_profile

    template = target_template()
    trust = template["Resources"]["EnvironmentRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Ref": "ControllerRoleArns"}},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    policies = {
        k: r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and "Roles" not in r["Properties"]
    }
    assert len(policies) == len(acting_in_environments())
    frontend = policies["DeployFrontendPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:s3:::${FrontendSiteBucket}/*"} in [s.get("Resource") for s in frontend]
    deploy_backend = policies["DeployBackendPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    passing = next(
        s for s in deploy_backend if isinstance(s, dict) and s.get("Fn::If", [""])[0] == "HasBackendTaskRoles"
    )
    assert passing["Fn::If"][1]["Resource"] == {"Ref": "BackendTaskRoles"}
    assert any(isinstance(s, dict) and s.get("Fn::If", [""])[0] == "HasBackendMigrationFamily" for s in deploy_backend)
    staging = role_parameters(example_profile("staging"))
    assert staging["BackendMigrationFamily"] == ""  # staging migrates nothing
    assert staging["EnvironmentName"] == "staging"
    assert staging["BackendTaskRoles"].count("arn:aws:iam::444455556666:role/") == 2


def test_the_controllers_functions_hold_no_right_in_any_environment_only_its_roles() -> None:
    """Every resource a controller function's own policy names is in the controller's account (or is the
    environments' roles, which it may assume): none is a profile's field."""
    import json

    from launchctl.build.template import acting_in_environments, role_policies

    for role, resource in role_policies().items():
        document = json.dumps(resource["Properties"]["Policies"][0]["PolicyDocument"])
        assert not re.search(r"(?<!\$)\{[a-z_.]+\}", document), role
        acts = "sts:AssumeRole" in document
        assert acts == any(
            role == f"{''.join(p.capitalize() for p in f.split('_'))}Role" for f in acting_in_environments()
        )


def test_the_functions_eventbridge_invokes_are_told_apart_in_the_template() -> None:
    """Their checkov notes say they are invoked asynchronously (the stage functions' say synchronously)."""
    import app
    from launchctl.build.template import EVENT_FUNCTIONS, function_check_notes

    assert {source.name for source in app.app.event_sources} == set(EVENT_FUNCTIONS)
    notes = function_check_notes()
    dead_letter = {
        name: next(s["comment"] for s in note["Metadata"]["checkov"]["skip"] if s["id"] == "CKV_AWS_116")
        for name, note in notes.items()
        if not name.endswith("LogGroup")
    }
    assert dead_letter["LaunchEvents"].startswith("Invoked asynchronously by EventBridge")
    assert dead_letter["BeginBake"].startswith("Invoked synchronously")


def test_no_function_makes_its_own_log_group_the_template_makes_each() -> None:
    """The template makes each function's log group (kept 90 days) just after the function; a function invoked
    in between (its schedule's first tick, the API) would make the group itself if it could, and the stack's
    LogGroup would then fail as already existing. No function may: that invocation's lines are lost instead."""
    import json

    from launchctl.build.template import function_ids, role_policies, sam_template

    for role, resource in role_policies().items():
        assert "logs:CreateLogGroup" not in json.dumps(resource["Properties"]["Policies"]), role
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]
        for r in sam_template()["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup" and isinstance(r["Properties"].get("LogGroupName"), dict)
    }
    assert {f"/aws/lambda/${{{logical_id}}}" for logical_id in function_ids().values()} <= groups


def test_the_cli_installs_and_runs_without_the_local_aws_or_moto() -> None:
    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert not [dependency for dependency in project["project"]["dependencies"] if dependency.startswith("moto")]
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["chalicelib*", "launchctl*"]
    blocked = "import sys; sys.modules.update(moto=None, localaws=None, samtranslator=None); "
    run = [sys.executable, "-c", blocked + "from launchctl.cli import main; sys.exit(main(sys.argv[1:]))"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0, helped.stderr
    demo = subprocess.run([*run, "demo"], capture_output=True, text=True, check=False)
    assert demo.returncode == 2
    assert "make demo" in demo.stderr


def test_each_function_starts_from_its_own_handler_without_the_app() -> None:
    """Lambda imports a function's Handler module alone; the local stack imports app.py first, for the API.
    A stage's or an event's handler that needed the app's registrations would pass locally and fail on AWS."""
    import app

    handlers = sorted(
        {function.handler_string for function in app.app.pure_lambda_functions}
        | {source.handler_string for source in app.app.event_sources}
    )
    assert all(not handler.startswith("app.") for handler in handlers), handlers
    probe = (
        "import importlib, sys\n"
        "for handler in sys.argv[1:]:\n"
        "    module, _, name = handler.rpartition('.')\n"
        "    assert callable(getattr(importlib.import_module(module), name)), handler\n"
        "assert 'app' not in sys.modules\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", probe, *handlers], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert started.returncode == 0, started.stderr
