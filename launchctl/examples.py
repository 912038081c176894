"""The example profiles in the repository: the local stack's input and a starting point for a team's own."""

from __future__ import annotations

from pathlib import Path

from chalicelib.domain.profiles import EnvironmentProfile, load_profile_file

# Beside the code, never in it: `chalicelib/` is what Chalice packages, and no profile is packaged.
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "profiles"


def example_names() -> list[str]:
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.toml"))


def example_profile(name: str) -> EnvironmentProfile:
    return load_profile_file(EXAMPLES_DIR / f"{name}.toml")


def example_profiles() -> list[EnvironmentProfile]:
    return [example_profile(name) for name in example_names()]
