"""The GitHub Action's script against the local stack, with a job token the stack's OIDC issuer signs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from localaws.github_api import LocalGitHubApi
from localaws.infrastructure import backend_image

from tests.integration.helpers import APPROVERS, decide, next_version, snapshot, wait

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "action" / "launch.py"


GITHUB_TOKEN = "ghs_the_jobs_own_token"


@pytest.fixture
def github() -> Iterator[LocalGitHubApi]:
    """GitHub's deployments API, as the job's token reaches it."""
    api = LocalGitHubApi(GITHUB_TOKEN).start()
    yield api
    api.stop()


def _job(
    stack: Any, tmp_path: Path, version: str, run_id: str, github: LocalGitHubApi | None = None, **claims: str
) -> dict[str, str]:
    """The environment a runner gives the action's step: inputs, the token endpoint, output files."""
    url, request_token = stack.issuer.job(run_id=run_id, **claims)
    deployments = (
        {"GITHUB_API_URL": github.url, "LAUNCH_GITHUB_TOKEN": GITHUB_TOKEN, "LAUNCH_ENVIRONMENT_URL": stack.site.url}
        if github
        else {}
    )
    return {
        **deployments,
        "PATH": os.environ["PATH"],
        "ACTIONS_ID_TOKEN_REQUEST_URL": url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": run_id,
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "LAUNCH_API_URL": stack.api_url,
        "LAUNCH_ENVIRONMENT": "local",
        "LAUNCH_VERSION": version,
        "LAUNCH_GIT_SHA": "abcdef1234567",
        "LAUNCH_FRONTEND_ARTIFACT": stack.publish_release(version),
        "LAUNCH_BACKEND_IMAGE": backend_image(version),
        "LAUNCH_POLL_SECONDS": "0.2",
        "LAUNCH_TIMEOUT_MINUTES": "2",
    }


def _run_approving(stack: Any, env: dict[str, str]) -> tuple[int, str]:
    """Run the step; approve its launch as each approver once the gate opens; (exit code, output)."""
    step = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert step.stdout is not None
    first = step.stdout.readline()
    launch_id = first.split()[1].rstrip(":")
    api = stack.api_as()
    gate = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL")
    assert gate["requested_by"] == "github:acme/shop"
    for role in APPROVERS:
        decide(stack, launch_id, role)
    rest, _ = step.communicate(timeout=120)
    return step.returncode, first + rest


def test_the_action_starts_a_launch_with_the_jobs_token_and_passes_when_it_succeeds(
    stack: Any, tmp_path: Path, github: LocalGitHubApi
) -> None:
    version = next_version()
    env = _job(stack, tmp_path, version, run_id="4100", github=github)
    code, out = _run_approving(stack, env)
    assert code == 0, out
    # The approvals as the step saw them change: some open at first, all approved at the end.
    assert any(line.startswith("  approvals: ") and ": open" in line for line in out.splitlines()), out
    assert "approvals: product_manager: approved, qa_lead: approved, tech_lead: approved" in out
    assert "checkpoint T+4s passed" in out
    assert out.strip().endswith("SUCCEEDED")
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().split())
    assert outputs["status"] == "SUCCEEDED"
    assert f"### Launch {outputs['launch-id']}: SUCCEEDED" in (tmp_path / "summary.md").read_text()
    launch = stack.api_as().get(outputs["launch-id"])
    assert launch["caller"]["claims"]["run_id"] == "4100"
    # GitHub sees the launch: a deployment of the commit to the environment, its states following the launch,
    # the launch page as its log and the site as the environment.
    [deployment] = github.deployments
    assert (deployment.repository, deployment.ref, deployment.environment) == ("acme/shop", "abcdef1234567", "local")
    assert deployment.payload == {"launch_id": outputs["launch-id"]}
    assert [s["state"] for s in deployment.statuses] == ["queued", "in_progress", "success"]
    assert {s["log_url"] for s in deployment.statuses} == {outputs["page-url"]}
    assert {s["environment_url"] for s in deployment.statuses} == {stack.site.url}
    with urllib.request.urlopen(outputs["page-url"], timeout=10) as page:
        assert "SUCCEEDED" in page.read().decode()

    # The same run and attempt again (a re-run step) finds the same launch and reports it.
    again = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 0, again.stdout
    assert f"launch {outputs['launch-id']}" in again.stdout
    assert len(github.deployments) == 1
    assert [s["state"] for s in github.deployments[0].statuses] == ["queued", "in_progress", "success"]


