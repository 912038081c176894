"""What the Lambdas are packaged with, and what they import cold."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


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
