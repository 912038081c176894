"""`launchctl` against the local stack: start, watch, approve, and exit codes scripts can read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from launchctl import cli
from launchctl.infrastructure import backend_image

pytestmark = pytest.mark.integration


def _run(stack: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["--api", stack.api_url, *args])
    return code, capsys.readouterr().out


def test_cli_drives_a_launch_to_success_and_exits_zero(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(
        stack,
        capsys,
        "--json",
        "start",
        "--env",
        "local",
        "--version",
        "5.0.0",
        "--git-sha",
        "abc1234",
        "--frontend",
        stack.publish_release("5.0.0"),
        "--image",
        backend_image("5.0.0"),
        "--requested-by",
        "riley@acme.example",
    )
    assert code == cli.EXIT_OK
    launch_id = json.loads(out)["launch_id"]
    stack.wait_for(launch_id, {"AWAITING_APPROVAL"}, timeout=30)
    for role, person in (("tech_lead", "t@x"), ("product_manager", "p@x"), ("qa_lead", "q@x")):
        code, out = _run(stack, capsys, "approve", launch_id, "--role", role, "--as", person)
        assert code == cli.EXIT_OK
    assert "gate approved" in out
    code, out = _run(stack, capsys, "status", launch_id, "--watch", "--timeout", "60")
    assert code == cli.EXIT_OK
    assert out.strip().endswith(f"{launch_id}: SUCCEEDED")
    assert "checkpoint T+6s passed" in out


def test_cli_exit_code_tells_a_rejection_apart(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(
        stack,
        capsys,
        "--json",
        "start",
        "--env",
        "local",
        "--version",
        "5.0.1",
        "--git-sha",
        "abc1234",
        "--frontend",
        stack.publish_release("5.0.1"),
        "--image",
        backend_image("5.0.1"),
    )
    launch_id = json.loads(out)["launch_id"]
    stack.wait_for(launch_id, {"AWAITING_APPROVAL"}, timeout=30)
    _run(stack, capsys, "reject", launch_id, "--role", "qa_lead", "--as", "q@x", "--comment", "not today")
    code, _ = _run(stack, capsys, "status", launch_id, "--watch", "--timeout", "30")
    assert code == cli.EXIT_STOPPED


def test_cli_reports_an_api_refusal_with_exit_code_2(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--api", stack.api_url, "status", "local-20990101-000000-000000"]) == cli.EXIT_USAGE
    assert "no launch" in capsys.readouterr().err
