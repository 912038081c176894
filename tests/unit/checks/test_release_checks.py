"""The release's own tests: its commit's GitHub checks, read as the controller's GitHub App (local GitHub)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from localaws.github_api import GitHubAppIdentity, LocalGitHubApi, app_key_pair

from chalicelib.checks.checklist import CHECKS, Context, Release, _run_one
from chalicelib.checks.release import GitHubApp, GitHubUnreadable, app_from_secret, app_jwt
from chalicelib.domain.profiles import EnvironmentProfile, ReleaseChecks
from tests.conftest import unit_profile

APP_ID = "31337"
REPOSITORY = "acme/shop"
COMMIT = "c0ffee" * 6 + "c0fe"
REQUIRED = ["build", "unit-tests", "integration-tests", "e2e-tests"]


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return app_key_pair()


@pytest.fixture
def github(keys: tuple[str, str]) -> Iterator[LocalGitHubApi]:
    app = GitHubAppIdentity(app_id=APP_ID, public_key_pem=keys[1], installations={REPOSITORY: 77})
    api = LocalGitHubApi("action-token", app=app).start()
    yield api
    api.stop()


def _profile(github: LocalGitHubApi) -> EnvironmentProfile:
    profile = unit_profile("local")
    checks = ReleaseChecks(repository=REPOSITORY, required=REQUIRED, api_url=github.url)  # type: ignore[arg-type]
    return profile.model_copy(update={"preflight": profile.preflight.model_copy(update={"release_checks": checks})})


def _check(github: LocalGitHubApi, private_key: str, sha: str = COMMIT, **context: Any) -> Any:
    app = GitHubApp(app_id=APP_ID, private_key=private_key, api_url=github.url)
    item = next(c for c in CHECKS if c.id == "app.release_tests")
    ctx = Context(
        lambda service: None,
        _profile(github),
        Release(git_sha=sha),
        github_app=context.get("github_app", lambda: app),
    )
    return _run_one(item, ctx)


def test_every_required_check_passed_on_the_commit_passes_with_each_run_and_its_link(
    github: LocalGitHubApi, keys: tuple[str, str]
) -> None:
    github.record_checks(REPOSITORY, COMMIT, dict.fromkeys(REQUIRED[:3], "success"), {"e2e-tests": "success"})
    result = _check(github, keys[0], sha=COMMIT[:12])
    assert result.result == "pass", result.evidence
    assert result.evidence["checks"]["build"]["url"].startswith(f"{github.url}/acme/shop/actions/runs/")
    assert result.evidence["checks"]["e2e-tests"]["kind"] == "status"
    (granted,) = github.installation_tokens.values()
    assert (granted["repositories"], granted["permissions"]) == (["shop"], {"checks": "read", "statuses": "read"})


@pytest.mark.parametrize(
    ("runs", "failing"),
    [
        ({"build": "success", "unit-tests": "failure", "integration-tests": "success"}, ["unit-tests", "e2e-tests"]),
        ({**dict.fromkeys(REQUIRED, "success"), "integration-tests": "in_progress"}, ["integration-tests"]),
        ({**dict.fromkeys(REQUIRED, "success"), "build": "cancelled"}, ["build"]),
    ],
    ids=["failed-and-missing", "still-running", "cancelled"],
)
def test_a_required_check_not_concluded_success_blocks_the_launch(
    github: LocalGitHubApi, keys: tuple[str, str], runs: dict[str, str], failing: list[str]
) -> None:
    github.record_checks(REPOSITORY, COMMIT, runs)
    result = _check(github, keys[0])
    assert (result.result, result.evidence["failing"]) == ("fail", failing)


def test_checks_that_ran_on_another_commit_do_not_count(github: LocalGitHubApi, keys: tuple[str, str]) -> None:
    github.record_checks(REPOSITORY, COMMIT, dict.fromkeys(REQUIRED, "success"))
    result = _check(github, keys[0], sha="0badc0de0badc0de")
    assert result.result == "fail"
    assert result.evidence["checks"]["build"] == {"result": "missing"}


def test_an_app_github_does_not_know_is_refused_and_the_check_fails_saying_so(github: LocalGitHubApi) -> None:
    stranger, _ = app_key_pair()
    result = _check(github, stranger)
    assert result.result == "fail"
    assert result.evidence["unreadable"] == "GitHubUnreadable"
    assert "GitHub answered 401" in result.evidence["message"]


def test_github_unreachable_fails_the_check_never_passes_it(github: LocalGitHubApi, keys: tuple[str, str]) -> None:
    url = github.url
    github.stop()
    result = _check(github, keys[0])
    assert result.result == "fail"
    assert f"GitHub could not be read at {url}" in result.evidence["message"]
    github.start = lambda: github  # type: ignore[method-assign]  # the fixture's stop has nothing left to stop
    github.stop = lambda: None  # type: ignore[method-assign]


def test_without_the_controllers_github_app_credential_the_check_fails(
    github: LocalGitHubApi, keys: tuple[str, str]
) -> None:
    result = _check(github, keys[0], github_app=None)
    assert result.result == "fail"
    assert "no GitHub App credential" in result.evidence["message"]


def test_a_credential_secret_not_yet_put_says_what_to_put(aws: Any) -> None:
    secrets = aws("secretsmanager")
    secrets.create_secret(Name="launch-controller/github-app", SecretString=json.dumps({"app_id": "", "unset": "x"}))
    with pytest.raises(GitHubUnreadable, match=r"is not set: put \{\"app_id\""):
        app_from_secret(secrets, "launch-controller/github-app", "https://api.github.com")


def test_the_apps_jwt_lives_under_githubs_ten_minutes_and_never_shows_the_key(keys: tuple[str, str]) -> None:
    app = GitHubApp(app_id=APP_ID, private_key=keys[0])
    claims = jwt.decode(app_jwt(app, now=1_000_000), keys[1], algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == APP_ID
    assert claims["iat"] == 1_000_000 - 60  # backdated for clock drift
    assert claims["exp"] - claims["iat"] <= 600
    assert "PRIVATE KEY" not in repr(app)


def test_a_launch_without_a_commit_or_a_profile_without_release_checks_skips_the_item(
    github: LocalGitHubApi, keys: tuple[str, str]
) -> None:
    assert _check(github, keys[0], sha=None).result == "skipped"  # type: ignore[arg-type]
    item = next(c for c in CHECKS if c.id == "app.release_tests")
    ctx = Context(lambda service: None, unit_profile("local"), Release(git_sha=COMMIT))
    assert _run_one(item, ctx).evidence == {"reason": "the profile does not ask for it"}
