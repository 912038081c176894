"""docs/first-launch.md works as written: its second terminal's commands, run by bash as a person would run
them (the CLI on the PATH from .venv, the local stack's API), one after another, each checked to succeed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "docs" / "first-launch.md"


def _second_terminal() -> str:
    """The bash blocks after the second terminal's heading, in order, up to the next heading of that level."""
    text = WALKTHROUGH.read_text()
    part = text.split("## Terminal 2", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", part, flags=re.DOTALL)
    assert blocks, "the walkthrough's second terminal has no commands"
    return "\n".join(blocks)


def test_the_first_launch_walkthrough_runs_as_written(stack: Any) -> None:
    script = _second_terminal()
    # Each command echoed before it runs (set -x), and the first that fails stops the walk (set -e).
    environment = {
        **os.environ,
        "LAUNCHCTL_API_URL": stack.api_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV_DISABLE_PROMPT": "1",
    }
    environment.pop("LAUNCHCTL_TOKEN", None)
    walked = subprocess.run(
        ["/bin/bash", "-c", f"set -euxo pipefail\n{script}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    said = walked.stdout + walked.stderr
    assert walked.returncode == 0, said[-4000:]
    assert "riley.release@acme.example" in walked.stdout  # whoami
    assert re.search(r": SUCCEEDED\n", walked.stdout), said[-3000:]
    assert "exit 3: rolled back, as it should" in walked.stdout
    assert "LAUNCH" in walked.stdout  # the list's header
    assert "/view/launches/" in walked.stdout
    assert "/view/environments/local" in walked.stdout


def test_launchctl_local_alarm_sets_an_environment_alarm_and_names_the_alarms_when_asked_for_another(
    stack: Any, capsys: Any
) -> None:
    from launchctl import cli

    name = stack.profile.bake.alarm_names[0]
    cloudwatch = stack.environment_client("cloudwatch")

    def state() -> str:
        return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])

    assert cli.main(["local", "alarm", name, "--api", stack.api_url]) == cli.EXIT_OK
    assert state() == "ALARM"
    assert cli.main(["local", "alarm", name, "--ok", "--api", stack.api_url]) == cli.EXIT_OK
    assert state() == "OK"
    assert cli.main(["local", "alarm", "no-such-alarm", "--api", stack.api_url]) == cli.EXIT_USAGE
    assert "no alarm 'no-such-alarm'; the environment has" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse names the defects there are
        cli.main(["local", "publish", "1.4.0", "--defect", "nope", "--api", stack.api_url])
