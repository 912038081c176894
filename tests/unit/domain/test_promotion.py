"""The promotion check, judged on records alone: which launch, where, how it ended, when, and what it deployed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.artifacts import Promotion, ReleaseArtifacts
from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.profiles import PromotionPolicy
from chalicelib.domain.promotion import promotion_check
from tests.conftest import make_request

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
POLICY = PromotionPolicy.model_validate({"from": "staging", "within_hours": 24})
SOURCE_ID = "staging-20261204-080000-aaaaaa"


def _artifacts(
    image: str = "sha256:" + "1" * 64, build: str = "sha256:" + "2" * 64, **more: object
) -> ReleaseArtifacts:
    return ReleaseArtifacts.model_validate(
        {
            "backend_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.1.0",
            "backend_digest": image,
            "frontend_artifact": "s3://acme-artifacts-local/releases/1.1.0/",
            "frontend_digest": build,
            "frontend_objects": 3,
            "resolved_at": NOW,
            **more,
        }
    )


def _launch(launch_id: str, environment: str, status: LaunchStatus, **asked: object) -> Launch:
    return Launch(
        launch_id=launch_id,
        request=make_request(environment=environment, **asked),
        status=status,
        created_at=NOW,
        updated_at=NOW,
        artifacts=_artifacts() if environment == "staging" else None,
    )


PROMOTED = _launch("production-20261204-120000-bbbbbb", "production", LaunchStatus.PREFLIGHT, promote_from=SOURCE_ID)
SOURCE = _launch(SOURCE_ID, "staging", LaunchStatus.SUCCEEDED)
ENDED = NOW - timedelta(hours=2)


@pytest.mark.parametrize(
    ("source", "ended", "said"),
    [
        (None, None, f"no launch {SOURCE_ID}"),
        (_launch(SOURCE_ID, "qa", LaunchStatus.SUCCEEDED), ENDED, "launched into qa, not staging"),
        (_launch(SOURCE_ID, "staging", LaunchStatus.ROLLED_BACK), ENDED, "is ROLLED_BACK, not SUCCEEDED"),
        (_launch(SOURCE_ID, "staging", LaunchStatus.BAKING), None, "is BAKING, not SUCCEEDED"),
        (SOURCE, NOW - timedelta(hours=25), "more than 24 hours ago"),
    ],
)
def test_a_source_that_is_not_a_recent_successful_launch_into_the_environment_named_fails(
    source: Launch | None, ended: datetime | None, said: str
) -> None:
    judged, promotion = promotion_check(POLICY, PROMOTED, source, ended, _artifacts(), NOW)
    assert judged.result == "fail"
    assert judged.severity == "blocking"
    assert promotion is None
    assert said in judged.in_words


def test_what_differs_from_the_source_is_named_with_both_values() -> None:
    other = _artifacts(image="sha256:" + "3" * 64, build="sha256:" + "4" * 64)
    judged, _ = promotion_check(POLICY, PROMOTED, SOURCE, ENDED, other, NOW)
    assert judged.result == "fail"
    assert judged.evidence == {
        "differs_from": SOURCE_ID,
        "image_digest_here": "sha256:" + "3" * 64,
        "image_digest_in_staging": "sha256:" + "1" * 64,
        "build_digest_here": "sha256:" + "4" * 64,
        "build_digest_in_staging": "sha256:" + "2" * 64,
    }


def test_another_commit_of_the_same_image_is_not_the_same_release() -> None:
    relabelled = PROMOTED.model_copy(update={"request": PROMOTED.request.model_copy(update={"git_sha": "fedcba9876"})})
    judged, _ = promotion_check(POLICY, relabelled, SOURCE, ENDED, _artifacts(), NOW)
    assert judged.result == "fail"
    assert judged.evidence["commit_in_staging"] == "abcdef1234"


def test_an_image_outside_ecr_cannot_be_shown_to_be_the_same_and_is_not_promoted() -> None:
    judged, _ = promotion_check(POLICY, PROMOTED, SOURCE, ENDED, _artifacts(image=None), NOW)  # type: ignore[arg-type]
    assert judged.result == "fail"
    assert judged.evidence["image_digest_here"] == "none (not in ECR)"


def test_the_digests_wait_for_the_other_checks_but_the_source_is_judged_at_once() -> None:
    judged, _ = promotion_check(POLICY, PROMOTED, SOURCE, ENDED, None, NOW)
    assert judged.result == "skipped"
    judged, _ = promotion_check(POLICY, PROMOTED, None, None, None, NOW)
    assert judged.result == "fail"


def test_a_promotion_carries_the_chain_of_launches_the_release_went_through() -> None:
    earlier = Promotion(launch_id="qa-20261203-000000-cccccc", environment="qa", ended_at=NOW, chain=["dev-1-xxxxxxxx"])
    source = SOURCE.model_copy(update={"artifacts": _artifacts(promotion=earlier)})
    judged, promotion = promotion_check(POLICY, PROMOTED, source, ENDED, _artifacts(), NOW)
    assert judged.result == "pass"
    assert promotion is not None
    assert promotion.chain == ["dev-1-xxxxxxxx", SOURCE_ID]
    assert judged.evidence["chain"] == f"dev-1-xxxxxxxx -> {SOURCE_ID} -> {PROMOTED.launch_id}"


def test_a_profile_promotes_from_another_environment_only() -> None:
    from chalicelib.domain.profiles import EnvironmentProfile
    from tests.conftest import unit_profile

    data = unit_profile("local").model_dump(mode="json") | {"promotion": {"from": "local"}}
    with pytest.raises(ValueError, match=r"promotion\.from: must name another environment"):
        EnvironmentProfile.model_validate(data)
    assert PromotionPolicy.model_validate({"from": "staging"}).model_dump() == {"from": "staging", "within_hours": 72}
