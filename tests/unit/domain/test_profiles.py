"""Environment profiles load, validate and fail loudly naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.profiles import ProfileError, load_profile_file
from launchctl.examples import EXAMPLES_DIR, example_profile


@pytest.mark.parametrize("environment", ["production", "staging", "local"])
def test_every_example_profile_validates(environment: str) -> None:
    profile = example_profile(environment)
    assert profile.name == environment
    assert profile.approvals.roles


def test_production_bakes_through_the_checklist_checkpoints() -> None:
    bake = example_profile("production").bake
    assert bake.checkpoints == [900, 3600]
    assert bake.error_rate_threshold == 0.001
    assert bake.p95_latency_threshold_ms == 500


def test_an_invalid_profile_names_the_field(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "local.toml").read_text()
    broken = tmp_path / "local.toml"
    broken.write_text(text.replace("checkpoints = [2, 4]", "checkpoints = [4, 2]"))
    with pytest.raises(ProfileError, match=r"bake: .*ascending"):
        load_profile_file(broken)


def test_a_profile_missing_a_section_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    path.write_text('name = "bare"\n')
    with pytest.raises(ProfileError, match="frontend: is required"):
        load_profile_file(path)


def _local_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (EXAMPLES_DIR / "local.toml").read_text()
    assert old in text
    path = tmp_path / "local.toml"
    path.write_text(text.replace(old, new))
    return path


def test_an_authenticated_smoke_check_needs_a_credential_secret(tmp_path: Path) -> None:
    path = _local_with(tmp_path, 'credential_secret_id = "acme-local/smoke-credential"\n', "")
    with pytest.raises(ProfileError, match="authenticated check needs credential_secret_id"):
        load_profile_file(path)


def test_restoring_the_database_on_rollback_needs_a_snapshot(tmp_path: Path) -> None:
    path = _local_with(tmp_path, "snapshot = true", "snapshot = false")
    with pytest.raises(ProfileError, match="restore_on_rollback needs snapshot"):
        load_profile_file(path)


def test_production_migrates_before_rolling_and_restores_beside_on_rollback() -> None:
    production = example_profile("production")
    assert production.backend.migration is not None
    assert production.backend.migration.subnets
    assert production.database.restore_on_rollback
    assert production.smoke.credential_secret_id


def test_every_required_role_names_its_approvers(tmp_path: Path) -> None:
    path = _local_with(tmp_path, 'product_manager = ["pat.pm@acme.example"]\n', "")
    with pytest.raises(ProfileError, match="no approvers for role"):
        load_profile_file(path)


def test_an_approver_must_be_an_email(tmp_path: Path) -> None:
    path = _local_with(tmp_path, '"pat.pm@acme.example"', '"pat"')
    with pytest.raises(ProfileError, match=r"approvals\.approvers\.product_manager"):
        load_profile_file(path)


def test_the_checklist_attestations_are_what_approvers_confirm_by_default() -> None:
    production = example_profile("production").approvals
    assert [a.text for a in production.attestations] == [
        "Code freeze confirmed",
        "Rollback plan reviewed",
        "On-call schedule set",
        "Runbooks complete",
    ]
    assert production.timeout_seconds == 86400
    assert production.may_approve("qa_lead", "Quentin.QA@acme.example")
    assert not production.may_approve("qa_lead", "pat.pm@acme.example")


def test_a_session_of_the_environments_role_lasts_at_most_the_hour_role_chaining_allows(tmp_path: Path) -> None:
    """The role is assumed from a function's own role session: STS refuses a chained session past 3,600 s."""
    role = 'role_arn = "arn:aws:iam::210987654321:role/launch-controller/launch-controller-local"'
    path = _local_with(tmp_path, role, role + "\nsession_seconds = 7200")
    with pytest.raises(ProfileError, match=r"target\.session_seconds: must be at most 3600"):
        load_profile_file(path)


def test_a_launch_recorded_with_a_longer_session_still_reads_back(store: Any, launch: Any, aws: Any) -> None:
    """A record made before the hour was enforced is read, at the hour (STS refused anything longer)."""
    import json

    from chalicelib.store.dynamodb import Keys
    from tests.conftest import TABLE

    dynamodb = aws("dynamodb")
    item = dynamodb.get_item(TableName=TABLE, Key=Keys.launch(launch.launch_id))["Item"]
    profile = json.loads(item["profile"]["S"])
    profile["target"]["session_seconds"] = 43200
    dynamodb.update_item(
        TableName=TABLE,
        Key=Keys.launch(launch.launch_id),
        UpdateExpression="SET profile = :p",
        ExpressionAttributeValues={":p": {"S": json.dumps(profile)}},
    )
    assert store.get_launch(launch.launch_id).profile.target.session_seconds == 3600
