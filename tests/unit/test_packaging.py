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


def test_policies_name_each_packaged_environments_target_resources() -> None:
    """A `{profile.field}` in a policy's resource becomes one resource per environment the package serves
    (lists give one per item); a statement no environment gives a resource for is left out."""
    from launchctl.build.template import packaged_profiles, scoped
    from launchctl.examples import example_profile

    profiles = [example_profile("production"), example_profile("staging")]
    document = {
        "Statement": [
            {
                "Sid": "Site",
                "Action": ["s3:PutObject"],
                "Resource": "arn:${AWS::Partition}:s3:::{frontend.site_bucket}/*",
            },
            {"Sid": "Roles", "Action": ["iam:PassRole"], "Resource": ["{backend.task_roles}"]},
            {"Sid": "Run", "Action": ["ecs:RunTask"], "Resource": "task-definition/{backend.migration.family}:*"},
        ]
    }
    site, roles, run = scoped(document, profiles)["Statement"]
    assert site["Resource"] == [
        "arn:${AWS::Partition}:s3:::acme-app-site-production/*",
        "arn:${AWS::Partition}:s3:::acme-app-site-staging/*",
    ]
    roles_named = profiles[0].backend.task_roles + profiles[1].backend.task_roles
    assert roles["Resource"] == sorted(arn.replace("arn:aws:", "arn:${AWS::Partition}:") for arn in roles_named)
    assert run["Resource"] == "task-definition/acme-api-migrate:*"  # staging migrates nothing
    assert [statement["Sid"] for statement in scoped(document, profiles[1:])["Statement"]] == ["Site", "Roles"]
    assert {profile.name for profile in packaged_profiles()} == {"production", "staging"}
