"""Launch requests, statuses and their allowed transitions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.models import InvalidTransition, LaunchStatus, check_transition
from tests.conftest import make_request


def test_request_splits_the_artifact_uri_into_bucket_and_prefix() -> None:
    request = make_request(frontend_artifact="s3://acme-artifacts/releases/1.1.0")
    assert request.artifact_bucket == "acme-artifacts"
    assert request.artifact_prefix == "releases/1.1.0/"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("git_sha", "not-a-sha"),
        ("frontend_artifact", "https://example.com/build"),
        ("backend_image", "no tag here"),
        ("environment", "Prod!"),
        ("version", ""),
    ],
)
def test_request_rejects_a_bad_field_and_names_it(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_request(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_request_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        make_request(surprise="field")


def test_terminal_statuses_are_final() -> None:
    assert LaunchStatus.ROLLED_BACK.is_final
    assert not LaunchStatus.BAKING.is_final


def test_a_launch_cannot_leave_a_terminal_status() -> None:
    with pytest.raises(InvalidTransition):
        check_transition(LaunchStatus.SUCCEEDED, LaunchStatus.ROLLING_BACK)


def test_rollback_is_reachable_only_after_a_change_could_have_happened() -> None:
    check_transition(LaunchStatus.BAKING, LaunchStatus.ROLLING_BACK)
    with pytest.raises(InvalidTransition):
        check_transition(LaunchStatus.AWAITING_APPROVAL, LaunchStatus.ROLLING_BACK)
