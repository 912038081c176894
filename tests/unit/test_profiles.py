"""Environment profiles load, validate and fail loudly naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.profiles import ProfileError, UnknownEnvironment, known_environments, load_profile, load_profile_file


@pytest.mark.parametrize("environment", ["production", "staging", "local"])
def test_every_shipped_profile_validates(environment: str) -> None:
    profile = load_profile(environment)
    assert profile.name == environment
    assert profile.approvals.roles


def test_production_bakes_through_the_checklist_checkpoints() -> None:
    bake = load_profile("production").bake
    assert bake.checkpoints == [900, 3600]
    assert bake.error_rate_threshold == 0.001
    assert bake.p95_latency_threshold_ms == 500


def test_an_invalid_profile_names_the_field(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "chalicelib/profiles/local.toml").read_text()
    broken = tmp_path / "local.toml"
    broken.write_text(text.replace("checkpoints = [3, 6]", "checkpoints = [6, 3]"))
    with pytest.raises(ProfileError, match=r"bake: .*ascending"):
        load_profile_file(broken)


def test_a_profile_missing_a_section_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    path.write_text('name = "bare"\n')
    with pytest.raises(ProfileError, match="frontend: Field required"):
        load_profile_file(path)


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEnvironment, match="known: local, production, staging"):
        load_profile("qa")
    assert known_environments() == ["local", "production", "staging"]
