"""`make package`: the deployable SAM template, with the state machine, lints clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run([sys.executable, "-m", "launchctl.template", str(out / "merge.json")], cwd=ROOT, check=True, env=env)
    subprocess.run(
        [
            str(BIN / "chalice"),
            "package",
            "--stage",
            "prod",
            "--merge-template",
            str(out / "merge.json"),
            str(out / "pkg"),
        ],
        cwd=ROOT,
        check=True,
        env=env,
        capture_output=True,
    )
    sam = out / "pkg" / "sam.json"
    return sam, json.loads(sam.read_text())


def test_the_packaged_template_passes_cfn_lint(template: tuple[Path, dict]) -> None:
    path, _ = template
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_state_machine_is_bound_to_every_stage_lambda(template: tuple[Path, dict]) -> None:
    _, body = template
    machine = body["Resources"]["LaunchStateMachine"]["Properties"]
    assert machine["Definition"]["StartAt"] == "Begin launch"
    for placeholder, value in machine["DefinitionSubstitutions"].items():
        function = value["Fn::GetAtt"][0]
        assert placeholder == f"{function}FunctionArn"
        assert body["Resources"][function]["Type"] == "AWS::Serverless::Function"


def test_the_table_and_topics_reach_every_function(template: tuple[Path, dict]) -> None:
    _, body = template
    variables = body["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LAUNCH_TABLE"] == {"Ref": "LaunchTable"}
    assert body["Resources"]["LaunchTable"]["Type"] == "AWS::DynamoDB::Table"
    assert {"ApprovalsTopic", "NotificationsTopic"} <= set(body["Resources"])


def test_the_lambda_package_holds_no_test_or_local_tools(template: tuple[Path, dict]) -> None:
    import zipfile

    path, _ = template
    names = zipfile.ZipFile(path.parent / "deployment.zip").namelist()
    assert "app.py" in names
    assert any(name.startswith("chalicelib/profiles/") for name in names)
    for unwanted in ("moto/", "launchctl/", "tests/", "pytest/", "cfnlint/"):
        assert not any(name.startswith(unwanted) for name in names), unwanted