def test_the_action_fails_the_job_when_the_launch_rolls_back(
    stack: Any, tmp_path: Path, github: LocalGitHubApi
) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    code, out = _run_approving(stack, _job(stack, tmp_path, version, run_id="4101", github=github))
    assert code == 1
    assert "::error::launch" in out
    assert "ended ROLLED_BACK" in out
    assert snapshot(stack) == before
    [deployment] = github.deployments
    assert deployment.statuses[-1]["state"] == "failure"
    assert (
        "SmokeTestFailed" in deployment.statuses[-1]["description"]
        or "ROLLED_BACK" in deployment.statuses[-1]["description"]
    )


def test_a_cancelled_job_aborts_its_launch_and_marks_the_deployment(
    stack: Any, tmp_path: Path, github: LocalGitHubApi
) -> None:
    before = snapshot(stack)
    env = _job(stack, tmp_path, next_version(), run_id="4103", github=github)
    step = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert step.stdout is not None
    launch_id = step.stdout.readline().split()[1].rstrip(":")
    wait(stack.api_as(), launch_id, lambda item: item["status"] == "AWAITING_APPROVAL")
    step.send_signal(signal.SIGINT)  # what the runner sends first when the job is cancelled
    out, _ = step.communicate(timeout=60)
    assert step.returncode == 1
    assert f"::error::job cancelled: launch {launch_id} aborted" in out
    launch = wait(stack.api_as(), launch_id)
    assert launch["status"] == "ABORTED"
    assert "the GitHub job was cancelled (SIGINT; run 4103 attempt 1 of acme/shop)" in launch["abort"]["reason"]
    assert [s["state"] for s in github.deployments[0].statuses][-1] == "error"
    assert snapshot(stack) == before


def test_a_job_may_start_a_launch_without_waiting_for_it(stack: Any, tmp_path: Path, github: LocalGitHubApi) -> None:
    env = {**_job(stack, tmp_path, next_version(), run_id="4104", github=github), "LAUNCH_WAIT": "false"}
    step = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert step.returncode == 0, step.stdout
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().split())
    assert outputs["status"] == "REQUESTED"
    assert "not waiting for it" in step.stdout
    assert [s["state"] for s in github.deployments[0].statuses] == ["queued"]
    stack.api_as().abort(outputs["launch-id"], "the test is done with it")
    assert wait(stack.api_as(), outputs["launch-id"])["status"] == "ABORTED"


def test_the_action_fails_at_once_when_the_repository_may_not_launch(stack: Any, tmp_path: Path) -> None:
    env = _job(stack, tmp_path, next_version(), run_id="4102", repository="mallory/shop")
    step = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert step.returncode == 1
    assert "::error::the controller refused the launch: 403 forbidden" in step.stdout


def test_a_job_promoting_into_an_environment_that_takes_no_promotions_is_refused_naming_the_input(
    stack: Any, tmp_path: Path
) -> None:
    env = {**_job(stack, tmp_path, next_version(), run_id="4106"), "LAUNCH_PROMOTE_FROM": "staging-20261201-aaaaaa"}
    step = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert step.returncode == 1
    assert "::error::the controller refused the launch: 400" in step.stdout
    assert "promote_from" in step.stdout


def test_action_yml_passes_every_input_to_the_script() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    [step] = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    assert step["run"] == 'exec python3 "$GITHUB_ACTION_PATH/action/launch.py"'
    passed = {value.removeprefix("${{ inputs.").removesuffix(" }}") for value in step["env"].values()}
    assert passed == set(action["inputs"])
    script = SCRIPT.read_text()
    for name in step["env"]:
        assert f'"{name.removeprefix("LAUNCH_")}"' in script, name
